"""Retention on PostgreSQL ([8 of 11] §4): readings live in monthly partitions; with an injected clock, a month no
longer kept is dropped whole with its rows, the months kept and their readings stay, the coming months exist ahead,
and ingest and queries work across the partitions. The rule itself is domain.partition_plan (unit tests)."""

import asyncio
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text

from contracts.meterdata import Quality
from kit import partitions
from kit.db import Database, migrate
from kit.uow import UnitsOfWork
from kit.validity import Relation
from services.meterdata import domain, handlers
from services.meterdata.app import MIGRATIONS
from services.meterdata.domain import IntervalDay, RegisterValue
from services.meterdata.store import MeterdataStore
from stack.fixtures import DatabaseServer
from tests.unit.fakes import FakeClock

pytestmark = pytest.mark.stack
TENANT, METER, OBIS = "000328", "1EMH0005939068", "1-1:1.29.0"


def stored_day(day: date, now: datetime) -> IntervalDay:
    quarter_hours = domain.quarter_hours_of(day)
    return domain.interval_day(
        TENANT, METER, OBIS, day, 0, [0.25] * quarter_hours, [Quality.TRUE_VALUE] * quarter_hours, now
    )


async def test_a_month_no_longer_kept_is_dropped_whole_and_the_rest_stays(meterdata_db: Database) -> None:
    clock = FakeClock(datetime(2026, 12, 31, 12, 0, tzinfo=UTC))
    units = UnitsOfWork(meterdata_db, MeterdataStore, clock=clock)
    async with units() as uow:
        await handlers.maintain_partitions(handlers.MaintainPartitions(), uow)
    async with meterdata_db.engine.connect() as connection:
        months = await partitions.months_of(connection, "interval_days")
    assert months[0] == date(2023, 1, 1) and months[-1] == date(2027, 2, 1)

    days = [date(2023, 1, 1), date(2023, 12, 31), date(2024, 1, 1), date(2026, 12, 31)]
    async with units() as uow:
        await uow.store.upsert_days([stored_day(day, clock.current) for day in days])
        await uow.store.add_register_readings(
            [
                RegisterValue(TENANT, METER, "1-1:1.8.0", datetime(2023, 6, 1, tzinfo=UTC), 1000, 1, 0),
                RegisterValue(TENANT, METER, "1-1:1.8.0", datetime(2024, 6, 1, tzinfo=UTC), 2000, 1, 0),
            ]
        )

    clock.advance(timedelta(days=1))  # 1 January 2027: 2023 leaves
    async with units() as uow:
        done = await handlers.maintain_partitions(handlers.MaintainPartitions(), uow)
    assert done.dropped["interval_days"] == tuple(date(2023, month, 1) for month in range(1, 13))
    assert done.created["interval_days"] == (date(2027, 3, 1),)

    async with meterdata_db.engine.connect() as connection:
        kept_days = (await connection.execute(text("SELECT day FROM interval_days ORDER BY day"))).scalars().all()
        kept_registers = (await connection.execute(text("SELECT value_wh FROM register_readings"))).scalars().all()
        months = await partitions.months_of(connection, "register_readings")
    assert kept_days == [date(2024, 1, 1), date(2026, 12, 31)]
    assert kept_registers == [2000]
    assert months[0] == date(2024, 1, 1) and months[-1] == date(2027, 3, 1)

    async with units.read() as uow:  # the queries read across the partitions as before
        stored = await uow.store.days_of(TENANT, [Relation(METER, date(2023, 1, 1), date(2027, 1, 1))], OBIS)
    assert [day.day for day in stored] == [date(2024, 1, 1), date(2026, 12, 31)]


async def test_two_processes_maintaining_at_once_make_each_partition_once(meterdata_db: Database) -> None:
    clock = FakeClock(datetime(2026, 12, 6, 12, 0, tzinfo=UTC))
    units = UnitsOfWork(meterdata_db, MeterdataStore, clock=clock)

    async def maintain() -> handlers.PartitionsMaintained:
        async with units() as uow:
            return await handlers.maintain_partitions(handlers.MaintainPartitions(), uow)

    first, second = await asyncio.gather(maintain(), maintain())
    made = [*first.created["interval_days"], *second.created["interval_days"]]
    assert len(made) == len(set(made)) > 0  # one of them made them, the other found them (the advisory lock)


async def test_the_migration_moves_every_stored_reading_into_its_month(postgres_server: DatabaseServer) -> None:
    url = await postgres_server.fresh_database("before_partitions")
    await migrate(url, MIGRATIONS, "meterdata_0006_interchanges")
    database = Database(url)
    try:
        now = datetime(2026, 12, 6, tzinfo=UTC)
        units = UnitsOfWork(database, MeterdataStore, clock=FakeClock(now))
        # The days as that schema holds them (the store's upsert writes columns of later migrations too).
        columns = [name for name in IntervalDay._fields if name != "quarter_hour_entry"]  # meterdata_0009
        insert_day = text(
            f"INSERT INTO interval_days ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})"
        )
        async with database.engine.begin() as connection:
            for day in (date(2021, 3, 28), date(2025, 10, 26)):
                await connection.execute(insert_day, stored_day(day, now)._asdict())
        async with units() as uow:
            await uow.store.add_register_readings(
                [RegisterValue(TENANT, METER, "1-1:1.8.0", datetime(2021, 3, 31, 22, 0, tzinfo=UTC), 5, 1, 0)]
            )
        await migrate(url, MIGRATIONS)
        async with database.engine.connect() as connection:
            days = (await connection.execute(text("SELECT day, total_wh FROM interval_days ORDER BY day"))).all()
            registers = await connection.execute(text("SELECT tableoid::regclass::text FROM register_readings"))
            day_months = await partitions.months_of(connection, "interval_days")
        assert [tuple(row) for row in days] == [(date(2021, 3, 28), 250 * 92), (date(2025, 10, 26), 250 * 100)]
        assert registers.scalars().all() == ["register_readings_p202103"]  # its UTC month
        # Every month from the oldest reading to the newest, and this month and the next two.
        assert {date(2021, 3, 1), date(2023, 7, 1), date(2025, 10, 1)} <= set(day_months)
        # The first maintenance then drops the months no longer kept (the clock of the test above says which).
    finally:
        await database.dispose()
