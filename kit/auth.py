"""Accepting identity's access tokens without calling identity.

Identity publishes its public keys on the keys topic; a service that accepts tokens keeps them in its
own ``signing_keys`` table (``record_signing_key``) and verifies each token's signature, audience,
expiry and tenant locally (``verify``). A token names exactly one tenant, partner number and role.

Keys have a lifecycle: each carries a validity period (a token signed before its ``not_before`` or presented
from its ``expires_at`` on is refused) and may be revoked (``record_key_revocation``: final). A session that
ended before its tokens expired (logout, password change, deleted account) is kept until then
(``record_session_ended``), and ``verify`` refuses its tokens. Each process caches keys and verified tokens;
both caches honour revocations within ``KEY_RECHECK_S`` and ended sessions within ``SESSION_RECHECK_S``, and at
once when the revocation or the end is recorded in the same process.
"""

import base64
import hashlib
import json
import math
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Protocol

import jwt
from sqlalchemy import Column, DateTime, delete, func
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from contracts.consent import GRANT_SCOPES, GRANT_SESSION_PREFIX, GrantRevoked
from contracts.identity import (
    ACCESS_TOKEN_AUDIENCE,
    ACCESS_TOKEN_ISSUER,
    SessionEnded,
    SigningKeyPublished,
    SigningKeyRevoked,
)
from contracts.staff import PLATFORM_PORTAL, STAFF_TOKEN_AUDIENCE
from kit.consumer import Delivered, RefusedEvent

if TYPE_CHECKING:
    from kit.uow import UnitOfWork

AUDIENCE = ACCESS_TOKEN_AUDIENCE
ISSUER = ACCESS_TOKEN_ISSUER


class SigningKeyRow(SQLModel, table=True):
    __tablename__ = "signing_keys"

    tenant: str = Field(primary_key=True)
    kid: str = Field(primary_key=True)
    jwk: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    published_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    not_before: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    expires_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))


class EndedSessionRow(SQLModel, table=True):
    """A session that ended before its tokens expired (meter data's; kit.migrations.create_ended_sessions_table_v1)."""

    __tablename__ = "ended_sessions"

    tenant: str = Field(primary_key=True)
    sid: str = Field(primary_key=True)
    tokens_valid_until: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    ended_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


# RFC 7638 §3.2: the members a thumbprint covers, per key type.
THUMBPRINT_MEMBERS = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n"), "OKP": ("crv", "kty", "x")}


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """The key's RFC 7638 thumbprint (SHA-256, base64url): its `kid`, which anyone who receives it can check."""
    members = THUMBPRINT_MEMBERS[jwk["kty"]]
    canonical = json.dumps({name: jwk[name] for name in members}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


class KeepsSigningKeys(Protocol):
    """A store that keeps identity's keys (with ``record_signing_key`` and ``record_key_revocation`` on its
    session)."""

    async def record_signing_key(self, event: Delivered[SigningKeyPublished]) -> None: ...

    async def record_key_revocation(self, event: Delivered[SigningKeyRevoked]) -> None: ...


async def keep_signing_key(event: Delivered[SigningKeyPublished], uow: "UnitOfWork[KeepsSigningKeys]") -> None:
    """The event handler of every service that verifies identity's tokens (registered on the keys topic)."""
    await uow.store.record_signing_key(event)


async def keep_key_revocation(event: Delivered[SigningKeyRevoked], uow: "UnitOfWork[KeepsSigningKeys]") -> None:
    """The other event handler on the keys topic of every service that verifies identity's tokens."""
    await uow.store.record_key_revocation(event)


async def record_signing_key(event: Delivered[SigningKeyPublished], session: AsyncSession) -> None:
    """Keeps a published key, if its name is its thumbprint: a key published under another key's name (or a
    made-up one) could otherwise replace or shadow it. A key published again takes the newer period; a revoked
    key stays revoked."""
    jwk = event.payload.jwk.model_dump()
    if event.payload.kid != jwk_thumbprint(jwk) or jwk.get("kid", event.payload.kid) != event.payload.kid:
        raise RefusedEvent("SigningKeyPublished: kid is not the key's RFC 7638 thumbprint")
    period = {"jwk": jwk, "not_before": event.payload.not_before, "expires_at": event.payload.expires_at}
    statement = insert(SigningKeyRow).values(
        tenant=event.envelope.tenant, kid=event.payload.kid, published_at=event.envelope.occurred_at, **period
    )
    await session.exec(statement.on_conflict_do_update(index_elements=["tenant", "kid"], set_=period))
    _KEYS.pop((event.envelope.tenant, event.payload.kid), None)


async def record_key_revocation(event: Delivered[SigningKeyRevoked], session: AsyncSession) -> None:
    """Marks the key revoked — also one not (yet) known here: then its row has no key and never gets one, so a
    later publication cannot bring it back. Refused at once in this process, within KEY_RECHECK_S elsewhere."""
    tenant, kid = event.envelope.tenant, event.payload.kid
    statement = insert(SigningKeyRow).values(
        tenant=tenant, kid=kid, jwk={}, published_at=event.envelope.occurred_at, revoked_at=event.envelope.occurred_at
    )
    await session.exec(
        statement.on_conflict_do_update(
            index_elements=["tenant", "kid"],
            set_={"revoked_at": func.coalesce(col(SigningKeyRow.revoked_at), statement.excluded.revoked_at)},
        )
    )
    _revoked((tenant, kid))


async def record_session_ended(event: Delivered[SessionEnded], session: AsyncSession) -> None:
    """Keeps an ended session until its last token would have expired anyway (an older one is not kept, and
    those whose tokens have expired meanwhile go: the table holds minutes' worth of ended sessions)."""
    await _keep_ended(session, event.envelope.tenant, event.payload.sid, event.payload.tokens_valid_until, event)


async def record_grant_revoked(event: Delivered[GrantRevoked], session: AsyncSession) -> None:
    """A third party's grant revoked: its tokens (their ``sid`` names the grant) are refused like an ended
    session's."""
    sid = GRANT_SESSION_PREFIX + event.payload.grant_id
    await _keep_ended(session, event.envelope.tenant, sid, event.payload.tokens_valid_until, event)


async def _keep_ended(session: AsyncSession, tenant: str, sid: str, until: datetime, event: Delivered[Any]) -> None:
    now = datetime.now(UTC)
    await session.exec(delete(EndedSessionRow).where(col(EndedSessionRow.tokens_valid_until) <= now))
    if until <= now:
        return
    statement = insert(EndedSessionRow).values(
        tenant=tenant, sid=sid, tokens_valid_until=until, ended_at=event.envelope.occurred_at
    )
    await session.exec(statement.on_conflict_do_nothing())
    _ENDED[(tenant, sid)] = until.timestamp()


@dataclass(frozen=True)
class GrantClaims:
    """What a third party's token may read (contracts.consent): one scope, from one day on."""

    id: str
    client_id: str
    scope: str
    data_from: date


@dataclass(frozen=True)
class AccessClaims:
    tenant: str
    partner_number: str
    role: str
    account_id: str
    session: str
    grant: GrantClaims | None = None  # a third party's token: only what the grant names


class InvalidToken(Exception):
    """Missing, forged, expired, or for another tenant."""


@dataclass(frozen=True)
class _Key:
    """A published key as verify uses it: the key, its period (epoch seconds; None: unbounded) and when this
    process read it (monotonic)."""

    key: Any
    not_before: float | None
    expires_at: float | None
    read_at: float


# Public keys found in signing_keys, per (tenant, kid): the kid is the key's thumbprint, so a (tenant, kid) always
# names the same key, but its period may change and it may be revoked — an entry is read again after
# KEY_RECHECK_S. Only found keys are kept (a kid that is not known yet may be published a moment later); with a
# fresh cached key, ``verify`` does not touch the database for the key.
_KEYS: dict[tuple[str, str], _Key] = {}
KEY_RECHECK_S = 15.0
# Revoked keys (tenant, kid) seen by this process: revocation is final, so they are refused without a look-up.
_REVOKED: set[tuple[str, str]] = set()

# Tokens already verified, per (tenant, token), with their kid, until they expire (or their key does): a client
# sends the same token with every request, and checking an ES256 signature again is the costliest step of a
# small query. Everything ``jwt.decode`` checks is fixed for a given token except its expiry, which is checked
# again on each hit — and so are the key (revoked? read again after KEY_RECHECK_S) and the session (ended?).
_VERIFIED: dict[tuple[str, str], tuple[AccessClaims, float, str]] = {}
_VERIFIED_MAX = 10_000

# Sessions that ended before their tokens expired, (tenant, sid) → until when (epoch seconds): read from
# ended_sessions at most every SESSION_RECHECK_S (one small query: only sessions whose tokens could still live).
_ENDED: dict[tuple[str, str], float] = {}
SESSION_RECHECK_S = 2.0
_ENDED_READ_AT = [0.0]  # monotonic; in a list so that the functions below can set it


def _revoked(key: tuple[str, str]) -> None:
    _REVOKED.add(key)
    _KEYS.pop(key, None)


def _kid(token: str) -> str:
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.PyJWTError:
        raise InvalidToken("malformed") from None
    if not isinstance(kid, str):
        raise InvalidToken("unknown key")
    return kid


async def _key(session: AsyncSession, tenant: str, kid: str) -> _Key:
    """The published, unrevoked key the kid names for this tenant, read again when the cached copy is stale."""
    if (tenant, kid) in _REVOKED:
        raise InvalidToken("revoked key")
    now = time.monotonic()
    cached = _KEYS.get((tenant, kid))
    if cached is not None and now - cached.read_at < KEY_RECHECK_S:
        return cached
    if tenant == PLATFORM_PORTAL:
        row = await _platform_key_row(session, kid)
    else:
        row = await session.get(SigningKeyRow, (tenant, kid), populate_existing=True)
    if row is None:
        _KEYS.pop((tenant, kid), None)
        raise InvalidToken("unknown key")  # also a token of another tenant: its key is not this tenant's
    if row.revoked_at is not None:
        _revoked((tenant, kid))
        raise InvalidToken("revoked key")
    key = cached.key if cached is not None else jwt.PyJWK(row.jwk).key
    not_before = row.not_before.timestamp() if row.not_before else None
    expires_at = row.expires_at.timestamp() if row.expires_at else None
    found = _KEYS[(tenant, kid)] = _Key(key, not_before, expires_at, now)
    return found


async def _platform_key_row(session: AsyncSession, kid: str) -> SigningKeyRow | None:
    """The platform's own staff sign their tokens with the platform's key, which identity publishes once per
    operator (every event names one): any operator's copy verifies them, and a revocation of any copy counts."""
    statement = select(SigningKeyRow).where(SigningKeyRow.kid == kid).execution_options(populate_existing=True)
    copies = list((await session.exec(statement)).all())
    revoked = [row for row in copies if row.revoked_at is not None]
    found = revoked or copies
    return found[0] if found else None


def _within_period(key: _Key, claims: dict[str, Any]) -> None:
    """A token signed before the key's period or presented after it is refused."""
    if key.expires_at is not None and time.time() >= key.expires_at:
        raise InvalidToken("key expired")
    if key.not_before is not None:
        issued = claims.get("iat")  # whole seconds (RFC 7519 NumericDate as identity writes it): truncated
        if not isinstance(issued, int | float) or issued < math.floor(key.not_before):
            raise InvalidToken("signed outside the key's period")


async def _ended_sessions(session: AsyncSession) -> dict[tuple[str, str], float]:
    now = time.monotonic()
    if now - _ENDED_READ_AT[0] >= SESSION_RECHECK_S:
        _ENDED_READ_AT[0] = now  # claimed first: concurrent requests meanwhile use what is known
        try:
            rows = await session.exec(
                select(EndedSessionRow.tenant, EndedSessionRow.sid, EndedSessionRow.tokens_valid_until).where(
                    col(EndedSessionRow.tokens_valid_until) > datetime.now(UTC)
                )
            )
        except Exception:
            _ENDED_READ_AT[0] = 0.0
            raise
        for tenant, sid, valid_until in rows.all():
            _ENDED[(tenant, sid)] = valid_until.timestamp()
        wall = time.time()
        for ended, until in list(_ENDED.items()):
            if until <= wall:
                del _ENDED[ended]
    return _ENDED


async def verify(
    transaction: Callable[[], AbstractAsyncContextManager[AsyncSession]], token: str, tenant: str
) -> AccessClaims:
    """The claims of a customer's access token for this tenant, or InvalidToken. A token verified before whose
    key and the list of ended sessions are fresh in memory needs no database: ``transaction`` is opened only to
    read them again."""
    known = _known_claims(token, tenant)
    if known is not None:
        return known
    async with transaction() as session:
        return await _verify_reading(session, token, tenant)


def _known_claims(token: str, tenant: str) -> AccessClaims | None:
    """verify's answer from memory alone, or None when something must be read (or the token checked) first."""
    known = _VERIFIED.get((tenant, token))
    if known is None or time.monotonic() - _ENDED_READ_AT[0] >= SESSION_RECHECK_S:
        return None
    claims, until, kid = known
    key = _KEYS.get((tenant, kid))
    if time.time() >= until or key is None or time.monotonic() - key.read_at >= KEY_RECHECK_S:
        return None
    if (tenant, kid) in _REVOKED or (key.expires_at is not None and time.time() >= key.expires_at):
        return None  # refused by _verify_reading, with its reason
    if (tenant, claims.session) in _ENDED:
        raise InvalidToken("session ended")
    return claims


async def _verify_reading(session: AsyncSession, token: str, tenant: str) -> AccessClaims:
    ended = await _ended_sessions(session)
    known = _VERIFIED.get((tenant, token))
    if known is not None:
        claims, until, kid = known
        if time.time() < until:
            key = await _key(session, tenant, kid)  # revoked since? (read again after KEY_RECHECK_S)
            if key.expires_at is not None and time.time() >= key.expires_at:  # its period was shortened since
                raise InvalidToken("key expired")
            if (tenant, claims.session) in ended:
                raise InvalidToken("session ended")
            return claims
        del _VERIFIED[(tenant, token)]
    kid = _kid(token)
    key = await _key(session, tenant, kid)
    try:
        decoded = jwt.decode(
            token,
            key.key,
            algorithms=["ES256"],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "tenant", "partner", "role", "sub"]},
        )
    except jwt.PyJWTError:
        raise InvalidToken("signature or claims") from None
    _within_period(key, decoded)
    if decoded["tenant"] != tenant:
        raise InvalidToken("other tenant")
    verified = AccessClaims(
        decoded["tenant"],
        decoded["partner"],
        decoded["role"],
        decoded["sub"],
        decoded.get("sid", ""),
        _grant_claims(decoded.get("grant")),
    )
    if (tenant, verified.session) in ended:
        raise InvalidToken("session ended")
    if len(_VERIFIED) >= _VERIFIED_MAX:
        _VERIFIED.clear()  # crude but bounded; tokens live minutes, so the hot ones come back at once
    until = min(float(decoded["exp"]), key.expires_at or float("inf"))
    _VERIFIED[(tenant, token)] = (verified, until, kid)
    return verified


def _grant_claims(grant: Any) -> GrantClaims | None:
    if grant is None:
        return None
    try:
        found = GrantClaims(
            str(grant["id"]), str(grant["client"]), str(grant["scope"]), date.fromisoformat(grant["from"])
        )
    except (TypeError, KeyError, ValueError):
        raise InvalidToken("grant claims") from None
    if found.scope not in GRANT_SCOPES:
        raise InvalidToken("grant scope")
    return found


# --- staff access tokens (back-office) -------------------------------------------------------------------


@dataclass(frozen=True)
class StaffClaims:
    """A staff access token's claims: one operator, one staff member, one role."""

    tenant: str
    staff_id: str
    name: str
    role: str
    session: str


async def verify_staff(session: AsyncSession, token: str, tenant: str) -> StaffClaims:
    """A staff token of this tenant, verified with identity's published key (audience: the back-office)."""
    key = await _key(session, tenant, _kid(token))
    try:
        claims = jwt.decode(
            token,
            key.key,
            algorithms=["ES256"],
            audience=STAFF_TOKEN_AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "tenant", "sub", "name", "role"]},
        )
    except jwt.PyJWTError:
        raise InvalidToken("signature or claims") from None
    _within_period(key, claims)
    if claims["tenant"] != tenant:
        raise InvalidToken("other tenant")
    return StaffClaims(claims["tenant"], claims["sub"], claims["name"], claims["role"], claims.get("sid", ""))
