"""The 15-minute answer's entries kept encoded, on PostgreSQL: the partner statement reads the kept entry instead of
the arrays, a correction replaces it in the same upsert (an older revision does not), a day stored while it ran
and a day two meters share (a meter change) come as arrays, and the answer is what the arrays give."""

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
import pytest

from contracts.common import PartnerRole
from contracts.masterdata import MeterPointRecorded, PartnerOfRecord
from contracts.meterdata import Quality
from kit import validity
from kit.db import Database, migrate
from kit.energy_day import day_start, quarter_hours_of
from kit.uow import UnitsOfWork
from services.meterdata import domain, handlers
from services.meterdata.app import MIGRATIONS
from services.meterdata.store import MeterdataStore, PartnerQueries
from stack.fixtures import DatabaseServer
from tests.unit.examples import HOME
from tests.unit.fakes import FakeClock

pytestmark = pytest.mark.stack
TENANT, OBIS, PARTNER = "000328", "1-1:1.29.0", "3236513735"
OLD_METER, NEW_METER = "1EMH0005939068", "1EMH0005939069"
CHANGE = date(2026, 6, 10)  # the new meter is fitted during this day: both meters hold some of its values
BEFORE, AFTER = CHANGE - timedelta(days=1), CHANGE + timedelta(days=1)


@pytest.fixture
async def meterdata_db(postgres_server: DatabaseServer) -> AsyncIterator[Database]:
    url = await postgres_server.fresh_database("quarter_hour_entries")
    await migrate(url, MIGRATIONS)
    database = Database(url)
    yield database
    await database.dispose()


def point(meter: str, valid_from: date | None, valid_to: date | None) -> MeterPointRecorded:
    partner = PartnerOfRecord(
        partner_number=PARTNER,
        role=PartnerRole.CONSUMPTION,
        name="Erika Mustermann",
        postal_address=HOME,
        valid_from=valid_from,
        valid_to=valid_to,
    )
    return MeterPointRecorded(
        meter_number=meter, connection_address=HOME, recorded_at=datetime(2026, 6, 1, tzinfo=UTC), partners=(partner,)
    )


def day_of(meter: str, day: date, kwh: float | None, at: datetime, revision: int = 0) -> domain.IntervalDay:
    n = quarter_hours_of(day)
    quality = Quality.MISSING if kwh is None else Quality.TRUE_VALUE
    return domain.interval_day(TENANT, meter, OBIS, day, revision, [kwh] * n, [quality] * n, at)


def ended(day: date) -> datetime:
    return day_start(day + timedelta(days=1)) + timedelta(hours=2)


async def answer(db: Database) -> list[dict[str, Any]]:
    days, relations = await PartnerQueries(db).quarter_hours(
        TENANT, PARTNER, "consumption", OBIS, BEFORE, AFTER + timedelta(days=1)
    )
    ranges = validity.ranges(relations, BEFORE, AFTER + timedelta(days=1))
    return [orjson.loads(entry) for entry in domain.encoded_quarter_hour_entries(days, ranges)]


async def test_kept_entries_corrections_running_days_and_a_meter_change(meterdata_db: Database) -> None:
    units = UnitsOfWork(meterdata_db, MeterdataStore, clock=FakeClock(ended(AFTER)))
    async with units() as uow:
        await handlers.maintain_partitions(handlers.MaintainPartitions(), uow)  # this clock's months
        await uow.master_data.record(TENANT, point(OLD_METER, None, CHANGE))
        await uow.master_data.record(TENANT, point(NEW_METER, CHANGE, None))
        await uow.store.upsert_days(
            [
                day_of(OLD_METER, BEFORE, 0.1, ended(BEFORE)),
                day_of(OLD_METER, CHANGE, 0.2, ended(CHANGE)),
                day_of(NEW_METER, CHANGE, 0.05, ended(CHANGE)),
                day_of(NEW_METER, AFTER, 0.3, day_start(AFTER) + timedelta(hours=12)),  # stored while it ran
            ]
        )

    days, _ = await PartnerQueries(meterdata_db).quarter_hours(
        TENANT, PARTNER, "consumption", OBIS, BEFORE, AFTER + timedelta(days=1)
    )
    by_day = {item[0]: item for item in days}
    assert by_day[BEFORE][1] is None and by_day[BEFORE][3] is not None  # the kept entry, not the arrays
    assert by_day[CHANGE][3] is None and by_day[CHANGE][1] == [250] * 96  # two meters: their values add up
    assert by_day[AFTER][3] is None and by_day[AFTER][1] == [300] * 96  # not kept: built per request

    first = await answer(meterdata_db)
    assert [(e["day"], e["kwh"][0], e["quality"]) for e in first] == [
        (BEFORE.isoformat(), 0.1, "220"),
        (CHANGE.isoformat(), 0.25, "220"),
        (AFTER.isoformat(), 0.3, "220"),
    ]

    async with units() as uow:  # a correction, then an older revision arriving late
        await uow.store.upsert_days([day_of(OLD_METER, BEFORE, 0.4, ended(AFTER), revision=1)])
    async with units() as uow:
        await uow.store.upsert_days([day_of(OLD_METER, BEFORE, 0.9, ended(AFTER), revision=0)])
    corrected = await answer(meterdata_db)
    assert corrected[0]["kwh"] == [0.4] * 96 and corrected[1:] == first[1:]
