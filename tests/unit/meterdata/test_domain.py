from datetime import UTC, date, datetime

import pytest

from contracts.meterdata import Quality
from kit.energy_day import day_start, quarter_hours_of
from services.meterdata.domain import (
    QUALITY_CODES,
    DayTotal,
    Resolution,
    StoredDay,
    buckets,
    day_problem,
    day_totals,
    kept_since,
    partition_plan,
    register_problem,
    running_backwards,
    totals,
    visible_buckets,
    visible_totals,
)

SPRING, AUTUMN, NORMAL = date(2026, 3, 29), date(2026, 10, 25), date(2026, 6, 1)
TRUE = QUALITY_CODES[Quality.TRUE_VALUE]


def day(d: date, wh: int = 100) -> StoredDay:
    return StoredDay(d, [wh] * quarter_hours_of(d), [TRUE] * quarter_hours_of(d))


@pytest.mark.parametrize(("d", "hours"), [(SPRING, 23), (NORMAL, 24), (AUTUMN, 25)])
def test_hours_follow_local_time_on_dst_days(d: date, hours: int) -> None:
    result = list(buckets([day(d)], d, date.fromordinal(d.toordinal() + 1), Resolution.HOUR))
    assert len(result) == hours
    assert all(b.wh == 400 and b.present == 4 for b in result)


def test_day_week_month_and_year_totals_with_honest_completeness() -> None:
    stored = [day(date(2026, 10, n)) for n in range(1, 32) if n != 7]  # the 7th is missing
    [month] = buckets(stored, date(2026, 10, 1), date(2026, 11, 1), Resolution.MONTH)
    expected = 31 * 96 + 4  # October has the 100-quarter-hour day
    assert month.expected == expected and month.present == expected - 96
    assert month.wh == (expected - 96) * 100
    weeks = list(buckets(stored, date(2026, 10, 1), date(2026, 11, 1), Resolution.WEEK))
    assert weeks[0].start == datetime(2026, 9, 27, 22, 0, tzinfo=UTC)  # the week of Monday 28 Sep (local)
    assert sum(w.present for w in weeks) == month.present
    [year] = buckets(stored, date(2026, 1, 1), date(2027, 1, 1), Resolution.YEAR)
    assert year.expected == 35_040 and year.present == month.present


def test_quarter_hours_carry_their_quality_and_gaps_stay_visible() -> None:
    stored = StoredDay(
        NORMAL,
        [None, 250] + [100] * 94,
        [QUALITY_CODES[Quality.MISSING], QUALITY_CODES[Quality.SUBSTITUTE]] + [TRUE] * 94,
    )
    first, second, *_ = buckets([stored], NORMAL, date(2026, 6, 2), Resolution.QUARTER_HOUR)
    assert (first.present, first.quality) == (0, QUALITY_CODES[Quality.MISSING])
    assert (second.wh, second.substitutes) == (250, 1)


TODAY = date(2026, 12, 3)


def test_bad_days_are_refused_with_a_reason() -> None:
    ok = (0.1,) * 96, (Quality.TRUE_VALUE,) * 96
    assert day_problem("1-1:1.29.0", NORMAL, "kWh", *ok, TODAY) is None
    assert "kvarh" in (day_problem("1-1:1.29.0", NORMAL, "kvarh", *ok, TODAY) or "")
    assert "3.29.0" in (day_problem("1-1:3.29.0", NORMAL, "kWh", *ok, TODAY) or "")
    assert "92 quarter hours" in (day_problem("1-1:1.29.0", SPRING, "kWh", *ok, TODAY) or "")
    negative = ((-0.1,) + (0.1,) * 95, ok[1])
    assert "negative" in (day_problem("1-1:1.29.0", NORMAL, "kWh", *negative, TODAY) or "")
    empty_true = ((None,) + (0.1,) * 95, ok[1])
    assert "Z30" in (day_problem("1-1:1.29.0", NORMAL, "kWh", *empty_true, TODAY) or "")
    # Before they reach the database: days a meter cannot have measured by today or that are no longer kept (the
    # current year and the three before), revisions beyond the column.
    assert "outside 2023-01-01" in (day_problem("1-1:1.29.0", date(2022, 12, 31), "kWh", *ok, TODAY) or "")
    assert day_problem("1-1:1.29.0", date(2023, 1, 2), "kWh", *ok, TODAY) is None
    assert "outside" in (day_problem("1-1:1.29.0", date(2026, 12, 5), "kWh", *ok, TODAY) or "")
    assert day_problem("1-1:1.29.0", date(2026, 12, 4), "kWh", *ok, TODAY) is None  # tomorrow: clocks and zones
    assert "revision" in (day_problem("1-1:1.29.0", NORMAL, "kWh", *ok, TODAY, 2**40) or "")
    far = datetime(9999, 12, 31, 22, 0, tzinfo=UTC)
    assert "outside" in (register_problem("1-1:1.8.0", "kWh", [far], TODAY) or "")
    assert "revision" in (register_problem("1-1:1.8.0", "kWh", [], TODAY, -1) or "")


def test_register_readings_off_the_quarter_hour_are_refused_and_backwards_ones_flagged() -> None:
    assert register_problem("1-1:1.8.0", "kWh", [datetime(2026, 6, 1, 22, 0, tzinfo=UTC)], TODAY) is None
    assert "quarter hour" in (
        register_problem("1-1:1.8.0", "kWh", [datetime(2026, 6, 1, 22, 7, tzinfo=UTC)], TODAY) or ""
    )
    assert running_backwards(1000, [1200, 1100, 1300]) == [False, True, False]


def test_day_totals_stored_at_ingest_give_the_same_buckets_as_the_values() -> None:
    gap = StoredDay(
        NORMAL,
        [None, 250] + [100] * 94,
        [QUALITY_CODES[Quality.MISSING], QUALITY_CODES[Quality.SUBSTITUTE]] + [TRUE] * 94,
    )
    assert day_totals(gap.values_wh, gap.qualities) == (250 + 9400, 95, 1)
    stored = [gap, day(SPRING), day(AUTUMN)]
    stored_totals = [DayTotal(s.day, *day_totals(s.values_wh, s.qualities)) for s in stored]
    for resolution in (Resolution.DAY, Resolution.WEEK, Resolution.MONTH, Resolution.YEAR):
        first, end = date(2026, 1, 1), date(2027, 1, 1)
        assert list(totals(stored_totals, first, end, resolution)) == list(buckets(stored, first, end, resolution))
    [year] = totals(stored_totals, date(2026, 1, 1), date(2027, 1, 1), Resolution.YEAR)
    assert (year.expected, year.present, year.substitutes) == (35_040, 95 + 92 + 100, 1)


def test_month_totals_of_a_period_that_starts_and_ends_inside_a_month() -> None:
    first, end = date(2026, 3, 15), date(2026, 11, 10)
    stored = [
        DayTotal(date(2026, 3, 20), 1000, 96, 0),
        DayTotal(date(2026, 3, 29), 500, 92, 2),  # spring DST day
        DayTotal(date(2026, 11, 9), 7, 96, 0),
        DayTotal(date(2026, 11, 10), 99, 96, 0),  # `end` is exclusive
        DayTotal(date(2026, 3, 14), 99, 96, 0),  # before `first`
    ]
    months = list(totals(stored, first, end, Resolution.MONTH))
    assert [b.start for b in months] == [day_start(date(2026, month, 1)) for month in range(3, 12)]
    assert months[0].start == datetime(2026, 2, 28, 23, tzinfo=UTC)  # calendar month, Berlin midnight
    assert [b.end for b in months[:-1]] == [b.start for b in months[1:]]
    assert months[-1].end == day_start(end)
    assert months[0].expected == 17 * 96 - 4  # 15 … 31 March, 29 March has 92 values
    assert months[7].expected == 31 * 96 + 4  # October, 25 October has 100
    assert months[-1].expected == 9 * 96  # 1 … 9 November
    assert (months[0].wh, months[0].present, months[0].substitutes) == (1500, 188, 2)
    assert (months[-1].wh, months[-1].present) == (7, 96)
    assert sum(b.wh for b in months) == 1507


def test_the_partition_plan_keeps_the_current_year_and_the_three_before_and_prepares_two_months() -> None:
    existing = [date(2022, 11, 1), date(2022, 12, 1), date(2023, 1, 1), date(2026, 12, 1)]
    plan = partition_plan(date(2026, 12, 3), existing)
    assert plan.drop == (date(2022, 11, 1), date(2022, 12, 1))
    assert plan.create[0] == date(2023, 2, 1) and plan.create[-1] == date(2027, 2, 1)
    assert date(2026, 12, 1) not in plan.create and len(plan.create) == 48  # 2023-01 … 2027-02 but the two there
    assert kept_since(date(2027, 1, 1)) == date(2024, 1, 1)


MOVED_IN = date(2026, 6, 15)  # the previous partner's last day is the 14th


def test_a_relation_that_ends_or_begins_inside_a_month_splits_it_at_that_day() -> None:
    june, july = date(2026, 6, 1), date(2026, 7, 1)
    stored = [DayTotal(date(2026, 6, n), 1000 * n, 96, 0) for n in range(1, 31)]
    [previous] = visible_totals(stored, [(june, MOVED_IN)], june, Resolution.MONTH)
    assert (previous.start, previous.end) == (day_start(june), day_start(MOVED_IN))
    assert (previous.wh, previous.present, previous.expected) == (1000 * sum(range(1, 15)), 14 * 96, 14 * 96)
    [new] = visible_totals(stored, [(MOVED_IN, july)], june, Resolution.MONTH)
    assert (new.start, new.end) == (day_start(MOVED_IN), day_start(july))
    assert (new.wh, new.present, new.expected) == (1000 * sum(range(15, 31)), 16 * 96, 16 * 96)
    # The year and the week split alike; the week of Monday 15 June is the new partner's whole.
    [year] = visible_totals(stored, [(MOVED_IN, date(2027, 1, 1))], date(2026, 1, 1), Resolution.YEAR)
    assert year.start == day_start(MOVED_IN) and year.expected == sum(
        quarter_hours_of(date.fromordinal(n)) for n in range(MOVED_IN.toordinal(), date(2027, 1, 1).toordinal())
    )
    weeks = list(visible_totals(stored, [(june, MOVED_IN)], june, Resolution.WEEK))
    assert [w.end for w in weeks] == [day_start(date(2026, 6, 8)), day_start(MOVED_IN)]


def test_days_outside_every_relation_are_no_buckets_at_all() -> None:
    june = date(2026, 6, 1)
    stored = [day(date(2026, 6, n)) for n in range(1, 31)]
    ranges = [(date(2026, 6, 3), date(2026, 6, 5)), (date(2026, 6, 20), date(2026, 6, 21))]
    days = list(visible_buckets(stored, ranges, june, Resolution.DAY))
    assert [b.start for b in days] == [day_start(date(2026, 6, n)) for n in (3, 4, 20)]
    hours = list(visible_buckets(stored, ranges, june, Resolution.HOUR))
    assert len(hours) == 3 * 24 and hours[48].start == day_start(date(2026, 6, 20))
    assert list(visible_buckets(stored, [], june, Resolution.MONTH)) == []
