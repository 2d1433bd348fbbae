"""Consumption per billing period ([8 of 11] §4): master data's periods or calendar years, on the days kept and the
partner's own days, with completeness; and how far back the values reach."""

from datetime import UTC, date, datetime, timedelta

import pytest

from contracts.masterdata import BillingPeriod, MeterPointRecorded
from kit.energy_day import day_start, quarter_hours_of
from kit.months import add_months
from services.meterdata import domain, handlers
from services.meterdata.domain import DayTotal
from tests.unit.examples import METER, MOVED_IN, meter_point, moved_point
from tests.unit.fakes import FakeClock, FakeUnits
from tests.unit.meterdata.fake_store import FakeReadings
from tests.unit.meterdata.test_use_cases import NEW, PREVIOUS, TENANT, ingest, load_day, record

TODAY = date(2026, 12, 7)  # kept since 1 January 2023


def period(first: str, last: str) -> BillingPeriod:
    return BillingPeriod(first_day=date.fromisoformat(first), last_day=date.fromisoformat(last))


def days_between(first: date, end: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((end - first).days)]


def quarter_hours(first: date, end: date) -> int:
    return sum(quarter_hours_of(day) for day in days_between(first, end))


def test_a_period_adds_up_its_days_and_expects_every_quarter_hour_of_them() -> None:
    march = period("2026-03-01", "2026-03-31")  # with the 92-quarter-hour day (29 March)
    totals = [DayTotal(date(2026, 3, 29), 920, 92, 2), DayTotal(date(2026, 3, 30), 960, 95, 0)]
    [found] = domain.billing_totals(totals, [march], [(date(2023, 1, 1), TODAY)], date(2023, 1, 1), TODAY)
    assert found.period == march
    bucket = found.bucket
    assert (bucket.start, bucket.end) == (day_start(date(2026, 3, 1)), day_start(date(2026, 4, 1)))
    assert (bucket.wh, bucket.present, bucket.substitutes) == (1880, 187, 2)
    assert bucket.expected == 30 * 96 + 92


def test_periods_before_the_first_day_kept_or_not_yet_begun_are_not_listed_and_one_across_it_is_cut() -> None:
    first = domain.kept_since(TODAY)
    assert first == date(2023, 1, 1)
    periods = [
        period("2021-03-01", "2022-02-28"),  # ended before the first day kept
        period("2022-03-01", "2023-02-28"),  # two months of it are kept
        period("2026-03-01", "2027-02-28"),  # running: counted up to yesterday
        period("2027-03-01", "2028-02-29"),  # not begun
    ]
    found = domain.billing_totals([], periods, [(first, TODAY)], first, TODAY)
    assert [f.period for f in found] == periods[1:3]
    kept, running = (f.bucket for f in found)
    assert (kept.start, kept.end, kept.expected) == (day_start(first), day_start(date(2023, 3, 1)), 59 * 96)
    assert (running.start, running.end) == (day_start(date(2026, 3, 1)), day_start(TODAY))
    assert (running.present, running.expected) == (0, quarter_hours(date(2026, 3, 1), TODAY))


def test_a_period_across_a_validity_boundary_counts_the_partners_days_only() -> None:
    june = period("2026-01-01", "2026-12-31")
    totals = [DayTotal(day, 100, 96, 0) for day in days_between(date(2026, 6, 1), date(2026, 7, 1))]
    before, after = [(date(2023, 1, 1), MOVED_IN)], [(MOVED_IN, TODAY)]
    [previous] = domain.billing_totals(totals, [june], before, date(2023, 1, 1), TODAY)
    [new] = domain.billing_totals(totals, [june], after, date(2023, 1, 1), TODAY)
    assert (previous.bucket.start, previous.bucket.end) == (day_start(date(2026, 1, 1)), day_start(MOVED_IN))
    assert (new.bucket.start, new.bucket.end) == (day_start(MOVED_IN), day_start(TODAY))
    assert (previous.bucket.wh, new.bucket.wh) == (14 * 100, 16 * 100)
    assert previous.bucket.expected + new.bucket.expected == quarter_hours(date(2026, 1, 1), TODAY)
    # A period wholly outside the partner's days is not theirs to see.
    assert domain.billing_totals(totals, [period("2026-07-01", "2026-07-31")], before, date(2023, 1, 1), TODAY) == []


@pytest.mark.parametrize("today", [date(2026, 1, 1), date(2026, 2, 28), date(2026, 12, 31), date(2028, 2, 29)])
def test_every_resolution_reaches_back_beyond_the_24_months_of_15_minute_values_the_law_asks_for(today: date) -> None:
    assert domain.kept_since(today) <= add_months(today.replace(day=1), -24)


@pytest.fixture
def units() -> FakeUnits[FakeReadings]:
    return FakeUnits(FakeReadings(), FakeClock(datetime(2026, 12, 7, 9, 0, tzinfo=UTC)))


async def shown(units: FakeUnits[FakeReadings], partner: str) -> handlers.BillingPeriods:
    async with units.read() as uow:
        return await handlers.billing_periods(handlers.ShowBillingPeriods(TENANT, partner, "consumption"), uow)


async def test_without_billing_periods_in_master_data_the_periods_are_the_calendar_years_kept(
    units: FakeUnits[FakeReadings],
) -> None:
    units.master_data.points[(TENANT, METER)] = meter_point(PREVIOUS)
    await ingest(units, record(load_day(date(2024, 5, 2), kwh=0.5)), record(load_day(date(2026, 6, 1), kwh=0.25)))
    found = await shown(units, PREVIOUS)
    assert not found.from_master_data
    assert [(t.period.first_day.year, t.period.last_day) for t in found.totals] == [
        (year, date(year, 12, 31)) for year in (2023, 2024, 2025, 2026)
    ]
    assert [t.bucket.wh for t in found.totals] == [0, 500 * 96, 0, 250 * 96]
    assert found.totals[-1].bucket.end == day_start(TODAY)  # the running year: up to yesterday
    assert (found.kept_since, found.first_day_with_data) == (date(2023, 1, 1), date(2024, 5, 2))


async def test_master_datas_billing_periods_are_listed_on_the_partners_days(units: FakeUnits[FakeReadings]) -> None:
    moved = moved_point(PREVIOUS, NEW)  # moved out on 14 June 2026, the next one in on the 15th
    previous, new = moved.partners
    yearly = (period("2025-03-01", "2026-02-28"), period("2026-03-01", "2027-02-28"))
    units.master_data.points[(TENANT, METER)] = MeterPointRecorded.model_validate(
        {
            **moved.model_dump(),
            "partners": (
                previous.model_copy(update={"billing_periods": (period("2024-03-01", "2025-02-28"), *yearly)}),
                new.model_copy(update={"billing_periods": (period("2026-06-15", "2027-06-14"),)}),
            ),
        }
    )
    await ingest(units, *(record(load_day(day, kwh=0.01)) for day in days_between(date(2026, 6, 1), date(2026, 7, 1))))
    mine, theirs = await shown(units, PREVIOUS), await shown(units, NEW)
    assert mine.from_master_data and theirs.from_master_data
    assert [t.period for t in mine.totals] == [period("2024-03-01", "2025-02-28"), *yearly]
    last = mine.totals[-1].bucket
    assert (last.start, last.end, last.wh) == (day_start(date(2026, 3, 1)), day_start(MOVED_IN), 14 * 96 * 10)
    [only] = theirs.totals
    assert (only.bucket.start, only.bucket.end, only.bucket.wh) == (day_start(MOVED_IN), day_start(TODAY), 16 * 960)
    assert (mine.first_day_with_data, theirs.first_day_with_data) == (date(2026, 6, 1), MOVED_IN)


async def test_a_partner_without_a_relation_or_values_gets_no_first_day(units: FakeUnits[FakeReadings]) -> None:
    found = await shown(units, PREVIOUS)  # no master data: no day is theirs
    assert found.totals == [] and found.first_day_with_data is None
    units.master_data.points[(TENANT, METER)] = meter_point(PREVIOUS)
    found = await shown(units, PREVIOUS)
    assert len(found.totals) == 4 and found.first_day_with_data is None
    assert all(t.bucket.present == 0 for t in found.totals)
