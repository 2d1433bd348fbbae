"""A service's own read model of the operators' master data, fed from the master-data topic.

Each service that needs master data subscribes with its own consumer group and keeps this table in
its own database; nobody asks another service. A record replaces an older one of the same meter,
never a newer one (events of one meter arrive in order, but a re-import may resend old states).
"""

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, DateTime
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlmodel import Field, SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession

from contracts.masterdata import BillingPeriod, MeterPointRecorded
from kit.billing import chose_time_variable_fee, periods_of
from kit.consumer import Delivered
from kit.db import driver
from kit.validity import Relation, relations_of

if TYPE_CHECKING:
    from kit.uow import UnitOfWork


class MeterPointRow(SQLModel, table=True):
    __tablename__ = "meter_points"

    tenant: str = Field(primary_key=True)
    meter_number: str = Field(primary_key=True)
    recorded_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    record: dict = Field(sa_column=Column(JSONB, nullable=False))


def partner_relations_sql(tenant: str, probe: str) -> str:
    """A query (to embed, e.g. as a CTE) for a partner number's relations in a role: one row per relation,
    ``(meter_number, valid_first, valid_end)`` — the days [valid_first, valid_end), NULL where open — as
    ``kit.validity.relations_of`` reads them from a record (``valid_end`` is the day after ``valid_to``).

    ``tenant`` and ``probe`` are the statement's placeholders for the tenant and for ``partner_probe``'s
    value, e.g. ``"$1", "$2"`` for asyncpg: a service's hot query embeds it and stays one statement.
    """
    return (
        "SELECT m.meter_number, CAST(p.value->>'valid_from' AS date) AS valid_first,"
        " CAST(p.value->>'valid_to' AS date) + 1 AS valid_end"
        " FROM meter_points m CROSS JOIN LATERAL jsonb_array_elements(m.record->'partners') AS p"
        f" WHERE m.tenant = {tenant} AND m.record @> CAST({probe} AS jsonb)"
        f" AND p.value @> (CAST({probe} AS jsonb)->'partners'->0)"
    )


def partner_probe(partner_number: str, role: str) -> str:
    """The value for ``partner_relations_sql``'s probe: a record containing this partner in this role."""
    return json.dumps({"partners": [{"partner_number": partner_number, "role": role}]})


# The record as JSON text, parsed by pydantic in one step (on every form's path).
_FIND = "SELECT record::text FROM meter_points WHERE tenant = $1 AND meter_number = $2"
_OF_PARTNER = "SELECT record::text FROM meter_points WHERE tenant = $1 AND record @> $2::jsonb ORDER BY meter_number"


class MasterDataTable:
    """The read model on the unit of work's session (kit.uow.MasterData)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def find(self, tenant: str, meter_number: str) -> MeterPointRecorded | None:
        record = await (await driver(self._session)).fetchval(_FIND, tenant, meter_number)
        return MeterPointRecorded.model_validate_json(record) if record is not None else None

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

    async def relations_of_partner(self, tenant: str, partner_number: str, role: str) -> list[Relation]:
        """The partner number's relations in this role to the meters whose master data names it, with their
        validity periods (kit.validity), ordered by meter."""
        return [
            found
            for point in await self._records_of_partner(tenant, partner_number, role)
            for found in relations_of(point, partner_number, role)
        ]

    async def billing_periods_of_partner(self, tenant: str, partner_number: str, role: str) -> list[BillingPeriod]:
        """The partner number's billing periods in this role, as the records of its meters give them (kit.billing;
        none: calendar years)."""
        return [
            period
            for point in await self._records_of_partner(tenant, partner_number, role)
            for period in periods_of(point, partner_number, role)
        ]

    async def time_variable_fee_of_partner(self, tenant: str, partner_number: str, role: str) -> bool:
        """Whether the partner number chose the time-variable grid fee (Modul 3) in this role on any of its meters."""
        return any(
            chose_time_variable_fee(point, partner_number, role)
            for point in await self._records_of_partner(tenant, partner_number, role)
        )

    async def _records_of_partner(self, tenant: str, partner_number: str, role: str) -> list[MeterPointRecorded]:
        records = await (await driver(self._session)).fetch(_OF_PARTNER, tenant, partner_probe(partner_number, role))
        return [MeterPointRecorded.model_validate_json(record) for (record,) in records]

    async def meters_by_location(self, tenant: str) -> dict[str, str]:
        """Meter number per market location (MaLo) in the tenant's master data."""
        rows = await self._session.exec(select(MeterPointRow.record).where(MeterPointRow.tenant == tenant))
        return {record["malo_id"]: record["meter_number"] for record in rows if record.get("malo_id")}


async def record_meter_point(event: Delivered[MeterPointRecorded], uow: "UnitOfWork[Any]") -> None:
    """The event handler every service with a master-data read model registers."""
    await uow.master_data.record(event.envelope.tenant, event.payload)
