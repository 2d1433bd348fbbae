"""Identity's tables and the store on them: accounts, links, throttles and sessions in and out as domain objects.
Every query is scoped by tenant."""

from collections.abc import Mapping
from dataclasses import fields, replace
from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy import Column, DateTime, UniqueConstraint, delete, func, update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from kit.db import driver, insert_sql
from services.identity.domain import (
    AccessAlert,
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
    SigningKey,
)


def timestamp_column(nullable: bool = False, index: bool = False) -> Column:
    """A ``timestamptz`` column (a new Column each call: SQLAlchemy gives a column to one table only)."""
    return Column(DateTime(timezone=True), nullable=nullable, index=index)


class AccountRow(SQLModel, table=True):
    """One login per tenant and e-mail; it holds one or more partner numbers."""

    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("tenant", "email"),)

    id: UUID = Field(primary_key=True)
    tenant: str
    email: str
    password_hash: str
    created_at: datetime = Field(sa_column=timestamp_column())
    password_changed_at: datetime = Field(sa_column=timestamp_column())


class PartnerLinkRow(SQLModel, table=True):
    __tablename__ = "partner_links"

    tenant: str = Field(primary_key=True)
    partner_number: str = Field(primary_key=True)
    account_id: UUID = Field(index=True)
    meter_number: str
    role: str
    linked_at: datetime = Field(sa_column=timestamp_column())


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
    created_at: datetime = Field(sa_column=timestamp_column())
    expires_at: datetime = Field(sa_column=timestamp_column())
    used_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))


class PartnerFailureRow(SQLModel, table=True):
    """An invalid meter/partner pair: what it is counted by (domain.AccessFailures). The e-mail only as its key."""

    __tablename__ = "partner_failures"

    id: int | None = Field(default=None, primary_key=True)
    tenant: str
    partner_number: str = Field(index=True)
    meter_number: str | None = None
    email_key: str | None = None
    failed_at: datetime = Field(sa_column=timestamp_column())


class RegistrationCodeRow(SQLModel, table=True):
    """The one-time code of a letter (contracts.letters.RegistrationCodeIssued): only its SHA-256."""

    __tablename__ = "registration_codes"

    code_hash: str = Field(primary_key=True)
    tenant: str
    meter_number: str
    partner_number: str
    expires_at: datetime = Field(sa_column=timestamp_column())
    used_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))


class AccessAlertRow(SQLModel, table=True):
    """A meter (or, with meter_number "", the whole operator) whose access requests are held."""

    __tablename__ = "access_alerts"

    tenant: str = Field(primary_key=True)
    scope: str = Field(primary_key=True)  # domain.HoldScope
    meter_number: str = Field(primary_key=True)
    raised_at: datetime = Field(sa_column=timestamp_column())
    last_held_at: datetime = Field(sa_column=timestamp_column())
    held_requests: int = 0


class LoginThrottleRow(SQLModel, table=True):
    """Wrong passwords in a row per e-mail — kept for unknown e-mails too, so both behave alike."""

    __tablename__ = "login_throttle"

    tenant: str = Field(primary_key=True)
    email_key: str = Field(primary_key=True)
    failures: int = 0
    wait_until: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))


class DeviceFailureRow(SQLModel, table=True):
    __tablename__ = "device_failures"

    device_id: str = Field(primary_key=True)
    failures: int = 0


class SessionColumns(SQLModel):
    """A browser session's columns: the customers' table below, the staff's in staff_store."""

    id_hash: str = Field(primary_key=True)
    tenant: str
    account_id: UUID = Field(index=True)
    partner_number: str | None = None
    role: str | None = None
    csrf_token: str
    # sa_type, not timestamp_column: both tables inherit these fields, and a Column object belongs to one table.
    created_at: datetime = Field(sa_type=DateTime(timezone=True), nullable=False)
    last_seen_at: datetime = Field(sa_type=DateTime(timezone=True), nullable=False)
    user_agent: str | None = None


class SessionRow(SessionColumns, table=True):
    __tablename__ = "sessions"


# The tables for Core statements (sqlalchemy's select: sqlmodel's is typed for ORM entities).
_accounts: sa.Table = AccountRow.__table__  # type: ignore[attr-defined]
_links: sa.Table = PartnerLinkRow.__table__  # type: ignore[attr-defined]
_throttles: sa.Table = LoginThrottleRow.__table__  # type: ignore[attr-defined]
_devices: sa.Table = DeviceFailureRow.__table__  # type: ignore[attr-defined]
_sessions: sa.Table = SessionRow.__table__  # type: ignore[attr-defined]
_failures: sa.Table = PartnerFailureRow.__table__  # type: ignore[attr-defined]
_codes: sa.Table = RegistrationCodeRow.__table__  # type: ignore[attr-defined]
_alerts: sa.Table = AccessAlertRow.__table__  # type: ignore[attr-defined]

# A login's statements and the account loads, sent on the driver's connection (kit.db.driver): through
# SQLAlchemy each cost more Python than its round trip.
_ACCOUNT_COLUMNS = ("id", "tenant", "email", "password_hash", "created_at", "password_changed_at")
_LINK_COLUMNS = tuple(field.name for field in fields(PartnerLink))
_ACCOUNT_WITH_LINKS = (
    f"SELECT {', '.join('a.' + column for column in _ACCOUNT_COLUMNS)},"
    f" {', '.join('l.' + column for column in _LINK_COLUMNS)}"
    " FROM accounts a LEFT JOIN partner_links l ON l.tenant = a.tenant AND l.account_id = a.id"
    " WHERE a.tenant = $1 AND {} ORDER BY l.linked_at"
)
_ACCOUNT_BY_EMAIL = _ACCOUNT_WITH_LINKS.format("a.email = $2")
_ACCOUNT_BY_ID = _ACCOUNT_WITH_LINKS.format("a.id = $2")
_ACCOUNT_BY_PARTNER = _ACCOUNT_WITH_LINKS.format(
    "a.id = (SELECT account_id FROM partner_links WHERE tenant = $1 AND partner_number = $2)"
)
_THROTTLE_CREATED = "INSERT INTO login_throttle (tenant, email_key, failures) VALUES ($1, $2, 0) ON CONFLICT DO NOTHING"
_THROTTLE_LOCKED = "SELECT failures, wait_until FROM login_throttle WHERE tenant = $1 AND email_key = $2 FOR UPDATE"
_THROTTLE_SAVED = "UPDATE login_throttle SET failures = $3, wait_until = $4 WHERE tenant = $1 AND email_key = $2"
_SESSION_COLUMNS = tuple(field.name for field in fields(BrowserSession))


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


def _partner_link(row: Mapping[Any, Any]) -> PartnerLink:
    return PartnerLink(**{column: row[column] for column in _LINK_COLUMNS})


def _browser_session(row: Mapping[Any, Any]) -> BrowserSession:
    """From a Core row mapping or a driver's record of the sessions table."""
    return BrowserSession(**{column: row[column] for column in _SESSION_COLUMNS})


class IdentityStore:
    """handlers.Identities on PostgreSQL. What a login touches is read and written with Core statements
    (columns, not ORM objects): the ORM's bookkeeping was most of the Python a login cost."""

    # Browser sessions live here; staff sessions (staff_store.StaffStore) in a table of the same shape.
    sessions_table: sa.Table = _sessions

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        # What was loaded, so that saving writes only what changed.
        self._stored_links: dict[UUID, set[str]] = {}
        self._throttles: dict[tuple[str, str], LoginThrottle] = {}
        self._devices: dict[str, KnownDevice] = {}

    async def _core(self, statement: sa.Executable, rows: list[dict[str, Any]] | None = None) -> sa.CursorResult[Any]:
        """A Core statement on the unit of work's connection, in its transaction (no ORM on the way)."""
        connection = await self._session.connection()
        return await connection.execute(statement, rows)

    # --- accounts and their partner numbers ---

    async def account_by_email(self, tenant: str, email: str) -> Account | None:
        return await self._account_where(_ACCOUNT_BY_EMAIL, tenant, email)

    async def account(self, tenant: str, account_id: UUID) -> Account | None:
        return await self._account_where(_ACCOUNT_BY_ID, tenant, account_id)

    async def owner_of(self, tenant: str, partner_number: str) -> Account | None:
        """The login this partner number belongs to, if any."""
        return await self._account_where(_ACCOUNT_BY_PARTNER, tenant, partner_number)

    async def _account_where(self, query: str, tenant: str, value: Any) -> Account | None:
        """The account with its links in one query (links oldest first)."""
        rows = await (await driver(self._session)).fetch(query, tenant, value)
        if not rows:
            return None
        first = rows[0]
        links = [_partner_link(row) for row in rows if row["partner_number"]]
        self._stored_links[first["id"]] = {link.partner_number for link in links}
        return Account(**{column: first[column] for column in _ACCOUNT_COLUMNS}, links=links)

    async def add_account(self, account: Account) -> None:
        # Executed at once: the unique (tenant, e-mail) constraint speaks now, not at commit.
        await self._core(
            insert(_accounts).values(
                id=account.id,
                tenant=account.tenant,
                email=account.email,
                password_hash=account.password_hash,
                created_at=account.created_at,
                password_changed_at=account.password_changed_at,
            )
        )
        self._stored_links[account.id] = set()
        await self._add_links(account)

    async def save_account(self, account: Account) -> None:
        """Password changes and new partner numbers of an account this store handed out or added."""
        await self._core(
            update(_accounts)
            .where(_accounts.c.tenant == account.tenant, _accounts.c.id == account.id)
            .values(password_hash=account.password_hash, password_changed_at=account.password_changed_at)
        )
        await self._add_links(account)

    async def _add_links(self, account: Account) -> None:
        """The links the account gained since it was loaded (links are never changed, only added or deleted)."""
        stored = self._stored_links.setdefault(account.id, set())
        new = [link for link in account.links if link.partner_number not in stored]
        if not new:
            return
        await self._core(
            insert(_links),
            [
                {
                    "tenant": account.tenant,
                    "partner_number": link.partner_number,
                    "account_id": account.id,
                    "meter_number": link.meter_number,
                    "role": link.role,
                    "linked_at": link.linked_at,
                }
                for link in new
            ],
        )
        stored.update(link.partner_number for link in new)

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
        self._stored_links.pop(account.id, None)

    async def partner_linked(self, tenant: str, partner_number: str) -> bool:
        return await self._session.get(PartnerLinkRow, (tenant, partner_number)) is not None

    # --- invalid pairs ---

    async def recent_failures(self, tenant: str, attempt: AccessAttempt, since: datetime) -> AccessFailures:
        """One scan of the operator's recent failures, counted four ways."""
        failures = _failures.c
        counted = sa.select(
            func.count().filter(failures.partner_number == attempt.partner_number),
            func.count().filter(failures.meter_number == attempt.meter_number),
            func.count().filter(failures.email_key == attempt.email_key),
            func.count(),
        ).where(failures.tenant == tenant, failures.failed_at > since)
        counts: list[int] = list((await self._core(counted)).one())
        return AccessFailures(partner=counts[0], meter=counts[1], email=counts[2], tenant=counts[3])

    async def add_failure(self, tenant: str, attempt: AccessAttempt, now: datetime) -> None:
        # Core, as the count above: a batch of requests in one transaction sees each other's failures.
        row = {
            "tenant": tenant,
            "partner_number": attempt.partner_number,
            "meter_number": attempt.meter_number,
            "email_key": attempt.email_key,
            "failed_at": now,
        }
        await self._core(sa.insert(_failures).values(row))

    async def use_registration_code(self, tenant: str, code_hash: str, attempt: AccessAttempt, now: datetime) -> bool:
        """Marks the letter's code used if it is this pair's, unused and unexpired (atomically: one use only)."""
        codes = _codes.c
        used = await self._core(
            sa.update(_codes)
            .where(
                codes.code_hash == code_hash,
                codes.tenant == tenant,
                codes.meter_number == attempt.meter_number,
                codes.partner_number == attempt.partner_number,
                codes.used_at.is_(None),
                codes.expires_at > now,
            )
            .values(used_at=now)
        )
        return used.rowcount == 1

    async def add_registration_code(
        self, tenant: str, code_hash: str, meter_number: str, partner_number: str, expires_at: datetime
    ) -> None:
        row = {
            "code_hash": code_hash,
            "tenant": tenant,
            "meter_number": meter_number,
            "partner_number": partner_number,
            "expires_at": expires_at,
        }
        await self._core(insert(_codes).values(row).on_conflict_do_nothing())

    async def access_alerts(self, tenant: str, since: datetime) -> list[AccessAlert]:
        rows = await self._core(
            sa.select(_alerts)
            .where(_alerts.c.tenant == tenant, _alerts.c.last_held_at > since)
            .order_by(_alerts.c.last_held_at.desc())
        )
        return [
            AccessAlert(HoldScope(r.scope), r.meter_number, r.raised_at, r.last_held_at, r.held_requests) for r in rows
        ]

    async def record_hold(
        self, tenant: str, scope: HoldScope, meter_number: str, now: datetime, *, raised: bool
    ) -> None:
        """A held request for the back-office's alerts: ``raised`` when it is the failure that started the hold."""
        alerts = _alerts
        key = {"tenant": tenant, "scope": scope.value, "meter_number": meter_number if scope is HoldScope.METER else ""}
        statement = insert(alerts).values(**key, raised_at=now, last_held_at=now, held_requests=0 if raised else 1)
        changes: dict[str, Any] = {"last_held_at": now}
        if raised:
            changes["raised_at"] = now
        else:
            changes["held_requests"] = alerts.c.held_requests + 1
        await self._core(statement.on_conflict_do_update(index_elements=list(key), set_=changes))

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
        connection = await driver(self._session)
        if (row := await connection.fetchrow(_THROTTLE_LOCKED, tenant, key)) is None:  # one round trip when known
            await connection.execute(_THROTTLE_CREATED, tenant, key)  # waits for a parallel first login's commit
            row = await connection.fetchrow(_THROTTLE_LOCKED, tenant, key)
        failures, wait_until = row
        self._throttles[(tenant, key)] = LoginThrottle(tenant, key, failures, wait_until)
        return LoginThrottle(tenant, key, failures, wait_until)

    async def save_throttle(self, throttle: LoginThrottle) -> None:
        key = (throttle.tenant, throttle.email_key)
        if self._throttles.get(key) == throttle:
            return  # unchanged (a right password with no failures before): no row version to write
        await (await driver(self._session)).execute(
            _THROTTLE_SAVED, throttle.tenant, throttle.email_key, throttle.failures, throttle.wait_until
        )
        self._throttles[key] = replace(throttle)

    async def device(self, device_id: str) -> KnownDevice | None:
        failures = (
            await self._core(sa.select(_devices.c.failures).where(_devices.c.device_id == device_id))
        ).scalar_one_or_none()
        if failures is None:
            return None
        self._devices[device_id] = KnownDevice(device_id, failures)
        return KnownDevice(device_id, failures)

    async def save_device(self, device: KnownDevice) -> None:
        if self._devices.get(device.device_id) == device:
            return
        statement = insert(_devices).values(device_id=device.device_id, failures=device.failures)
        await self._core(
            statement.on_conflict_do_update(index_elements=[_devices.c.device_id], set_={"failures": device.failures})
        )
        self._devices[device.device_id] = replace(device)

    # --- browser sessions ---

    async def add_session(self, browser: BrowserSession) -> None:
        await (await driver(self._session)).execute(
            insert_sql(self.sessions_table.name, _SESSION_COLUMNS),
            *(getattr(browser, column) for column in _SESSION_COLUMNS),
        )

    async def touch_session(self, tenant: str, id_hash: str, now: datetime, live: LiveSince) -> BrowserSession | None:
        """The live session, seen now — one statement; an expired one is deleted."""
        touched = await (await driver(self._session)).fetchrow(
            f"UPDATE {self.sessions_table.name} SET last_seen_at = $3"
            " WHERE id_hash = $1 AND tenant = $2 AND last_seen_at >= $4 AND created_at >= $5"
            f" RETURNING {', '.join(_SESSION_COLUMNS)}",
            id_hash,
            tenant,
            now,
            live.last_seen,
            live.created,
        )
        if touched is None:
            await self.end_session(tenant, id_hash)  # expired (or unknown: then nothing to delete)
            return None
        return _browser_session(touched)

    async def end_session(self, tenant: str, id_hash: str) -> None:
        table = self.sessions_table
        await self._core(delete(table).where(table.c.id_hash == id_hash, table.c.tenant == tenant))

    async def sessions_of(self, tenant: str, account_id: UUID) -> list[BrowserSession]:
        table = self.sessions_table
        result = await self._core(
            sa.select(table)
            .where(table.c.tenant == tenant, table.c.account_id == account_id)
            .order_by(table.c.created_at)
        )
        return [_browser_session(row) for row in result.mappings().all()]

    async def end_sessions(self, tenant: str, account_id: UUID, keep: str | None = None) -> None:
        table = self.sessions_table
        statement = delete(table).where(table.c.tenant == tenant, table.c.account_id == account_id)
        if keep:
            statement = statement.where(table.c.id_hash != keep)
        await self._core(statement)


# --- the signing keys' schedule ----------------------------------------------------------------------------


class SigningKeyScheduleRow(SQLModel, table=True):
    """One of identity's signing keys: when it signs and verifies (the private key is a file, crypto.Keyring)."""

    __tablename__ = "signing_key_schedule"

    kid: str = Field(primary_key=True)
    not_before: datetime = Field(sa_column=timestamp_column())
    signs_until: datetime = Field(sa_column=timestamp_column())
    expires_at: datetime = Field(sa_column=timestamp_column())
    created_at: datetime = Field(sa_column=timestamp_column())
    revoked_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))


# Held for the transaction by whoever changes the schedule (the service, the platform's CLI): one successor only.
_SCHEDULE_LOCK = 0x5167_4B65  # any constant of this database's advisory locks


class SigningKeyStore:
    """handlers.SigningKeys on PostgreSQL."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def lock_signing_keys(self) -> None:
        await self._session.exec(select(func.pg_advisory_xact_lock(_SCHEDULE_LOCK)))

    async def signing_keys(self) -> list[SigningKey]:
        rows = (
            await self._session.exec(select(SigningKeyScheduleRow).order_by(col(SigningKeyScheduleRow.not_before)))
        ).all()
        return [
            SigningKey(row.kid, row.not_before, row.signs_until, row.expires_at, row.created_at, row.revoked_at)
            for row in rows
        ]

    async def save_signing_key(self, key: SigningKey) -> None:
        await self._session.merge(
            SigningKeyScheduleRow(
                kid=key.kid,
                not_before=key.not_before,
                signs_until=key.signs_until,
                expires_at=key.expires_at,
                created_at=key.created_at,
                revoked_at=key.revoked_at,
            )
        )
