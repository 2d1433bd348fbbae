"""Meter data's tables and the stores on them. Values are laid out as one row per meter, channel and energy
day (Wh as int[], qualities as smallint[]): a year of 15-minute values is 365 rows, and ingest is one COPY
per batch. Every query is scoped by tenant.

``MeterdataStore`` works in a unit of work's transaction (ingest, master data, keys, registers, export);
``PartnerQueries`` answers the HTTP API's hot queries in one statement each, without a transaction (a second one
only where two meters may hold the same day)."""

from collections.abc import Sequence
from dataclasses import asdict
from datetime import date, datetime
from itertools import combinations
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
from sqlmodel import Field, SQLModel, and_, col, or_, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from contracts.alerts import AlertKind
from contracts.consent import GrantRevoked
from contracts.identity import SessionEnded, SigningKeyPublished, SigningKeyRevoked
from contracts.meterdata import Quality
from kit import auth, partitions
from kit.consumer import Delivered
from kit.db import Database, driver
from kit.masterdata import partner_probe, partner_relations_sql
from kit.notified_cache import ANYTHING, NotifiedCache
from kit.validity import Relation, within
from services.meterdata.alerts import Alert, Occurrence, PeerGroup
from services.meterdata.domain import (
    QUALITY_CODES,
    AnswerSent,
    DayTotal,
    GrantAccess,
    IntervalDay,
    MessageRefused,
    MeterWindow,
    QuarterHourDay,
    ReceivedInterchange,
    RegisterValue,
    Resolution,
    StoredDay,
)
from services.meterdata.store_value_requests import ValueRequestStore
from services.meterdata.token_store import TokenStore


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
    # The day's entry of the 15-minute answer as JSON (domain.encoded_quarter_hour_entry), for a day stored after
    # it ended; NULL for a day still running and for days stored before this column existed (built per request).
    quarter_hour_entry: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))


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


class GrantAccessRow(SQLModel, table=True):
    """A third party's read with a customer's grant (domain.GrantAccess)."""

    __tablename__ = "grant_accesses"

    id: int | None = Field(default=None, primary_key=True)
    tenant: str
    grant_id: str
    client_id: str
    partner_number: str
    at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    what: str
    resolution: str
    first: date
    end: date


class AlertRow(SQLModel, table=True):
    """A customer's alert on a partner number (services.meterdata.alerts)."""

    __tablename__ = "alerts"

    id: UUID = Field(primary_key=True)
    tenant: str
    partner_number: str
    role: str
    kind: str
    threshold: float
    created_by: str
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    off_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))


class AlertOccurrenceRow(SQLModel, table=True):
    """A raised alert: once per alert and period (the unique key)."""

    __tablename__ = "alert_occurrences"
    __table_args__ = (UniqueConstraint("alert_id", "period", name="alert_occurrences_once"),)

    id: UUID = Field(primary_key=True)
    alert_id: UUID = Field(foreign_key="alerts.id")
    tenant: str
    period: date = Field(sa_column=Column(Date, nullable=False))
    value: float
    peers: int | None = None
    raised_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


# Triggers on interval_days and meter_points (migration meterdata_0014) notify this channel of the meters whose days
# or master data a commit changed (kit.notified_cache): the answers kept in memory (PartnerQueries) are dropped.
CHANGES_CHANNEL = "meterdata_changes"
BucketTotals = tuple[list[DayTotal] | None, list[Relation]]

# Partitioned by month (kit.partitions): interval days by their energy day, register readings by UTC month.
PARTITIONED_TABLES = (IntervalDayRow.__tablename__, RegisterReadingRow.__tablename__)
DAY_COLUMNS = IntervalDay._fields  # the COPY takes domain.IntervalDay tuples as they are


class MeterdataStore(ValueRequestStore):
    """handlers.Readings on PostgreSQL, in the unit of work's transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    # --- ingest -----------------------------------------------------------------------------------------

    async def upsert_days(self, days: Sequence[IntervalDay]) -> None:
        """COPY into a staging table, then one upsert: a higher (or equal: redelivery) revision replaces,
        a lower one changes nothing. ``days`` hold one per key (the caller keeps the newest)."""
        raw = await driver(self._session)
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
                   total_wh = EXCLUDED.total_wh, present = EXCLUDED.present, substitutes = EXCLUDED.substitutes,
                   quarter_hour_entry = EXCLUDED.quarter_hour_entry
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
        if drop:  # days gone without a trigger firing: every answer kept in memory goes too
            await connection.execute(
                text("SELECT pg_notify(:channel, :notice)"),
                {"channel": CHANGES_CHANNEL, "notice": f"{ANYTHING} {ANYTHING}"},
            )

    # --- keys -------------------------------------------------------------------------------------------

    async def record_signing_key(self, event: Delivered[SigningKeyPublished]) -> None:
        await auth.record_signing_key(event, self._session)

    async def record_key_revocation(self, event: Delivered[SigningKeyRevoked]) -> None:
        await auth.record_key_revocation(event, self._session)

    async def record_session_ended(self, event: Delivered[SessionEnded]) -> None:
        await auth.record_session_ended(event, self._session)

    async def record_grant_revoked(self, event: Delivered[GrantRevoked]) -> None:
        await auth.record_grant_revoked(event, self._session)

    # --- third parties' reads ---

    async def add_grant_access(self, access: GrantAccess) -> None:
        self._session.add(GrantAccessRow(**asdict(access)))

    async def grant_accesses(self, tenant: str, partner_number: str, limit: int) -> list[GrantAccess]:
        rows = await self._session.exec(
            select(GrantAccessRow)
            .where(GrantAccessRow.tenant == tenant, GrantAccessRow.partner_number == partner_number)
            .order_by(col(GrantAccessRow.at).desc())
            .limit(limit)
        )
        return [GrantAccess(**row.model_dump(exclude={"id"})) for row in rows.all()]

    async def revoke_tokens_of_account(self, tenant: str, account_id: str, at: datetime) -> None:
        await TokenStore(self._session).revoke_tokens_of_account(tenant, account_id, at)

    # --- serving in a transaction (registers, export) ------------------------------------------------------

    async def days_of(self, tenant: str, relations: Sequence[Relation], obis: str) -> list[StoredDay]:
        """The stored days of each relation's meter on the relation's days (both bounds set: kit.validity.within);
        several meters (a meter change) add up per day. Through the driver directly (in the session's
        transaction): SQLAlchemy's row processing doubles the time."""
        rows = await self._fetch(
            f"SELECT day, values_wh, qualities FROM interval_days d WHERE {_ON_RELATIONS} ORDER BY day",
            tenant,
            obis,
            *_relation_arrays(relations),
        )
        return _merged(rows)

    async def day_totals_of(self, tenant: str, relations: Sequence[Relation], obis: str) -> list[DayTotal]:
        """The stored totals per day of the relations' days, without the arrays. One meter only: with several (a
        meter change) a slot filled by both counts once, so ``days_of`` is the exact path there."""
        if len({r.meter_number for r in relations}) != 1:
            raise ValueError("day_totals_of takes the relations of exactly one meter; use days_of for several")
        rows = await self._fetch(
            f"SELECT day, total_wh, present, substitutes FROM interval_days d WHERE {_ON_RELATIONS} ORDER BY day",
            tenant,
            obis,
            *_relation_arrays(relations),
        )
        return [DayTotal(day, wh, present, substitutes) for day, wh, present, substitutes in rows]

    async def registers_of(
        self, tenant: str, windows: Sequence[MeterWindow], channels: Sequence[str]
    ) -> list[RegisterValue]:
        """The readings inside the windows (a relation's days as instants), oldest first."""
        result = await self._session.exec(
            select(RegisterReadingRow)
            .where(
                RegisterReadingRow.tenant == tenant,
                col(RegisterReadingRow.obis).in_(channels),
                _in_windows(windows),
            )
            .order_by(col(RegisterReadingRow.read_at))
        )
        return [_register_value(row) for row in result.all()]

    async def latest_registers(
        self, tenant: str, windows: Sequence[MeterWindow], channels: Sequence[str]
    ) -> list[RegisterValue]:
        """The latest reading per meter and channel inside the windows."""
        result = await self._session.exec(
            select(RegisterReadingRow)
            .where(
                RegisterReadingRow.tenant == tenant,
                col(RegisterReadingRow.obis).in_(channels),
                _in_windows(windows),
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

    async def reference_used(self, tenant: str, sender: str, reference: str, other_than: str) -> bool:
        found = await self._session.exec(
            select(col(ReceivedInterchangeRow.id))
            .where(
                col(ReceivedInterchangeRow.tenant) == tenant,
                col(ReceivedInterchangeRow.sender) == sender,
                col(ReceivedInterchangeRow.reference) == reference,
                col(ReceivedInterchangeRow.id) != UUID(other_than),
            )
            .limit(1)
        )
        return found.first() is not None

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

    # --- alerts ([10 of 11] §2) -------------------------------------------------------------------------------

    async def add_alert(self, alert: Alert) -> None:
        self._session.add(AlertRow(**{**asdict(alert), "kind": alert.kind.value}))

    async def alerts_of(self, tenant: str, partner_number: str, role: str) -> list[Alert]:
        """The partner number's alerts in the role, oldest first (turned-off ones included)."""
        rows = await self._session.exec(
            select(AlertRow)
            .where(AlertRow.tenant == tenant, AlertRow.partner_number == partner_number, AlertRow.role == role)
            .order_by(col(AlertRow.created_at), col(AlertRow.id))
        )
        return [_alert(row) for row in rows.all()]

    async def alerts_on(self, tenant: str, meters: Sequence[str]) -> list[Alert]:
        """The tenant's alerts that are on and may concern readings of ``meters``: those of the partners of these
        meters (master data), and every PV and missing-data alert (judged on other meters' days too)."""
        rows = await self._session.exec(
            select(AlertRow).where(
                AlertRow.tenant == tenant,
                col(AlertRow.off_at).is_(None),
                or_(
                    col(AlertRow.kind).in_([AlertKind.PV_WITHOUT_FEED_IN.value, AlertKind.MISSING_DATA.value]),
                    text(
                        "EXISTS (SELECT 1 FROM meter_points m WHERE m.tenant = alerts.tenant"
                        " AND m.meter_number = ANY(:meters) AND m.record @> jsonb_build_object('partners',"
                        " jsonb_build_array(jsonb_build_object('partner_number', alerts.partner_number))))"
                    ).bindparams(meters=list(meters)),
                ),
            )
        )
        return [_alert(row) for row in rows.all()]

    async def alert(self, tenant: str, alert_id: UUID) -> Alert | None:
        row = (
            await self._session.exec(select(AlertRow).where(AlertRow.tenant == tenant, AlertRow.id == alert_id))
        ).first()
        return None if row is None else _alert(row)

    async def remove_alert(self, tenant: str, partner_number: str, role: str, alert_id: UUID) -> bool:
        """Removes the alert and its occurrences; False when the partner has no such alert."""
        found = await self._session.exec(
            text(
                "DELETE FROM alerts WHERE tenant = :tenant AND partner_number = :partner AND role = :role"
                " AND id = :id RETURNING id"
            ).bindparams(tenant=tenant, partner=partner_number, role=role, id=alert_id)
        )  # type: ignore[call-overload]
        return found.first() is not None

    async def remove_alerts_of(self, tenant: str, partner_numbers: Sequence[str]) -> None:
        await self._session.exec(
            text("DELETE FROM alerts WHERE tenant = :tenant AND partner_number = ANY(:partners)").bindparams(
                tenant=tenant, partners=list(partner_numbers)
            )
        )  # type: ignore[call-overload]

    async def switch_off(self, tenant: str, alert_id: UUID, now: datetime) -> None:
        """Turned off (kept, with its occurrences); a second time changes nothing."""
        await self._session.exec(
            update(AlertRow)
            .where(col(AlertRow.tenant) == tenant, col(AlertRow.id) == alert_id, col(AlertRow.off_at).is_(None))
            .values(off_at=now)
        )

    async def record_occurrence(self, occurrence: Occurrence) -> bool:
        """False when the alert was raised for that period before (nothing written)."""
        statement = (
            insert(AlertOccurrenceRow)
            .values(
                id=occurrence.id,
                alert_id=occurrence.alert_id,
                tenant=occurrence.tenant,
                period=occurrence.period,
                value=occurrence.value,
                peers=occurrence.peers,
                raised_at=occurrence.raised_at,
            )
            .on_conflict_do_nothing(constraint="alert_occurrences_once")
            .returning(col(AlertOccurrenceRow.id))
        )
        return (await self._session.exec(statement)).first() is not None

    async def occurrences_of(self, tenant: str, partner_number: str, role: str, limit: int) -> list[Occurrence]:
        """The partner's raised alerts, newest first."""
        rows = await self._session.exec(
            select(AlertOccurrenceRow, AlertRow)
            .join(AlertRow, col(AlertRow.id) == col(AlertOccurrenceRow.alert_id))
            .where(
                AlertOccurrenceRow.tenant == tenant,
                AlertRow.tenant == tenant,
                AlertRow.partner_number == partner_number,
                AlertRow.role == role,
            )
            .order_by(col(AlertOccurrenceRow.raised_at).desc(), col(AlertOccurrenceRow.period).desc())
            .limit(limit)
        )
        return [_occurrence(o, a) for o, a in rows.all()]

    async def last_day_with_data(self, tenant: str, relations: Sequence[Relation], obis: str) -> date | None:
        """The newest day with a value on the relations' days (both bounds set: kit.validity.within)."""
        if not relations:
            return None
        rows = await self._fetch(
            f"SELECT max(day) FROM interval_days d WHERE {_ON_RELATIONS} AND d.present > 0",
            tenant,
            obis,
            *_relation_arrays(relations),
        )
        return rows[0][0] if rows else None

    async def peer_group(self, tenant: str, obis: str, day: date, area: str, leave_out: Sequence[str]) -> PeerGroup:
        """The meters of the postcode area (connection address, master data) that sent the day on the channel,
        and how many of them have energy on it; ``leave_out``'s meters not counted."""
        rows = await self._fetch(
            "SELECT count(*), count(*) FILTER (WHERE d.total_wh > 0) FROM interval_days d"
            " JOIN meter_points m ON m.tenant = d.tenant AND m.meter_number = d.meter_number"
            " WHERE d.tenant = $1 AND d.obis = $2 AND d.day = $3 AND d.present > 0"
            " AND left(m.record->'connection_address'->>'postcode', length($4)) = $4"
            " AND NOT d.meter_number = ANY($5::text[])",
            tenant,
            obis,
            day,
            area,
            list(leave_out),
        )
        return PeerGroup(int(rows[0][0]), int(rows[0][1]))

    async def _fetch(self, query: str, *args: Any) -> list[Any]:
        """A read through asyncpg in the unit of work's transaction."""
        return list(await (await driver(self._session)).fetch(query, *args))


def _alert(row: AlertRow) -> Alert:
    return Alert(
        row.id, row.tenant, row.partner_number, row.role, AlertKind(row.kind), row.threshold, row.created_by,
        row.created_at, row.off_at,
    )  # fmt: skip


def _occurrence(o: AlertOccurrenceRow, a: AlertRow) -> Occurrence:
    return Occurrence(
        o.id, a.id, a.tenant, a.partner_number, a.role, AlertKind(a.kind), a.threshold, o.period, o.value,
        o.peers, o.raised_at,
    )  # fmt: skip


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


# A relation's days of its meter ($3 meters, $4 first days, $5 days after the last; kit.validity.within), for
# the statements above: the index finds the meters' days in the whole span, the semi-join keeps each relation's.
_ON_RELATIONS = (
    "d.tenant = $1 AND d.obis = $2 AND d.meter_number = ANY($3::text[])"
    " AND d.day >= (SELECT min(f) FROM unnest($4::date[]) AS f)"
    " AND d.day < (SELECT max(s) FROM unnest($5::date[]) AS s)"
    " AND EXISTS (SELECT 1 FROM unnest($3::text[], $4::date[], $5::date[]) AS r(meter, first_day, end_day)"
    " WHERE r.meter = d.meter_number AND d.day >= r.first_day AND d.day < r.end_day)"
)


def _relation_arrays(relations: Sequence[Relation]) -> tuple[list[str], list[date | None], list[date | None]]:
    return [r.meter_number for r in relations], [r.first for r in relations], [r.end for r in relations]


def _in_windows(windows: Sequence[MeterWindow]) -> Any:
    read_at = col(RegisterReadingRow.read_at)
    return or_(
        *(
            and_(
                RegisterReadingRow.meter_number == w.meter_number,
                read_at >= w.since if w.since is not None else True,
                read_at < w.until if w.until is not None else True,
            )
            for w in windows
        ),
        False,
    )


def _fields(reading: RegisterValue) -> dict[str, Any]:
    return {name: getattr(reading, name) for name in RegisterReadingRow.model_fields}


def _register_value(row: RegisterReadingRow) -> RegisterValue:
    return RegisterValue(
        row.tenant, row.meter_number, row.obis, row.read_at, row.value_wh, row.quality, row.revision, row.runs_backwards
    )


# --- the query path: one statement per request, straight through the driver --------------------------------
# A query of the HTTP API is one statement on a pooled connection, no BEGIN/COMMIT around it (a single
# statement is its own transaction and sees one snapshot): the partner's relations to meters are a CTE (master
# data's own, kit.masterdata.partner_relations_sql), read on each relation's days only and answered along with
# the data, so the answer costs one round trip.

_TRUE_CODE = QUALITY_CODES[Quality.TRUE_VALUE]


# Pieces of the partner statements below. Each relation reads its meter's days through the primary key (LATERAL:
# a join the planner could turn into a scan of the whole table). $1 tenant, $2 partner probe, $3 channel, $4 first
# day, $5 the day after the last.
_WITH_RELATIONS = f"WITH relations AS ({partner_relations_sql('$1', '$2')})"
_RELATIONS_DAYS = (
    " FROM relations r CROSS JOIN LATERAL (SELECT * FROM interval_days i"
    " WHERE i.tenant = $1 AND i.meter_number = r.meter_number AND i.obis = $3"
    " AND i.day >= $4 AND i.day < $5"  # the period's own bounds again: months outside are pruned when planned
    " AND i.day >= GREATEST($4, r.valid_first) AND i.day < LEAST($5, r.valid_end)) AS d"
)


def _relations_after(nulls: int) -> str:
    """The partner's relations as ``(valid_first, NULL × nulls, meter_number, valid_end)``, all rows by day."""
    nothing = ", ".join(["NULL"] * nulls)
    return f" UNION ALL SELECT valid_first, {nothing}, meter_number, valid_end FROM relations ORDER BY 1"


def _partner_statement(columns: tuple[str, ...]) -> str:
    """The stored days of the partner's relations (their meters, their days) as ``(day, *columns, NULL, NULL)``
    ordered by day, and the relations themselves as ``(valid_first, NULL…, meter_number, valid_end)``; a day of a
    meter that two relations cover (overlapping periods) comes once."""
    return (
        f"{_WITH_RELATIONS} SELECT * FROM (SELECT DISTINCT ON (d.day, d.meter_number) d.day, {', '.join(columns)},"
        f" CAST(NULL AS text), CAST(NULL AS date){_RELATIONS_DAYS} ORDER BY d.day, d.meter_number) AS days"
        + _relations_after(len(columns))
    )


_DAYS = _partner_statement(("d.values_wh", "d.qualities"))
_ALL_TRUE = f"d.qualities <@ '{{{_TRUE_CODE}}}'::smallint[]"
# A day with its entry kept encoded comes as that entry alone, the others with their arrays (qualities that are all
# true values as NULL). With the arrays of every day: where two meters may hold the same day (their values add up).
QUARTER_HOURS_SQL = _partner_statement(
    (
        "CASE WHEN d.quarter_hour_entry IS NULL THEN d.values_wh END",
        f"CASE WHEN d.quarter_hour_entry IS NULL AND NOT {_ALL_TRUE} THEN d.qualities END",
        "d.quarter_hour_entry",
    )
)
_QUARTER_HOUR_VALUES = _partner_statement(
    ("d.values_wh", f"CASE WHEN {_ALL_TRUE} THEN NULL ELSE d.qualities END", "CAST(NULL AS bytea)")
)
# The per-day totals summed in the database per bucket ($6: day, week, month or year — date_trunc's units are the
# calendar periods of domain.Resolution) and per relation, each sum dated by its first day: a year by month is a
# dozen rows, and domain.totals puts each sum into the bucket of that day (a relation's days inside one bucket all
# lie in one of the partner's ranges).
BUCKET_TOTALS_SQL = (
    f"{_WITH_RELATIONS} SELECT * FROM (SELECT min(day), CAST(sum(total_wh) AS bigint), CAST(sum(present) AS bigint),"
    " CAST(sum(substitutes) AS bigint), CAST(NULL AS text), CAST(NULL AS date)"
    " FROM (SELECT DISTINCT ON (d.day, d.meter_number) d.day, d.meter_number, r.valid_first AS relation,"
    f" d.total_wh, d.present, d.substitutes{_RELATIONS_DAYS} ORDER BY d.day, d.meter_number) AS days"
    " GROUP BY date_trunc($6, CAST(day AS timestamp)), meter_number, relation) AS sums" + _relations_after(3)
)


def _meters_may_share_a_day(relations: Sequence[Relation], first: date, end: date) -> bool:
    """Whether relations to two meters overlap inside [first, end) (a meter change inside a day): on such a day
    both meters may hold values, which add up slot by slot, so only the arrays can answer."""
    seen = within(relations, first, end)
    return any(
        a.meter_number != b.meter_number and a.first < b.end and b.first < a.end  # type: ignore[operator]
        for a, b in combinations(seen, 2)
    )


class PartnerQueries:
    """handlers.PartnerReadings on PostgreSQL: each answer one statement on a pooled connection (two where two
    meters may hold the same day)."""

    def __init__(self, db: Database, totals: NotifiedCache[tuple[Any, ...], BucketTotals] | None = None) -> None:
        self._db = db
        self._totals = totals

    async def days(
        self, tenant: str, partner_number: str, role: str, obis: str, first: date, end: date
    ) -> tuple[list[StoredDay], list[Relation]]:
        """``MeterdataStore.days_of`` for the relations of a partner number, in one statement."""
        rows, relations = await self._partner_rows(_DAYS, tenant, partner_number, role, obis, first, end)
        return _merged(rows), relations

    async def quarter_hours(
        self, tenant: str, partner_number: str, role: str, obis: str, first: date, end: date
    ) -> tuple[list[QuarterHourDay], list[Relation]]:
        """Like ``days`` for the 15-minute answer (domain.QuarterHourDay): a day kept encoded comes as its entry
        without the arrays; else a day whose qualities are all true values (most days) comes with None instead of
        its qualities, which spares decoding them. Where two meters may share a day, a second statement reads
        every day's arrays (the values add up)."""
        rows, relations = await self._partner_rows(QUARTER_HOURS_SQL, tenant, partner_number, role, obis, first, end)
        if _meters_may_share_a_day(relations, first, end):
            rows, relations = await self._partner_rows(
                _QUARTER_HOUR_VALUES, tenant, partner_number, role, obis, first, end
            )
        merged: dict[date, QuarterHourDay] = {}
        for row in rows:
            day, values, qualities, entry = row[0], row[1], row[2], row[3]
            if day in merged:  # several meters (a meter change): values add up, the last one's qualities stay
                before = merged[day][1]
                assert before is not None and values is not None  # read by _QUARTER_HOUR_VALUES
                values = [a if b is None else b if a is None else a + b for a, b in zip(before, values, strict=False)]
            merged[day] = (day, values, qualities, entry)
        return list(merged.values()), relations

    async def bucket_totals(
        self, tenant: str, partner_number: str, role: str, obis: str, first: date, end: date, resolution: Resolution
    ) -> tuple[list[DayTotal] | None, list[Relation]]:
        """The stored per-day totals of the relations of a partner number, summed per bucket of ``resolution``
        (day … year) and relation in the database, each sum dated by its first day (for domain.totals), in one
        statement; None when two meters may hold the same day (a meter change inside a day: a slot filled by both
        counts once, so the values decide)."""
        key = (tenant, partner_number, role, obis, first, end, resolution)
        if self._totals is not None and (kept := self._totals.get(key)) is not None:
            return kept
        generation = self._totals.generation if self._totals is not None else 0
        rows, relations = await self._partner_rows(
            BUCKET_TOTALS_SQL, tenant, partner_number, role, obis, first, end, resolution.value
        )
        if _meters_may_share_a_day(relations, first, end):
            return None, relations
        answer = [DayTotal(row[0], row[1], row[2], row[3]) for row in rows], relations
        if self._totals is not None:  # until a day of these meters or any master data of the tenant changes
            self._totals.put(key, answer, tenant, {r.meter_number for r in relations}, generation)
        return answer

    async def _partner_rows(
        self,
        statement: str,
        tenant: str,
        partner_number: str,
        role: str,
        obis: str,
        first: date,
        end: date,
        *more: Any,
    ) -> tuple[list[Any], list[Relation]]:
        """The data rows (by day) and the partner's relations of one partner statement (``more``: its further
        parameters)."""
        data, relations = [], []
        probe = partner_probe(partner_number, role)
        for row in await self._read(statement, tenant, probe, obis, first, end, *more):
            if row[-2] is None:
                data.append(row)
            else:
                relations.append(Relation(row[-2], row[0], row[-1]))
        return data, relations

    async def _read(self, query: str, *args: Any) -> list[Any]:
        return await self._db.fetch(query, *args)


def _merged(rows: Sequence[Any]) -> list[StoredDay]:
    merged: dict[date, StoredDay] = {}
    for row in rows:
        day, values, qualities = row[0], row[1], row[2]
        if day in merged:
            before = merged[day]
            values = [
                a if b is None else b if a is None else a + b for a, b in zip(before.values_wh, values, strict=False)
            ]
        merged[day] = StoredDay(day, values, qualities)  # the driver's lists, not copied
    return list(merged.values())
