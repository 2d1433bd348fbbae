"""Meter data's use cases on a fake store: what ingest keeps and refuses, and what the queries make of it."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import pytest

from contracts.masterdata import MeterPointRecorded
from contracts.meterdata import LoadProfileDay, Quality, RegisterReading, RegisterReadings
from kit.energy_day import day_start, quarter_hours_of
from kit.events import encode, envelope_for
from kit.tenants import load_tenants
from services.meterdata import handlers
from services.meterdata.domain import QUALITY_CODES, Resolution
from services.meterdata.store import DAY_COLUMNS, IntervalDayRow
from tests.unit.examples import METER, MOVED_IN, MOVED_OUT, meter_point, moved_point
from tests.unit.fakes import FakeClock, FakeUnits
from tests.unit.meterdata.fake_store import FakeReadings

TENANT = "000328"
PREVIOUS, NEW = "10000001", "10000002"
CONSUMPTION = "1-1:1.29.0"
NORMAL, SPRING = date(2026, 6, 1), date(2026, 3, 29)
LOCATION_KINDS = (Path(__file__).resolve().parents[2] / "data" / "mscons" / "location_kinds.edi").read_bytes()


@dataclass(frozen=True)
class Record:
    """What handlers.ingest reads of a Kafka record."""

    value: bytes


def load_day(day: date, kwh: float = 0.1, revision: int = 0, values: int | None = None) -> LoadProfileDay:
    n = quarter_hours_of(day) if values is None else values
    return LoadProfileDay(
        meter_number=METER,
        obis=CONSUMPTION,
        day=day,
        values=(kwh,) * n,
        qualities=(Quality.TRUE_VALUE,) * n,
        revision=revision,
    )


def record(payload: LoadProfileDay | RegisterReadings, tenant: str = TENANT) -> Record:
    return Record(encode(envelope_for(payload, tenant=tenant, correlation_id=uuid4())))


@pytest.fixture
def units() -> FakeUnits[FakeReadings]:
    # After the readings' days (2026-06): a day a meter cannot have measured yet is refused.
    return FakeUnits(FakeReadings(), FakeClock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC)))


async def ingest(units: FakeUnits[FakeReadings], *records: Record) -> handlers.Ingested:
    async with units() as uow:
        return await handlers.ingest(handlers.IngestReadings(records, load_tenants()), uow)


async def test_a_bad_day_is_refused_with_its_reason_and_the_good_ones_are_kept(units: FakeUnits[FakeReadings]) -> None:
    good, wrong_length, other_tenant = (
        record(load_day(NORMAL)),
        record(load_day(NORMAL + timedelta(days=1), values=100)),  # a normal day has 96 quarter hours
        record(load_day(NORMAL + timedelta(days=2)), tenant="999999"),
    )
    spring = record(load_day(SPRING))  # 92 quarter hours: right on that day
    outcome = await ingest(units, good, wrong_length, other_tenant, spring, Record(b"{not json"))

    assert outcome.days == 2
    assert sorted(key[3] for key in units.store.days) == [SPRING, NORMAL]
    assert units.store.upserts == 1  # one COPY for the whole batch
    reasons = {r.value: reason for r, reason in outcome.rejected}
    assert set(reasons) == {wrong_length.value, other_tenant.value, b"{not json"}
    assert "96 quarter hours" in reasons[wrong_length.value]
    assert "unknown tenant" in reasons[other_tenant.value]


async def test_the_newest_revision_of_a_day_wins_whatever_order_the_batch_brings(
    units: FakeUnits[FakeReadings],
) -> None:
    await ingest(units, record(load_day(NORMAL, kwh=0.2, revision=2)), record(load_day(NORMAL, kwh=0.1, revision=1)))
    [stored] = units.store.days.values()
    assert (stored.revision, stored.values_wh[0], stored.total_wh) == (2, 200, 200 * 96)

    await ingest(units, record(load_day(NORMAL, kwh=0.3, revision=3)))
    [stored] = units.store.days.values()
    assert (stored.revision, stored.total_wh, stored.present, stored.substitutes) == (3, 300 * 96, 96, 0)


async def test_a_day_is_stamped_with_the_unit_of_works_clock(units: FakeUnits[FakeReadings]) -> None:
    clock = FakeClock(datetime(2026, 6, 2, 4, 30, tzinfo=UTC))
    units = FakeUnits(FakeReadings(), clock)
    await ingest(units, record(load_day(NORMAL)))
    [stored] = units.store.days.values()
    assert stored.received_at == clock.current


async def test_register_readings_below_an_earlier_one_are_kept_but_flagged(units: FakeUnits[FakeReadings]) -> None:
    first = day_start(NORMAL)

    def readings(*values: float, start: datetime) -> RegisterReadings:
        return RegisterReadings(
            meter_number=METER,
            obis="1-1:1.8.0",
            readings=tuple(RegisterReading(read_at=start + timedelta(hours=i), value=v) for i, v in enumerate(values)),
        )

    await ingest(units, record(readings(100.0, 101.5, start=first)))
    outcome = await ingest(units, record(readings(101.0, 102.0, start=first + timedelta(hours=2))))
    assert outcome.registers == 2
    flags = [r.runs_backwards for r in sorted(units.store.registers.values(), key=lambda r: r.read_at)]
    assert flags == [False, False, True, False]


async def test_a_register_reading_off_the_quarter_hour_is_refused(units: FakeUnits[FakeReadings]) -> None:
    off = RegisterReadings(
        meter_number=METER,
        obis="1-1:1.8.0",
        readings=(RegisterReading(read_at=day_start(NORMAL) + timedelta(minutes=7), value=1.0),),
    )
    outcome = await ingest(units, record(off))
    assert outcome.registers == 0 and not units.store.registers
    assert "quarter hour" in outcome.rejected[0][1]


async def test_an_mscons_file_without_a_readable_sender_stores_nothing_and_cannot_be_answered(
    units: FakeUnits[FakeReadings],
) -> None:
    with pytest.raises(handlers.Unanswerable):
        async with units() as uow:
            await receive(uow, b"UNB+UNOC:3'QTY")
    assert not units.store.days and not units.store.registers and not units.outbox.events


async def test_an_mscons_interchange_stores_its_accepted_messages_and_lists_the_refused_ones(
    units: FakeUnits[FakeReadings],
) -> None:
    units.master_data.points[(TENANT, METER)] = MeterPointRecorded.model_construct(
        meter_number=METER, malo_id="41373559241"
    )
    async with units() as uow:
        processed = await receive(uow, LOCATION_KINDS)
    assert list(units.store.days) == [(TENANT, METER, CONSUMPTION, NORMAL)]  # message 1 (MaLo)
    assert processed.days == 1
    # The MeLo and the 11-digit id (a MaLo or a Tranche) master data does not know are refused (Z14: they can be
    # processed again once master data knows them), and the wrong check digit.
    assert [(r.message, r.code) for r in processed.refusals] == [
        ("2", "location_unknown"),
        ("6", "location_unknown"),
        ("7", "location_id"),
    ]
    assert len(processed.unmapped) == 3  # NeLo, SR, TR: no customer's metering point


async def receive(uow: handlers.Uow, data: bytes) -> handlers.InterchangeProcessed:
    return await handlers.receive_interchange(handlers.ReceiveInterchange(data, TENANT, "9900123000002"), uow)


async def test_registers_give_the_last_reading_of_each_berlin_day_and_the_latest(
    units: FakeUnits[FakeReadings],
) -> None:
    units.master_data.points[(TENANT, METER)] = meter_point("10000001")  # a consumption partner of METER
    start = day_start(NORMAL)
    readings = RegisterReadings(
        meter_number=METER,
        obis="1-1:1.8.0",
        readings=tuple(
            RegisterReading(read_at=start + timedelta(hours=h), value=float(h)) for h in (0, 12, 23, 24, 30)
        ),
    )
    await ingest(units, record(readings))
    period = handlers.PartnerPeriod(TENANT, "10000001", "consumption", NORMAL, NORMAL + timedelta(days=1))
    async with units.read() as uow:
        found = await handlers.registers(period, uow)
    assert [r.value_wh for r in found.daily] == [23_000]  # 24 h later is the next Berlin day
    assert [r.value_wh for r in found.latest] == [30_000]


async def test_a_partner_without_readings_gets_empty_periods_counted_as_expected(
    units: FakeUnits[FakeReadings],
) -> None:
    units.master_data.points[(TENANT, METER)] = meter_point("10000001")  # a consumption partner of METER
    period = handlers.PartnerPeriod(TENANT, "10000001", "consumption", SPRING, SPRING + timedelta(days=2))
    async with units.read() as uow:
        series = await handlers.intervals(handlers.ShowIntervals(period, Resolution.DAY), uow)
    assert [(b.present, b.expected) for b in series.buckets] == [(0, 92), (0, 96)]


async def test_a_partner_without_a_relation_to_any_meter_sees_no_day(units: FakeUnits[FakeReadings]) -> None:
    await ingest(units, record(load_day(SPRING)))
    period = handlers.PartnerPeriod(TENANT, "10000001", "consumption", SPRING, SPRING + timedelta(days=2))
    async with units.read() as uow:
        series = await handlers.intervals(handlers.ShowIntervals(period, Resolution.DAY), uow)
        found = await handlers.registers(period, uow)
    assert series.buckets == [] and found == handlers.Registers([], [])


async def test_after_a_move_each_partner_sees_only_the_days_of_their_relation(units: FakeUnits[FakeReadings]) -> None:
    units.master_data.points[(TENANT, METER)] = moved_point(PREVIOUS, NEW)
    june, july = date(2026, 6, 1), date(2026, 7, 1)
    days = [june + timedelta(days=n) for n in range(30)]
    await ingest(units, *(record(load_day(d, kwh=0.01 * d.day)) for d in days))
    start = day_start(MOVED_OUT)
    readings = RegisterReadings(
        meter_number=METER,
        obis="1-1:1.8.0",
        readings=tuple(RegisterReading(read_at=start + timedelta(hours=h), value=100.0 + h) for h in (12, 23, 24, 30)),
    )
    await ingest(units, record(readings))

    async def seen(partner: str, resolution: Resolution) -> list[tuple[datetime, int, int]]:
        period = handlers.PartnerPeriod(TENANT, partner, "consumption", june, july)
        async with units.read() as uow:
            series = await handlers.intervals(handlers.ShowIntervals(period, resolution), uow)
        return [(b.start, b.wh, b.expected) for b in series.buckets]

    previous_days, new_days = await seen(PREVIOUS, Resolution.DAY), await seen(NEW, Resolution.DAY)
    assert [start for start, _, _ in previous_days] == [day_start(d) for d in days if d <= MOVED_OUT]
    assert [start for start, _, _ in new_days] == [day_start(d) for d in days if d >= MOVED_IN]
    [previous_month], [new_month] = await seen(PREVIOUS, Resolution.MONTH), await seen(NEW, Resolution.MONTH)
    assert previous_month == (day_start(june), sum(10 * d.day * 96 for d in days[:14]), 14 * 96)
    assert new_month == (day_start(MOVED_IN), sum(10 * d.day * 96 for d in days[14:]), 16 * 96)
    assert len(await seen(PREVIOUS, Resolution.HOUR)) == 14 * 24 and len(await seen(NEW, Resolution.HOUR)) == 16 * 24

    async def registers(partner: str) -> handlers.Registers:
        period = handlers.PartnerPeriod(TENANT, partner, "consumption", june, july)
        async with units.read() as uow:
            return await handlers.registers(period, uow)

    previous, new = await registers(PREVIOUS), await registers(NEW)
    # 00:00 on the 15th is the new partner's first reading; the previous one's day ends before it.
    assert [r.value_wh for r in previous.daily] == [123_000] and [r.value_wh for r in previous.latest] == [123_000]
    assert [r.value_wh for r in new.daily] == [130_000] and [r.value_wh for r in new.latest] == [130_000]


async def test_day_totals_of_one_meter_add_up_to_the_stored_values(units: FakeUnits[FakeReadings]) -> None:
    units.master_data.points[(TENANT, METER)] = meter_point("10000001")  # a consumption partner of METER
    await ingest(units, record(load_day(SPRING, kwh=0.25)), record(load_day(SPRING + timedelta(days=1), kwh=0.5)))
    monday = SPRING - timedelta(days=6)
    period = handlers.PartnerPeriod(TENANT, "10000001", "consumption", monday, monday + timedelta(days=14))
    async with units.read() as uow:
        weeks = (await handlers.intervals(handlers.ShowIntervals(period, Resolution.WEEK), uow)).buckets
    assert [(w.wh, w.present, w.expected) for w in weeks] == [(250 * 92, 92, 6 * 96 + 92), (500 * 96, 96, 7 * 96)]


def test_a_stored_day_fills_exactly_the_columns_of_interval_days() -> None:
    assert list(DAY_COLUMNS) == [c.name for c in IntervalDayRow.__table__.columns]  # type: ignore[attr-defined]
    assert QUALITY_CODES[Quality.MISSING] == 0


async def test_partitions_cover_the_months_kept_and_months_no_longer_kept_go_with_their_readings() -> None:
    """[8 of 11] §4 with an injected clock: on 1 January the year three years back leaves, a whole month at a time."""
    clock = FakeClock(datetime(2026, 12, 31, 23, 0, tzinfo=UTC))
    units = FakeUnits(FakeReadings(), clock)
    async with units() as uow:
        first = await handlers.maintain_partitions(handlers.MaintainPartitions(), uow)
    # From January 2023 (the current year and the three before) to two months ahead: 50 months per table.
    assert first.created["interval_days"][0] == date(2023, 1, 1)
    assert first.created["interval_days"][-1] == date(2027, 2, 1)
    assert len(first.created["interval_days"]) == len(first.created["register_readings"]) == 50
    assert first.dropped == {"interval_days": (), "register_readings": ()}

    oldest = load_day(date(2023, 1, 31))  # the last day of the oldest month kept
    await ingest(units, record(oldest), record(load_day(date(2024, 6, 1))))
    assert len(units.store.days) == 2
    await ingest(units, record(load_day(date(2022, 12, 31))))  # before the first day kept: refused, not stored
    assert len(units.store.days) == 2

    clock.advance(timedelta(hours=2))  # 1 January 2027: 2023 is no longer kept
    async with units() as uow:
        second = await handlers.maintain_partitions(handlers.MaintainPartitions(), uow)
    assert second.dropped["interval_days"] == tuple(date(2023, month, 1) for month in range(1, 13))
    assert second.created["interval_days"] == (date(2027, 3, 1),)
    assert [key[3] for key in units.store.days] == [date(2024, 6, 1)]

    async with units() as uow:  # run again: nothing left to do
        third = await handlers.maintain_partitions(handlers.MaintainPartitions(), uow)
    assert third.created == third.dropped == {"interval_days": (), "register_readings": ()}
