"""A service's own read model of the operators' master data, fed from the master-data topic.

Each service that needs master data subscribes with its own consumer group and keeps this table in
its own database; nobody asks another service. A record replaces an older one of the same meter,
never a newer one (events of one meter arrive in order, but a re-import may resend old states).
"""

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, DateTime, text
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlmodel import Field, SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession

from contracts.masterdata import MeterPointRecorded
from kit.consumer import Delivered

if TYPE_CHECKING:
    from kit.uow import UnitOfWork


class MeterPointRow(SQLModel, table=True):
    __tablename__ = "meter_points"

    tenant: str = Field(primary_key=True)
    meter_number: str = Field(primary_key=True)
    recorded_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    record: dict = Field(sa_column=Column(JSONB, nullable=False))


def partner_meters_sql(tenant: str, probe: str) -> str:
    """A query (to embed as a subquery) for the meters whose record names a partner number in a role.

    ``tenant`` and ``probe`` are the statement's placeholders for the tenant and for ``partner_probe``'s
    value, e.g. ``"$1", "$2"`` for asyncpg: a service's hot query embeds it and stays one statement.
    """
    return f"SELECT meter_number FROM meter_points WHERE tenant = {tenant} AND record @> CAST({probe} AS jsonb)"


def partner_probe(partner_number: str, role: str) -> str:
    """The value for ``partner_meters_sql``'s probe: a record containing this partner in this role."""
    return json.dumps({"partners": [{"partner_number": partner_number, "role": role}]})


class MasterDataTable:
    """The read model on the unit of work's session (kit.uow.MasterData)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def find(self, tenant: str, meter_number: str) -> MeterPointRecorded | None:
        row = await self._session.get(MeterPointRow, (tenant, meter_number))
        return MeterPointRecorded.model_validate(row.record) if row else None

    async def record(self, tenant: str, point: MeterPointRecorded) -> None:
        values = {
            "tenant": tenant,
            "meter_number": point.meter_number,
            "recorded_at": point.recorded_at,
            "record": point.model_dump(mode="json"),
        }
        statement = insert(MeterPointRow).values(**values)
        statement = statement.on_conflict_do_update(
            index_elements=["tenant", "meter_number"],
            set_={"recorded_at": statement.excluded.recorded_at, "record": statement.excluded.record},
            where=MeterPointRow.recorded_at <= statement.excluded.recorded_at,
        )
        await self._session.exec(statement)

    async def meters_of_partner(self, tenant: str, partner_number: str, role: str) -> list[str]:
        """The meters whose master data names this partner number in this role."""
        result = await self._session.exec(
            text(partner_meters_sql(":tenant", ":probe")).bindparams(
                tenant=tenant, probe=partner_probe(partner_number, role)
            )
        )  # type: ignore[call-overload]
        return [row[0] for row in result.all()]

    async def meters_by_location(self, tenant: str) -> dict[str, str]:
        """Meter number per market location (MaLo) in the tenant's master data."""
        rows = await self._session.exec(select(MeterPointRow.record).where(MeterPointRow.tenant == tenant))
        return {record["malo_id"]: record["meter_number"] for record in rows if record.get("malo_id")}


async def record_meter_point(event: Delivered[MeterPointRecorded], uow: "UnitOfWork[Any]") -> None:
    """The event handler every service with a master-data read model registers."""
    await uow.master_data.record(event.envelope.tenant, event.payload)
