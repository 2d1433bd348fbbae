"""Identity's use cases. Each takes what it needs; ``now`` comes from an injected clock."""

import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from sqlmodel.ext.asyncio.session import AsyncSession

from contracts.common import PartnerRole
from contracts.identity import (
    AccessRequested,
    AccountDeleted,
    EmailConfirmed,
    PartnerLinked,
    PasswordChanged,
    PasswordResetRequested,
    PublicJwk,
    SigningKeyPublished,
)
from contracts.topics import IDENTITY, IDENTITY_KEYS, IDENTITY_REQUESTS
from kit.consumer import Delivered
from kit.mail import Mail, enqueue_mail
from kit.masterdata import MasterDataTable
from kit.outbox import add_event
from kit.tenants import Tenant, TenantDirectory
from services.identity import crypto, domain, store
from services.identity.settings import IdentitySettings

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Deps:
    """What identity's handlers need besides the database session."""

    tenants: TenantDirectory
    settings: IdentitySettings
    signer: crypto.TokenSigner
    devices: crypto.DeviceCookies
    clock: Clock


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


# --- requests that are answered at once and handled afterwards -----------------------------------------


def request_access(session: AsyncSession, tenant: Tenant, meter_number: str, partner_number: str, email: str) -> None:
    """Only records the request: whatever the outcome, the HTTP answer is the same and equally fast."""
    add_event(
        session,
        IDENTITY_REQUESTS,
        f"{tenant.portal_number}/{partner_number}",
        AccessRequested(meter_number=meter_number, partner_number=partner_number, email=email),
        tenant=tenant.portal_number,
        correlation_id=uuid4(),
    )


def request_reset(session: AsyncSession, tenant: Tenant, email: str) -> None:
    add_event(
        session,
        IDENTITY_REQUESTS,
        crypto.email_key(tenant.portal_number, email),
        PasswordResetRequested(email=email),
        tenant=tenant.portal_number,
        correlation_id=uuid4(),
    )


def _mail(
    session: AsyncSession,
    deps: Deps,
    tenant: Tenant,
    to: str,
    text: domain.MailText,
    purpose: str,
    correlation_id: UUID,
) -> None:
    enqueue_mail(
        session,
        Mail(f"Kundenportal {tenant.short_name}", deps.settings.sender_email, to, text.subject, text.text, purpose),
        tenant=tenant.portal_number,
        correlation_id=correlation_id,
    )


async def handle_access_request(event: Delivered[AccessRequested], session: AsyncSession, deps: Deps) -> None:
    tenant = deps.tenants.get(event.envelope.tenant)
    asked = event.payload
    email = domain.normalise_email(str(asked.email))
    now = deps.clock()
    record = await MasterDataTable(session).find(tenant.portal_number, asked.meter_number)
    partner = next((p for p in record.partners if p.partner_number == asked.partner_number), None) if record else None
    owner_link = await store.link_of(session, tenant.portal_number, asked.partner_number)
    owner = await store.account(session, tenant.portal_number, owner_link.account_id) if owner_link else None
    requester = await store.account_by_email(session, tenant.portal_number, email)
    outcome = domain.decide_access(
        pair_known=partner is not None,
        recent_failures=await store.recent_partner_failures(
            session, tenant.portal_number, asked.partner_number, now - domain.PARTNER_FAILURE_WINDOW
        ),
        owner_email=owner.email if owner else None,
        requester_has_login=requester is not None,
        email=email,
    )
    phone, correlation = tenant.service_phone, event.envelope.correlation_id
    match outcome:
        case domain.AccessOutcome.INVALID_PAIR:
            session.add(
                store.PartnerFailureRow(tenant=tenant.portal_number, partner_number=asked.partner_number, failed_at=now)
            )
        case domain.AccessOutcome.NEW_LOGIN | domain.AccessOutcome.ADD_PARTNER:
            assert partner is not None
            await store.retire_open_tokens(session, tenant.portal_number, "access", email, now, asked.partner_number)
            token = crypto.new_token()
            session.add(
                store.TokenRow(
                    hash=crypto.token_hash(token),
                    tenant=tenant.portal_number,
                    purpose="access",
                    email=email,
                    account_id=requester.id if requester else None,
                    meter_number=asked.meter_number,
                    partner_number=asked.partner_number,
                    role=partner.role.value,
                    created_at=now,
                    expires_at=now + domain.CONFIRMATION_VALID,
                )
            )
            link = f"{tenant.portal_url}/zugang/bestaetigen#token={token}"
            adding = outcome == domain.AccessOutcome.ADD_PARTNER
            _mail(
                session,
                deps,
                tenant,
                email,
                domain.confirmation_mail(tenant.name, phone, link, asked.partner_number, adding),
                "access-confirmation",
                correlation,
            )
        case domain.AccessOutcome.ALREADY_YOURS:
            _mail(
                session,
                deps,
                tenant,
                email,
                domain.already_registered_mail(tenant.name, phone, tenant.portal_url),
                "access-already-registered",
                correlation,
            )
        case domain.AccessOutcome.SOMEONE_ELSES:
            assert owner is not None
            _mail(
                session,
                deps,
                tenant,
                email,
                domain.not_possible_mail(tenant.name, phone),
                "access-not-possible",
                correlation,
            )
            _mail(
                session,
                deps,
                tenant,
                owner.email,
                domain.owner_warning_mail(tenant.name, phone, asked.partner_number),
                "access-owner-warning",
                correlation,
            )
        case domain.AccessOutcome.IGNORED:
            pass


async def handle_reset_request(event: Delivered[PasswordResetRequested], session: AsyncSession, deps: Deps) -> None:
    tenant = deps.tenants.get(event.envelope.tenant)
    email = domain.normalise_email(str(event.payload.email))
    account = await store.account_by_email(session, tenant.portal_number, email)
    if account is None:
        return  # nobody to tell; the requester got the same answer as everyone
    now = deps.clock()
    await store.retire_open_tokens(session, tenant.portal_number, "reset", email, now)
    token = crypto.new_token()
    session.add(
        store.TokenRow(
            hash=crypto.token_hash(token),
            tenant=tenant.portal_number,
            purpose="reset",
            email=email,
            account_id=account.id,
            created_at=now,
            expires_at=now + domain.RESET_VALID,
        )
    )
    link = f"{tenant.portal_url}/passwort-neu#token={token}"
    _mail(
        session,
        deps,
        tenant,
        email,
        domain.reset_mail(tenant.name, tenant.service_phone, link),
        "password-reset",
        event.envelope.correlation_id,
    )


# --- links from e-mails ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LinkInfo:
    purpose: str  # "access" | "reset"
    needs: str  # "new_password" | "current_password"
    email: str


async def inspect_link(session: AsyncSession, tenant: Tenant, token: str, now: datetime) -> LinkInfo:
    row = await store.peek_token(session, tenant.portal_number, crypto.token_hash(token), now)
    if row is None:
        raise InvalidLink
    if row.purpose == "reset":
        return LinkInfo("reset", "new_password", row.email)
    has_login = await store.account_by_email(session, tenant.portal_number, row.email) is not None
    return LinkInfo("access", "current_password" if has_login else "new_password", row.email)


async def complete_access(session: AsyncSession, tenant: Tenant, token: str, password: str, deps: Deps) -> UUID:
    """Confirm the e-mail with the link and set the password (first partner number) or prove it (another)."""
    now = deps.clock()
    peeked = await store.peek_token(session, tenant.portal_number, crypto.token_hash(token), now)
    if peeked is None or peeked.purpose != "access":
        raise InvalidLink
    account = await store.account_by_email(session, tenant.portal_number, peeked.email)
    if account is None:
        problem = domain.password_problem(password, peeked.email)
        if problem:
            raise PasswordRefused(problem)
        new_hash = await crypto.hash_password(password)
    elif not await crypto.verify_password(account.password_hash, password):
        raise WrongCredentials
    row = await store.use_token(session, tenant.portal_number, crypto.token_hash(token), "access", now)
    if row is None or row.partner_number is None or row.meter_number is None or row.role is None:
        raise InvalidLink  # another use of the same link was faster
    if await store.link_of(session, tenant.portal_number, row.partner_number):
        raise InvalidLink  # linked meanwhile through another link
    correlation = uuid4()
    if account is None:
        account = store.AccountRow(
            id=uuid4(),
            tenant=tenant.portal_number,
            email=row.email,
            password_hash=new_hash,
            created_at=now,
            password_changed_at=now,
        )
        session.add(account)
        await session.flush()  # the unique (tenant, e-mail) constraint speaks now, not at commit
        _emit(session, tenant, account.id, EmailConfirmed(account_id=str(account.id)), correlation)
    else:
        _mail(
            session,
            deps,
            tenant,
            account.email,
            domain.partner_added_mail(tenant.name, tenant.service_phone, row.partner_number, row.role),
            "partner-added",
            correlation,
        )
    session.add(
        store.PartnerLinkRow(
            tenant=tenant.portal_number,
            partner_number=row.partner_number,
            account_id=account.id,
            meter_number=row.meter_number,
            role=row.role,
            linked_at=now,
        )
    )
    _emit(
        session,
        tenant,
        account.id,
        PartnerLinked(
            account_id=str(account.id),
            meter_number=row.meter_number,
            partner_number=row.partner_number,
            role=PartnerRole(row.role),
        ),
        correlation,
    )
    return account.id


async def complete_reset(session: AsyncSession, tenant: Tenant, token: str, password: str, deps: Deps) -> None:
    now = deps.clock()
    peeked = await store.peek_token(session, tenant.portal_number, crypto.token_hash(token), now)
    if peeked is None or peeked.purpose != "reset":
        raise InvalidLink
    problem = domain.password_problem(password, peeked.email)
    if problem:
        raise PasswordRefused(problem)
    new_hash = await crypto.hash_password(password)
    row = await store.use_token(session, tenant.portal_number, crypto.token_hash(token), "reset", now)
    account = await store.account_by_email(session, tenant.portal_number, peeked.email) if row else None
    if account is None:
        raise InvalidLink
    await _set_password(session, deps, tenant, account, new_hash, "reset", keep_session=None)
    throttle = await store.throttle_for_update(
        session, tenant.portal_number, crypto.email_key(tenant.portal_number, account.email)
    )
    throttle.failures, throttle.wait_until = 0, None  # the owner proved access to the mailbox


async def _set_password(
    session: AsyncSession,
    deps: Deps,
    tenant: Tenant,
    account: store.AccountRow,
    new_hash: str,
    reason: str,
    keep_session: str | None,
) -> None:
    account.password_hash = new_hash
    account.password_changed_at = deps.clock()
    await store.end_sessions(session, tenant.portal_number, account.id, keep=keep_session)
    correlation = uuid4()
    _mail(
        session,
        deps,
        tenant,
        account.email,
        domain.password_changed_mail(tenant.name, tenant.service_phone),
        "password-changed",
        correlation,
    )
    _emit(session, tenant, account.id, PasswordChanged(account_id=str(account.id), reason=reason), correlation)


def _emit(session: AsyncSession, tenant: Tenant, account_id: UUID, event: Any, correlation: UUID) -> None:
    add_event(session, IDENTITY, str(account_id), event, tenant=tenant.portal_number, correlation_id=correlation)


# --- login and sessions ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewSession:
    token: str  # goes into the cookie; only its hash is stored
    row: store.SessionRow
    device_cookie: str | None = None


async def login(
    session: AsyncSession,
    tenant: Tenant,
    email: str,
    password: str,
    device_cookie: str | None,
    user_agent: str | None,
    deps: Deps,
) -> "NewSession | LoginRefused":
    """Refusals are returned, not raised: the failure count they record must be committed."""
    now = deps.clock()
    email = domain.normalise_email(email)
    throttle = await store.throttle_for_update(
        session, tenant.portal_number, crypto.email_key(tenant.portal_number, email)
    )
    device = deps.devices.device_id(device_cookie, tenant.portal_number, email)
    device_row = await session.get(store.DeviceFailureRow, device) if device else None
    trusted_device = device is not None and (device_row is None or device_row.failures < domain.DEVICE_FAILURES_ALLOWED)
    if not trusted_device and throttle.wait_until and throttle.wait_until > now:
        return LoginRefused(retry_after=math.ceil((throttle.wait_until - now).total_seconds()))
    account = await store.account_by_email(session, tenant.portal_number, email)
    if not await crypto.verify_password(account.password_hash if account else None, password) or account is None:
        if trusted_device:
            assert device is not None
            device_row = device_row or store.DeviceFailureRow(device_id=device)
            device_row.failures += 1
            session.add(device_row)
        else:
            throttle.failures += 1
            wait = domain.login_wait(throttle.failures)
            throttle.wait_until = now + wait if wait else None
        return LoginRefused(retry_after=None)
    throttle.failures, throttle.wait_until = 0, None
    if device_row is not None:
        device_row.failures = 0
    if crypto.needs_rehash(account.password_hash):
        account.password_hash = await crypto.hash_password(password)
    links = await store.links_of(session, tenant.portal_number, account.id)
    only = links[0] if len(links) == 1 else None
    new = _open_session(session, tenant, account.id, only, now, user_agent)
    issued_device = device_cookie if trusted_device else deps.devices.issue(tenant.portal_number, email)
    return NewSession(new.token, new.row, issued_device)


def _open_session(
    session: AsyncSession,
    tenant: Tenant,
    account_id: UUID,
    link: store.PartnerLinkRow | None,
    now: datetime,
    user_agent: str | None,
) -> NewSession:
    token = secrets.token_urlsafe(32)
    row = store.SessionRow(
        id_hash=crypto.token_hash(token),
        tenant=tenant.portal_number,
        account_id=account_id,
        partner_number=link.partner_number if link else None,
        role=link.role if link else None,
        csrf_token=secrets.token_urlsafe(24),
        created_at=now,
        last_seen_at=now,
        user_agent=(user_agent or "")[:200] or None,
    )
    session.add(row)
    return NewSession(token, row)


async def current_session(session: AsyncSession, tenant: Tenant, token: str | None, now: datetime) -> store.SessionRow:
    """The live session of this cookie at this tenant (touching it), or NotAllowed."""
    row = await store.session_by_hash(session, tenant.portal_number, crypto.token_hash(token)) if token else None
    if row is None:
        raise NotAllowed
    if domain.SessionTimes(row.created_at, row.last_seen_at).expired(now):
        await session.delete(row)
        raise NotAllowed
    row.last_seen_at = now
    return row


async def choose_partner(
    session: AsyncSession, tenant: Tenant, current: store.SessionRow, partner_number: str, now: datetime
) -> NewSession:
    """Act as another partner number: only one of the login's own, and always with a new session id."""
    link = await store.link_of(session, tenant.portal_number, partner_number)
    if link is None or link.account_id != current.account_id:
        raise NotAllowed
    await session.delete(current)
    new = _open_session(session, tenant, current.account_id, link, now, current.user_agent)
    new.row.created_at = current.created_at  # the absolute limit counts from the login
    return new


def access_token(deps: Deps, row: store.SessionRow) -> tuple[str, int]:
    """A short-lived token that names tenant, exactly one partner number and its role."""
    if row.partner_number is None:
        raise NotAllowed
    now = deps.clock()
    claims = {
        "iss": "plusportal-identity",
        "aud": "plusportal",
        "sub": str(row.account_id),
        "tenant": row.tenant,
        "partner": row.partner_number,
        "role": row.role,
        "sid": row.id_hash[:16],
        "iat": now,
    }
    return deps.signer.sign(claims, now + domain.ACCESS_TOKEN_VALID), int(domain.ACCESS_TOKEN_VALID.total_seconds())


async def change_password(
    session: AsyncSession, tenant: Tenant, current: store.SessionRow, old: str, new: str, deps: Deps
) -> None:
    account = await store.account(session, tenant.portal_number, current.account_id)
    if account is None or not await crypto.verify_password(account.password_hash, old):
        raise WrongCredentials
    problem = domain.password_problem(new, account.email)
    if problem:
        raise PasswordRefused(problem)
    await _set_password(
        session, deps, tenant, account, await crypto.hash_password(new), "change", keep_session=current.id_hash
    )


async def export_data(session: AsyncSession, tenant: Tenant, current: store.SessionRow) -> dict[str, Any]:
    """Everything identity keeps about this login (GDPR Art. 15/20)."""
    account = await store.account(session, tenant.portal_number, current.account_id)
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
            for link in await store.links_of(session, tenant.portal_number, account.id)
        ],
        "sessions": [
            {
                "created_at": s.created_at.isoformat(),
                "last_seen_at": s.last_seen_at.isoformat(),
                "user_agent": s.user_agent,
            }
            for s in await store.sessions_of(session, tenant.portal_number, account.id)
        ],
    }


async def sessions_of(session: AsyncSession, tenant: Tenant, current: store.SessionRow) -> list[dict[str, Any]]:
    """The login's live sessions ("angemeldete Geräte"), the current one marked."""
    now = current.last_seen_at  # just touched by current_session: the request's "now"
    rows = await store.sessions_of(session, tenant.portal_number, current.account_id)
    return [
        {
            "created_at": row.created_at.isoformat(),
            "last_seen_at": row.last_seen_at.isoformat(),
            "user_agent": row.user_agent,
            "current": row.id_hash == current.id_hash,
        }
        for row in rows
        if not domain.SessionTimes(row.created_at, row.last_seen_at).expired(now)
    ]


async def end_other_sessions(session: AsyncSession, tenant: Tenant, current: store.SessionRow) -> None:
    await store.end_sessions(session, tenant.portal_number, current.account_id, keep=current.id_hash)


async def delete_account(session: AsyncSession, tenant: Tenant, current: store.SessionRow, password: str) -> None:
    account = await store.account(session, tenant.portal_number, current.account_id)
    if account is None or not await crypto.verify_password(account.password_hash, password):
        raise WrongCredentials
    links = await store.links_of(session, tenant.portal_number, account.id)
    for link in links:
        await session.delete(link)
    await store.end_sessions(session, tenant.portal_number, account.id)
    await session.delete(account)
    _emit(
        session,
        tenant,
        account.id,
        AccountDeleted(account_id=str(account.id), partner_numbers=tuple(link.partner_number for link in links)),
        uuid4(),
    )


def publish_signing_key(session: AsyncSession, deps: Deps) -> None:
    """Once per start: other services learn the key that verifies our tokens from the keys topic
    (per tenant, as every event belongs to one; the key itself is the platform's)."""
    for tenant in deps.tenants:
        add_event(
            session,
            IDENTITY_KEYS,
            deps.signer.kid,
            SigningKeyPublished(kid=deps.signer.kid, jwk=PublicJwk.model_validate(deps.signer.public_jwk)),
            tenant=tenant.portal_number,
            correlation_id=uuid4(),
        )
