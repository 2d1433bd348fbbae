"""Meter data's tables and the stores on them. Values are laid out as one row per meter, channel and energy
day (Wh as int[], qualities as smallint[]): a year of 15-minute values is 365 rows, and ingest is one COPY
per batch. Every query is scoped by tenant.

``MeterdataStore`` works in a unit of work's transaction (ingest, master data, keys, registers, export);
``PartnerQueries`` answers the HTTP API's hot queries in one statement each, without a transaction."""

from collections.abc import Sequence
from dataclasses import asdict
from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    Integer,
    LargeBinary,
    SmallInteger,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, insert
from sqlmodel import Field, SQLModel, col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from contracts.identity import SessionEnded, SigningKeyPublished, SigningKeyRevoked
from contracts.meterdata import Quality
from kit import auth, partitions
from kit.consumer import Delivered
from kit.db import Database
from kit.masterdata import partner_meters_sql, partner_probe
from services.meterdata.domain import (
    QUALITY_CODES,
    AnswerSent,
    DayTotal,
    IntervalDay,
    MessageRefused,
    QuarterHourDay,
    ReceivedInterchange,
    RegisterValue,
    StoredDay,
)


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


class ReceivedInterchangeRow(SQLModel, table=True):
    """An MSCONS file as received, once per tenant and content (digest), with what was refused and answered."""

    __tablename__ = "received_interchanges"
    __table_args__ = (UniqueConstraint("tenant", "digest"),)

    id: UUID = Field(primary_key=True)
    tenant: str
    digest: str
    received_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    sender: str = ""
    receiver: str = ""
    reference: str = ""
    pruefidentifikatoren: list[str] = Field(default_factory=list, sa_column=Column(ARRAY(Text), nullable=False))
    accepted: list[str] = Field(default_factory=list, sa_column=Column(ARRAY(Text), nullable=False))
    refused: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSONB, nullable=False))
    syntax_error: str | None = None
    answers: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSONB, nullable=False))
    processed_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    reprocessed: int = 0
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


# Partitioned by month (kit.partitions): interval days by their energy day, register readings by UTC month.
PARTITIONED_TABLES = (IntervalDayRow.__tablename__, RegisterReadingRow.__tablename__)
DAY_COLUMNS = IntervalDay._fields  # the COPY takes domain.IntervalDay tuples as they are


class MeterdataStore:
    """handlers.Readings on PostgreSQL, in the unit of work's transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    # --- ingest -----------------------------------------------------------------------------------------

    async def upsert_days(self, days: Sequence[IntervalDay]) -> None:
        """COPY into a staging table, then one upsert: a higher (or equal: redelivery) revision replaces,
        a lower one changes nothing. ``days`` hold one per key (the caller keeps the newest)."""
        connection = await self._session.connection()
        # A statement through SQLAlchemy first: it opens the transaction that the raw COPY below then joins
        # (asyncpg would otherwise autocommit each raw statement, and ON COMMIT would empty the staging table).
        await connection.exec_driver_sql("SELECT 1")
        raw = (await connection.get_raw_connection()).driver_connection
        assert raw is not None
        await raw.execute(
            "CREATE TEMP TABLE IF NOT EXISTS staging_days (LIKE interval_days INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
        await raw.copy_records_to_table("staging_days", records=days, columns=DAY_COLUMNS)
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

    async def add_register_readings(self, readings: Sequence[RegisterValue]) -> None:
        for reading in readings:
            # same reading again (redelivery or correction) replaces, never doubles
            await self._session.merge(RegisterReadingRow(**_fields(reading)))

    async def last_register_before(self, tenant: str, meter: str, obis: str, moment: datetime) -> int | None:
        result = await self._session.exec(
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

    # --- partitions ([8 of 11] §4) -------------------------------------------------------------------------

    async def partition_months(self) -> dict[str, list[date]]:
        """The months with a partition, per table of readings. Waits for (and then holds, until the unit of work
        ends) the lock that lets one process at a time change partitions."""
        connection = await self._session.connection()
        await connection.execute(text("SELECT pg_advisory_xact_lock(hashtext('meterdata partitions'))"))
        return {table: await partitions.months_of(connection, table) for table in PARTITIONED_TABLES}

    async def change_partitions(self, table: str, create: Sequence[date], drop: Sequence[date]) -> None:
        """Create the partitions of ``create``'s months, drop those of ``drop``'s with their rows."""
        connection = await self._session.connection()
        await partitions.create_months(connection, table, create)
        await partitions.drop_months(connection, table, drop)

    # --- keys -------------------------------------------------------------------------------------------

    async def record_signing_key(self, event: Delivered[SigningKeyPublished]) -> None:
        await auth.record_signing_key(event, self._session)

    async def record_key_revocation(self, event: Delivered[SigningKeyRevoked]) -> None:
        await auth.record_key_revocation(event, self._session)

    async def record_session_ended(self, event: Delivered[SessionEnded]) -> None:
        await auth.record_session_ended(event, self._session)

    # --- serving in a transaction (registers, export) ------------------------------------------------------

    async def days_of(self, tenant: str, meters: Sequence[str], obis: str, first: date, end: date) -> list[StoredDay]:
        """The stored days of the meters in [first, end); several meters (a meter change) add up per day.
        Through the driver directly (in the session's transaction): SQLAlchemy's row processing doubles the
        time."""
        rows = await self._fetch(
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
        self, tenant: str, meters: Sequence[str], obis: str, first: date, end: date
    ) -> list[DayTotal]:
        """The stored totals per day of the meters in [first, end), without the arrays. One meter only: with
        several (a meter change) a slot filled by both counts once, so ``days_of`` is the exact path there."""
        if len(meters) != 1:
            raise ValueError("day_totals_of takes exactly one meter; use days_of for several")
        rows = await self._fetch(
            "SELECT day, total_wh, present, substitutes FROM interval_days"
            " WHERE tenant = $1 AND meter_number = $2 AND obis = $3 AND day >= $4 AND day < $5 ORDER BY day",
            tenant,
            meters[0],
            obis,
            first,
            end,
        )
        return [DayTotal(day, wh, present, substitutes) for day, wh, present, substitutes in rows]

    async def registers_of(
        self, tenant: str, meters: Sequence[str], channels: Sequence[str], since: datetime, until: datetime
    ) -> list[RegisterValue]:
        result = await self._session.exec(
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
        return [_register_value(row) for row in result.all()]

    async def latest_registers(
        self, tenant: str, meters: Sequence[str], channels: Sequence[str]
    ) -> list[RegisterValue]:
        result = await self._session.exec(
            select(RegisterReadingRow)
            .where(
                RegisterReadingRow.tenant == tenant,
                col(RegisterReadingRow.meter_number).in_(meters),
                col(RegisterReadingRow.obis).in_(channels),
            )
            .distinct(col(RegisterReadingRow.meter_number), col(RegisterReadingRow.obis))
            .order_by(
                col(RegisterReadingRow.meter_number),
                col(RegisterReadingRow.obis),
                col(RegisterReadingRow.read_at).desc(),
            )
        )
        return [_register_value(row) for row in result.all()]

    # --- received MSCONS interchanges ----------------------------------------------------------------------

    async def claim_interchange(self, received: ReceivedInterchange, data: bytes) -> bool:
        statement = (
            insert(ReceivedInterchangeRow)
            .values(
                id=UUID(received.id),
                tenant=received.tenant,
                digest=received.digest,
                received_at=received.received_at,
                pruefidentifikatoren=[],
                accepted=[],
                refused=[],
                answers=[],
                reprocessed=0,
                data=data,
            )
            .on_conflict_do_nothing(index_elements=["tenant", "digest"])
            .returning(col(ReceivedInterchangeRow.id))
        )
        return (await self._session.exec(statement)).first() is not None

    async def save_interchange(self, received: ReceivedInterchange) -> None:
        await self._session.exec(
            update(ReceivedInterchangeRow)
            .where(col(ReceivedInterchangeRow.id) == UUID(received.id))
            .values(
                sender=received.sender,
                receiver=received.receiver,
                reference=received.reference,
                pruefidentifikatoren=list(received.pruefidentifikatoren),
                accepted=list(received.accepted),
                refused=[asdict(r) for r in received.refused],
                syntax_error=received.syntax_error,
                answers=[{**asdict(a), "at": a.at.isoformat()} for a in received.answers],
                processed_at=received.processed_at,
                reprocessed=received.reprocessed,
            )
        )

    async def interchange_to_reprocess(
        self, tenant: str, interchange_id: str
    ) -> tuple[ReceivedInterchange, bytes] | None:
        try:
            key = UUID(interchange_id)
        except ValueError:
            return None
        row = (
            await self._session.exec(
                select(ReceivedInterchangeRow)
                .where(ReceivedInterchangeRow.tenant == tenant, ReceivedInterchangeRow.id == key)
                .with_for_update()
            )
        ).first()
        return None if row is None else (_received(row), row.data)

    async def interchanges(self, tenant: str, limit: int) -> list[ReceivedInterchange]:
        table = ReceivedInterchangeRow.__table__  # type: ignore[attr-defined]
        columns = [c for c in table.columns if c.name != "data"]  # the files stay in the table
        rows = await self._session.exec(
            select(*columns)
            .where(col(ReceivedInterchangeRow.tenant) == tenant)
            .order_by(col(ReceivedInterchangeRow.received_at).desc())
            .limit(limit)
        )
        return [_received(row) for row in rows.all()]

    async def _fetch(self, query: str, *args: Any) -> list[Any]:
        """A read through asyncpg on the session's connection (the transaction SQLAlchemy opened on it)."""
        connection = await self._session.connection()
        raw = (await connection.get_raw_connection()).driver_connection
        assert raw is not None
        return list(await raw.fetch(query, *args))


def _received(row: Any) -> ReceivedInterchange:
    return ReceivedInterchange(
        id=str(row.id),
        tenant=row.tenant,
        digest=row.digest,
        received_at=row.received_at,
        sender=row.sender,
        receiver=row.receiver,
        reference=row.reference,
        pruefidentifikatoren=tuple(row.pruefidentifikatoren),
        accepted=tuple(row.accepted),
        refused=tuple(MessageRefused(**r) for r in row.refused),
        syntax_error=row.syntax_error,
        answers=tuple(
            AnswerSent(a["kind"], a["reference"], a["accepted"], tuple(a["messages"]), datetime.fromisoformat(a["at"]))
            for a in row.answers
        ),
        processed_at=row.processed_at,
        reprocessed=row.reprocessed,
    )


def _fields(reading: RegisterValue) -> dict[str, Any]:
    return {name: getattr(reading, name) for name in RegisterReadingRow.model_fields}


def _register_value(row: RegisterReadingRow) -> RegisterValue:
    return RegisterValue(
        row.tenant, row.meter_number, row.obis, row.read_at, row.value_wh, row.quality, row.revision, row.runs_backwards
    )


# --- the query path: one statement per request, straight through the driver --------------------------------
# A query of the HTTP API is one statement on a pooled connection, no BEGIN/COMMIT around it (a single
# statement is its own transaction and sees one snapshot): the partner's meters are a subquery (master data's
# own, kit.masterdata.partner_meters_sql), so the answer costs one round trip.

_TRUE_CODE = QUALITY_CODES[Quality.TRUE_VALUE]
_PARTNER_METERS = partner_meters_sql("$1", "$2")


class PartnerQueries:
    """handlers.PartnerReadings on PostgreSQL: each answer one statement on a pooled connection."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def days(
        self, tenant: str, partner_number: str, role: str, obis: str, first: date, end: date
    ) -> list[StoredDay]:
        """``MeterdataStore.days_of`` for the meters of a partner number, in one statement."""
        rows = await self._read(
            "SELECT day, values_wh, qualities FROM interval_days"
            f" WHERE tenant = $1 AND meter_number IN ({_PARTNER_METERS}) AND obis = $3 AND day >= $4 AND day < $5"
            " ORDER BY day",
            tenant,
            partner_probe(partner_number, role),
            obis,
            first,
            end,
        )
        return _merged(rows)

    async def quarter_hours(
        self, tenant: str, partner_number: str, role: str, obis: str, first: date, end: date
    ) -> list[QuarterHourDay]:
        """Like ``days`` for the 15-minute answer: a day whose qualities are all true values (most days)
        comes with None instead of its array, which spares decoding it."""
        rows = await self._read(
            f"SELECT day, values_wh, CASE WHEN qualities <@ '{{{_TRUE_CODE}}}'::smallint[] THEN NULL ELSE qualities"
            f" END FROM interval_days WHERE tenant = $1 AND meter_number IN ({_PARTNER_METERS}) AND obis = $3"
            " AND day >= $4 AND day < $5 ORDER BY day",
            tenant,
            partner_probe(partner_number, role),
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

    async def day_totals(
        self, tenant: str, partner_number: str, role: str, obis: str, first: date, end: date
    ) -> list[DayTotal] | None:
        """The stored per-day totals for the meters of a partner number, in one statement; None when two meters
        hold the same day (a meter change inside a day: a slot filled by both counts once, so the values
        decide)."""
        rows = await self._read(
            "SELECT day, total_wh, present, substitutes FROM interval_days"
            f" WHERE tenant = $1 AND meter_number IN ({_PARTNER_METERS}) AND obis = $3 AND day >= $4 AND day < $5"
            " ORDER BY day",
            tenant,
            partner_probe(partner_number, role),
            obis,
            first,
            end,
        )
        totals = [DayTotal(day, wh, present, substitutes) for day, wh, present, substitutes in rows]
        if len({t.day for t in totals}) != len(totals):
            return None
        return totals

    async def _read(self, query: str, *args: Any) -> list[Any]:
        async with self._db.engine.connect() as connection:  # no statement through SQLAlchemy: no BEGIN is sent
            raw = (await connection.get_raw_connection()).driver_connection
            assert raw is not None
            return list(await raw.fetch(query, *args))


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
