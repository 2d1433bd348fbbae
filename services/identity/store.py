"""Identity's tables and queries. Every query is scoped by tenant."""

from datetime import datetime
from uuid import UUID

from sqlalchemy import Column, DateTime, UniqueConstraint, delete, func, update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession


def _ts(nullable: bool = False, index: bool = False) -> Column:
    return Column(DateTime(timezone=True), nullable=nullable, index=index)


class AccountRow(SQLModel, table=True):
    """One login per tenant and e-mail; it holds one or more partner numbers."""

    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("tenant", "email"),)

    id: UUID = Field(primary_key=True)
    tenant: str
    email: str
    password_hash: str
    created_at: datetime = Field(sa_column=_ts())
    password_changed_at: datetime = Field(sa_column=_ts())


class PartnerLinkRow(SQLModel, table=True):
    __tablename__ = "partner_links"

    tenant: str = Field(primary_key=True)
    partner_number: str = Field(primary_key=True)
    account_id: UUID = Field(index=True)
    meter_number: str
    role: str
    linked_at: datetime = Field(sa_column=_ts())


class TokenRow(SQLModel, table=True):
    """A one-time link: only the SHA-256 of the token is stored."""

    __tablename__ = "tokens"

    hash: str = Field(primary_key=True)
    tenant: str
    purpose: str  # "access" | "reset"
    email: str
    account_id: UUID | None = None
    meter_number: str | None = None
    partner_number: str | None = Field(default=None, index=True)
    role: str | None = None
    created_at: datetime = Field(sa_column=_ts())
    expires_at: datetime = Field(sa_column=_ts())
    used_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class PartnerFailureRow(SQLModel, table=True):
    __tablename__ = "partner_failures"

    id: int | None = Field(default=None, primary_key=True)
    tenant: str
    partner_number: str = Field(index=True)
    failed_at: datetime = Field(sa_column=_ts())


class LoginThrottleRow(SQLModel, table=True):
    """Wrong passwords in a row per e-mail — kept for unknown e-mails too, so both behave alike."""

    __tablename__ = "login_throttle"

    tenant: str = Field(primary_key=True)
    email_key: str = Field(primary_key=True)
    failures: int = 0
    wait_until: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class DeviceFailureRow(SQLModel, table=True):
    __tablename__ = "device_failures"

    device_id: str = Field(primary_key=True)
    failures: int = 0


class SessionRow(SQLModel, table=True):
    __tablename__ = "sessions"

    id_hash: str = Field(primary_key=True)
    tenant: str
    account_id: UUID = Field(index=True)
    partner_number: str | None = None
    role: str | None = None
    csrf_token: str
    created_at: datetime = Field(sa_column=_ts())
    last_seen_at: datetime = Field(sa_column=_ts())
    user_agent: str | None = None


async def account_by_email(session: AsyncSession, tenant: str, email: str) -> AccountRow | None:
    result = await session.exec(select(AccountRow).where(AccountRow.tenant == tenant, AccountRow.email == email))
    return result.first()


async def account(session: AsyncSession, tenant: str, account_id: UUID) -> AccountRow | None:
    result = await session.exec(select(AccountRow).where(AccountRow.tenant == tenant, AccountRow.id == account_id))
    return result.first()


async def link_of(session: AsyncSession, tenant: str, partner_number: str) -> PartnerLinkRow | None:
    return await session.get(PartnerLinkRow, (tenant, partner_number))


async def links_of(session: AsyncSession, tenant: str, account_id: UUID) -> list[PartnerLinkRow]:
    result = await session.exec(
        select(PartnerLinkRow)
        .where(PartnerLinkRow.tenant == tenant, PartnerLinkRow.account_id == account_id)
        .order_by(col(PartnerLinkRow.linked_at))
    )
    return list(result.all())


async def recent_partner_failures(session: AsyncSession, tenant: str, partner_number: str, since: datetime) -> int:
    result = await session.exec(
        select(func.count()).where(
            PartnerFailureRow.tenant == tenant,
            PartnerFailureRow.partner_number == partner_number,
            col(PartnerFailureRow.failed_at) > since,
        )
    )
    return int(result.one())


async def retire_open_tokens(
    session: AsyncSession, tenant: str, purpose: str, email: str, now: datetime, partner_number: str | None = None
) -> None:
    """A new link makes the earlier ones of the same kind worthless."""
    statement = update(TokenRow).where(
        col(TokenRow.tenant) == tenant, col(TokenRow.purpose) == purpose, col(TokenRow.used_at).is_(None)
    )
    statement = statement.where(
        col(TokenRow.partner_number) == partner_number if partner_number else col(TokenRow.email) == email
    )
    await session.exec(statement.values(used_at=now))


async def use_token(session: AsyncSession, tenant: str, hashed: str, purpose: str, now: datetime) -> TokenRow | None:
    """Marks the token used and returns it — atomically, so of parallel uses exactly one wins."""
    statement = (
        update(TokenRow)
        .where(
            col(TokenRow.hash) == hashed,
            col(TokenRow.tenant) == tenant,
            col(TokenRow.purpose) == purpose,
            col(TokenRow.used_at).is_(None),
            col(TokenRow.expires_at) > now,
        )
        .values(used_at=now)
        .returning(TokenRow)
    )
    row = (await session.exec(statement)).scalars().first()
    return row


async def peek_token(session: AsyncSession, tenant: str, hashed: str, now: datetime) -> TokenRow | None:
    result = await session.exec(
        select(TokenRow).where(
            TokenRow.hash == hashed,
            TokenRow.tenant == tenant,
            col(TokenRow.used_at).is_(None),
            col(TokenRow.expires_at) > now,
        )
    )
    return result.first()


async def throttle_for_update(session: AsyncSession, tenant: str, key: str) -> LoginThrottleRow:
    """The e-mail's back-off row, locked. Created first if missing — with ON CONFLICT, so that parallel
    first logins for one e-mail wait for each other instead of one failing (which would tell an attacker
    that this e-mail had no row yet, i.e. was never used)."""
    await session.exec(
        insert(LoginThrottleRow).values(tenant=tenant, email_key=key, failures=0).on_conflict_do_nothing()
    )
    row = (
        await session.exec(
            select(LoginThrottleRow)
            .where(LoginThrottleRow.tenant == tenant, LoginThrottleRow.email_key == key)
            .with_for_update()
        )
    ).one()
    return row


async def session_by_hash(session: AsyncSession, tenant: str, id_hash: str) -> SessionRow | None:
    result = await session.exec(select(SessionRow).where(SessionRow.id_hash == id_hash, SessionRow.tenant == tenant))
    return result.first()


async def sessions_of(session: AsyncSession, tenant: str, account_id: UUID) -> list[SessionRow]:
    result = await session.exec(
        select(SessionRow)
        .where(SessionRow.tenant == tenant, SessionRow.account_id == account_id)
        .order_by(col(SessionRow.created_at))
    )
    return list(result.all())


async def end_sessions(session: AsyncSession, tenant: str, account_id: UUID, keep: str | None = None) -> None:
    statement = delete(SessionRow).where(col(SessionRow.tenant) == tenant, col(SessionRow.account_id) == account_id)
    if keep:
        statement = statement.where(col(SessionRow.id_hash) != keep)
    await session.exec(statement)
