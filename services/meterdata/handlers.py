"""Meter data's use cases, each ``handle(command or query, uow) -> view``: ingest batches of readings (JSON or
MSCONS), record the keys that sign access tokens, answer queries per partner number.

The HTTP API's hot queries (15-minute values, totals) take ``PartnerReadings`` instead of a unit of work:
each is one statement on a pooled connection, no transaction around it.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal, Protocol

import msgspec
from pydantic import ValidationError

from contracts.common import METER_NUMBER_PATTERN
from contracts.identity import SessionEnded, SigningKeyPublished, SigningKeyRevoked
from contracts.meterdata import Quality, RegisterReadings
from kit import energy_day, validity
from kit.consumer import Delivered
from kit.tenants import TenantDirectory, UnknownTenant
from kit.uow import UnitOfWork
from kit.validity import Relation
from services.meterdata import domain
from services.meterdata.domain import DayTotal, IntervalDay, MeterWindow, QuarterHourDay, RegisterValue, StoredDay
from services.meterdata.mscons import MessageRefusal, MsconsError, parse_mscons


class Readings(Protocol):
    """What the use cases need of the store (store.MeterdataStore; a fake in the unit tests)."""

    async def upsert_days(self, days: Sequence[IntervalDay]) -> None: ...

    async def add_register_readings(self, readings: Sequence[RegisterValue]) -> None: ...

    async def last_register_before(self, tenant: str, meter: str, obis: str, moment: datetime) -> int | None: ...

    async def record_signing_key(self, event: Delivered[SigningKeyPublished]) -> None: ...

    async def record_key_revocation(self, event: Delivered[SigningKeyRevoked]) -> None: ...

    async def record_session_ended(self, event: Delivered[SessionEnded]) -> None: ...

    # The days of a partner's relations (kit.validity.within: both bounds set) are what is read of each meter.
    async def days_of(self, tenant: str, relations: Sequence[Relation], obis: str) -> list[StoredDay]: ...

    async def day_totals_of(self, tenant: str, relations: Sequence[Relation], obis: str) -> list[DayTotal]: ...

    async def registers_of(
        self, tenant: str, windows: Sequence[MeterWindow], channels: Sequence[str]
    ) -> list[RegisterValue]: ...

    async def latest_registers(
        self, tenant: str, windows: Sequence[MeterWindow], channels: Sequence[str]
    ) -> list[RegisterValue]: ...


class PartnerReadings(Protocol):
    """The HTTP API's one-statement queries (store.PartnerQueries): a partner's relations to meters are found
    inside, and each answer comes with them (kit.validity: only their days are read, and shown)."""

    async def days(
        self, tenant: str, partner_number: str, role: str, obis: str, first: date, end: date
    ) -> tuple[list[StoredDay], list[Relation]]: ...

    async def quarter_hours(
        self, tenant: str, partner_number: str, role: str, obis: str, first: date, end: date
    ) -> tuple[list[QuarterHourDay], list[Relation]]: ...

    async def day_totals(
        self, tenant: str, partner_number: str, role: str, obis: str, first: date, end: date
    ) -> tuple[list[DayTotal] | None, list[Relation]]: ...


Uow = UnitOfWork[Readings]

# The hot path decodes with msgspec (about ten times pydantic's speed on day batches). These structs mirror
# contracts.meterdata exactly; tests/unit/meterdata/test_ingest_decoding.py checks them against the contract.
_MeterNumber = Annotated[str, msgspec.Meta(pattern=METER_NUMBER_PATTERN)]
_Qualifier = Literal["220", "67", "201", "20", "187", "Z18", "Z30"]


class _Envelope(msgspec.Struct):
    event_id: str
    event_type: str
    tenant: Annotated[str, msgspec.Meta(pattern=r"^\d{6}$")]
    payload: msgspec.Raw


class _Day(msgspec.Struct):
    meter_number: _MeterNumber
    obis: str
    day: date
    values: list[float | None]
    qualities: list[_Qualifier]
    unit: str = "kWh"
    revision: Annotated[int, msgspec.Meta(ge=0)] = 0


_decode_envelope = msgspec.json.Decoder(_Envelope).decode
_decode_day = msgspec.json.Decoder(_Day).decode


# --- ingest ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IngestReadings:
    """A batch of Kafka records from the readings topic (``value``: an envelope as JSON)."""

    records: Sequence[Any]
    tenants: TenantDirectory


@dataclass
class Ingested:
    days: int = 0
    registers: int = 0
    rejected: list[tuple[Any, str]] = field(default_factory=list)  # (Kafka record, reason)


async def ingest(command: IngestReadings, uow: Uow) -> Ingested:
    """Store a batch of readings messages in one COPY; what cannot be stored is returned with the reason.

    A message's content raises nothing: what does not decode (msgspec's ``DecodeError`` and its
    ``ValidationError``, ``UnicodeDecodeError``, pydantic's ``ValidationError``), names an unknown tenant or is
    refused by the domain's checks (``Refused``) is in ``rejected``. Only the store's own errors escape
    (kit.consumer.without_poison takes those)."""
    outcome = Ingested()
    days: dict[tuple[str, str, str, date], IntervalDay] = {}
    now = uow.now()
    tenants = command.tenants
    for record in command.records:
        try:
            envelope = _decode_envelope(record.value)
            tenants.get(envelope.tenant)
            if envelope.event_type == "LoadProfileDay":
                _add_day(days, envelope.tenant, _decode_day(envelope.payload), now)
            elif envelope.event_type == "RegisterReadings":
                readings = RegisterReadings.model_validate_json(bytes(envelope.payload))
                outcome.registers += await _store_registers(uow.store, envelope.tenant, readings, now)
        # msgspec raises UnicodeDecodeError, not DecodeError, for a string that is not UTF-8.
        except (msgspec.DecodeError, UnicodeDecodeError, ValidationError, UnknownTenant, Refused) as error:
            outcome.rejected.append((record, _reason(error)))
    if days:
        await uow.store.upsert_days(list(days.values()))
    outcome.days = len(days)
    return outcome


class Refused(ValueError):
    """The message is well-formed but its readings must not be stored (reason in the message)."""


def _add_day(days: dict[tuple[str, str, str, date], IntervalDay], tenant: str, day: _Day, now: datetime) -> None:
    qualities = tuple(Quality(q) for q in day.qualities)
    problem = domain.day_problem(day.obis, day.day, day.unit, tuple(day.values), qualities, now.date(), day.revision)
    if problem:
        raise Refused(problem)
    key = (tenant, day.meter_number, day.obis, day.day)
    earlier = days.get(key)
    if earlier is not None and earlier.revision > day.revision:
        return  # a newer revision of the same day is already in this batch
    days[key] = domain.interval_day(
        tenant, day.meter_number, day.obis, day.day, day.revision, day.values, qualities, now
    )


async def _store_registers(store: Readings, tenant: str, readings: RegisterReadings, now: datetime) -> int:
    ordered = sorted(readings.readings, key=lambda r: r.read_at)
    problem = domain.register_problem(
        readings.obis,
        readings.unit,
        (r.read_at for r in ordered),
        now.date(),
        readings.revision,
        (r.value for r in ordered),
    )
    if problem:
        raise Refused(problem)
    previous = await store.last_register_before(tenant, readings.meter_number, readings.obis, ordered[0].read_at)
    values = [round(r.value * 1000) for r in ordered]
    flags = domain.running_backwards(previous, values)
    await store.add_register_readings(
        [
            RegisterValue(
                tenant=tenant,
                meter_number=readings.meter_number,
                obis=readings.obis,
                read_at=r.read_at.astimezone(UTC),
                value_wh=value,
                quality=domain.QUALITY_CODES[r.quality],
                revision=readings.revision,
                runs_backwards=flag,
            )
            for r, value, flag in zip(ordered, values, flags, strict=True)
        ]
    )
    return len(ordered)


@dataclass(frozen=True)
class IngestMscons:
    """One MSCONS interchange (the file's bytes) for a tenant."""

    data: bytes
    tenant: str


@dataclass(frozen=True)
class MsconsIngested:
    days: int
    registers: int
    unmapped: list[str]
    refusals: list[MessageRefusal]  # messages refused for application errors: nothing of them is stored


async def ingest_mscons(command: IngestMscons, uow: Uow) -> MsconsIngested:
    """A syntax error, or readings the domain's checks refuse, raise MsconsError (→ dead letter), and nothing is
    stored; a message refused for an application error is left out and listed, the other messages are stored."""
    tenant = command.tenant
    meter_of = await uow.master_data.meters_by_location(tenant)
    parsed = parse_mscons(command.data, meter_for_location=meter_of.get)
    now = uow.now()
    days: dict[tuple[str, str, str, date], IntervalDay] = {}
    for day in parsed.days:
        problem = domain.day_problem(day.obis, day.day, day.unit, day.values, day.qualities, now.date(), day.revision)
        if problem:
            raise MsconsError(f"{day.meter_number} {day.day}: {problem}")
        days[(tenant, day.meter_number, day.obis, day.day)] = domain.interval_day(
            tenant, day.meter_number, day.obis, day.day, day.revision, day.values, day.qualities, now
        )
    if days:
        await uow.store.upsert_days(list(days.values()))
    registers = 0
    for readings in parsed.registers:
        try:
            registers += await _store_registers(uow.store, tenant, readings, now)
        except Refused as refusal:  # the unit of work rolls back: nothing of the interchange is kept
            raise MsconsError(f"{readings.meter_number} {readings.obis}: {refusal}") from None
    return MsconsIngested(len(days), registers, parsed.unmapped, parsed.refusals)


def _reason(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())[:1500]
    if isinstance(error, UnknownTenant):
        return f"unknown tenant {error}"
    return f"{type(error).__name__}: {error}"[:1500]


async def record_signing_key(event: Delivered[SigningKeyPublished], uow: Uow) -> None:
    """Identity published a key that signs access tokens: kept to verify tokens without asking identity."""
    await uow.store.record_signing_key(event)


async def record_key_revocation(event: Delivered[SigningKeyRevoked], uow: Uow) -> None:
    """Identity revoked a key: nothing it signed is accepted any more (kit.auth)."""
    await uow.store.record_key_revocation(event)


async def record_session_ended(event: Delivered[SessionEnded], uow: Uow) -> None:
    """A customer's session ended (logout, password change, deleted account): its tokens are refused."""
    await uow.store.record_session_ended(event)


# --- serving ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PartnerPeriod:
    """A partner's channel over Europe/Berlin days [first, end), as the access token names it."""

    tenant: str
    partner_number: str
    role: str
    first: date
    end: date


@dataclass(frozen=True)
class Series:
    partner_number: str
    role: str
    obis: str
    resolution: domain.Resolution
    buckets: list[domain.Bucket]


_FINE = (domain.Resolution.QUARTER_HOUR, domain.Resolution.HOUR)


@dataclass(frozen=True)
class ShowIntervals:
    period: PartnerPeriod
    resolution: domain.Resolution


async def intervals(query: ShowIntervals, uow: Uow) -> Series:
    """Buckets of any resolution on the partner's days (kit.validity): days … years from the stored per-day
    totals (one meter), hours and quarter hours (and several meters: a meter change) from the values."""
    p = query.period
    stored = await stored_period(query, uow)
    obis = domain.interval_channel(p.role)
    return Series(p.partner_number, p.role, obis, query.resolution, list(domain.period_buckets(stored)))


async def stored_period(query: ShowIntervals, uow: Uow) -> domain.StoredPeriod:
    """What ``intervals`` aggregates, as read: the export builds its file from it in a worker process, so the
    aggregation (a second of CPU for three years of 15-minute values) never runs on the serving loop."""
    p, resolution = query.period, query.resolution
    relations = await uow.master_data.relations_of_partner(p.tenant, p.partner_number, p.role)
    seen = validity.within(relations, p.first, p.end)
    ranges = validity.ranges(seen, p.first, p.end)
    obis = domain.interval_channel(p.role)
    if resolution not in _FINE and len({r.meter_number for r in seen}) == 1:
        totals = await uow.store.day_totals_of(p.tenant, seen, obis)
        return domain.StoredPeriod(p.first, p.end, resolution, totals, None, ranges)
    stored = await uow.store.days_of(p.tenant, seen, obis) if seen else []
    days = [(item.day, item.values_wh, item.qualities) for item in stored]  # the driver's lists, not copied
    return domain.StoredPeriod(p.first, p.end, resolution, None, days, ranges)


@dataclass(frozen=True)
class Days:
    """The stored days of a partner's channel as they are (for the compact 15-minute answer), and the days of
    the period the partner may see (kit.validity.ranges)."""

    partner_number: str
    role: str
    obis: str
    days: list[QuarterHourDay]
    ranges: list[tuple[date, date]]


async def quarter_hour_days(query: PartnerPeriod, readings: PartnerReadings) -> Days:
    """The HTTP query path: one statement, no transaction around it."""
    obis = domain.interval_channel(query.role)
    days, relations = await readings.quarter_hours(
        query.tenant, query.partner_number, query.role, obis, query.first, query.end
    )
    return Days(query.partner_number, query.role, obis, days, validity.ranges(relations, query.first, query.end))


async def read_intervals(query: ShowIntervals, readings: PartnerReadings) -> Series:
    """``intervals`` for the HTTP query path: days … years from the stored per-day totals in one statement
    (the values only when two meters share a day); hours via the values. The partner's days only."""
    p, resolution = query.period, query.resolution
    obis = domain.interval_channel(p.role)
    if resolution not in _FINE:
        totals, relations = await readings.day_totals(p.tenant, p.partner_number, p.role, obis, p.first, p.end)
        if totals is not None:
            ranges = validity.ranges(relations, p.first, p.end)
            found = domain.visible_totals(totals, ranges, p.first, resolution)
            return Series(p.partner_number, p.role, obis, resolution, list(found))
    stored, relations = await readings.days(p.tenant, p.partner_number, p.role, obis, p.first, p.end)
    ranges = validity.ranges(relations, p.first, p.end)
    found = domain.visible_buckets(stored, ranges, p.first, resolution)
    return Series(p.partner_number, p.role, obis, resolution, list(found))


@dataclass(frozen=True)
class Registers:
    daily: list[RegisterValue]  # the last reading of each Europe/Berlin day in the period
    latest: list[RegisterValue]  # the latest reading overall, per meter and channel


async def registers(query: PartnerPeriod, uow: Uow) -> Registers:
    """The last reading of each Europe/Berlin day in the period, and the latest reading overall — on the days of
    the partner's relations only (kit.validity): a moved-out partner's latest is the last one of their days."""
    relations = await uow.master_data.relations_of_partner(query.tenant, query.partner_number, query.role)
    if not relations:
        return Registers([], [])
    channels = domain.register_channels(query.role)
    seen = validity.within(relations, query.first, query.end)
    rows = await uow.store.registers_of(query.tenant, domain.windows(seen), channels) if seen else []
    per_day: dict[tuple[str, str, date], RegisterValue] = {}
    for row in rows:
        per_day[(row.meter_number, row.obis, energy_day.day_of(row.read_at))] = row  # ordered: last wins
    latest = await uow.store.latest_registers(query.tenant, domain.windows(relations), channels)
    return Registers(list(per_day.values()), latest)
