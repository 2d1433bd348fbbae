"""Staff use cases, each ``handle(command, uow) -> view``: invite (admin or the platform's CLI), set up with the
link (password + authenticator), sign in with e-mail, password and TOTP code, the staff access token for the
other services, and the admin's management of the operator's staff.

Sessions, CSRF, password rules and the back-off are the customers' (services.identity.handlers and domain).
"""

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID, uuid4

from contracts.identity import ACCESS_TOKEN_ISSUER
from contracts.staff import STAFF_TOKEN_AUDIENCE, StaffRole
from kit.mail import Mail
from kit.tenants import Tenant
from kit.uow import UnitOfWork
from services.identity import crypto, domain, staff_crypto
from services.identity.domain import ALERTS_SHOWN, AccessAlert, BrowserSession, LiveSince, LoginThrottle
from services.identity.handlers import AccessToken, Deps, LoginRefused, PasswordRefused
from services.identity.staff_domain import (
    STAFF_TOKEN_VALID,
    StaffMember,
    StaffRefused,
    check_manageable,
    setup_mail,
    staff_throttle_key,
)


class StaffDirectory(Protocol):
    """What the staff use cases need of the store (staff_store.StaffStore)."""

    async def member(self, tenant: str, staff_id: UUID) -> StaffMember | None: ...

    async def member_by_email(self, tenant: str, email: str) -> StaffMember | None: ...

    async def member_by_setup(self, tenant: str, setup_hash: str, lock: bool = False) -> StaffMember | None: ...

    async def members(self, tenant: str) -> list[StaffMember]: ...

    async def add_member(self, member: StaffMember) -> bool: ...

    async def save_member(self, member: StaffMember) -> None: ...

    async def throttle_for_update(self, tenant: str, key: str) -> LoginThrottle: ...

    async def save_throttle(self, throttle: LoginThrottle) -> None: ...

    async def add_session(self, browser: BrowserSession) -> None: ...

    async def touch_session(
        self, tenant: str, id_hash: str, now: datetime, live: LiveSince
    ) -> BrowserSession | None: ...

    async def end_session(self, tenant: str, id_hash: str) -> None: ...

    async def end_sessions(self, tenant: str, account_id: UUID, keep: str | None = None) -> None: ...

    async def access_alerts(self, tenant: str, since: datetime) -> list[AccessAlert]: ...


Uow = UnitOfWork[StaffDirectory]


class InvalidSetupLink(Exception):
    """Unknown, used or expired set-up link."""


class WrongCode(Exception):
    """The authenticator's code does not fit (set-up)."""


# --- invitation and set-up ------------------------------------------------------------------------------


@dataclass(frozen=True)
class InviteStaff:
    tenant: Tenant
    email: str  # normalised
    name: str
    role: StaffRole
    mail_link: bool = True  # the platform's CLI prints the link instead


@dataclass(frozen=True)
class Invited:
    staff_id: UUID
    email: str
    setup_link: str


def _setup_link(tenant: Tenant, token: str) -> str:
    return f"{tenant.portal_url}/backoffice/einrichten#token={token}"


def _send_setup(uow: Uow, deps: Deps, tenant: Tenant, member: StaffMember, link: str, again: bool) -> None:
    text = setup_mail(tenant.name, member.name, member.role, link, again)
    mail = Mail(
        f"Back-Office {tenant.short_name}",
        deps.settings.sender_email,
        member.email,
        text.subject,
        text.text,
        "staff-setup",
    )
    uow.send_mail(mail, tenant=tenant.portal_number, correlation_id=uuid4())


async def invite_staff(command: InviteStaff, uow: Uow, *, deps: Deps) -> Invited:
    tenant = command.tenant
    token = crypto.new_token()
    member = StaffMember.invited(
        uuid4(),
        tenant.portal_number,
        command.email,
        command.name.strip(),
        command.role,
        staff_crypto.new_totp_secret(),
        crypto.token_hash(token),
        uow.now(),
    )
    if not await uow.store.add_member(member):
        raise StaffRefused("Für diese E-Mail-Adresse gibt es schon einen Zugang bei diesem Netzbetreiber.")
    link = _setup_link(tenant, token)
    if command.mail_link:
        _send_setup(uow, deps, tenant, member, link, again=False)
    return Invited(member.id, member.email, link)


@dataclass(frozen=True)
class InspectSetup:
    tenant: Tenant
    token: str


@dataclass(frozen=True)
class SetupInfo:
    email: str
    name: str
    role: StaffRole
    totp_secret: str
    otpauth_uri: str


async def inspect_setup(query: InspectSetup, uow: Uow) -> SetupInfo:
    """What the set-up page shows: whose link it is and the secret for the authenticator app."""
    member = await uow.store.member_by_setup(query.tenant.portal_number, crypto.token_hash(query.token))
    if member is None or not member.setup_open(uow.now()):
        raise InvalidSetupLink
    uri = staff_crypto.provisioning_uri(member.totp_secret, member.email, query.tenant.short_name)
    return SetupInfo(member.email, member.name, member.role, member.totp_secret, uri)


@dataclass(frozen=True)
class CompleteSetup:
    tenant: Tenant
    token: str
    password: str
    code: str  # from the authenticator: proves it is set up


async def complete_setup(command: CompleteSetup, uow: Uow) -> list[str]:
    """Sets the password and activates the second factor; returns the recovery codes (shown once)."""
    now = uow.now()
    member = await uow.store.member_by_setup(command.tenant.portal_number, crypto.token_hash(command.token), lock=True)
    if member is None or not member.setup_open(now):
        raise InvalidSetupLink
    problem = domain.password_problem(command.password, member.email, crypto.common_passwords())
    if problem:
        raise PasswordRefused(problem)
    step = staff_crypto.matching_step(member.totp_secret, command.code, now)
    if step is None:
        raise WrongCode
    codes = staff_crypto.new_recovery_codes()
    member.complete_setup(
        await crypto.hash_password(command.password), [staff_crypto.recovery_hash(c) for c in codes], step
    )
    await uow.store.save_member(member)
    return codes


# --- sign-in and sessions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class StaffLogin:
    tenant: Tenant
    email: str  # normalised
    password: str
    code: str  # TOTP code, or a recovery code
    user_agent: str | None


@dataclass(frozen=True)
class SignedInStaff:
    session: BrowserSession
    member: StaffMember


@dataclass(frozen=True)
class NewStaffSession(SignedInStaff):
    token: str  # the cookie's value; only its hash is stored


async def staff_login(command: StaffLogin, uow: Uow) -> NewStaffSession | LoginRefused:
    """Password and second factor, with the customers' back-off per e-mail (a wrong code counts as a failure).
    Refusals are returned, not raised: the failure they record must be committed."""
    portal, now = command.tenant.portal_number, uow.now()
    throttle = await uow.store.throttle_for_update(portal, crypto.email_key(portal, staff_throttle_key(command.email)))
    if wait := throttle.retry_after(now):
        return LoginRefused(retry_after=wait)
    member = await uow.store.member_by_email(portal, command.email)
    usable = member is not None and member.can_sign_in
    password_ok = await crypto.verify_password(member.password_hash if usable and member else None, command.password)
    factor_ok = False
    if password_ok and member is not None:
        code = command.code.strip()
        factor_ok = member.accept_step(staff_crypto.matching_step(member.totp_secret, code, now)) or (
            len(code) > 6 and member.use_recovery_code(staff_crypto.recovery_hash(code))
        )
    if not (usable and password_ok and factor_ok) or member is None:
        throttle.failed(now)
        await uow.store.save_throttle(throttle)
        return LoginRefused(retry_after=None)
    throttle.reset()
    await uow.store.save_throttle(throttle)
    await uow.store.save_member(member)  # the used step or recovery code
    token = secrets.token_urlsafe(32)
    browser = BrowserSession(
        id_hash=crypto.token_hash(token),
        tenant=portal,
        account_id=member.id,
        partner_number=None,
        role=member.role.value,
        csrf_token=secrets.token_urlsafe(24),
        created_at=now,
        last_seen_at=now,
        user_agent=(command.user_agent or "")[:200] or None,
    )
    await uow.store.add_session(browser)
    return NewStaffSession(browser, member, token)


@dataclass(frozen=True)
class CurrentStaff:
    tenant: Tenant
    token: str | None


async def current_staff(query: CurrentStaff, uow: Uow) -> SignedInStaff | None:
    """The live staff session of this cookie at this operator, seen now, with its member — or None (also when
    the member has been disabled or reset meanwhile)."""
    if not query.token:
        return None
    now, portal = uow.now(), query.tenant.portal_number
    current = await uow.store.touch_session(portal, crypto.token_hash(query.token), now, domain.live_since(now))
    member = await uow.store.member(portal, current.account_id) if current else None
    if current is None or member is None or not member.can_sign_in:
        return None
    return SignedInStaff(current, member)


def issue_staff_token(signed_in: SignedInStaff, uow: Uow, *, deps: Deps) -> AccessToken:
    """A short-lived token for onboarding's and letters' back-office: operator, staff member, name, role."""
    now, member = uow.now(), signed_in.member
    claims = {
        "iss": ACCESS_TOKEN_ISSUER,
        "aud": STAFF_TOKEN_AUDIENCE,
        "sub": str(member.id),
        "tenant": member.tenant,
        "name": member.name,
        "role": member.role.value,
        "sid": signed_in.session.id_hash[:16],
        "iat": now,
    }
    return AccessToken(deps.signer.sign(claims, now + STAFF_TOKEN_VALID), int(STAFF_TOKEN_VALID.total_seconds()))


async def staff_logout(signed_in: SignedInStaff, uow: Uow) -> None:
    await uow.store.end_session(signed_in.session.tenant, signed_in.session.id_hash)


# --- the admin's management of the operator's staff -----------------------------------------------------


async def list_staff(tenant: Tenant, uow: Uow) -> list[StaffMember]:
    return await uow.store.members(tenant.portal_number)


async def list_access_alerts(tenant: Tenant, uow: Uow) -> list[AccessAlert]:
    """Meters (or the whole operator) whose access requests guesses have held lately: clerks call the customer."""
    return await uow.store.access_alerts(tenant.portal_number, uow.now() - ALERTS_SHOWN)


@dataclass(frozen=True)
class ManageStaff:
    tenant: Tenant
    admin_id: UUID
    staff_id: UUID


async def _manageable(command: ManageStaff, uow: Uow) -> StaffMember:
    member = await uow.store.member(command.tenant.portal_number, command.staff_id)
    if member is None:
        raise LookupError("Diesen Zugang gibt es bei diesem Netzbetreiber nicht.")
    check_manageable(command.admin_id, member)
    return member


async def disable_staff(command: ManageStaff, uow: Uow) -> None:
    member = await _manageable(command, uow)
    member.disable()
    await uow.store.save_member(member)
    await uow.store.end_sessions(member.tenant, member.id)


async def reset_staff(command: ManageStaff, uow: Uow, *, deps: Deps) -> None:
    """New password and authenticator by a new set-up link (mailed); every session of the member ends."""
    member = await _manageable(command, uow)
    token = crypto.new_token()
    member.reset(staff_crypto.new_totp_secret(), crypto.token_hash(token), uow.now())
    await uow.store.save_member(member)
    await uow.store.end_sessions(member.tenant, member.id)
    _send_setup(uow, deps, command.tenant, member, _setup_link(command.tenant, token), again=True)


# --- the platform's bootstrap (demo and first admin) ----------------------------------------------------


@dataclass(frozen=True)
class CreateReadyStaff:
    """A staff member with password and TOTP secret given (development demo and tests only)."""

    tenant: Tenant
    email: str
    name: str
    role: StaffRole
    password: str
    totp_secret: str


async def create_ready_staff(command: CreateReadyStaff, uow: Uow) -> UUID:
    """Created active at once, or left as it is when the e-mail exists already (idempotent for `make up`)."""
    portal = command.tenant.portal_number
    known = await uow.store.member_by_email(portal, command.email)
    if known is not None:
        return known.id
    member = StaffMember.invited(
        uuid4(), portal, command.email, command.name, command.role, command.totp_secret, "", uow.now()
    )
    member.complete_setup(await crypto.hash_password(command.password), [], step=0)
    await uow.store.add_member(member)
    return member.id
