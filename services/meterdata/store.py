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

from contracts.meterdata import Quality
from kit.db import Database
from services.meterdata.domain import QUALITY_CODES, DayTotal, StoredDay


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
    # The day's totals (domain.day_totals of the arrays above), written at ingest: days … years add these up.
    total_wh: int = Field(sa_column=Column(BigInteger, nullable=False))
    present: int = Field(sa_column=Column(SmallInteger, nullable=False))
    substitutes: int = Field(sa_column=Column(SmallInteger, nullable=False))


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


DAY_COLUMNS = (
    "tenant",
    "meter_number",
    "obis",
    "day",
    "revision",
    "values_wh",
    "qualities",
    "received_at",
    "total_wh",
    "present",
    "substitutes",
)


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
    columns = ", ".join(DAY_COLUMNS)
    await raw.execute(
        f"""
        INSERT INTO interval_days ({columns}) SELECT {columns} FROM staging_days
        ON CONFLICT (tenant, meter_number, obis, day) DO UPDATE
           SET revision = EXCLUDED.revision, values_wh = EXCLUDED.values_wh,
               qualities = EXCLUDED.qualities, received_at = EXCLUDED.received_at,
               total_wh = EXCLUDED.total_wh, present = EXCLUDED.present, substitutes = EXCLUDED.substitutes
         WHERE interval_days.revision <= EXCLUDED.revision
        """
    )


async def days_of(
    session: AsyncSession, tenant: str, meters: Sequence[str], obis: str, first: date, end: date
) -> list[StoredDay]:
    """The stored days of the meters in [first, end); several meters (a meter change) add up per day.
    Through the driver directly (in the session's transaction): SQLAlchemy's row processing doubles the time."""
    rows = await _fetch(
        session,
        "SELECT day, values_wh, qualities FROM interval_days"
        " WHERE tenant = $1 AND meter_number = ANY($2::text[]) AND obis = $3 AND day >= $4 AND day < $5"
        " ORDER BY day",
        tenant,
        list(meters),
        obis,
        first,
        end,
    )
    return _merged(rows)


async def day_totals_of(
    session: AsyncSession, tenant: str, meters: Sequence[str], obis: str, first: date, end: date
) -> list[DayTotal]:
    """The stored totals per day of the meters in [first, end), without the arrays. One meter only: with
    several (a meter change) a slot filled by both counts once, so ``days_of`` is the exact path there."""
    if len(meters) != 1:
        raise ValueError("day_totals_of takes exactly one meter; use days_of for several")
    rows = await _fetch(
        session,
        "SELECT day, total_wh, present, substitutes FROM interval_days"
        " WHERE tenant = $1 AND meter_number = $2 AND obis = $3 AND day >= $4 AND day < $5 ORDER BY day",
        tenant,
        meters[0],
        obis,
        first,
        end,
    )
    return [DayTotal(day, wh, present, substitutes) for day, wh, present, substitutes in rows]


async def _fetch(session: AsyncSession, query: str, *args: Any) -> list[Any]:
    """A read through asyncpg on the session's connection (the transaction SQLAlchemy opened on it)."""
    connection = await session.connection()
    raw = (await connection.get_raw_connection()).driver_connection
    assert raw is not None
    return list(await raw.fetch(query, *args))


# --- the query path: one statement per request, straight through the driver --------------------------------
# A query of the HTTP API is one statement on a pooled connection, no BEGIN/COMMIT around it (a single
# statement is its own transaction and sees one snapshot): the partner's meters are a subquery, so the answer
# costs one round trip.

_TRUE_CODE = QUALITY_CODES[Quality.TRUE_VALUE]
_PARTNER_METERS = "SELECT meter_number FROM meter_points WHERE tenant = $1 AND record @> $2::jsonb"


def _partner_probe(partner_number: str, role: str) -> str:
    return json.dumps({"partners": [{"partner_number": partner_number, "role": role}]})


async def _read(db: Database, query: str, *args: Any) -> list[Any]:
    async with db.engine.connect() as connection:  # no statement through SQLAlchemy: no BEGIN is sent
        raw = (await connection.get_raw_connection()).driver_connection
        assert raw is not None
        return list(await raw.fetch(query, *args))


async def partner_days(
    db: Database, tenant: str, partner_number: str, role: str, obis: str, first: date, end: date
) -> list[StoredDay]:
    """``days_of`` for the meters of a partner number (see ``meters_of_partner``), in one statement."""
    rows = await _read(
        db,
        "SELECT day, values_wh, qualities FROM interval_days"
        f" WHERE tenant = $1 AND meter_number IN ({_PARTNER_METERS}) AND obis = $3 AND day >= $4 AND day < $5"
        " ORDER BY day",
        tenant,
        _partner_probe(partner_number, role),
        obis,
        first,
        end,
    )
    return _merged(rows)


QuarterHourDay = tuple[date, list[int | None], list[int] | None]  # (day, Wh, qualities or None: all true)


async def partner_quarter_hours(
    db: Database, tenant: str, partner_number: str, role: str, obis: str, first: date, end: date
) -> list[QuarterHourDay]:
    """Like ``partner_days`` for the 15-minute answer: a day whose qualities are all true values (most days)
    comes with None instead of its array, which spares decoding it."""
    rows = await _read(
        db,
        f"SELECT day, values_wh, CASE WHEN qualities <@ '{{{_TRUE_CODE}}}'::smallint[] THEN NULL ELSE qualities END"
        f" FROM interval_days WHERE tenant = $1 AND meter_number IN ({_PARTNER_METERS}) AND obis = $3"
        " AND day >= $4 AND day < $5 ORDER BY day",
        tenant,
        _partner_probe(partner_number, role),
        obis,
        first,
        end,
    )
    merged: dict[date, QuarterHourDay] = {}
    for day, values, qualities in rows:
        if day in merged:  # several meters (a meter change): values add up, the last one's qualities stay
            values = [
                a if b is None else b if a is None else a + b for a, b in zip(merged[day][1], values, strict=False)
            ]
        merged[day] = (day, values, qualities)
    return list(merged.values())


async def partner_day_totals(
    db: Database, tenant: str, partner_number: str, role: str, obis: str, first: date, end: date
) -> list[DayTotal] | None:
    """The stored per-day totals for the meters of a partner number, in one statement; None when two meters
    hold the same day (a meter change inside a day: a slot filled by both counts once, so the values decide)."""
    rows = await _read(
        db,
        "SELECT day, total_wh, present, substitutes FROM interval_days"
        f" WHERE tenant = $1 AND meter_number IN ({_PARTNER_METERS}) AND obis = $3 AND day >= $4 AND day < $5"
        " ORDER BY day",
        tenant,
        _partner_probe(partner_number, role),
        obis,
        first,
        end,
    )
    totals = [DayTotal(day, wh, present, substitutes) for day, wh, present, substitutes in rows]
    if len({t.day for t in totals}) != len(totals):
        return None
    return totals


def _merged(rows: Sequence[Any]) -> list[StoredDay]:
    merged: dict[date, StoredDay] = {}
    for day, values, qualities in rows:
        if day in merged:
            before = merged[day]
            values = [
                a if b is None else b if a is None else a + b for a, b in zip(before.values_wh, values, strict=False)
            ]
        merged[day] = StoredDay(day, values, qualities)  # the driver's lists, not copied
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
