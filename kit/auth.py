"""Accepting identity's access tokens without calling identity.

Identity publishes its public keys on the keys topic; a service that accepts tokens keeps them in its
own ``signing_keys`` table (``record_signing_key``) and verifies each token's signature, audience,
expiry and tenant locally (``verify``). A token names exactly one tenant, partner number and role.
"""

import base64
import hashlib
import json
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import jwt
from sqlalchemy import Column, DateTime
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from contracts.identity import ACCESS_TOKEN_AUDIENCE, ACCESS_TOKEN_ISSUER, SigningKeyPublished
from contracts.staff import STAFF_TOKEN_AUDIENCE
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


# RFC 7638 §3.2: the members a thumbprint covers, per key type.
THUMBPRINT_MEMBERS = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n"), "OKP": ("crv", "kty", "x")}


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """The key's RFC 7638 thumbprint (SHA-256, base64url): its `kid`, which anyone who receives it can check."""
    members = THUMBPRINT_MEMBERS[jwk["kty"]]
    canonical = json.dumps({name: jwk[name] for name in members}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


class KeepsSigningKeys(Protocol):
    """A store that keeps identity's keys (with ``record_signing_key`` on its session)."""

    async def record_signing_key(self, event: Delivered[SigningKeyPublished]) -> None: ...


async def keep_signing_key(event: Delivered[SigningKeyPublished], uow: "UnitOfWork[KeepsSigningKeys]") -> None:
    """The event handler of every service that verifies identity's tokens (registered on the keys topic)."""
    await uow.store.record_signing_key(event)


async def record_signing_key(event: Delivered[SigningKeyPublished], session: AsyncSession) -> None:
    """Keeps a published key, if its name is its thumbprint: a key published under another key's name (or a
    made-up one) could otherwise replace or shadow it."""
    jwk = event.payload.jwk.model_dump()
    if event.payload.kid != jwk_thumbprint(jwk) or jwk.get("kid", event.payload.kid) != event.payload.kid:
        raise RefusedEvent("SigningKeyPublished: kid is not the key's RFC 7638 thumbprint")
    statement = insert(SigningKeyRow).values(
        tenant=event.envelope.tenant,
        kid=event.payload.kid,
        jwk=event.payload.jwk.model_dump(),
        published_at=event.envelope.occurred_at,
    )
    await session.exec(statement.on_conflict_do_nothing())


@dataclass(frozen=True)
class AccessClaims:
    tenant: str
    partner_number: str
    role: str
    account_id: str
    session: str


class InvalidToken(Exception):
    """Missing, forged, expired, or for another tenant."""


# Public keys found in signing_keys, per (tenant, kid), for the life of the process: the kid is the key's
# thumbprint, so a (tenant, kid) always names the same key. Only found keys are kept (a kid that is not known
# yet may be published a moment later); with a cached key, ``verify`` does not touch the session at all.
_KEYS: dict[tuple[str, str], Any] = {}


# Tokens already verified, per (tenant, token), until they expire: a client sends the same token with every
# request, and checking an ES256 signature again is the costliest step of a small query. Everything
# ``jwt.decode`` checks is fixed for a given token except its expiry, which is checked again on each hit.
_VERIFIED: dict[tuple[str, str], tuple[AccessClaims, float]] = {}
_VERIFIED_MAX = 10_000


async def verify(session: AsyncSession, token: str, tenant: str) -> AccessClaims:
    known = _VERIFIED.get((tenant, token))
    if known is not None:
        if time.time() < known[1]:
            return known[0]
        del _VERIFIED[(tenant, token)]
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.PyJWTError:
        raise InvalidToken("malformed") from None
    if not isinstance(kid, str):
        raise InvalidToken("unknown key")
    key = _KEYS.get((tenant, kid))
    if key is None:
        row = await session.get(SigningKeyRow, (tenant, kid))
        if row is None:
            raise InvalidToken("unknown key")  # also a token of another tenant: its key is not this tenant's
        key = _KEYS[(tenant, kid)] = jwt.PyJWK(row.jwk).key
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=["ES256"],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "tenant", "partner", "role", "sub"]},
        )
    except jwt.PyJWTError:
        raise InvalidToken("signature or claims") from None
    if claims["tenant"] != tenant:
        raise InvalidToken("other tenant")
    verified = AccessClaims(claims["tenant"], claims["partner"], claims["role"], claims["sub"], claims.get("sid", ""))
    if len(_VERIFIED) >= _VERIFIED_MAX:
        _VERIFIED.clear()  # crude but bounded; tokens live minutes, so the hot ones come back at once
    _VERIFIED[(tenant, token)] = (verified, float(claims["exp"]))
    return verified


# --- staff access tokens (back-office) -------------------------------------------------------------------


@dataclass(frozen=True)
class StaffClaims:
    """A staff access token's claims: one operator, one staff member, one role."""

    tenant: str
    staff_id: str
    name: str
    role: str
    session: str


async def _public_key(session: AsyncSession, tenant: str, token: str) -> Any:
    """The published key the token's ``kid`` names for this tenant (kept per process once found)."""
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.PyJWTError:
        raise InvalidToken("malformed") from None
    if not isinstance(kid, str):
        raise InvalidToken("unknown key")
    key = _KEYS.get((tenant, kid))
    if key is None:
        row = await session.get(SigningKeyRow, (tenant, kid))
        if row is None:
            raise InvalidToken("unknown key")
        key = _KEYS[(tenant, kid)] = jwt.PyJWK(row.jwk).key
    return key


async def verify_staff(session: AsyncSession, token: str, tenant: str) -> StaffClaims:
    """A staff token of this tenant, verified with identity's published key (audience: the back-office)."""
    key = await _public_key(session, tenant, token)
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=["ES256"],
            audience=STAFF_TOKEN_AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "tenant", "sub", "name", "role"]},
        )
    except jwt.PyJWTError:
        raise InvalidToken("signature or claims") from None
    if claims["tenant"] != tenant:
        raise InvalidToken("other tenant")
    return StaffClaims(claims["tenant"], claims["sub"], claims["name"], claims["role"], claims.get("sid", ""))
