"""The partner statements of meter data's HTTP API on PostgreSQL (store.PartnerQueries).

15 minutes: the statement reads a day's kept entry instead of its arrays, a correction replaces it in the same
upsert (an older revision does not), a day stored while it ran comes as arrays, and where two meters may hold a day
(a meter change) every day comes as arrays; the answer is what the arrays give. Days … years: the totals summed
per bucket in the statement give the buckets the days give, split where a relation ends or begins, across DST days
and year ends."""

from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
import pytest

from contracts.common import PartnerRole
from contracts.masterdata import MeterPointRecorded, PartnerOfRecord
from contracts.meterdata import Quality
from kit import validity
from kit.db import Database
from kit.energy_day import day_start, quarter_hours_of
from kit.uow import UnitsOfWork
from services.meterdata import domain, handlers
from services.meterdata.store import MeterdataStore, PartnerQueries
from tests.unit.examples import HOME
from tests.unit.fakes import FakeClock

pytestmark = pytest.mark.stack
TENANT, OBIS, PARTNER = "000328", "1-1:1.29.0", "3236513735"
OLD_METER, NEW_METER = "1EMH0005939068", "1EMH0005939069"
CHANGE = date(2026, 6, 10)  # the new meter is fitted during this day: both meters hold some of its values
BEFORE, AFTER = CHANGE - timedelta(days=1), CHANGE + timedelta(days=1)
END = AFTER + timedelta(days=1)


def point(meter: str, *partners: tuple[str, date | None, date | None]) -> MeterPointRecorded:
    return MeterPointRecorded(
        meter_number=meter,
        connection_address=HOME,
        recorded_at=datetime(2026, 6, 1, tzinfo=UTC),
        partners=tuple(
            PartnerOfRecord(
                partner_number=number,
                role=PartnerRole.CONSUMPTION,
                name="Erika Mustermann",
                postal_address=HOME,
                valid_from=valid_from,
                valid_to=valid_to,
            )
            for number, valid_from, valid_to in partners
        ),
    )


def day_of(meter: str, day: date, kwh: float | None, at: datetime, revision: int = 0) -> domain.IntervalDay:
    n = quarter_hours_of(day)
    quality = Quality.MISSING if kwh is None else Quality.TRUE_VALUE
    return domain.interval_day(TENANT, meter, OBIS, day, revision, [kwh] * n, [quality] * n, at)


def ended(day: date) -> datetime:
    return day_start(day + timedelta(days=1)) + timedelta(hours=2)


async def answer(db: Database, first: date, end: date) -> list[dict[str, Any]]:
    days, relations = await PartnerQueries(db).quarter_hours(TENANT, PARTNER, "consumption", OBIS, first, end)
    ranges = validity.ranges(relations, first, end)
    return [orjson.loads(entry) for entry in domain.encoded_quarter_hour_entries(days, ranges)]


async def test_kept_entries_corrections_running_days_and_a_meter_change(meterdata_db: Database) -> None:
    units = UnitsOfWork(meterdata_db, MeterdataStore, clock=FakeClock(ended(AFTER)))
    async with units() as uow:
        await handlers.maintain_partitions(handlers.MaintainPartitions(), uow)  # this clock's months
        await uow.master_data.record(TENANT, point(OLD_METER, (PARTNER, None, CHANGE)))
        await uow.master_data.record(TENANT, point(NEW_METER, (PARTNER, CHANGE, None)))  # both on CHANGE
        await uow.store.upsert_days(
            [
                day_of(OLD_METER, BEFORE, 0.1, ended(BEFORE)),
                day_of(OLD_METER, CHANGE, 0.2, ended(CHANGE)),
                day_of(NEW_METER, CHANGE, 0.05, ended(CHANGE)),
                day_of(NEW_METER, AFTER, 0.3, day_start(AFTER) + timedelta(hours=12)),  # stored while it ran
            ]
        )
    queries = PartnerQueries(meterdata_db)

    # One meter in the period: kept entries instead of arrays; a day stored while it ran comes as arrays.
    [(_, values, _, entry)], _ = await queries.quarter_hours(TENANT, PARTNER, "consumption", OBIS, BEFORE, CHANGE)
    assert values is None and entry is not None
    [(_, values, _, entry)], _ = await queries.quarter_hours(TENANT, PARTNER, "consumption", OBIS, AFTER, END)
    assert values == [300] * 96 and entry is None

    # Both meters hold CHANGE: every day's arrays, and the values of that day add up.
    days, _ = await queries.quarter_hours(TENANT, PARTNER, "consumption", OBIS, BEFORE, END)
    assert [(item[0], item[1] is not None, item[3]) for item in days] == [
        (d, True, None) for d in (BEFORE, CHANGE, AFTER)
    ]
    first = await answer(meterdata_db, BEFORE, END)
    assert [(e["day"], e["kwh"][0], e["quality"]) for e in first] == [
        (BEFORE.isoformat(), 0.1, "220"),
        (CHANGE.isoformat(), 0.25, "220"),
        (AFTER.isoformat(), 0.3, "220"),
    ]
    assert (await answer(meterdata_db, BEFORE, CHANGE)) == first[:1]  # the kept entry is what the arrays give

    async with units() as uow:  # a correction, then an older revision arriving late
        await uow.store.upsert_days([day_of(OLD_METER, BEFORE, 0.4, ended(AFTER), revision=1)])
    async with units() as uow:
        await uow.store.upsert_days([day_of(OLD_METER, BEFORE, 0.9, ended(AFTER), revision=0)])
    [corrected] = await answer(meterdata_db, BEFORE, CHANGE)
    assert corrected["kwh"] == [0.4] * 96
    assert (await answer(meterdata_db, BEFORE, END))[1:] == first[1:]

    # Days … years: where two meters may hold a day the values decide (totals would count a shared slot twice).
    month = domain.Resolution.MONTH
    totals, _ = await queries.bucket_totals(TENANT, PARTNER, "consumption", OBIS, BEFORE, END, month)
    assert totals is None
    totals, _ = await queries.bucket_totals(TENANT, PARTNER, "consumption", OBIS, BEFORE, CHANGE, month)
    assert totals == [domain.DayTotal(BEFORE, 400 * 96, 96, 0)]


MOVED_OUT = date(2026, 6, 14)  # the previous partner's last day; the next one's first is the 15th
NEXT = "8145032976"


@pytest.mark.parametrize("resolution", ["day", "week", "month", "year"])
async def test_totals_summed_per_bucket_give_the_buckets_the_days_give(meterdata_db: Database, resolution: str) -> None:
    first_stored, last_stored = date(2025, 12, 20), date(2026, 11, 5)  # a year end, both DST days, a move
    units = UnitsOfWork(meterdata_db, MeterdataStore, clock=FakeClock(ended(last_stored)))
    days = [first_stored + timedelta(days=n) for n in range((last_stored - first_stored).days + 1)]
    async with units() as uow:
        await handlers.maintain_partitions(handlers.MaintainPartitions(), uow)
        await uow.master_data.record(
            TENANT, point(OLD_METER, (PARTNER, None, MOVED_OUT), (NEXT, MOVED_OUT + timedelta(days=1), None))
        )
        stored = [day_of(OLD_METER, day, 0.001 * (day.toordinal() % 97), ended(day)) for day in days if day.day != 3]
        await uow.store.upsert_days(stored)  # the 3rd of every month has no data: expected, not present
    queries, bucket = PartnerQueries(meterdata_db), domain.Resolution(resolution)
    first, end = date(2025, 12, 24), date(2026, 10, 30)  # neither on a week's, month's nor year's start
    for partner in (PARTNER, NEXT):
        totals, relations = await queries.bucket_totals(TENANT, partner, "consumption", OBIS, first, end, bucket)
        assert totals is not None
        ranges = validity.ranges(relations, first, end)
        async with units.read() as uow:
            values = await uow.store.days_of(TENANT, validity.within(relations, first, end), OBIS)
        by_sums = list(domain.visible_totals(totals, ranges, first, bucket))
        by_days = list(domain.visible_buckets(values, ranges, first, bucket))
        assert by_sums == by_days and any(b.present for b in by_sums)
        if bucket == domain.Resolution.DAY:
            assert len(totals) == len(by_days) - sum(1 for b in by_days if not b.present)
        elif bucket == domain.Resolution.MONTH:
            assert len(totals) <= 11  # a sum per month, not a row per day
