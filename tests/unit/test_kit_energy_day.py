"""The energy day (kit.energy_day): Europe/Berlin days in UTC, with 92, 96 or 100 quarter hours."""

from datetime import UTC, date, datetime, timedelta

import pytest

from kit.energy_day import (
    BERLIN,
    day_of,
    day_of_epoch,
    day_start,
    epoch_bounds,
    quarter_hour_starts,
    quarter_hours_of,
)

NORMAL_WINTER, NORMAL_SUMMER = date(2026, 1, 15), date(2026, 6, 1)
SPRING, AUTUMN = date(2026, 3, 29), date(2026, 10, 25)  # last Sundays of March and October
LEAP = date(2028, 2, 29)


@pytest.mark.parametrize(
    ("day", "start", "quarter_hours"),
    [
        (NORMAL_WINTER, datetime(2026, 1, 14, 23, 0, tzinfo=UTC), 96),  # 00:00 CET
        (NORMAL_SUMMER, datetime(2026, 5, 31, 22, 0, tzinfo=UTC), 96),  # 00:00 CEST
        (SPRING, datetime(2026, 3, 28, 23, 0, tzinfo=UTC), 92),  # 02:00–03:00 is skipped
        (AUTUMN, datetime(2026, 10, 24, 22, 0, tzinfo=UTC), 100),  # 02:00–03:00 comes twice
        (LEAP, datetime(2028, 2, 28, 23, 0, tzinfo=UTC), 96),
    ],
)
def test_a_day_starts_at_berlin_midnight_and_has_its_quarter_hours(
    day: date, start: datetime, quarter_hours: int
) -> None:
    assert day_start(day) == start
    assert quarter_hours_of(day) == quarter_hours
    assert epoch_bounds(day) == (int(start.timestamp()), quarter_hours)
    starts = quarter_hour_starts(day)
    assert len(starts) == quarter_hours
    assert starts[0] == start
    assert starts[-1] + timedelta(minutes=15) == day_start(day + timedelta(days=1))


def test_the_leap_day_lies_between_the_28th_and_the_1st() -> None:
    assert day_start(LEAP) - day_start(date(2028, 2, 28)) == timedelta(hours=24)
    assert day_start(date(2028, 3, 1)) - day_start(LEAP) == timedelta(hours=24)


@pytest.mark.parametrize("day", [NORMAL_WINTER, NORMAL_SUMMER, SPRING, AUTUMN, LEAP])
def test_every_quarter_hour_of_a_day_belongs_to_that_day_and_no_other(day: date) -> None:
    start, quarter_hours = epoch_bounds(day)
    for epoch in range(start, start + quarter_hours * 900, 900):
        assert day_of_epoch(epoch) == day
        assert day_of(datetime.fromtimestamp(epoch, UTC)) == day
    assert day_of_epoch(start - 1) == day - timedelta(days=1)
    assert day_of_epoch(start + quarter_hours * 900) == day + timedelta(days=1)


def test_the_repeated_autumn_hour_is_counted_twice() -> None:
    starts = quarter_hour_starts(AUTUMN)
    local_clock = [s.astimezone(BERLIN).strftime("%H:%M") for s in starts]
    assert local_clock.count("02:00") == 2
    assert len(set(starts)) == 100
