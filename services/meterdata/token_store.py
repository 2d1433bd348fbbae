"""Personal access tokens on PostgreSQL (token_handlers.Tokens in a unit of work, token_handlers.TokenLookup
for each request that presents one: one statement on a pooled connection)."""

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Column, DateTime, func, update
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from kit.db import Database
from services.meterdata.token_domain import USE_RECORDED_EVERY, PersonalToken


class PersonalTokenRow(SQLModel, table=True):
    __tablename__ = "personal_tokens"

    id: UUID = Field(primary_key=True)
    tenant: str
    partner_number: str
    role: str
    account_id: str
    name: str
    prefix: str
    secret_hash: str = Field(unique=True)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    last_used_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))


_COLUMNS = tuple(PersonalToken.__dataclass_fields__)


def _token(row: Any) -> PersonalToken:
    return PersonalToken(**{name: getattr(row, name) for name in _COLUMNS})


class TokenStore:
    """token_handlers.Tokens in the unit of work's transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, token: PersonalToken) -> None:
        self._session.add(PersonalTokenRow(**{name: getattr(token, name) for name in _COLUMNS}))

    async def tokens_of(self, tenant: str, partner_number: str) -> list[PersonalToken]:
        statement = (
            select(PersonalTokenRow)
            .where(PersonalTokenRow.tenant == tenant, PersonalTokenRow.partner_number == partner_number)
            .where(col(PersonalTokenRow.revoked_at).is_(None))
            .order_by(col(PersonalTokenRow.created_at).desc())
        )
        return [_token(row) for row in (await self._session.exec(statement)).all()]

    async def live_count(self, tenant: str, partner_number: str, now: datetime) -> int:
        statement = (
            select(func.count())
            .select_from(PersonalTokenRow)
            .where(PersonalTokenRow.tenant == tenant, PersonalTokenRow.partner_number == partner_number)
            .where(col(PersonalTokenRow.revoked_at).is_(None), col(PersonalTokenRow.expires_at) > now)
        )
        return int((await self._session.exec(statement)).one())

    async def token_for_update(self, tenant: str, partner_number: str, token_id: UUID) -> PersonalToken | None:
        statement = (
            select(PersonalTokenRow)
            .where(PersonalTokenRow.id == token_id, PersonalTokenRow.tenant == tenant)
            .where(PersonalTokenRow.partner_number == partner_number)
            .with_for_update()
        )
        row = (await self._session.exec(statement)).first()
        return _token(row) if row is not None else None

    async def save(self, token: PersonalToken) -> None:
        row = await self._session.get(PersonalTokenRow, token.id)
        assert row is not None
        row.revoked_at = token.revoked_at

    async def revoke_tokens_of_account(self, tenant: str, account_id: str, at: datetime) -> None:
        """Every token the login made, revoked at ``at`` (a token revoked before keeps its time)."""
        await self._session.exec(
            update(PersonalTokenRow)
            .where(col(PersonalTokenRow.tenant) == tenant, col(PersonalTokenRow.account_id) == account_id)
            .where(col(PersonalTokenRow.revoked_at).is_(None))
            .values(revoked_at=at)
        )


_BY_HASH = f"SELECT {', '.join(_COLUMNS)} FROM personal_tokens WHERE secret_hash = $1"
# Written at most once a minute per token (token_domain.use_to_record), and not again by a replica that also saw
# an old value: the condition is checked in the row.
_USED = "UPDATE personal_tokens SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at <= $3)"


class TokenQueries:
    """token_handlers.TokenLookup: one statement each, no transaction around it."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def by_hash(self, secret_hash: str) -> PersonalToken | None:
        rows = await self._db.fetch(_BY_HASH, secret_hash)
        if not rows:
            return None
        found = dict(rows[0])
        return PersonalToken(**{**found, "id": UUID(str(found["id"]))})

    async def record_use(self, token_id: UUID, at: datetime) -> None:
        await self._db.fetch(_USED, token_id, at, at - USE_RECORDED_EVERY)
