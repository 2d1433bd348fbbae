"""Accepting identity's access tokens without calling identity.

Identity publishes its public keys on the keys topic; a service that accepts tokens keeps them in its
own ``signing_keys`` table (``record_signing_key``) and verifies each token's signature, audience,
expiry and tenant locally (``verify``). A token names exactly one tenant, partner number and role.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jwt
from sqlalchemy import Column, DateTime
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from contracts.identity import SigningKeyPublished
from kit.consumer import Delivered

AUDIENCE = "plusportal"
ISSUER = "plusportal-identity"


class SigningKeyRow(SQLModel, table=True):
    __tablename__ = "signing_keys"

    tenant: str = Field(primary_key=True)
    kid: str = Field(primary_key=True)
    jwk: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    published_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


async def record_signing_key(event: Delivered[SigningKeyPublished], session: AsyncSession) -> None:
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


async def verify(session: AsyncSession, token: str, tenant: str) -> AccessClaims:
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.PyJWTError:
        raise InvalidToken("malformed") from None
    row = await session.get(SigningKeyRow, (tenant, kid)) if isinstance(kid, str) else None
    if row is None:
        raise InvalidToken("unknown key")  # also a token of another tenant: its key is not this tenant's
    try:
        claims = jwt.decode(
            token,
            jwt.PyJWK(row.jwk).key,
            algorithms=["ES256"],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "tenant", "partner", "role", "sub"]},
        )
    except jwt.PyJWTError:
        raise InvalidToken("signature or claims") from None
    if claims["tenant"] != tenant:
        raise InvalidToken("other tenant")
    return AccessClaims(claims["tenant"], claims["partner"], claims["role"], claims["sub"], claims.get("sid", ""))
