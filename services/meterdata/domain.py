"""Meter data in plain Python: energy days in Europe/Berlin, slots, checks, aggregation, completeness."""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from contracts.meterdata import (
    CONSUMPTION_INTERVAL,
    CONSUMPTION_REGISTERS,
    FEED_IN_INTERVAL,
    FEED_IN_REGISTERS,
    INTERVAL_CHANNELS,
    Quality,
)

BERLIN = ZoneInfo("Europe/Berlin")
SLOT = timedelta(minutes=15)

# Qualities are stored as small integers (one smallint per value).
QUALITY_CODES: dict[Quality, int] = {
    Quality.MISSING: 0,
    Quality.TRUE_VALUE: 1,
    Quality.SUBSTITUTE: 2,
    Quality.PROPOSED: 3,
    Quality.UNUSABLE: 4,
    Quality.FORECAST: 5,
    Quality.PRELIMINARY: 6,
}
QUALITY_OF_CODE = {code: quality for quality, code in QUALITY_CODES.items()}
QUALITY_NAMES = {
    Quality.TRUE_VALUE: "gemessen",
    Quality.SUBSTITUTE: "Ersatzwert",
    Quality.PROPOSED: "Vorschlagswert",
    Quality.UNUSABLE: "unbrauchbar",
    Quality.FORECAST: "Prognose",
    Quality.PRELIMINARY: "vorläufig",
    Quality.MISSING: "fehlt",
}


def day_start(day: date) -> datetime:
    """00:00 Europe/Berlin of ``day``, in UTC."""
    return datetime(day.year, day.month, day.day, tzinfo=BERLIN).astimezone(UTC)


def slots_of(day: date) -> int:
    """96 on a normal day, 92 on the last Sunday of March, 100 on the last Sunday of October."""
    return int((day_start(day + timedelta(days=1)) - day_start(day)) / SLOT)


def slot_starts(day: date) -> list[datetime]:
    start = day_start(day)
    return [start + SLOT * i for i in range(slots_of(day))]


def energy_day_of(moment: datetime) -> date:
    return moment.astimezone(BERLIN).date()


class Role(StrEnum):
    CONSUMPTION = "consumption"
    FEED_IN = "feed_in"


def interval_channel(role: str) -> str:
    return CONSUMPTION_INTERVAL if role == Role.CONSUMPTION else FEED_IN_INTERVAL


def register_channels(role: str) -> tuple[str, ...]:
    return CONSUMPTION_REGISTERS if role == Role.CONSUMPTION else FEED_IN_REGISTERS


def day_problem(
    obis: str, day: date, unit: str, values: tuple[float | None, ...], qualities: tuple[Quality, ...]
) -> str | None:
    """Why a load-profile day cannot be stored (the reason goes to the dead-letter topic), or None."""
    if unit != "kWh":
        return f"unit {unit!r} is not kWh"
    if obis not in INTERVAL_CHANNELS:
        return f"OBIS {obis} is not a mapped interval channel ({', '.join(INTERVAL_CHANNELS)})"
    expected = slots_of(day)
    if len(values) != expected or len(qualities) != expected:
        return (
            f"{day} has {expected} quarter hours in Europe/Berlin, got {len(values)} values/{len(qualities)} qualities"
        )
    for index, (value, quality) in enumerate(zip(values, qualities, strict=True)):
        if value is None and quality != Quality.MISSING:
            return f"value {index} is empty but its quality is {quality.value}, not Z30"
        if value is not None and value < 0:
            return f"value {index} is negative"
        if value is not None and value > 1000:
            return f"value {index} ({value} kWh in 15 minutes) is implausible for a household meter"
    return None


def to_wh(value: float | None) -> int | None:
    return None if value is None else round(value * 1000)


def register_problem(obis: str, unit: str, moments: Iterable[datetime]) -> str | None:
    if unit != "kWh":
        return f"unit {unit!r} is not kWh"
    if obis not in CONSUMPTION_REGISTERS + FEED_IN_REGISTERS:
        return f"OBIS {obis} is not a mapped register"
    for moment in moments:
        if moment.minute % 15 or moment.second or moment.microsecond:
            return f"reading at {moment.isoformat()} is not on the quarter hour"
    return None


def running_backwards(previous_wh: int | None, values_wh: list[int]) -> list[bool]:
    """Per reading: does it lie below the one before? Such readings are kept but flagged."""
    flags, last = [], previous_wh
    for value in values_wh:
        flags.append(last is not None and value < last)
        last = value if last is None or value >= last else last
    return flags


# --- serving ---------------------------------------------------------------------------------------------


class Resolution(StrEnum):
    QUARTER_HOUR = "15min"
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"


@dataclass(frozen=True)
class StoredDay:
    day: date
    values_wh: list[int | None]
    qualities: list[int]


@dataclass
class Bucket:
    start: datetime  # UTC
    end: datetime
    wh: int = 0
    present: int = 0
    expected: int = 0
    substitutes: int = 0
    quality: int | None = None  # 15-minute buckets only


def _period_of(day: date, resolution: Resolution) -> tuple[date, date]:
    if resolution == Resolution.DAY:
        return day, day + timedelta(days=1)
    if resolution == Resolution.WEEK:
        monday = day - timedelta(days=day.weekday())
        return monday, monday + timedelta(days=7)
    if resolution == Resolution.MONTH:
        first = day.replace(day=1)
        return first, (first + timedelta(days=32)).replace(day=1)
    first = date(day.year, 1, 1)
    return first, date(day.year + 1, 1, 1)


def buckets(stored: Iterable[StoredDay], first: date, end: date, resolution: Resolution) -> Iterator[Bucket]:
    """Buckets from ``first`` (inclusive) to ``end`` (exclusive) on Europe/Berlin days; days without data
    count as expected but not present, so completeness stays honest."""
    by_day = {item.day: item for item in stored}
    current: Bucket | None = None
    day = first
    while day < end:
        item = by_day.get(day)
        starts = slot_starts(day)
        if resolution in (Resolution.QUARTER_HOUR, Resolution.HOUR):
            yield from _fine(item, starts, resolution)
        else:
            period_start, period_end = _period_of(day, resolution)
            if current is None or current.start != day_start(period_start):
                if current is not None:
                    yield current
                current = Bucket(day_start(period_start), day_start(min(period_end, end)))
            _add_day(current, item, len(starts))
        day += timedelta(days=1)
    if current is not None:
        yield current


def _add_day(bucket: Bucket, item: StoredDay | None, slots: int) -> None:
    bucket.expected += slots
    if item is None:
        return
    for value, quality in zip(item.values_wh, item.qualities, strict=False):
        if value is not None:
            bucket.wh += value
            bucket.present += 1
            bucket.substitutes += quality == QUALITY_CODES[Quality.SUBSTITUTE]


def _fine(item: StoredDay | None, starts: list[datetime], resolution: Resolution) -> Iterator[Bucket]:
    per = 1 if resolution == Resolution.QUARTER_HOUR else 4  # Berlin's offsets are whole hours
    for index in range(0, len(starts), per):
        bucket = Bucket(starts[index], starts[index] + SLOT * per, expected=per)
        if item is not None:
            for slot in range(index, index + per):
                value, quality = item.values_wh[slot], item.qualities[slot]
                if value is not None:
                    bucket.wh += value
                    bucket.present += 1
                    bucket.substitutes += quality == QUALITY_CODES[Quality.SUBSTITUTE]
            if per == 1:
                bucket.quality = item.qualities[index]
        yield bucket
