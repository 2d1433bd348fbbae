"""Staff tables and the store on them: identity's store (its login back-off and session statements, reused)
with the staff members and their sessions. Every query is scoped by tenant."""

from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy import Column, UniqueConstraint
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from contracts.staff import StaffRole
from services.identity.staff_crypto import TotpSecrets
from services.identity.staff_domain import StaffMember, StaffStatus
from services.identity.store import IdentityStore, SessionColumns, timestamp_column


class StaffMemberRow(SQLModel, table=True):
    __tablename__ = "staff_members"
    __table_args__ = (UniqueConstraint("tenant", "email"),)

    id: UUID = Field(primary_key=True)
    tenant: str
    email: str
    name: str
    role: str
    status: str
    password_hash: str | None = None
    totp_secret: str
    totp_last_step: int | None = None
    recovery_hashes: list[str] = Field(sa_column=Column(ARRAY(sa.String), nullable=False))
    setup_hash: str | None = Field(default=None, unique=True)
    setup_expires_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
    created_at: datetime = Field(sa_column=timestamp_column())


class StaffSessionRow(SessionColumns, table=True):
    """Identity's session columns (account_id: the staff member), in a table of their own."""

    __tablename__ = "staff_sessions"


_members: sa.Table = StaffMemberRow.__table__  # type: ignore[attr-defined]
_staff_sessions: sa.Table = StaffSessionRow.__table__  # type: ignore[attr-defined]
_FIELDS = (
    "tenant",
    "email",
    "name",
    "role",
    "status",
    "password_hash",
    "totp_secret",
    "totp_last_step",
    "recovery_hashes",
    "setup_hash",
    "setup_expires_at",
    "created_at",
)


def _member(row: Any, totp: TotpSecrets) -> StaffMember:
    return StaffMember(
        id=row.id,
        tenant=row.tenant,
        email=row.email,
        name=row.name,
        role=StaffRole(row.role),
        status=StaffStatus(row.status),
        totp_secret=totp.open(row.totp_secret),
        created_at=row.created_at,
        password_hash=row.password_hash,
        totp_last_step=row.totp_last_step,
        recovery_hashes=list(row.recovery_hashes),
        setup_hash=row.setup_hash,
        setup_expires_at=row.setup_expires_at,
    )


def _values(member: StaffMember, totp: TotpSecrets) -> dict[str, Any]:
    values = {name: getattr(member, name) for name in _FIELDS}
    sealed = totp.seal(member.totp_secret)
    return values | {"role": member.role.value, "status": member.status.value, "totp_secret": sealed}


class StaffStore(IdentityStore):
    """staff_handlers.StaffDirectory on PostgreSQL; TOTP secrets sealed with ``totp`` (staff_crypto.TotpSecrets)."""

    sessions_table = _staff_sessions

    def __init__(self, session: AsyncSession, totp: TotpSecrets) -> None:
        super().__init__(session)
        self._totp = totp

    async def member(self, tenant: str, staff_id: UUID) -> StaffMember | None:
        return await self._member_where(_members.c.tenant == tenant, _members.c.id == staff_id)

    async def member_by_email(self, tenant: str, email: str) -> StaffMember | None:
        return await self._member_where(_members.c.tenant == tenant, _members.c.email == email)

    async def member_by_setup(self, tenant: str, setup_hash: str, lock: bool = False) -> StaffMember | None:
        return await self._member_where(_members.c.tenant == tenant, _members.c.setup_hash == setup_hash, lock=lock)

    async def _member_where(self, *conditions: Any, lock: bool = False) -> StaffMember | None:
        statement = sa.select(_members).where(*conditions)
        row = (await self._core(statement.with_for_update() if lock else statement)).first()
        return _member(row, self._totp) if row else None

    async def members(self, tenant: str) -> list[StaffMember]:
        rows = await self._core(sa.select(_members).where(_members.c.tenant == tenant).order_by(_members.c.name))
        return [_member(row, self._totp) for row in rows.all()]

    async def add_member(self, member: StaffMember) -> bool:
        """False when the e-mail has a staff account at this operator already."""
        statement = insert(_members).values(id=member.id, **_values(member, self._totp)).on_conflict_do_nothing()
        return (await self._core(statement)).rowcount == 1

    async def save_member(self, member: StaffMember) -> None:
        await self._core(
            sa.update(_members)
            .where(_members.c.tenant == member.tenant, _members.c.id == member.id)
            .values(**_values(member, self._totp))
        )
