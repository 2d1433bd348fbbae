"""Meter data in plain Python: energy days in Europe/Berlin, slots, checks, aggregation, completeness."""

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any, NamedTuple

import orjson

from contracts.masterdata import BillingPeriod
from contracts.meterdata import (
    CONSUMPTION_INTERVAL,
    CONSUMPTION_REGISTERS,
    FEED_IN_INTERVAL,
    FEED_IN_REGISTERS,
    INTERVAL_CHANNELS,
    Quality,
)
from kit import billing
from kit.energy_day import QUARTER_HOUR, day_start, quarter_hours_of
from kit.months import add_months, month_of, months_between
from kit.validity import Relation

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


class Role(StrEnum):
    CONSUMPTION = "consumption"
    FEED_IN = "feed_in"


def interval_channel(role: str) -> str:
    return CONSUMPTION_INTERVAL if role == Role.CONSUMPTION else FEED_IN_INTERVAL


def register_channels(role: str) -> tuple[str, ...]:
    return CONSUMPTION_REGISTERS if role == Role.CONSUMPTION else FEED_IN_REGISTERS


# How long readings are kept ([8 of 11] §4). §61/§62 MsbG ask for the 15-minute series of the last 24 months and
# values per billing period for three years; billing periods are calendar years until master data names others.
# So interval days and register readings are kept for the current year and the three before it (which holds the
# 24 months), then dropped a whole month at a time (store.maintain_partitions).
YEARS_KEPT_BEFORE_THIS_ONE = 3
MONTHS_PREPARED_AHEAD = 2  # partitions exist before their month begins


def kept_since(today: date) -> date:
    """The first day whose readings are kept today: 1 January of the third year before this one. Every resolution
    reaches back to it, 15 minutes included: always more than the 24 months of 15-minute values §61 MsbG asks to
    show (36 months on 1 January, 47 on 31 December)."""
    return date(today.year - YEARS_KEPT_BEFORE_THIS_ONE, 1, 1)


@dataclass(frozen=True)
class PartitionPlan:
    """Which months of readings should have a partition today, and which partitions have to go."""

    create: tuple[date, ...]
    drop: tuple[date, ...]


def partition_plan(today: date, existing: Sequence[date]) -> PartitionPlan:
    """Every month from the first one kept to ``MONTHS_PREPARED_AHEAD`` after this one has a partition (a late or
    corrected day of any kept month has its place); partitions of months before the first one kept are dropped."""
    first = month_of(kept_since(today))
    wanted = list(months_between(first, add_months(month_of(today), MONTHS_PREPARED_AHEAD)))
    have = set(existing)
    return PartitionPlan(
        create=tuple(month for month in wanted if month not in have),
        drop=tuple(sorted(month for month in have if month < first)),
    )


# What a reading may say before it reaches the database ([7 of 11] §1), each refusal with its reason:
DAYS_AHEAD = timedelta(days=1)  # a day's readings exist once it has begun; one day of slack for clocks and zones
MAX_REVISION = 2**31 - 1  # the revision columns are PostgreSQL integers
MAX_REGISTER_KWH = 1e9  # no meter's register counts a TWh; also keeps infinity (1e400 in JSON) out of round()


def period_problem(moment: date, today: date) -> str | None:
    """A day (or a register reading's day) outside what a meter can have measured by today and is kept."""
    first, last = kept_since(today), today + DAYS_AHEAD
    if not first <= moment <= last:
        return f"{moment.isoformat()} lies outside {first.isoformat()} … {last.isoformat()} (the days kept)"
    return None


def revision_problem(revision: int) -> str | None:
    return None if 0 <= revision <= MAX_REVISION else f"revision {revision} is outside 0 … {MAX_REVISION}"


def day_problem(
    obis: str,
    day: date,
    unit: str,
    values: tuple[float | None, ...],
    qualities: tuple[Quality, ...],
    today: date,
    revision: int = 0,
) -> str | None:
    """Why a load-profile day cannot be stored (the reason goes to the dead-letter topic), or None."""
    if problem := period_problem(day, today) or revision_problem(revision):
        return problem
    if unit != "kWh":
        return f"unit {unit!r} is not kWh"
    if obis not in INTERVAL_CHANNELS:
        return f"OBIS {obis} is not a mapped interval channel ({', '.join(INTERVAL_CHANNELS)})"
    expected = quarter_hours_of(day)
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


SUBSTITUTE_CODE = QUALITY_CODES[Quality.SUBSTITUTE]


def day_totals(values_wh: list[int | None], qualities: list[int]) -> tuple[int, int, int]:
    """(Wh, values present, substitutes) of one stored day: kept next to its arrays at ingest, so that days,
    weeks, months and years add up a few numbers per day instead of unpacking every quarter hour."""
    gaps = values_wh.count(None)
    wh = sum(v for v in values_wh if v is not None) if gaps else sum(values_wh)  # type: ignore[arg-type]
    return wh, len(values_wh) - gaps, qualities.count(SUBSTITUTE_CODE)


class IntervalDay(NamedTuple):
    """One meter's channel on one energy day as stored: the arrays (Wh, quality codes), the day's totals
    (``day_totals`` of them) and, once the day is over, its entry of the 15-minute answer as JSON
    (``encoded_quarter_hour_entry``). A tuple: the store COPYs it as it is, thousands per batch."""

    tenant: str
    meter_number: str
    obis: str
    day: date
    revision: int
    values_wh: list[int | None]
    qualities: list[int]
    received_at: datetime
    total_wh: int
    present: int
    substitutes: int
    quarter_hour_entry: bytes | None


def interval_day(
    tenant: str,
    meter: str,
    obis: str,
    day: date,
    revision: int,
    values: Sequence[float | None],
    qualities: Sequence[Quality],
    received_at: datetime,
) -> IntervalDay:
    """The stored form of a checked load-profile day (kWh values and their qualities)."""
    values_wh = [to_wh(v) for v in values]
    codes = [QUALITY_CODES[q] for q in qualities]
    entry = encoded_quarter_hour_entry(day, values_wh, codes) if day_has_ended(day, received_at) else None
    totals = day_totals(values_wh, codes)
    return IntervalDay(tenant, meter, obis, day, revision, values_wh, codes, received_at, *totals, entry)


@dataclass(frozen=True)
class RegisterValue:
    """A stored register reading (Zählerstand) in Wh, with its quality code."""

    tenant: str
    meter_number: str
    obis: str
    read_at: datetime  # UTC
    value_wh: int
    quality: int
    revision: int
    runs_backwards: bool = False  # kept, but flagged: lower than an earlier reading


def register_problem(
    obis: str,
    unit: str,
    moments: Iterable[datetime],
    today: date,
    revision: int = 0,
    values: Iterable[float] = (),
) -> str | None:
    """Why register readings cannot be stored (the reason goes to the dead-letter topic), or None."""
    if problem := revision_problem(revision):
        return problem
    if unit != "kWh":
        return f"unit {unit!r} is not kWh"
    if obis not in CONSUMPTION_REGISTERS + FEED_IN_REGISTERS:
        return f"OBIS {obis} is not a mapped register"
    for moment in moments:
        # Its UTC day: register readings are stored in UTC months (the partitions retention drops).
        if problem := period_problem(moment.astimezone(UTC).date(), today):
            return f"reading at {problem}"
        if moment.minute % 15 or moment.second or moment.microsecond:
            return f"reading at {moment.isoformat()} is not on the quarter hour"
    for index, value in enumerate(values):
        if not 0 <= value <= MAX_REGISTER_KWH:  # NaN fails this too
            return f"register value {index} lies outside 0 … {MAX_REGISTER_KWH:.0f} kWh"
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


class DayTotal(NamedTuple):  # a tuple: made 366 times for each year asked for
    day: date
    wh: int
    present: int
    substitutes: int


# One stored day for the 15-minute answer: (day, Wh, qualities or None: all true values, the encoded entry). With
# the entry (a day stored after it ended) the arrays are None: they are not read.
QuarterHourDay = tuple[date, list[int | None] | None, list[int] | None, bytes | None]


def total_of(item: StoredDay) -> DayTotal:
    return DayTotal(item.day, *day_totals(item.values_wh, item.qualities))


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


Ranges = Sequence[tuple[date, date]]  # the days a partner may see: kit.validity.ranges, sorted and disjoint


def visible_buckets(
    stored: Iterable[StoredDay], ranges: Ranges, first: date, resolution: Resolution
) -> Iterator[Bucket]:
    """``buckets`` on the days a partner may see (``_split``)."""
    days = list(stored)
    return _split(ranges, first, lambda start, stop: buckets(days, start, stop, resolution))


def visible_totals(days: Iterable[DayTotal], ranges: Ranges, first: date, resolution: Resolution) -> Iterator[Bucket]:
    """``totals`` on the days a partner may see (``_split``)."""
    known = list(days)
    return _split(ranges, first, lambda start, stop: totals(known, start, stop, resolution))


def _split(ranges: Ranges, first: date, make: Callable[[date, date], Iterator[Bucket]]) -> Iterator[Bucket]:
    """The buckets of each range of days a partner may see, nothing between them: a relation that ends inside a
    week, month or year ends its bucket there, and one that begins inside it begins the bucket there (a query's
    own ``first`` keeps the calendar start, as ``totals`` has it); ``expected`` counts the partner's days only."""
    for start, stop in ranges:
        for index, bucket in enumerate(make(start, stop)):
            if index == 0 and start > first:
                bucket.start = max(bucket.start, day_start(start))
            yield bucket


def buckets(stored: Iterable[StoredDay], first: date, end: date, resolution: Resolution) -> Iterator[Bucket]:
    """Buckets from ``first`` (inclusive) to ``end`` (exclusive) on Europe/Berlin days; days without data
    count as expected but not present, so completeness stays honest."""
    if resolution not in (Resolution.QUARTER_HOUR, Resolution.HOUR):
        yield from totals((total_of(item) for item in stored), first, end, resolution)
        return
    by_day = {item.day: item for item in stored}
    day = first
    while day < end:
        yield from _fine(by_day.get(day), day_start(day), quarter_hours_of(day), resolution)
        day += timedelta(days=1)


def totals(days: Iterable[DayTotal], first: date, end: date, resolution: Resolution) -> Iterator[Bucket]:
    """Day, week, month or year buckets from per-day totals; days without a total count as expected but not
    present. Not for 15 minutes or hours. An item may also stand for several days of one bucket (the store sums
    them per bucket), dated by its first day: it is added to that day's bucket."""
    buckets: list[Bucket] = []
    stops: list[date] = []  # the day after each bucket
    day = first
    while day < end:
        start, stop_at, stop, expected = _frame(day, end, resolution)
        buckets.append(Bucket(start, stop_at, expected=expected))
        stops.append(stop)
        day = stop
    index = 0
    for day, item in sorted({item.day: item for item in days}.items()):
        if not first <= day < end:
            continue
        while day >= stops[index]:
            index += 1
        bucket = buckets[index]
        bucket.wh += item.wh
        bucket.present += item.present
        bucket.substitutes += item.substitutes
    return iter(buckets)


class StoredPeriod(NamedTuple):
    """What is stored of a partner's channel in [first, end) for one resolution: the per-day totals (day …
    year, one meter) or the days' values (15 minutes, hours, several meters), and the days of [first, end) the
    partner may see (``ranges``). Plain tuples and lists only: an export sends it to a worker process
    (services.meterdata.exports)."""

    first: date
    end: date
    resolution: Resolution
    totals: list[DayTotal] | None
    days: list[tuple[date, list[int | None], list[int]]] | None  # (day, Wh, quality codes)
    ranges: list[tuple[date, date]]


def period_buckets(period: StoredPeriod) -> Iterator[Bucket]:
    """The period's buckets at its resolution (``totals`` or ``buckets``, whichever its data allows), on the
    partner's days only."""
    if period.totals is not None:
        return visible_totals(period.totals, period.ranges, period.first, period.resolution)
    stored = (StoredDay(day, values, qualities) for day, values, qualities in period.days or ())
    return visible_buckets(stored, period.ranges, period.first, period.resolution)


def day_totals_of(period: StoredPeriod) -> list[DayTotal]:
    """The period's per-day totals as read: stored with the days (one meter), or made from the days' values
    (several meters: values added up per day)."""
    if period.totals is not None:
        return period.totals
    return [total_of(StoredDay(day, values, qualities)) for day, values, qualities in period.days or ()]


class BillingTotal(NamedTuple):
    """A billing period and what it holds of a partner's channel (``bucket``: the days counted, ``start`` … ``end``)."""

    period: BillingPeriod
    bucket: Bucket


def billing_totals(
    days: Iterable[DayTotal], periods: Iterable[BillingPeriod], ranges: Ranges, first: date, end: date
) -> list[BillingTotal]:
    """Per billing period, the energy, completeness and substitutes of its days inside [first, end) (the days kept
    and measured so far) that the partner may see (``ranges``: kit.validity.ranges); a period without such a day is
    not listed. The bucket runs from its first such day to the end of its last one: a relation that begins or ends
    inside the period, or the first day kept, shortens it, and ``expected`` counts these days only."""
    by_day = {item.day: item for item in days}
    found = []
    for period in periods:
        lo, hi = max(period.first_day, first), min(billing.end_of(period), end)
        seen = [(max(start, lo), min(stop, hi)) for start, stop in ranges if max(start, lo) < min(stop, hi)]
        if not seen:
            continue
        bucket = Bucket(day_start(seen[0][0]), day_start(seen[-1][1]))
        for start, stop in seen:
            for n in range((stop - start).days):
                day = start + timedelta(days=n)
                bucket.expected += quarter_hours_of(day)
                if (item := by_day.get(day)) is not None:
                    bucket.wh += item.wh
                    bucket.present += item.present
                    bucket.substitutes += item.substitutes
        found.append(BillingTotal(period, bucket))
    return found


class MeterWindow(NamedTuple):
    """A relation's days as instants, for register readings: [since, until), None where open."""

    meter_number: str
    since: datetime | None
    until: datetime | None


def windows(relations: Iterable[Relation]) -> list[MeterWindow]:
    """Register readings belong to the energy day they are read in: the reading at 00:00 of a new partner's
    first day is theirs, the previous partner's last one is the reading before it."""
    return [
        MeterWindow(
            r.meter_number,
            day_start(r.first) if r.first is not None else None,
            day_start(r.end) if r.end is not None else None,
        )
        for r in relations
    ]


def kwh_of(wh: int, present: int) -> float | None:
    """A bucket's energy in kWh (3 decimals) as shown and exported; None when it holds no value."""
    return round(wh / 1000, 3) if present else None


@lru_cache(maxsize=16384)
def _frame(day: date, end: date, resolution: Resolution) -> tuple[datetime, datetime, date, int]:
    """The bucket that ``day`` opens: its start and end (UTC), the day after it, the values expected from
    ``day`` on. A bucket starts where its calendar period starts and ends at ``end`` at the latest."""
    period_start, period_end = _period_of(day, resolution)
    stop = min(period_end, end)
    expected = sum(quarter_hours_of(day + timedelta(days=n)) for n in range((stop - day).days))
    return day_start(period_start), day_start(stop), stop, expected


def _fine(item: StoredDay | None, start: datetime, slots: int, resolution: Resolution) -> Iterator[Bucket]:
    per = 1 if resolution == Resolution.QUARTER_HOUR else 4  # Berlin's offsets are whole hours
    length = QUARTER_HOUR * per
    if item is None:
        for index in range(0, slots, per):
            begin = start + QUARTER_HOUR * index
            yield Bucket(begin, begin + length, expected=per)
        return
    values, qualities = item.values_wh, item.qualities
    for index in range(0, slots, per):
        begin = start + QUARTER_HOUR * index
        chunk = values[index : index + per]
        gaps = chunk.count(None)
        yield Bucket(
            begin,
            begin + length,
            wh=sum(v for v in chunk if v is not None) if gaps else sum(chunk),  # type: ignore[arg-type]
            present=per - gaps,
            expected=per,
            # an empty value is always Z30 (day_problem), so counting the codes counts substitute values
            substitutes=qualities[index : index + per].count(SUBSTITUTE_CODE),
            quality=qualities[index] if per == 1 else None,
        )


# --- the 15-minute answer: one entry per day ----------------------------------------------------------------
# A year of 15-minute values is 35,040 numbers to divide and format on every request, yet a day that is over
# only changes by a correction. So a day stored after it ended keeps its entry encoded next to its arrays (column
# ``quarter_hour_entry``, written by the same upsert as the arrays): a correction (higher revision) replaces
# both in one row, a lower one changes neither, and the entry is read only through the statement that selects a
# partner's days (kit.validity), so it can be neither stale nor another partner's. A day still running is sent
# again and again during the day: it is encoded per request instead. Kept in the row rather than in memory: it
# holds for every process and after restarts, and needs no bound or eviction. If this entry's shape changes, a
# migration must clear the column (the API would otherwise answer the old shape for the days stored before).

QUALITY_VALUES = [QUALITY_OF_CODE[code].value for code in range(len(QUALITY_OF_CODE))]  # code → MSCONS qualifier
_TRUE = Quality.TRUE_VALUE.value
_MISSING = Quality.MISSING.value


def day_has_ended(day: date, moment: datetime) -> bool:
    """Whether the energy day is over at ``moment``: only then is a day's 15-minute entry kept encoded."""
    return moment >= day_start(day + timedelta(days=1))


def quarter_hour_entry(day: date, values_wh: Sequence[int | None], codes: Sequence[int] | None) -> dict[str, Any]:
    """A day's entry of the 15-minute answer: its start (UTC) and its 92/96/100 values (kWh, null where none)
    and qualities (MSCONS codes) — one code for the whole day when all values share it (most days: all true
    values), else one per value. ``codes`` None: all are true values (so none is empty: an empty value is
    always Z30), which spares checking them."""
    if codes is None:
        kwh: list[float | None] = [v / 1000 for v in values_wh]  # type: ignore[operator]
        quality: str | list[str] = _TRUE
    else:
        kwh = [None if v is None else v / 1000 for v in values_wh]
        quality = (
            QUALITY_VALUES[codes[0]] if codes.count(codes[0]) == len(codes) else [QUALITY_VALUES[q] for q in codes]
        )
    return {"day": day, "start": day_start(day), "interval_minutes": 15, "kwh": kwh, "quality": quality}


def encoded_quarter_hour_entry(day: date, values_wh: Sequence[int | None], codes: Sequence[int] | None) -> bytes:
    """``quarter_hour_entry`` as the JSON the answer holds (orjson, as the API encodes its whole answer)."""
    return orjson.dumps(quarter_hour_entry(day, values_wh, codes))


@lru_cache(maxsize=4096)
def encoded_day_without_data(day: date) -> bytes:
    """The entry of a day the partner may see but nothing is stored for: all values null, all Z30."""
    slots = quarter_hours_of(day)
    return orjson.dumps(
        {"day": day, "start": day_start(day), "interval_minutes": 15, "kwh": [None] * slots, "quality": _MISSING}
    )


def encoded_quarter_hour_entries(days: Iterable[QuarterHourDay], ranges: Ranges) -> list[bytes]:
    """One encoded entry per Europe/Berlin day the partner may see (``ranges``: kit.validity.ranges of the
    period), in order: the stored one where the day was kept encoded, else encoded now."""
    by_day = {item[0]: item for item in days}
    entries = []
    one = timedelta(days=1)
    for first, end in ranges:
        day = first
        while day < end:
            item = by_day.get(day)
            if item is None:
                entries.append(encoded_day_without_data(day))
            elif item[3] is not None:
                entries.append(item[3])
            else:
                values = item[1]
                assert values is not None  # the store reads the arrays of every day it has no entry for
                entries.append(encoded_quarter_hour_entry(day, values, item[2]))
            day += one
    return entries


# --- received MSCONS interchanges and their answers ----------------------------------------------------------


@dataclass(frozen=True)
class MessageRefused:
    """A message of a received interchange refused for an application reason, as kept with the interchange: ids
    and codes only (the reader's reason may name a location, and stays in no table)."""

    interchange: str  # UNB 0020
    message: str  # UNH 0062
    document: str  # BGM 1004
    code: str  # the reader's code, e.g. location_unknown
    tag: str  # the segment at fault
    index: int  # its index in the file


@dataclass(frozen=True)
class AnswerSent:
    """A CONTRL or APERAK written for the sender (published by the outbox)."""

    kind: str  # CONTRL | APERAK
    reference: str  # the answer's UNB 0020
    accepted: bool  # CONTRL: acknowledged (UCI 7); APERAK: False
    messages: tuple[str, ...]  # APERAK: the refused messages' references (UNH 0062); CONTRL: ()
    at: datetime


@dataclass(frozen=True)
class ReceivedInterchange:
    """An MSCONS file as received (once per tenant and content), what was accepted and refused, and the answers.

    ``accepted``/``refused`` name messages as "<interchange reference>/<message reference>"."""

    id: str
    tenant: str
    digest: str  # SHA-256 of the file: the same file delivered again is the same interchange
    received_at: datetime
    sender: str = ""
    receiver: str = ""
    reference: str = ""
    pruefidentifikatoren: tuple[str, ...] = ()
    accepted: tuple[str, ...] = ()
    refused: tuple[MessageRefused, ...] = ()
    syntax_error: str | None = None  # "<code 0085> <segment> (segment <index>)": the whole file was rejected
    answers: tuple[AnswerSent, ...] = ()
    processed_at: datetime | None = None
    reprocessed: int = 0  # how often a clerk had it processed again

    @property
    def not_reprocessable(self) -> str | None:
        """Why processing it again could change nothing (in German, for the clerk), or None when it could."""
        if self.syntax_error is not None:
            return (
                "Die Datei wurde wegen eines Syntaxfehlers abgelehnt (CONTRL). "
                "Der Absender muss sie berichtigt neu senden."
            )
        if not self.refused:
            return "In dieser Übertragungsdatei ist keine Nachricht abgelehnt: nichts zu verarbeiten."
        return None

    @property
    def syntax_code(self) -> str | None:
        """Rejected: the syntax error code (UN/EDIFACT 0085) the CONTRL named."""
        return None if self.syntax_error is None else self.syntax_error.split(" ", 1)[0]

    @property
    def status(self) -> str:
        """rejected (syntax), refused (every message), partly_refused, or accepted."""
        if self.syntax_error is not None:
            return "rejected"
        if self.refused and not self.accepted:
            return "refused"
        return "partly_refused" if self.refused else "accepted"


@dataclass(frozen=True)
class GrantAccess:
    """What a third party read with a customer's grant (contracts.consent): logged, shown to the customer."""

    tenant: str
    grant_id: str
    client_id: str
    partner_number: str
    at: datetime
    what: str  # the route's name: intervals | registers
    resolution: str
    first: date
    end: date
