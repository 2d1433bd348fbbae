"""Identity's tables and the store on them: accounts, links, throttles and sessions in and out as domain objects.
Every query is scoped by tenant."""

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Column, DateTime, UniqueConstraint, delete, func, update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.identity.domain import (
    Account,
    BrowserSession,
    KnownDevice,
    LinkPurpose,
    LiveSince,
    LoginThrottle,
    OneTimeLink,
    PartnerLink,
)


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


def _link(row: PartnerLinkRow) -> PartnerLink:
    return PartnerLink(row.partner_number, row.meter_number, row.role, row.linked_at)


def _one_time_link(row: TokenRow) -> OneTimeLink:
    return OneTimeLink(
        token_hash=row.hash,
        tenant=row.tenant,
        purpose=LinkPurpose(row.purpose),
        email=row.email,
        created_at=row.created_at,
        expires_at=row.expires_at,
        account_id=row.account_id,
        meter_number=row.meter_number,
        partner_number=row.partner_number,
        role=row.role,
    )


def _browser_session(row: SessionRow) -> BrowserSession:
    return BrowserSession(
        id_hash=row.id_hash,
        tenant=row.tenant,
        account_id=row.account_id,
        partner_number=row.partner_number,
        role=row.role,
        csrf_token=row.csrf_token,
        created_at=row.created_at,
        last_seen_at=row.last_seen_at,
        user_agent=row.user_agent,
    )


class IdentityStore:
    """handlers.IdentityStore on PostgreSQL. Changes to what it handed out are written with ``save_…``."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        # The rows behind the objects handed out, so that saving changes them (written at commit).
        self._accounts: dict[UUID, AccountRow] = {}
        self._stored_links: dict[UUID, set[str]] = {}
        self._throttles: dict[tuple[str, str], LoginThrottleRow] = {}
        self._devices: dict[str, DeviceFailureRow] = {}

    # --- accounts and their partner numbers ---

    async def account_by_email(self, tenant: str, email: str) -> Account | None:
        return await self._account_where(col(AccountRow.tenant) == tenant, col(AccountRow.email) == email)

    async def account(self, tenant: str, account_id: UUID) -> Account | None:
        return await self._account_where(col(AccountRow.tenant) == tenant, col(AccountRow.id) == account_id)

    async def owner_of(self, tenant: str, partner_number: str) -> Account | None:
        """The login this partner number belongs to, if any."""
        owner_id = select(PartnerLinkRow.account_id).where(
            PartnerLinkRow.tenant == tenant, PartnerLinkRow.partner_number == partner_number
        )
        return await self._account_where(
            col(AccountRow.tenant) == tenant, col(AccountRow.id) == owner_id.scalar_subquery()
        )

    async def _account_where(self, *conditions: Any) -> Account | None:
        """The account with its links in one query (links oldest first)."""
        statement = (
            select(AccountRow, PartnerLinkRow)
            .outerjoin(
                PartnerLinkRow,
                (col(PartnerLinkRow.tenant) == col(AccountRow.tenant))
                & (col(PartnerLinkRow.account_id) == col(AccountRow.id)),
            )
            .where(*conditions)
            .order_by(col(PartnerLinkRow.linked_at))
        )
        rows = (await self._session.exec(statement)).all()
        if not rows:
            return None
        row = rows[0][0]
        self._accounts[row.id] = row
        self._stored_links[row.id] = {link.partner_number for _, link in rows if link is not None}
        return Account(
            id=row.id,
            tenant=row.tenant,
            email=row.email,
            password_hash=row.password_hash,
            created_at=row.created_at,
            password_changed_at=row.password_changed_at,
            links=[_link(link) for _, link in rows if link is not None],
        )

    async def add_account(self, account: Account) -> None:
        row = AccountRow(
            id=account.id,
            tenant=account.tenant,
            email=account.email,
            password_hash=account.password_hash,
            created_at=account.created_at,
            password_changed_at=account.password_changed_at,
        )
        self._session.add(row)
        await self._session.flush()  # the unique (tenant, e-mail) constraint speaks now, not at commit
        self._accounts[account.id] = row
        self._add_links(account)

    def save_account(self, account: Account) -> None:
        """Password changes and new partner numbers of an account this store handed out or added."""
        row = self._accounts[account.id]
        row.password_hash = account.password_hash
        row.password_changed_at = account.password_changed_at
        self._add_links(account)

    def _add_links(self, account: Account) -> None:
        """The links the account gained since it was loaded (links are never changed, only added or deleted)."""
        stored = self._stored_links.setdefault(account.id, set())
        for link in account.links:
            if link.partner_number in stored:
                continue
            self._session.add(
                PartnerLinkRow(
                    tenant=account.tenant,
                    partner_number=link.partner_number,
                    account_id=account.id,
                    meter_number=link.meter_number,
                    role=link.role,
                    linked_at=link.linked_at,
                )
            )
            stored.add(link.partner_number)

    async def delete_account(self, account: Account) -> None:
        """The login, its partner numbers and its sessions."""
        tenant = account.tenant
        await self._session.exec(
            delete(PartnerLinkRow).where(
                col(PartnerLinkRow.tenant) == tenant, col(PartnerLinkRow.account_id) == account.id
            )
        )
        await self.end_sessions(tenant, account.id)
        await self._session.exec(
            delete(AccountRow).where(col(AccountRow.tenant) == tenant, col(AccountRow.id) == account.id)
        )
        self._accounts.pop(account.id, None)
        self._stored_links.pop(account.id, None)

    async def partner_linked(self, tenant: str, partner_number: str) -> bool:
        return await self._session.get(PartnerLinkRow, (tenant, partner_number)) is not None

    # --- invalid pairs ---

    async def recent_partner_failures(self, tenant: str, partner_number: str, since: datetime) -> int:
        result = await self._session.exec(
            select(func.count()).where(
                PartnerFailureRow.tenant == tenant,
                PartnerFailureRow.partner_number == partner_number,
                col(PartnerFailureRow.failed_at) > since,
            )
        )
        return int(result.one())

    def add_partner_failure(self, tenant: str, partner_number: str, now: datetime) -> None:
        self._session.add(PartnerFailureRow(tenant=tenant, partner_number=partner_number, failed_at=now))

    # --- one-time links ---

    def add_link(self, link: OneTimeLink) -> None:
        self._session.add(
            TokenRow(
                hash=link.token_hash,
                tenant=link.tenant,
                purpose=link.purpose,
                email=link.email,
                account_id=link.account_id,
                meter_number=link.meter_number,
                partner_number=link.partner_number,
                role=link.role,
                created_at=link.created_at,
                expires_at=link.expires_at,
            )
        )

    async def retire_open_links(
        self, tenant: str, purpose: LinkPurpose, email: str, now: datetime, partner_number: str | None = None
    ) -> None:
        """A new link makes the earlier ones of the same kind worthless."""
        statement = update(TokenRow).where(
            col(TokenRow.tenant) == tenant, col(TokenRow.purpose) == purpose, col(TokenRow.used_at).is_(None)
        )
        statement = statement.where(
            col(TokenRow.partner_number) == partner_number if partner_number else col(TokenRow.email) == email
        )
        await self._session.exec(statement.values(used_at=now))

    async def use_link(self, tenant: str, token_hash: str, purpose: LinkPurpose, now: datetime) -> OneTimeLink | None:
        """Marks the link used and returns it — atomically, so of parallel uses exactly one wins."""
        statement = (
            update(TokenRow)
            .where(
                col(TokenRow.hash) == token_hash,
                col(TokenRow.tenant) == tenant,
                col(TokenRow.purpose) == purpose,
                col(TokenRow.used_at).is_(None),
                col(TokenRow.expires_at) > now,
            )
            .values(used_at=now)
            .returning(TokenRow)
        )
        row = (await self._session.exec(statement)).scalars().first()
        return _one_time_link(row) if row else None

    async def peek_link(self, tenant: str, token_hash: str, now: datetime) -> OneTimeLink | None:
        result = await self._session.exec(
            select(TokenRow).where(
                TokenRow.hash == token_hash,
                TokenRow.tenant == tenant,
                col(TokenRow.used_at).is_(None),
                col(TokenRow.expires_at) > now,
            )
        )
        row = result.first()
        return _one_time_link(row) if row else None

    # --- login back-off ---

    async def throttle_for_update(self, tenant: str, key: str) -> LoginThrottle:
        """The e-mail's back-off, locked. Created first if missing — with ON CONFLICT, so that parallel
        first logins for one e-mail wait for each other instead of one failing (which would tell an attacker
        that this e-mail had no row yet, i.e. was never used)."""
        await self._session.exec(
            insert(LoginThrottleRow).values(tenant=tenant, email_key=key, failures=0).on_conflict_do_nothing()
        )
        row = (
            await self._session.exec(
                select(LoginThrottleRow)
                .where(LoginThrottleRow.tenant == tenant, LoginThrottleRow.email_key == key)
                .with_for_update()
            )
        ).one()
        self._throttles[(tenant, key)] = row
        return LoginThrottle(row.tenant, row.email_key, row.failures, row.wait_until)

    def save_throttle(self, throttle: LoginThrottle) -> None:
        row = self._throttles[(throttle.tenant, throttle.email_key)]
        row.failures, row.wait_until = throttle.failures, throttle.wait_until

    async def device(self, device_id: str) -> KnownDevice | None:
        row = await self._session.get(DeviceFailureRow, device_id)
        if row is None:
            return None
        self._devices[device_id] = row
        return KnownDevice(row.device_id, row.failures)

    def save_device(self, device: KnownDevice) -> None:
        row = self._devices.get(device.device_id)
        if row is None:
            row = self._devices[device.device_id] = DeviceFailureRow(device_id=device.device_id)
            self._session.add(row)
        row.failures = device.failures

    # --- browser sessions ---

    def add_session(self, browser: BrowserSession) -> None:
        self._session.add(
            SessionRow(
                id_hash=browser.id_hash,
                tenant=browser.tenant,
                account_id=browser.account_id,
                partner_number=browser.partner_number,
                role=browser.role,
                csrf_token=browser.csrf_token,
                created_at=browser.created_at,
                last_seen_at=browser.last_seen_at,
                user_agent=browser.user_agent,
            )
        )

    async def touch_session(self, tenant: str, id_hash: str, now: datetime, live: LiveSince) -> BrowserSession | None:
        """The live session, seen now — one statement; an expired one is deleted."""
        touched = (
            (
                await self._session.exec(
                    update(SessionRow)
                    .where(
                        col(SessionRow.id_hash) == id_hash,
                        col(SessionRow.tenant) == tenant,
                        col(SessionRow.last_seen_at) >= live.last_seen,
                        col(SessionRow.created_at) >= live.created,
                    )
                    .values(last_seen_at=now)
                    .returning(SessionRow)
                )
            )
            .scalars()
            .first()
        )
        if touched is None:
            await self.end_session(tenant, id_hash)  # expired (or unknown: then nothing to delete)
            return None
        return _browser_session(touched)

    async def end_session(self, tenant: str, id_hash: str) -> None:
        await self._session.exec(
            delete(SessionRow).where(col(SessionRow.id_hash) == id_hash, col(SessionRow.tenant) == tenant)
        )

    async def sessions_of(self, tenant: str, account_id: UUID) -> list[BrowserSession]:
        result = await self._session.exec(
            select(SessionRow)
            .where(SessionRow.tenant == tenant, SessionRow.account_id == account_id)
            .order_by(col(SessionRow.created_at))
        )
        return [_browser_session(row) for row in result.all()]

    async def end_sessions(self, tenant: str, account_id: UUID, keep: str | None = None) -> None:
        statement = delete(SessionRow).where(col(SessionRow.tenant) == tenant, col(SessionRow.account_id) == account_id)
        if keep:
            statement = statement.where(col(SessionRow.id_hash) != keep)
        await self._session.exec(statement)
