"""The energy day: a calendar day in Europe/Berlin, from 00:00 to 00:00 local time.

Meter readings are kept per energy day in quarter hours: 96 on a normal day, 92 on the last Sunday of March
(the clock skips 02:00–03:00), 100 on the last Sunday of October (02:00–03:00 comes twice). Plain Python, no
I/O: the services and the back-office tools share it. The functions are cached, as the ingest and MSCONS
paths ask them for the same few days again and again.
"""

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

BERLIN = ZoneInfo("Europe/Berlin")
QUARTER_HOUR = timedelta(minutes=15)
QUARTER_HOUR_SECONDS = 900

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


@lru_cache(maxsize=8192)
def day_start(day: date) -> datetime:
    """00:00 Europe/Berlin of ``day``, in UTC."""
    return datetime(day.year, day.month, day.day, tzinfo=BERLIN).astimezone(UTC)


@lru_cache(maxsize=8192)
def quarter_hours_of(day: date) -> int:
    """96 on a normal day, 92 on the last Sunday of March, 100 on the last Sunday of October."""
    return int((day_start(day + timedelta(days=1)) - day_start(day)) / QUARTER_HOUR)


def quarter_hour_starts(day: date) -> list[datetime]:
    """The start (UTC) of each of the day's quarter hours."""
    start = day_start(day)
    return [start + QUARTER_HOUR * i for i in range(quarter_hours_of(day))]


@lru_cache(maxsize=8192)
def epoch_bounds(day: date) -> tuple[int, int]:
    """The day's start as UTC epoch seconds, and its number of quarter hours (92, 96 or 100)."""
    return int(day_start(day).timestamp()), quarter_hours_of(day)


def day_of(moment: datetime) -> date:
    """The energy day an instant (with time zone) lies in."""
    return moment.astimezone(BERLIN).date()


def day_of_epoch(epoch: int) -> date:
    """The energy day of an instant given as UTC epoch seconds (the MSCONS reader's hot path: no datetime)."""
    # The UTC date one hour later is right but for two hours a day in summer; correct with the bounds.
    guess = date.fromordinal(_EPOCH_ORDINAL + (epoch + 3600) // 86_400)
    start, quarter_hours = epoch_bounds(guess)
    if epoch < start:
        return guess - timedelta(days=1)
    if epoch >= start + quarter_hours * QUARTER_HOUR_SECONDS:
        return guess + timedelta(days=1)
    return guess
