"""Personal access tokens' use cases, each ``handle(command or query, uow) -> view``: make one (the secret is in
the answer, and nowhere else afterwards), list a partner's, revoke one; and ``authenticate`` a presented token
on each request (``TokenLookup``: one statement, outside a transaction)."""

import secrets
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol
from uuid import UUID, uuid4

from contracts.identity import AccountDeleted
from kit.consumer import Delivered
from kit.uow import UnitOfWork
from services.meterdata import token_domain
from services.meterdata.token_domain import InvalidPersonalToken, PersonalToken


class Tokens(Protocol):
    """What the use cases need of the store (token_store.TokenStore)."""

    async def add(self, token: PersonalToken) -> None: ...

    async def tokens_of(self, tenant: str, partner_number: str) -> list[PersonalToken]:
        """The partner's tokens not revoked (expired ones included), newest first."""
        ...

    async def live_count(self, tenant: str, partner_number: str, now: datetime) -> int: ...

    async def token_for_update(self, tenant: str, partner_number: str, token_id: UUID) -> PersonalToken | None: ...

    async def save(self, token: PersonalToken) -> None: ...


class RevokesAccountTokens(Protocol):
    """What ``revoke_tokens_of_deleted_account`` needs (the meter-data consumer's store has it too)."""

    async def revoke_tokens_of_account(self, tenant: str, account_id: str, at: datetime) -> None: ...


class TokenLookup(Protocol):
    """What ``authenticate`` needs (token_store.TokenQueries)."""

    async def by_hash(self, secret_hash: str) -> PersonalToken | None: ...

    async def record_use(self, token_id: UUID, at: datetime) -> None: ...


Uow = UnitOfWork[Tokens]


@dataclass(frozen=True)
class CreateToken:
    tenant: str
    partner_number: str
    role: str
    account_id: str
    name: str
    expires_on: date


@dataclass(frozen=True)
class Issued:
    token: PersonalToken
    secret: str  # shown once: only its digest is kept


async def create_token(command: CreateToken, uow: Uow) -> Issued:
    now = uow.now()
    token, secret = token_domain.issue(
        token_id=uuid4(),
        tenant=command.tenant,
        partner_number=command.partner_number,
        role=command.role,
        account_id=command.account_id,
        name=command.name,
        expires_on=command.expires_on,
        live_tokens=await uow.store.live_count(command.tenant, command.partner_number, now),
        random_bytes=secrets.token_bytes(token_domain.SECRET_BYTES),
        now=now,
    )
    await uow.store.add(token)
    return Issued(token, secret)


@dataclass(frozen=True)
class ListTokens:
    tenant: str
    partner_number: str


async def tokens(query: ListTokens, uow: Uow) -> list[PersonalToken]:
    return await uow.store.tokens_of(query.tenant, query.partner_number)


@dataclass(frozen=True)
class RevokeToken:
    tenant: str
    partner_number: str
    token_id: UUID


class TokenNotFound(LookupError):
    """No such token of this partner (also one of another partner or tenant)."""


async def revoke_token(command: RevokeToken, uow: Uow) -> PersonalToken:
    """Revoked at once: the next request with it is refused (it is looked up on every request)."""
    token = await uow.store.token_for_update(command.tenant, command.partner_number, command.token_id)
    if token is None or token.revoked_at is not None:
        raise TokenNotFound(command.token_id)
    revoked = token.revoke(uow.now())
    await uow.store.save(revoked)
    return revoked


async def authenticate(secret: str, tenant: str, now: datetime, lookup: TokenLookup) -> PersonalToken:
    """The usable token of this tenant that ``secret`` is, or InvalidPersonalToken; its use recorded (at most
    once a minute)."""
    token = await lookup.by_hash(token_domain.secret_hash(secret))
    if token is None:
        raise InvalidPersonalToken("unknown")
    token.check_usable(tenant, now)
    if token.use_to_record(now):
        await lookup.record_use(token.id, now)
    return token


async def revoke_tokens_of_deleted_account(
    event: Delivered[AccountDeleted], uow: UnitOfWork[RevokesAccountTokens]
) -> None:
    """A deleted login's tokens go with it (a redelivery changes nothing: revoked stays revoked, at its time)."""
    await uow.store.revoke_tokens_of_account(
        event.envelope.tenant, event.payload.account_id, event.envelope.occurred_at
    )
