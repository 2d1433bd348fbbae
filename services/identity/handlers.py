"""Identity's use cases, each ``handle(command or event, uow) -> view``.

A use case loads what the rules act on from the unit of work's store, lets the domain decide, saves the
changes and publishes the events the account recorded — all in the unit of work's one transaction. Those that
need more than the unit of work (mail sender, signing key, device cookies) take ``deps`` as a keyword, bound
once by the composition root (api, messaging, app).
"""

import secrets
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol
from uuid import UUID, uuid4

from contracts.alerts import AlertRaised
from contracts.envelope import EventPayload
from contracts.identity import (
    ACCESS_TOKEN_AUDIENCE,
    ACCESS_TOKEN_ISSUER,
    AccessRequested,
    PasswordResetRequested,
    PublicJwk,
    SigningKeyPublished,
    SigningKeyRevoked,
)
from contracts.letters import RegistrationCodeIssued
from contracts.topics import IDENTITY, IDENTITY_KEYS, IDENTITY_REQUESTS, TopicSpec
from kit import energy_day, validity
from kit.consumer import Delivered
from kit.logging import get_logger
from kit.mail import Mail
from kit.registration import registration_code_hash
from kit.tenants import Tenant
from kit.uow import UnitOfWork
from services.identity import alert_mails, crypto, domain
from services.identity.domain import (
    AccessAttempt,
    AccessFailures,
    Account,
    BrowserSession,
    HoldScope,
    KnownDevice,
    LinkPurpose,
    LiveSince,
    LoginThrottle,
    OneTimeLink,
    PartnerLink,
)
from services.identity.settings import IdentitySettings

log = get_logger(__name__)


class Identities(Protocol):
    """What the use cases need of the store (store.IdentityStore; a fake in the unit tests)."""

    async def account_by_email(self, tenant: str, email: str) -> Account | None: ...

    async def account(self, tenant: str, account_id: UUID) -> Account | None: ...

    async def owner_of(self, tenant: str, partner_number: str) -> Account | None: ...

    async def add_account(self, account: Account) -> None: ...

    async def save_account(self, account: Account) -> None: ...

    async def delete_account(self, account: Account) -> None: ...

    async def partner_linked(self, tenant: str, partner_number: str) -> bool: ...

    async def recent_failures(self, tenant: str, attempt: AccessAttempt, since: datetime) -> AccessFailures: ...

    async def add_failure(self, tenant: str, attempt: AccessAttempt, now: datetime) -> None: ...

    async def use_registration_code(
        self, tenant: str, code_hash: str, attempt: AccessAttempt, now: datetime
    ) -> bool: ...

    async def add_registration_code(
        self, tenant: str, code_hash: str, meter_number: str, partner_number: str, expires_at: datetime
    ) -> None: ...

    async def record_hold(
        self, tenant: str, scope: HoldScope, meter_number: str, now: datetime, *, raised: bool
    ) -> None: ...

    def add_link(self, link: OneTimeLink) -> None: ...

    async def retire_open_links(
        self, tenant: str, purpose: LinkPurpose, email: str, now: datetime, partner_number: str | None = None
    ) -> None: ...

    async def use_link(
        self, tenant: str, token_hash: str, purpose: LinkPurpose, now: datetime
    ) -> OneTimeLink | None: ...

    async def peek_link(self, tenant: str, token_hash: str, now: datetime) -> OneTimeLink | None: ...

    async def throttle_for_update(self, tenant: str, key: str) -> LoginThrottle: ...

    async def save_throttle(self, throttle: LoginThrottle) -> None: ...

    async def device(self, device_id: str) -> KnownDevice | None: ...

    async def save_device(self, device: KnownDevice) -> None: ...

    async def add_session(self, browser: BrowserSession) -> None: ...

    async def touch_session(
        self, tenant: str, id_hash: str, now: datetime, live: LiveSince
    ) -> BrowserSession | None: ...

    async def end_session(self, tenant: str, id_hash: str) -> None: ...

    async def sessions_of(self, tenant: str, account_id: UUID) -> list[BrowserSession]: ...

    async def end_sessions(self, tenant: str, account_id: UUID, keep: str | None = None) -> None: ...


Uow = UnitOfWork[Identities]


class Signer(Protocol):
    """Signs tokens (crypto.Keyring: with the key whose period holds the token's ``iat``)."""

    def sign(self, claims: dict[str, Any], expires_at: datetime) -> str: ...

    def public_jwks(self) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class Deps:
    """What some of identity's use cases need besides the unit of work; bound once by the composition root."""

    settings: IdentitySettings
    signer: Signer
    devices: crypto.DeviceCookies


class InvalidLink(Exception):
    """The link is unknown, used or expired."""


class PasswordRefused(ValueError):
    """The new password breaks a rule; the message says which, in German."""


class WrongCredentials(Exception):
    pass


@dataclass(frozen=True)
class LoginRefused:
    """Wrong e-mail or password (retry_after None), or wait this many seconds before trying again."""

    retry_after: int | None


class NotAllowed(Exception):
    pass


def _publish(uow: Uow, account: Account, correlation_id: UUID) -> None:
    """The events the account recorded, keyed by the account: one partition keeps them in order."""

    def route(_: EventPayload) -> tuple[TopicSpec, str]:
        return IDENTITY, str(account.id)

    uow.publish_recorded(account, route, tenant=account.tenant, correlation_id=correlation_id)


async def _mail(
    uow: Uow, deps: Deps, tenant: Tenant, to: str, text: domain.MailText, purpose: str, correlation_id: UUID
) -> None:
    if purpose in domain.UNSOLICITED_MAILS:
        since = uow.now() - domain.UNSOLICITED_MAIL_WINDOW
        if await uow.mails_to(tenant.portal_number, to, domain.UNSOLICITED_MAILS, since) >= (
            domain.UNSOLICITED_MAILS_PER_RECIPIENT
        ):
            log.info("mail_withheld", purpose=purpose)  # the requester got the same answer as everyone
            return
    sender = f"Kundenportal {tenant.short_name}"
    mail = Mail(sender, deps.settings.sender_email, to, text.subject, text.text, purpose, text.unsubscribe_url)
    uow.send_mail(mail, tenant=tenant.portal_number, correlation_id=correlation_id)


# --- requests that are answered at once and handled afterwards -----------------------------------------


@dataclass(frozen=True)
class RequestAccess:
    tenant: Tenant
    meter_number: str  # normalised and validated
    partner_number: str
    email: str  # normalised
    registration_code: str | None = None  # from the letter's link


def request_access(command: RequestAccess, uow: Uow) -> None:
    """Only records the request: whatever the outcome, the HTTP answer is the same and equally fast."""
    tenant = command.tenant.portal_number
    uow.publish(
        IDENTITY_REQUESTS,
        f"{tenant}/{command.partner_number}",
        AccessRequested(
            meter_number=command.meter_number,
            partner_number=command.partner_number,
            email=command.email,
            registration_code=command.registration_code,
        ),
        tenant=tenant,
        correlation_id=uuid4(),
    )


@dataclass(frozen=True)
class RequestReset:
    tenant: Tenant
    email: str  # normalised


def request_reset(command: RequestReset, uow: Uow) -> None:
    tenant = command.tenant.portal_number
    uow.publish(
        IDENTITY_REQUESTS,
        crypto.email_key(tenant, command.email),
        PasswordResetRequested(email=command.email),
        tenant=tenant,
        correlation_id=uuid4(),
    )


async def handle_access_request(event: Delivered[AccessRequested], uow: Uow, *, deps: Deps) -> None:
    tenant, asked = event.tenant, event.payload
    portal = tenant.portal_number
    email = domain.normalise_email(str(asked.email))
    now = uow.now()
    record = await uow.master_data.find(portal, asked.meter_number)
    partner = next((p for p in record.partners if p.partner_number == asked.partner_number), None) if record else None
    owner = await uow.store.owner_of(portal, asked.partner_number)
    requester = await uow.store.account_by_email(portal, email)
    attempt = AccessAttempt(asked.meter_number, asked.partner_number, crypto.email_key(portal, email))
    failures = await uow.store.recent_failures(portal, attempt, now - domain.ACCESS_FAILURE_WINDOW)
    code = asked.registration_code
    with_code = code is not None and await uow.store.use_registration_code(
        portal, registration_code_hash(code), attempt, now
    )
    outcome = domain.decide_access(
        pair_known=partner is not None,
        failures=failures,
        with_letter_code=with_code,
        owner_email=owner.email if owner else None,
        requester_has_login=requester is not None,
        email=email,
    )
    if partner is None:  # counted even while held: the limits see the whole attack
        await uow.store.add_failure(portal, attempt, now)
    phone, correlation = tenant.service_phone, event.envelope.correlation_id
    match outcome:
        case domain.AccessOutcome.INVALID_PAIR:
            if scope := domain.newly_held(failures, failures.plus_one()):
                await uow.store.record_hold(portal, scope, asked.meter_number, now, raised=True)
                log.warning("access requests held", scope=scope.value)
        case domain.AccessOutcome.NEW_LOGIN | domain.AccessOutcome.ADD_PARTNER:
            assert partner is not None
            await uow.store.retire_open_links(portal, LinkPurpose.ACCESS, email, now, asked.partner_number)
            token = crypto.new_token()
            uow.store.add_link(
                OneTimeLink.for_access(
                    crypto.token_hash(token),
                    portal,
                    email,
                    requester.id if requester else None,
                    asked.meter_number,
                    asked.partner_number,
                    partner.role.value,
                    now,
                )
            )
            link = f"{tenant.portal_url}/zugang/bestaetigen#token={token}"
            adding = outcome == domain.AccessOutcome.ADD_PARTNER
            text = domain.confirmation_mail(tenant.name, phone, link, asked.partner_number, adding)
            await _mail(uow, deps, tenant, email, text, "access-confirmation", correlation)
        case domain.AccessOutcome.ALREADY_YOURS:
            text = domain.already_registered_mail(tenant.name, phone, tenant.portal_url)
            await _mail(uow, deps, tenant, email, text, "access-already-registered", correlation)
        case domain.AccessOutcome.SOMEONE_ELSES:
            assert owner is not None
            await _mail(
                uow,
                deps,
                tenant,
                email,
                domain.not_possible_mail(tenant.name, phone),
                "access-not-possible",
                correlation,
            )
            warning = domain.owner_warning_mail(tenant.name, phone, asked.partner_number)
            await _mail(uow, deps, tenant, owner.email, warning, "access-owner-warning", correlation)
        case domain.AccessOutcome.IGNORED:
            if (scope := failures.hold()) in (HoldScope.METER, HoldScope.OPERATOR):
                assert scope is not None
                await uow.store.record_hold(portal, scope, asked.meter_number, now, raised=False)


async def keep_registration_code(event: Delivered[RegistrationCodeIssued], uow: Uow) -> None:
    """A letter went out with a registration code: its hash admits one access request for the pair."""
    issued = event.payload
    await uow.store.add_registration_code(
        event.tenant.portal_number, issued.code_hash, issued.meter_number, issued.partner_number, issued.expires_at
    )


async def handle_reset_request(event: Delivered[PasswordResetRequested], uow: Uow, *, deps: Deps) -> None:
    tenant = event.tenant
    email = domain.normalise_email(str(event.payload.email))
    account = await uow.store.account_by_email(tenant.portal_number, email)
    if account is None:
        return  # nobody to tell; the requester got the same answer as everyone
    now = uow.now()
    await uow.store.retire_open_links(tenant.portal_number, LinkPurpose.RESET, email, now)
    token = crypto.new_token()
    uow.store.add_link(OneTimeLink.for_reset(crypto.token_hash(token), tenant.portal_number, email, account.id, now))
    link = f"{tenant.portal_url}/passwort-neu#token={token}"
    text = domain.reset_mail(tenant.name, tenant.service_phone, link)
    await _mail(uow, deps, tenant, email, text, "password-reset", event.envelope.correlation_id)


async def mail_alert(event: Delivered[AlertRaised], uow: Uow, *, deps: Deps) -> None:
    """Meter data raised an alert ([10 of 11] §2): the account linked to the partner number gets a mail (once: the
    consumer de-duplicates the event, meter data raises each occurrence once)."""
    tenant, raised = event.tenant, event.payload
    owner = await uow.store.owner_of(tenant.portal_number, raised.partner_number)
    if owner is None:
        return  # no account for the partner number (any more): nobody to tell
    text = alert_mails.alert_mail(tenant.name, tenant.service_phone, tenant.portal_url, raised)
    await _mail(uow, deps, tenant, owner.email, text, "alert", event.envelope.correlation_id)


# --- links from e-mails ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class InspectLink:
    tenant: Tenant
    token: str


@dataclass(frozen=True)
class LinkInfo:
    purpose: str  # "access" | "reset"
    needs: str  # "new_password" | "current_password"
    email: str


async def inspect_link(query: InspectLink, uow: Uow) -> LinkInfo:
    tenant = query.tenant.portal_number
    link = await uow.store.peek_link(tenant, crypto.token_hash(query.token), uow.now())
    if link is None:
        raise InvalidLink
    if link.purpose == LinkPurpose.RESET:
        return LinkInfo("reset", "new_password", link.email)
    has_login = await uow.store.account_by_email(tenant, link.email) is not None
    return LinkInfo("access", "current_password" if has_login else "new_password", link.email)


@dataclass(frozen=True)
class CompleteAccess:
    """Confirm the e-mail with the link and set the password (first partner number) or prove it (another)."""

    tenant: Tenant
    token: str
    password: str


async def complete_access(command: CompleteAccess, uow: Uow, *, deps: Deps) -> UUID:
    tenant, portal = command.tenant, command.tenant.portal_number
    now = uow.now()
    hashed = crypto.token_hash(command.token)
    peeked = await uow.store.peek_link(portal, hashed, now)
    if peeked is None or peeked.purpose != LinkPurpose.ACCESS:
        raise InvalidLink
    account = await uow.store.account_by_email(portal, peeked.email)
    if account is None:
        problem = domain.password_problem(command.password, peeked.email, crypto.common_passwords())
        if problem:
            raise PasswordRefused(problem)
        new_hash = await crypto.hash_password(command.password)
    elif not await crypto.verify_password(account.password_hash, command.password):
        raise WrongCredentials
    used = await uow.store.use_link(portal, hashed, LinkPurpose.ACCESS, now)
    if used is None or used.partner_number is None or used.meter_number is None or used.role is None:
        raise InvalidLink  # another use of the same link was faster
    if await uow.store.partner_linked(portal, used.partner_number):
        raise InvalidLink  # linked meanwhile through another link
    correlation = uuid4()
    if account is None:
        account = Account.confirmed(uuid4(), portal, used.email, new_hash, now)
        account.link(used.partner_number, used.meter_number, used.role, now)
        await uow.store.add_account(account)
    else:
        text = domain.partner_added_mail(tenant.name, tenant.service_phone, used.partner_number, used.role)
        await _mail(uow, deps, tenant, account.email, text, "partner-added", correlation)
        account.link(used.partner_number, used.meter_number, used.role, now)
        await uow.store.save_account(account)
    _publish(uow, account, correlation)
    return account.id


@dataclass(frozen=True)
class CompleteReset:
    tenant: Tenant
    token: str
    password: str


async def complete_reset(command: CompleteReset, uow: Uow, *, deps: Deps) -> None:
    portal = command.tenant.portal_number
    now = uow.now()
    hashed = crypto.token_hash(command.token)
    peeked = await uow.store.peek_link(portal, hashed, now)
    if peeked is None or peeked.purpose != LinkPurpose.RESET:
        raise InvalidLink
    problem = domain.password_problem(command.password, peeked.email, crypto.common_passwords())
    if problem:
        raise PasswordRefused(problem)
    new_hash = await crypto.hash_password(command.password)
    used = await uow.store.use_link(portal, hashed, LinkPurpose.RESET, now)
    account = await uow.store.account_by_email(portal, peeked.email) if used else None
    if account is None:
        raise InvalidLink
    await _set_password(uow, deps, command.tenant, account, new_hash, "reset", keep_session=None)
    throttle = await uow.store.throttle_for_update(portal, crypto.email_key(portal, account.email))
    throttle.reset()  # the owner proved access to the mailbox
    await uow.store.save_throttle(throttle)


async def _end_sessions(uow: Uow, account: Account, reason: str, keep: str | None = None) -> None:
    """Ends the login's sessions (but ``keep``) and tells the services to refuse their access tokens."""
    sessions = await uow.store.sessions_of(account.tenant, account.id)
    await uow.store.end_sessions(account.tenant, account.id, keep=keep)
    for ended in sessions:
        if ended.id_hash != keep:
            _session_ended(uow, ended, reason)


def _session_ended(uow: Uow, ended: BrowserSession, reason: str) -> None:
    event = ended.ended(reason, uow.now())
    uow.publish(IDENTITY, str(ended.account_id), event, tenant=ended.tenant, correlation_id=uuid4())


async def _set_password(
    uow: Uow, deps: Deps, tenant: Tenant, account: Account, new_hash: str, reason: str, keep_session: str | None
) -> None:
    account.change_password(new_hash, reason, uow.now())
    await uow.store.save_account(account)
    await _end_sessions(uow, account, "password-changed", keep=keep_session)
    correlation = uuid4()
    text = domain.password_changed_mail(tenant.name, tenant.service_phone)
    await _mail(uow, deps, tenant, account.email, text, "password-changed", correlation)
    _publish(uow, account, correlation)


# --- login and sessions ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignedIn:
    """A session and its login: all a route needs to answer who is signed in."""

    session: BrowserSession
    account: Account
    # Partner numbers whose relations to meters have all ended ("ausgezogen"), with their last day: they keep
    # read access to their own days (kit.validity).
    moved_out: dict[str, date]


async def _moved_out(account: Account, uow: Uow) -> dict[str, date]:
    """The login's partner numbers that have moved out, by master data, with the last day of their relations."""
    today = energy_day.day_of(uow.now())
    found = {}
    for link in account.links:
        relations = await uow.master_data.relations_of_partner(account.tenant, link.partner_number, link.role)
        if (last := validity.ended(relations, today)) is not None:
            found[link.partner_number] = last
    return found


@dataclass(frozen=True)
class NewSession(SignedIn):
    token: str  # goes into the cookie; only its hash is stored
    device_cookie: str | None = None


@dataclass(frozen=True)
class Login:
    tenant: Tenant
    email: str
    password: str
    device_cookie: str | None
    user_agent: str | None


async def login(command: Login, uow: Uow, *, deps: Deps) -> NewSession | LoginRefused:
    """Refusals are returned, not raised: the failure count they record must be committed."""
    portal = command.tenant.portal_number
    now = uow.now()
    email = domain.normalise_email(command.email)
    throttle = await uow.store.throttle_for_update(portal, crypto.email_key(portal, email))
    device_id = deps.devices.device_id(command.device_cookie, portal, email)
    device = await uow.store.device(device_id) if device_id else None
    trusted_device = device_id is not None and (device is None or device.trusted)
    if not trusted_device and (wait := throttle.retry_after(now)):
        return LoginRefused(retry_after=wait)
    account = await uow.store.account_by_email(portal, email)
    if (
        not await crypto.verify_password(account.password_hash if account else None, command.password)
        or account is None
    ):
        if trusted_device:
            assert device_id is not None
            device = device or KnownDevice(device_id)
            device.failed()
            await uow.store.save_device(device)
        else:
            throttle.failed(now)
            await uow.store.save_throttle(throttle)
        return LoginRefused(retry_after=None)
    throttle.reset()
    await uow.store.save_throttle(throttle)
    if device is not None:
        device.reset()
        await uow.store.save_device(device)
    if crypto.needs_rehash(account.password_hash):
        account.upgrade_hash(await crypto.hash_password(command.password))
        await uow.store.save_account(account)
    token, browser = await _open_session(uow, account, account.only_link, now, now, command.user_agent)
    issued_device = command.device_cookie if trusted_device else deps.devices.issue(portal, email)
    return NewSession(browser, account, await _moved_out(account, uow), token, issued_device)


async def _open_session(
    uow: Uow,
    account: Account,
    link: PartnerLink | None,
    created_at: datetime,
    now: datetime,
    user_agent: str | None,
) -> tuple[str, BrowserSession]:
    token = secrets.token_urlsafe(32)
    browser = BrowserSession(
        id_hash=crypto.token_hash(token),
        tenant=account.tenant,
        account_id=account.id,
        partner_number=link.partner_number if link else None,
        role=link.role if link else None,
        csrf_token=secrets.token_urlsafe(24),
        created_at=created_at,
        last_seen_at=now,
        user_agent=(user_agent or "")[:200] or None,
    )
    await uow.store.add_session(browser)
    return token, browser


@dataclass(frozen=True)
class CurrentSession:
    tenant: Tenant
    token: str | None  # from the session cookie


async def current_session(query: CurrentSession, uow: Uow) -> BrowserSession | None:
    """The live session of this cookie at this tenant, seen now — or None. Not raised: an expired session
    found is ended, and that must be committed."""
    if not query.token:
        return None
    now = uow.now()
    return await uow.store.touch_session(
        query.tenant.portal_number, crypto.token_hash(query.token), now, domain.live_since(now)
    )


async def show_session(query: CurrentSession, uow: Uow) -> SignedIn | None:
    """Who is signed in: the live session (seen now) with its login — or None, as current_session."""
    current = await current_session(query, uow)
    account = await uow.store.account(current.tenant, current.account_id) if current else None
    return SignedIn(current, account, await _moved_out(account, uow)) if current and account else None


@dataclass(frozen=True)
class ChoosePartner:
    """Act as another partner number: only one of the login's own, and always with a new session id."""

    current: BrowserSession
    partner_number: str


async def choose_partner(command: ChoosePartner, uow: Uow) -> NewSession:
    current = command.current
    account = await uow.store.account(current.tenant, current.account_id)
    link = account.link_of(command.partner_number) if account else None
    if account is None or link is None:
        raise NotAllowed
    await uow.store.end_session(current.tenant, current.id_hash)
    _session_ended(uow, current, "switched")
    # The absolute limit counts from the login.
    token, browser = await _open_session(uow, account, link, current.created_at, uow.now(), current.user_agent)
    return NewSession(browser, account, await _moved_out(account, uow), token)


@dataclass(frozen=True)
class IssueAccessToken:
    current: BrowserSession


@dataclass(frozen=True)
class AccessToken:
    value: str
    expires_in: int  # seconds


def issue_access_token(command: IssueAccessToken, uow: Uow, *, deps: Deps) -> AccessToken:
    """A short-lived token that names tenant, exactly one partner number and its role."""
    current = command.current
    if current.partner_number is None:
        raise NotAllowed
    now = uow.now()
    claims = {
        "iss": ACCESS_TOKEN_ISSUER,
        "aud": ACCESS_TOKEN_AUDIENCE,
        "sub": str(current.account_id),
        "tenant": current.tenant,
        "partner": current.partner_number,
        "role": current.role,
        "sid": current.sid,
        "iat": now,
    }
    signed = deps.signer.sign(claims, now + domain.ACCESS_TOKEN_VALID)
    return AccessToken(signed, int(domain.ACCESS_TOKEN_VALID.total_seconds()))


@dataclass(frozen=True)
class Logout:
    current: BrowserSession


async def logout(command: Logout, uow: Uow) -> None:
    await uow.store.end_session(command.current.tenant, command.current.id_hash)
    _session_ended(uow, command.current, "logout")


# --- the customer's own account -------------------------------------------------------------------------


@dataclass(frozen=True)
class ChangePassword:
    tenant: Tenant
    current: BrowserSession
    old_password: str
    new_password: str


async def _prove_password(uow: Uow, tenant: Tenant, account: Account, password: str) -> LoginRefused | None:
    """The account's current password, checked like a login: same back-off per e-mail, failures counted (so a
    stolen session cannot guess the password by changing it or deleting the account)."""
    portal, now = tenant.portal_number, uow.now()
    throttle = await uow.store.throttle_for_update(portal, crypto.email_key(portal, account.email))
    if wait := throttle.retry_after(now):
        return LoginRefused(retry_after=wait)
    if not await crypto.verify_password(account.password_hash, password):
        throttle.failed(now)
        await uow.store.save_throttle(throttle)
        return LoginRefused(retry_after=None)
    throttle.reset()
    await uow.store.save_throttle(throttle)
    return None


async def change_password(command: ChangePassword, uow: Uow, *, deps: Deps) -> LoginRefused | None:
    """Refusals are returned, not raised: the failure count they record must be committed."""
    account = await uow.store.account(command.tenant.portal_number, command.current.account_id)
    if account is None:
        raise WrongCredentials
    if refused := await _prove_password(uow, command.tenant, account, command.old_password):
        return refused
    problem = domain.password_problem(command.new_password, account.email, crypto.common_passwords())
    if problem:
        raise PasswordRefused(problem)
    new_hash = await crypto.hash_password(command.new_password)
    await _set_password(uow, deps, command.tenant, account, new_hash, "change", keep_session=command.current.id_hash)
    return None


@dataclass(frozen=True)
class OwnAccount:
    """A question about the signed-in login (its data, its sessions)."""

    tenant: Tenant
    current: BrowserSession


async def export_data(query: OwnAccount, uow: Uow) -> dict[str, Any]:
    """Everything identity keeps about this login (GDPR Art. 15/20)."""
    tenant = query.tenant
    account = await uow.store.account(tenant.portal_number, query.current.account_id)
    assert account is not None
    return {
        "portal": tenant.portal_host,
        "email": account.email,
        "created_at": account.created_at.isoformat(),
        "password_changed_at": account.password_changed_at.isoformat(),
        "partner_numbers": [
            {
                "partner_number": link.partner_number,
                "role": link.role,
                "meter_number": link.meter_number,
                "linked_at": link.linked_at.isoformat(),
            }
            for link in account.links
        ],
        "sessions": [
            {
                "created_at": s.created_at.isoformat(),
                "last_seen_at": s.last_seen_at.isoformat(),
                "user_agent": s.user_agent,
            }
            for s in await uow.store.sessions_of(tenant.portal_number, account.id)
        ],
    }


async def list_sessions(query: OwnAccount, uow: Uow) -> list[dict[str, Any]]:
    """The login's live sessions ("angemeldete Geräte"), the current one marked."""
    now = uow.now()
    current = query.current
    return [
        {
            "created_at": s.created_at.isoformat(),
            "last_seen_at": s.last_seen_at.isoformat(),
            "user_agent": s.user_agent,
            "current": s.id_hash == current.id_hash,
        }
        for s in await uow.store.sessions_of(query.tenant.portal_number, current.account_id)
        if not s.expired(now)
    ]


async def end_other_sessions(command: OwnAccount, uow: Uow) -> None:
    current = command.current
    account = await uow.store.account(command.tenant.portal_number, current.account_id)
    if account is not None:
        await _end_sessions(uow, account, "signed-out-elsewhere", keep=current.id_hash)


@dataclass(frozen=True)
class DeleteAccount:
    tenant: Tenant
    current: BrowserSession
    password: str


async def delete_account(command: DeleteAccount, uow: Uow) -> LoginRefused | None:
    """Refusals are returned, not raised: the failure count they record must be committed."""
    account = await uow.store.account(command.tenant.portal_number, command.current.account_id)
    if account is None:
        raise WrongCredentials
    if refused := await _prove_password(uow, command.tenant, account, command.password):
        return refused
    for ended in await uow.store.sessions_of(account.tenant, account.id):
        _session_ended(uow, ended, "account-deleted")
    account.delete()
    await uow.store.delete_account(account)  # with its sessions
    _publish(uow, account, uuid4())
    return None


# --- the signing keys ------------------------------------------------------------------------------------


class SigningKeys(Protocol):
    """The signing keys' schedule in identity's database (store.SigningKeyStore; a fake in the unit tests)."""

    async def lock_signing_keys(self) -> None: ...

    async def signing_keys(self) -> list[domain.SigningKey]: ...

    async def save_signing_key(self, key: domain.SigningKey) -> None: ...


class Keys(Protocol):
    """The private keys (crypto.Keyring): the first one, new ones, and their public halves."""

    def first(self) -> tuple[crypto.TokenSigner, datetime]: ...

    def create(self) -> crypto.TokenSigner: ...

    def signer(self, kid: str) -> crypto.TokenSigner: ...


KeysUow = UnitOfWork[SigningKeys]


@dataclass(frozen=True)
class RotateSigningKeys:
    """Keep the schedule: create (and publish) the next key when one is due. ``publish_all`` at each start:
    every live key again (an operator added since, a service that lost its table)."""

    tenants: tuple[Tenant, ...]
    publish_all: bool = False


async def rotate_signing_keys(command: RotateSigningKeys, uow: KeysUow, *, keyring: Keys) -> list[domain.SigningKey]:
    """The schedule after this step, for ``crypto.Keyring.use`` once committed. Runs at start and then every
    few seconds; on the unit of work's clock."""
    await uow.store.lock_signing_keys()
    now = uow.now()
    keys = await uow.store.signing_keys()
    created = await _keep_schedule(uow, keys, now, keyring)
    for key in keys if command.publish_all else created:
        if key.live(now):
            _publish_key(uow, key, keyring, command.tenants)
    return keys


async def _keep_schedule(
    uow: KeysUow, keys: list[domain.SigningKey], now: datetime, keyring: Keys
) -> list[domain.SigningKey]:
    """Adds the keys the schedule needs now (to ``keys``, to the store); returns them."""
    created: list[domain.SigningKey] = []
    if not keys:  # the first start with a schedule: the key identity signed with so far goes on
        signer, since = keyring.first()
        created.append(domain.SigningKey.adopted(signer.kid, since, now))
    elif (starts := domain.next_key_starts(keys, now)) is not None:
        created.append(domain.SigningKey.starting(keyring.create().kid, starts, now))
    for key in created:
        keys.append(key)
        await uow.store.save_signing_key(key)
    return created


def _publish_key(uow: KeysUow, key: domain.SigningKey, keyring: Keys, tenants: tuple[Tenant, ...]) -> None:
    """Per tenant, as every event belongs to one (the key itself is the platform's)."""
    jwk = PublicJwk.model_validate(keyring.signer(key.kid).public_jwk)
    event = SigningKeyPublished(kid=key.kid, jwk=jwk, not_before=key.not_before, expires_at=key.expires_at)
    for tenant in tenants:
        uow.publish(IDENTITY_KEYS, key.kid, event, tenant=tenant.portal_number, correlation_id=uuid4())


@dataclass(frozen=True)
class RevokeSigningKey:
    """The platform operator's command (staff_cli revoke-key): the key verifies nothing any more, anywhere."""

    tenants: tuple[Tenant, ...]
    kid: str
    reason: str = "compromised"


@dataclass(frozen=True)
class RevokedKey:
    own: bool  # one of identity's keys (else only the revocation was published)
    replaced_by: str | None  # the key that signs from now on, if the revoked one was signing
    schedule: list[domain.SigningKey]


async def revoke_signing_key(command: RevokeSigningKey, uow: KeysUow, *, keyring: Keys) -> RevokedKey:
    """Publishes the revocation for every tenant; one of identity's keys is marked revoked, and if it was the
    signing one a new key takes over at once (published in the same transaction)."""
    await uow.store.lock_signing_keys()
    now = uow.now()
    keys = await uow.store.signing_keys()
    own = next((key for key in keys if key.kid == command.kid), None)
    if own is not None:
        own.revoke(now)
        await uow.store.save_signing_key(own)
    revoked = SigningKeyRevoked(kid=command.kid, reason=command.reason)
    for tenant in command.tenants:
        uow.publish(IDENTITY_KEYS, command.kid, revoked, tenant=tenant.portal_number, correlation_id=uuid4())
    created = await _keep_schedule(uow, keys, now, keyring) if own is not None else []
    for key in created:
        _publish_key(uow, key, keyring, command.tenants)
    replacement = next((key.kid for key in created if key.signs_at(now)), None)
    return RevokedKey(own is not None, replacement, keys)
