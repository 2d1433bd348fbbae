"""Totals answered from memory (kit.notified_cache in store.PartnerQueries) on PostgreSQL: kept until a committed
change to a day of their meters or to the tenant's master data, a dropped month or a lost connection says otherwise —
and never kept when a notice came while they were read."""

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from contracts.common import PartnerRole
from contracts.masterdata import MeterPointRecorded, PartnerOfRecord
from contracts.meterdata import Quality
from kit.db import Database
from kit.energy_day import quarter_hours_of
from kit.notified_cache import NotifiedCache
from kit.uow import UnitsOfWork
from services.meterdata import domain, handlers
from services.meterdata.store import CHANGES_CHANNEL, BucketTotals, MeterdataStore, PartnerQueries
from tests.journeys import eventually
from tests.unit.examples import HOME
from tests.unit.fakes import FakeClock

pytestmark = pytest.mark.stack
TENANT, OTHER_TENANT, OBIS = "000328", "000329", "1-1:1.29.0"
PARTNER, NEIGHBOUR = "3236513735", "3236513736"
METER, NEIGHBOURS_METER = "1EMH0005939068", "1EMH0005939069"
FIRST, END = date(2026, 5, 1), date(2026, 7, 1)
NOW = datetime(2026, 7, 2, 8, 0, tzinfo=UTC)


@pytest.fixture
async def cache(meterdata_db: Database) -> AsyncIterator[NotifiedCache[Any, BucketTotals]]:
    kept = NotifiedCache[Any, BucketTotals](meterdata_db.driver_dsn, CHANGES_CHANNEL, retry_seconds=0.1)
    kept.start()
    await until(lambda: kept.listening)
    yield kept
    await kept.stop()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
async def units(
    meterdata_db: Database, cache: NotifiedCache[Any, BucketTotals], clock: FakeClock
) -> UnitsOfWork[MeterdataStore]:
    """Meter data's units of work on a database holding two partners' meters and two days of one of them."""
    made = UnitsOfWork(meterdata_db, MeterdataStore, clock=clock)
    await noticed(made, cache, setup)
    return made


@pytest.fixture
def queries(meterdata_db: Database, cache: NotifiedCache[Any, BucketTotals]) -> PartnerQueries:
    return PartnerQueries(meterdata_db, cache)


async def until(condition: Callable[[], bool]) -> None:
    await eventually(lambda: asyncio.sleep(0, result=condition()), timeout=10)


def point(meter: str, partner: str, valid_to: date | None = None) -> MeterPointRecorded:
    relation = PartnerOfRecord(
        partner_number=partner,
        role=PartnerRole.CONSUMPTION,
        name="Erika Mustermann",
        postal_address=HOME,
        valid_to=valid_to,
    )
    return MeterPointRecorded(meter_number=meter, connection_address=HOME, recorded_at=NOW, partners=(relation,))


def day_of(meter: str, day: date, kwh: float, revision: int = 0, tenant: str = TENANT) -> domain.IntervalDay:
    n = quarter_hours_of(day)
    return domain.interval_day(tenant, meter, OBIS, day, revision, [kwh] * n, [Quality.TRUE_VALUE] * n, NOW)


async def noticed(
    units: UnitsOfWork[Any], cache: NotifiedCache[Any, BucketTotals], write: Callable[[Any], Any]
) -> None:
    """``write`` in a unit of work, then its notice heard: an answer read after it is kept."""
    seen = cache.generation
    async with units() as uow:
        await write(uow)
    await until(lambda: cache.generation > seen)


async def setup(uow: Any) -> None:
    await handlers.maintain_partitions(handlers.MaintainPartitions(), uow)
    await uow.master_data.record(TENANT, point(METER, PARTNER))
    await uow.master_data.record(TENANT, point(NEIGHBOURS_METER, NEIGHBOUR))
    await uow.store.upsert_days([day_of(METER, date(2026, 5, 3), 0.1), day_of(METER, date(2026, 6, 3), 0.2)])


async def months(queries: PartnerQueries) -> BucketTotals:
    return await queries.bucket_totals(TENANT, PARTNER, "consumption", OBIS, FIRST, END, domain.Resolution.MONTH)


def kwh_of(answer: BucketTotals) -> list[int]:
    totals, _ = answer
    assert totals is not None
    return [total.wh for total in totals]


async def test_an_answer_is_kept_until_its_meters_days_or_the_tenants_master_data_change(
    cache: NotifiedCache[Any, BucketTotals],
    units: UnitsOfWork[MeterdataStore],
    queries: PartnerQueries,
) -> None:

    async def notice_after(write: Callable[[Any], Any]) -> None:
        await noticed(units, cache, write)

    first = await months(queries)
    assert await months(queries) is first  # from memory
    assert kwh_of(first) == [9600, 19200]

    # Another partner's meter, and the same meter number in another tenant: kept.
    await notice_after(lambda uow: uow.store.upsert_days([day_of(NEIGHBOURS_METER, date(2026, 5, 3), 1.0)]))
    await notice_after(lambda uow: uow.store.upsert_days([day_of(METER, date(2026, 5, 3), 1.0, tenant=OTHER_TENANT)]))
    assert await months(queries) is first

    # A rolled-back write says nothing (the next notice is the commit after it), a committed one of its meter does.
    with pytest.raises(RuntimeError):
        async with units() as uow:
            await uow.store.upsert_days([day_of(METER, date(2026, 5, 4), 5.0)])
            raise RuntimeError("rolled back")
    await notice_after(lambda uow: uow.store.upsert_days([day_of(NEIGHBOURS_METER, date(2026, 5, 4), 1.0)]))
    assert await months(queries) is first
    await notice_after(lambda uow: uow.store.upsert_days([day_of(METER, date(2026, 6, 3), 0.3, revision=1)]))
    corrected = await months(queries)
    assert kwh_of(corrected) == [9600, 28800]

    # Master data of the tenant (here: the partner moves out on 31 May): everything of the tenant is read again.
    await notice_after(lambda uow: uow.master_data.record(TENANT, point(METER, PARTNER, valid_to=date(2026, 5, 31))))
    moved_out = await months(queries)
    assert kwh_of(moved_out) == [9600]
    assert await months(queries) is moved_out


async def test_nothing_is_kept_while_a_notice_came_or_nobody_listens(
    meterdata_db: Database,
    cache: NotifiedCache[Any, BucketTotals],
    units: UnitsOfWork[MeterdataStore],
    queries: PartnerQueries,
) -> None:

    read_before = cache.generation
    cache.changed(f"{TENANT} {METER}")  # as if a day came while the answer was read
    cache.put(("a key",), (None, []), TENANT, {METER}, read_before)
    assert len(cache) == 0

    kept = await months(queries)
    assert await months(queries) is kept
    # The listening connection is cut (a restart of PostgreSQL, a network fault): nothing is served from memory
    # until it listens again, and what was kept is gone, since notices may have been missed meanwhile.
    seen = cache.generation
    await meterdata_db.fetch("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%'")
    await until(lambda: cache.generation > seen)
    assert len(cache) == 0
    await until(lambda: cache.listening)
    again = await months(queries)
    assert again is not kept and again == kept
    assert await months(queries) is again


async def test_a_dropped_month_drops_every_answer_kept(
    cache: NotifiedCache[Any, BucketTotals],
    units: UnitsOfWork[MeterdataStore],
    queries: PartnerQueries,
    clock: FakeClock,
) -> None:
    kept = await months(queries)
    assert len(cache) == 1

    clock.advance(timedelta(days=4 * 366))  # May 2026 is no longer kept: retention drops its partition
    seen = cache.generation
    async with units() as uow:
        done = await handlers.maintain_partitions(handlers.MaintainPartitions(), uow)
    assert date(2026, 5, 1) in done.dropped["interval_days"]
    await until(lambda: cache.generation > seen)
    assert len(cache) == 0
    assert kwh_of(await months(queries)) == [] != kwh_of(kept)
