"""Meter data's use cases: ingest batches of readings (JSON or MSCONS), answer queries per partner number."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

import msgspec
from pydantic import ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from contracts.meterdata import Quality, RegisterReadings
from kit import energy_day
from kit.db import Database
from kit.masterdata import meter_points_of
from kit.tenants import TenantDirectory, UnknownTenant
from services.meterdata import domain, store
from services.meterdata.mscons import MsconsError, parse_mscons

# The hot path decodes with msgspec (about ten times pydantic's speed on day batches). These structs mirror
# contracts.meterdata exactly; tests/unit/meterdata/test_ingest_decoding.py checks them against the contract.
_MeterNumber = Annotated[str, msgspec.Meta(pattern=r"^[0-9][A-Z]{3}[0-9]{10}$")]
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


@dataclass
class Ingested:
    days: int = 0
    registers: int = 0
    rejected: list[tuple[Any, str]] = field(default_factory=list)  # (Kafka record, reason)


async def ingest(records: Sequence[Any], session: AsyncSession, tenants: TenantDirectory) -> Ingested:
    """Store a batch of readings messages in one COPY; what cannot be stored is returned with the reason."""
    outcome = Ingested()
    days: dict[tuple[str, str, str, date], tuple[Any, ...]] = {}
    now = datetime.now(UTC)
    for record in records:
        try:
            envelope = _decode_envelope(record.value)
            tenants.get(envelope.tenant)
            if envelope.event_type == "LoadProfileDay":
                _add_day(days, envelope.tenant, _decode_day(envelope.payload), now)
            elif envelope.event_type == "RegisterReadings":
                readings = RegisterReadings.model_validate_json(bytes(envelope.payload))
                outcome.registers += await _store_registers(session, envelope.tenant, readings)
        except (msgspec.ValidationError, msgspec.DecodeError, ValidationError, UnknownTenant, Refused) as error:
            outcome.rejected.append((record, _reason(error)))
    if days:
        await store.upsert_days(session, list(days.values()))
    outcome.days = len(days)
    return outcome


class Refused(ValueError):
    """The message is well-formed but its readings must not be stored (reason in the message)."""


def _add_day(days: dict[tuple[str, str, str, date], tuple[Any, ...]], tenant: str, day: _Day, now: datetime) -> None:
    qualities = tuple(Quality(q) for q in day.qualities)
    problem = domain.day_problem(day.obis, day.day, day.unit, tuple(day.values), qualities)
    if problem:
        raise Refused(problem)
    key = (tenant, day.meter_number, day.obis, day.day)
    earlier = days.get(key)
    if earlier is not None and earlier[4] > day.revision:
        return  # a newer revision of the same day is already in this batch
    days[key] = _day_row(tenant, day.meter_number, day.obis, day.day, day.revision, day.values, qualities, now)


def _day_row(
    tenant: str,
    meter: str,
    obis: str,
    day: date,
    revision: int,
    values: Sequence[float | None],
    qualities: Sequence[Quality],
    now: datetime,
) -> tuple[Any, ...]:
    """A row for ``store.upsert_days`` (``store.DAY_COLUMNS``): the arrays and the day's totals."""
    values_wh = [domain.to_wh(v) for v in values]
    codes = [domain.QUALITY_CODES[q] for q in qualities]
    return (tenant, meter, obis, day, revision, values_wh, codes, now, *domain.day_totals(values_wh, codes))


async def _store_registers(session: AsyncSession, tenant: str, readings: RegisterReadings) -> int:
    ordered = sorted(readings.readings, key=lambda r: r.read_at)
    problem = domain.register_problem(readings.obis, readings.unit, (r.read_at for r in ordered))
    if problem:
        raise Refused(problem)
    previous = await store.last_register_before(
        session, tenant, readings.meter_number, readings.obis, ordered[0].read_at
    )
    values = [round(r.value * 1000) for r in ordered]
    flags = domain.running_backwards(previous, values)
    await store.add_register_readings(
        session,
        [
            store.RegisterReadingRow(
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
        ],
    )
    return len(ordered)


async def ingest_mscons(data: bytes, tenant: str, session: AsyncSession) -> tuple[int, int, list[str]]:
    """All or nothing per interchange: a bad segment raises MsconsError (→ dead letter), nothing is stored."""
    points = await meter_points_of(session, tenant, limit=1_000_000)
    meter_of = {p.malo_id: p.meter_number for p in points if p.malo_id}
    parsed = parse_mscons(data, meter_for_location=meter_of.get)
    now = datetime.now(UTC)
    days: dict[tuple[str, str, str, date], tuple[Any, ...]] = {}
    for day in parsed.days:
        problem = domain.day_problem(day.obis, day.day, day.unit, day.values, day.qualities)
        if problem:
            raise MsconsError(f"{day.meter_number} {day.day}: {problem}")
        days[(tenant, day.meter_number, day.obis, day.day)] = _day_row(
            tenant, day.meter_number, day.obis, day.day, day.revision, day.values, day.qualities, now
        )
    if days:
        await store.upsert_days(session, list(days.values()))
    registers = 0
    for readings in parsed.registers:
        registers += await _store_registers(session, tenant, readings)
    return len(days), registers, parsed.unmapped


def _reason(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())[:1500]
    if isinstance(error, UnknownTenant):
        return f"unknown tenant {error}"
    return f"{type(error).__name__}: {error}"[:1500]


# --- serving ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Series:
    partner_number: str
    role: str
    obis: str
    resolution: domain.Resolution
    buckets: list[domain.Bucket]


_FINE = (domain.Resolution.QUARTER_HOUR, domain.Resolution.HOUR)


async def intervals(
    session: AsyncSession, tenant: str, partner: str, role: str, first: date, end: date, resolution: domain.Resolution
) -> Series:
    """Buckets of any resolution: days … years from the stored per-day totals (one meter), hours and quarter
    hours (and several meters: a meter change) from the values."""
    meters = await store.meters_of_partner(session, tenant, partner, role)
    obis = domain.interval_channel(role)
    if resolution not in _FINE and len(meters) == 1:
        totals = await store.day_totals_of(session, tenant, meters, obis, first, end)
        return Series(partner, role, obis, resolution, list(domain.totals(totals, first, end, resolution)))
    stored = await store.days_of(session, tenant, meters, obis, first, end) if meters else []
    return Series(partner, role, obis, resolution, list(domain.buckets(stored, first, end, resolution)))


@dataclass(frozen=True)
class Days:
    """The stored days of a partner's channel as they are (for the compact 15-minute answer)."""

    partner_number: str
    role: str
    obis: str
    days: list[store.QuarterHourDay]


async def quarter_hour_days(db: Database, tenant: str, partner: str, role: str, first: date, end: date) -> Days:
    """The HTTP query path: one statement, no transaction around it."""
    obis = domain.interval_channel(role)
    return Days(partner, role, obis, await store.partner_quarter_hours(db, tenant, partner, role, obis, first, end))


async def read_intervals(
    db: Database, tenant: str, partner: str, role: str, first: date, end: date, resolution: domain.Resolution
) -> Series:
    """``intervals`` for the HTTP query path: days … years from the stored per-day totals in one statement
    (the values only when two meters share a day); hours via the values."""
    obis = domain.interval_channel(role)
    if resolution not in _FINE:
        totals = await store.partner_day_totals(db, tenant, partner, role, obis, first, end)
        if totals is not None:
            return Series(partner, role, obis, resolution, list(domain.totals(totals, first, end, resolution)))
    stored = await store.partner_days(db, tenant, partner, role, obis, first, end)
    return Series(partner, role, obis, resolution, list(domain.buckets(stored, first, end, resolution)))


async def registers(
    session: AsyncSession, tenant: str, partner: str, role: str, first: date, end: date
) -> tuple[list[store.RegisterReadingRow], list[store.RegisterReadingRow]]:
    """The last reading of each Europe/Berlin day in the period, and the latest reading overall."""
    meters = await store.meters_of_partner(session, tenant, partner, role)
    if not meters:
        return [], []
    channels = domain.register_channels(role)
    rows = await store.registers_of(
        session, tenant, meters, channels, energy_day.day_start(first), energy_day.day_start(end)
    )
    per_day: dict[tuple[str, str, date], store.RegisterReadingRow] = {}
    for row in rows:
        per_day[(row.meter_number, row.obis, energy_day.day_of(row.read_at))] = row  # ordered: last wins
    return list(per_day.values()), await store.latest_registers(session, tenant, meters, channels)
