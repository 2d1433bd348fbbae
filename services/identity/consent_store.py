"""Consent tables and the store on them: third parties, grants, codes and refresh tokens in and out as domain
objects (consent_domain). Every query is scoped by tenant; codes and refresh tokens are found by their hash."""

from dataclasses import asdict
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Column, Date, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field, SQLModel

from services.identity.consent_domain import Grant, IssuedCode, IssuedRefreshToken, ThirdParty
from services.identity.store import IdentityStore, timestamp_column


class ThirdPartyRow(SQLModel, table=True):
    __tablename__ = "third_parties"

    tenant: str = Field(primary_key=True)
    client_id: str = Field(primary_key=True)
    name: str
    contact: str
    redirect_uris: list[str] = Field(sa_column=Column(ARRAY(sa.String), nullable=False))
    secret_hash: str | None = None
    created_at: datetime = Field(sa_column=timestamp_column())
    disabled_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))


class GrantRow(SQLModel, table=True):
    __tablename__ = "grants"

    id: str = Field(primary_key=True)
    tenant: str
    client_id: str
    client_name: str
    account_id: str
    partner_number: str
    role: str
    scope: str
    data_from: date = Field(sa_column=Column(Date, nullable=False))
    valid_until: datetime = Field(sa_column=timestamp_column())
    created_at: datetime = Field(sa_column=timestamp_column())
    activated_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
    ended_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
    end_reason: str | None = None


class GrantCodeRow(SQLModel, table=True):
    __tablename__ = "grant_codes"

    code_hash: str = Field(primary_key=True)
    tenant: str
    grant_id: str
    client_id: str
    redirect_uri: str
    scope: str
    code_challenge: str
    code_challenge_method: str
    expires_at: datetime = Field(sa_column=timestamp_column())
    used_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))


class GrantRefreshTokenRow(SQLModel, table=True):
    __tablename__ = "grant_refresh_tokens"

    token_hash: str = Field(primary_key=True)
    tenant: str
    grant_id: str
    client_id: str
    issued_at: datetime = Field(sa_column=timestamp_column())
    used_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))


_parties: sa.Table = ThirdPartyRow.__table__  # type: ignore[attr-defined]
_grants: sa.Table = GrantRow.__table__  # type: ignore[attr-defined]
_codes: sa.Table = GrantCodeRow.__table__  # type: ignore[attr-defined]
_refresh: sa.Table = GrantRefreshTokenRow.__table__  # type: ignore[attr-defined]
_GRANT_FIELDS = tuple(column.name for column in _grants.columns)


class ConsentStore(IdentityStore):
    """consent_handlers.Consents on PostgreSQL (identity's store, for the accounts, with the consent tables)."""

    # --- third parties ---

    async def add_third_party(self, party: ThirdParty) -> None:
        row = asdict(party)
        row["redirect_uris"] = list(party.redirect_uris)
        await self._core(sa.insert(_parties).values(**row))

    async def disable_third_party(self, tenant: str, client_id: str, at: datetime) -> bool:
        statement = (
            update(_parties)
            .where(_parties.c.tenant == tenant, _parties.c.client_id == client_id, _parties.c.disabled_at.is_(None))
            .values(disabled_at=at)
        )
        return bool((await self._core(statement)).rowcount)

    async def third_party(self, tenant: str, client_id: str) -> ThirdParty | None:
        statement = sa.select(_parties).where(_parties.c.tenant == tenant, _parties.c.client_id == client_id)
        row = (await self._core(statement)).mappings().first()
        if row is None:
            return None
        return ThirdParty(**{**row, "redirect_uris": tuple(row["redirect_uris"])})

    # --- grants ---

    async def add_grant(self, grant: Grant) -> None:
        await self._core(sa.insert(_grants).values(**{name: getattr(grant, name) for name in _GRANT_FIELDS}))

    async def save_grant(self, grant: Grant) -> None:
        changed = {"activated_at": grant.activated_at, "ended_at": grant.ended_at, "end_reason": grant.end_reason}
        await self._core(
            update(_grants).where(_grants.c.tenant == grant.tenant, _grants.c.id == grant.id).values(**changed)
        )

    async def grant(self, tenant: str, grant_id: str, *, lock: bool = False) -> Grant | None:
        statement = sa.select(_grants).where(_grants.c.tenant == tenant, _grants.c.id == grant_id)
        row = (await self._core(statement.with_for_update() if lock else statement)).mappings().first()
        return None if row is None else _grant(row)

    async def grants_of(self, tenant: str, account_id: str) -> list[Grant]:
        statement = (
            sa.select(_grants)
            .where(_grants.c.tenant == tenant, _grants.c.account_id == account_id)
            .order_by(_grants.c.created_at.desc())
        )
        return [_grant(row) for row in (await self._core(statement)).mappings()]

    async def grants_of_client(self, tenant: str, client_id: str) -> list[Grant]:
        statement = sa.select(_grants).where(_grants.c.tenant == tenant, _grants.c.client_id == client_id)
        return [_grant(row) for row in (await self._core(statement.with_for_update())).mappings()]

    async def grants_past_their_end(self, now: datetime, limit: int) -> list[Grant]:
        statement = (
            sa.select(_grants)
            .where(_grants.c.ended_at.is_(None), _grants.c.valid_until <= now)
            .order_by(_grants.c.valid_until)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [_grant(row) for row in (await self._core(statement)).mappings()]

    # --- authorisation codes and refresh tokens ---

    async def add_code(self, code: IssuedCode) -> None:
        await self._core(sa.insert(_codes).values(**asdict(code)))

    async def code(self, tenant: str, code_hash: str) -> IssuedCode | None:
        statement = sa.select(_codes).where(_codes.c.tenant == tenant, _codes.c.code_hash == code_hash)
        row = (await self._core(statement.with_for_update())).mappings().first()
        return None if row is None else IssuedCode(**row)

    async def use_code(self, code_hash: str, now: datetime) -> None:
        await self._core(update(_codes).where(_codes.c.code_hash == code_hash).values(used_at=now))

    async def add_refresh_token(self, token: IssuedRefreshToken) -> None:
        await self._core(sa.insert(_refresh).values(**asdict(token)))

    async def refresh_token(self, tenant: str, token_hash: str) -> IssuedRefreshToken | None:
        statement = sa.select(_refresh).where(_refresh.c.tenant == tenant, _refresh.c.token_hash == token_hash)
        row = (await self._core(statement.with_for_update())).mappings().first()
        return None if row is None else IssuedRefreshToken(**row)

    async def use_refresh_token(self, token_hash: str, now: datetime) -> None:
        await self._core(update(_refresh).where(_refresh.c.token_hash == token_hash).values(used_at=now))


def _grant(row: Any) -> Grant:
    return Grant(**{name: row[name] for name in _GRANT_FIELDS})
