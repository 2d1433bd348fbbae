"""Meter data's tables and queries. Values are laid out as one row per meter, channel and energy day
(Wh as int[], qualities as smallint[]): a year of 15-minute values is 365 rows, and ingest is one COPY
per batch. Every query is scoped by tenant."""

import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Date, DateTime, Integer, SmallInteger, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.meterdata.domain import StoredDay


class IntervalDayRow(SQLModel, table=True):
    __tablename__ = "interval_days"

    tenant: str = Field(primary_key=True)
    meter_number: str = Field(primary_key=True)
    obis: str = Field(primary_key=True)
    day: date = Field(sa_column=Column(Date, primary_key=True))
    revision: int = Field(sa_column=Column(Integer, nullable=False))
    values_wh: list[int | None] = Field(sa_column=Column(ARRAY(Integer), nullable=False))
    qualities: list[int] = Field(sa_column=Column(ARRAY(SmallInteger), nullable=False))
    received_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class RegisterReadingRow(SQLModel, table=True):
    __tablename__ = "register_readings"

    tenant: str = Field(primary_key=True)
    meter_number: str = Field(primary_key=True)
    obis: str = Field(primary_key=True)
    read_at: datetime = Field(sa_column=Column(DateTime(timezone=True), primary_key=True))
    value_wh: int = Field(sa_column=Column(BigInteger, nullable=False))
    quality: int
    revision: int
    runs_backwards: bool = False  # kept, but flagged: lower than an earlier reading


DAY_COLUMNS = ("tenant", "meter_number", "obis", "day", "revision", "values_wh", "qualities", "received_at")


async def upsert_days(session: AsyncSession, rows: Sequence[tuple[Any, ...]]) -> None:
    """COPY into a staging table, then one upsert: a higher (or equal: redelivery) revision replaces,
    a lower one changes nothing. ``rows`` hold one row per key (the caller keeps the newest)."""
    connection = await session.connection()
    # A statement through SQLAlchemy first: it opens the transaction that the raw COPY below then joins
    # (asyncpg would otherwise autocommit each raw statement, and ON COMMIT would empty the staging table).
    await connection.exec_driver_sql("SELECT 1")
    raw = (await connection.get_raw_connection()).driver_connection
    assert raw is not None
    await raw.execute(
        "CREATE TEMP TABLE IF NOT EXISTS staging_days (LIKE interval_days INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
    )
    await raw.copy_records_to_table("staging_days", records=rows, columns=DAY_COLUMNS)
    await raw.execute(
        """
        INSERT INTO interval_days SELECT * FROM staging_days
        ON CONFLICT (tenant, meter_number, obis, day) DO UPDATE
           SET revision = EXCLUDED.revision, values_wh = EXCLUDED.values_wh,
               qualities = EXCLUDED.qualities, received_at = EXCLUDED.received_at
         WHERE interval_days.revision <= EXCLUDED.revision
        """
    )


async def days_of(
    session: AsyncSession, tenant: str, meters: Sequence[str], obis: str, first: date, end: date
) -> list[StoredDay]:
    """The stored days of the meters in [first, end); several meters (a meter change) add up per day."""
    result = await session.exec(
        select(IntervalDayRow.day, IntervalDayRow.values_wh, IntervalDayRow.qualities)  # type: ignore[call-overload]
        .where(
            IntervalDayRow.tenant == tenant,
            col(IntervalDayRow.meter_number).in_(meters),
            IntervalDayRow.obis == obis,
            col(IntervalDayRow.day) >= first,
            col(IntervalDayRow.day) < end,
        )
        .order_by(col(IntervalDayRow.day))
    )
    merged: dict[date, StoredDay] = {}
    for day, values, qualities in result.all():
        if day in merged:
            before = merged[day]
            values = [
                a if b is None else b if a is None else a + b for a, b in zip(before.values_wh, values, strict=False)
            ]
        merged[day] = StoredDay(day, list(values), list(qualities))
    return list(merged.values())


async def add_register_readings(session: AsyncSession, rows: Sequence[RegisterReadingRow]) -> None:
    for row in rows:
        await session.merge(row)  # same reading again (redelivery or correction) replaces, never doubles


async def last_register_before(
    session: AsyncSession, tenant: str, meter: str, obis: str, moment: datetime
) -> int | None:
    result = await session.exec(
        select(RegisterReadingRow.value_wh)
        .where(
            RegisterReadingRow.tenant == tenant,
            RegisterReadingRow.meter_number == meter,
            RegisterReadingRow.obis == obis,
            col(RegisterReadingRow.read_at) < moment,
        )
        .order_by(col(RegisterReadingRow.read_at).desc())
        .limit(1)
    )
    return result.first()


async def registers_of(
    session: AsyncSession, tenant: str, meters: Sequence[str], channels: Sequence[str], since: datetime, until: datetime
) -> list[RegisterReadingRow]:
    result = await session.exec(
        select(RegisterReadingRow)
        .where(
            RegisterReadingRow.tenant == tenant,
            col(RegisterReadingRow.meter_number).in_(meters),
            col(RegisterReadingRow.obis).in_(channels),
            col(RegisterReadingRow.read_at) >= since,
            col(RegisterReadingRow.read_at) < until,
        )
        .order_by(col(RegisterReadingRow.read_at))
    )
    return list(result.all())


async def latest_registers(
    session: AsyncSession, tenant: str, meters: Sequence[str], channels: Sequence[str]
) -> list[RegisterReadingRow]:
    result = await session.exec(
        select(RegisterReadingRow)
        .where(
            RegisterReadingRow.tenant == tenant,
            col(RegisterReadingRow.meter_number).in_(meters),
            col(RegisterReadingRow.obis).in_(channels),
        )
        .distinct(col(RegisterReadingRow.meter_number), col(RegisterReadingRow.obis))
        .order_by(
            col(RegisterReadingRow.meter_number), col(RegisterReadingRow.obis), col(RegisterReadingRow.read_at).desc()
        )
    )
    return list(result.all())


async def meters_of_partner(session: AsyncSession, tenant: str, partner_number: str, role: str) -> list[str]:
    """The meters whose master data names this partner number in this role."""
    result = await session.exec(
        text(
            "SELECT meter_number FROM meter_points WHERE tenant = :tenant AND record @> CAST(:probe AS jsonb)"
        ).bindparams(tenant=tenant, probe=json.dumps({"partners": [{"partner_number": partner_number, "role": role}]}))
    )  # type: ignore[call-overload]
    return [row[0] for row in result.all()]
