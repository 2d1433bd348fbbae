"""The table of current-value requests ([10 of 11] §1) and its part of the meter-data store (handlers.ValueRequests):
a mixin of store.MeterdataStore, in the unit of work's transaction. Every query is scoped by tenant."""

from collections.abc import Collection, Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import Column, DateTime, text
from sqlmodel import Field, SQLModel, col, delete, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.meterdata.current_values import ValueRequest


class ValueRequestRow(SQLModel, table=True):
    __tablename__ = "value_requests"

    id: UUID = Field(primary_key=True)
    tenant: str
    partner_number: str
    role: str
    meter_number: str
    since: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    requested_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    answered_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))


def _request(row: ValueRequestRow) -> ValueRequest:
    return ValueRequest(
        row.id, row.tenant, row.partner_number, row.role, row.meter_number, row.since, row.requested_at, row.answered_at
    )


class ValueRequestStore:
    _session: AsyncSession

    async def unanswered_requests_of_meter(self, tenant: str, meter_number: str) -> list[ValueRequest]:
        """The meter's requests without an answer, after taking the meter's request lock (held until the
        transaction ends: two requests for one meter at once are decided one after the other)."""
        connection = await self._session.connection()
        await connection.execute(
            text("SELECT pg_advisory_xact_lock(hashtext('meterdata value request ' || :key))"),
            {"key": f"{tenant}/{meter_number}"},
        )
        rows = await self._session.exec(
            select(ValueRequestRow).where(
                ValueRequestRow.tenant == tenant,
                ValueRequestRow.meter_number == meter_number,
                col(ValueRequestRow.answered_at).is_(None),
            )
        )
        return [_request(row) for row in rows.all()]

    async def requests_of_partner_since(self, tenant: str, partner_number: str, since: datetime) -> int:
        found = await self._session.exec(
            select(func.count()).where(
                ValueRequestRow.tenant == tenant,
                ValueRequestRow.partner_number == partner_number,
                col(ValueRequestRow.requested_at) >= since,
            )
        )
        return int(found.one())

    async def last_register_at(self, tenant: str, meter_number: str, channels: Sequence[str]) -> datetime | None:
        connection = await self._session.connection()
        found = await connection.execute(
            text(
                "SELECT max(read_at) FROM register_readings"
                " WHERE tenant = :tenant AND meter_number = :meter AND obis = ANY(:channels)"
            ),
            {"tenant": tenant, "meter": meter_number, "channels": list(channels)},
        )
        latest: datetime | None = found.scalar()
        return latest

    async def add_value_request(self, request: ValueRequest) -> None:
        self._session.add(
            ValueRequestRow(
                id=request.id,
                tenant=request.tenant,
                partner_number=request.partner_number,
                role=request.role,
                meter_number=request.meter_number,
                since=request.since,
                requested_at=request.requested_at,
                answered_at=request.answered_at,
            )
        )

    async def forget_value_requests(self, tenant: str, partner_number: str, before: datetime) -> None:
        await self._session.exec(
            delete(ValueRequestRow).where(
                col(ValueRequestRow.tenant) == tenant,
                col(ValueRequestRow.partner_number) == partner_number,
                col(ValueRequestRow.requested_at) < before,
            )
        )

    async def value_request(self, tenant: str, partner_number: str, request_id: UUID) -> ValueRequest | None:
        row = (
            await self._session.exec(
                select(ValueRequestRow).where(
                    ValueRequestRow.tenant == tenant,
                    ValueRequestRow.partner_number == partner_number,
                    ValueRequestRow.id == request_id,
                )
            )
        ).first()
        return None if row is None else _request(row)

    async def answer_value_requests(
        self, meters: Collection[tuple[str, str]], answered_at: datetime, asked_after: datetime
    ) -> int:
        """Marks the requests of these (tenant, meter) asked in (asked_after, answered_at] and not answered yet as
        answered at ``answered_at``; how many."""
        if not meters:
            return 0
        tenants, numbers = zip(*sorted(meters), strict=True)
        connection = await self._session.connection()
        result = await connection.execute(
            text(
                "UPDATE value_requests v SET answered_at = :at"
                " FROM unnest(CAST(:tenants AS text[]), CAST(:meters AS text[])) AS m(tenant, meter_number)"
                " WHERE v.tenant = m.tenant AND v.meter_number = m.meter_number AND v.answered_at IS NULL"
                " AND v.requested_at > :after AND v.requested_at <= :at"
            ),
            {"at": answered_at, "after": asked_after, "tenants": list(tenants), "meters": list(numbers)},
        )
        return int(result.rowcount)
