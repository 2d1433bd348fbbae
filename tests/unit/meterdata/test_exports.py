"""Meter data's export files: built from what was read, the same in a worker process as in this one."""

import csv
import io
from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

import openpyxl
import orjson
import pytest

from contracts.meterdata import LoadProfileDay, Quality
from kit.cpu import ProcessPool
from kit.energy_day import day_start, quarter_hours_of
from kit.events import encode, envelope_for
from kit.tenants import load_tenants
from services.meterdata import domain, exports, handlers
from services.meterdata.domain import Resolution
from tests.unit.examples import METER, MOVED_IN, MOVED_OUT, meter_point, moved_point
from tests.unit.fakes import FakeClock, FakeUnits
from tests.unit.meterdata.fake_store import FakeReadings
from tests.unit.meterdata.test_use_cases import Record

TENANT = "000328"
PARTNER, NEW = "10000001", "10000002"
SPRING = date(2026, 3, 29)  # 92 quarter hours in Europe/Berlin


def load_day(day: date, kwh: float) -> Record:
    n = quarter_hours_of(day)
    payload = LoadProfileDay(
        meter_number=METER, obis="1-1:1.29.0", day=day, values=(kwh,) * n, qualities=(Quality.TRUE_VALUE,) * n
    )
    return Record(encode(envelope_for(payload, tenant=TENANT, correlation_id=uuid4())))


async def stored(
    resolution: Resolution, days: int = 2, first: date = SPRING, partner: str = PARTNER, moved: bool = False
) -> domain.StoredPeriod:
    units = FakeUnits(FakeReadings(), FakeClock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC)))
    units.master_data.points[(TENANT, METER)] = moved_point(PARTNER, NEW) if moved else meter_point(PARTNER)
    loads = [load_day(SPRING, 0.25)] if not moved else [load_day(d, 0.25) for d in (MOVED_OUT, MOVED_IN)]
    async with units() as uow:
        await handlers.ingest(handlers.IngestReadings(loads, load_tenants()), uow)
    period = handlers.PartnerPeriod(TENANT, partner, "consumption", first, first + timedelta(days=days))
    async with units.read() as uow:
        return await handlers.stored_period(handlers.ShowIntervals(period, resolution), uow)


async def test_a_german_csv_has_a_row_per_quarter_hour_in_berlin_time_and_missing_days_counted() -> None:
    period = await stored(Resolution.QUARTER_HOUR)
    rows = list(csv.reader(io.StringIO(exports.build(period, "csv-de").decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == ["Beginn", "Ende", "Energie (kWh)", "Qualität", "Werte vorhanden", "Werte erwartet"]
    assert len(rows) == 1 + 92 + 96
    assert rows[1] == ["2026-03-29T00:00:00+01:00", "2026-03-29T00:15:00+01:00", "0,250", "gemessen", "1", "1"]
    assert rows[9][0] == "2026-03-29T03:00:00+02:00"  # 02:00 does not exist that night
    assert rows[93][2:] == ["", "", "0", "1"]  # the next day has no values: expected, not present


async def test_the_day_export_comes_from_the_totals_and_the_xlsx_holds_the_same_numbers() -> None:
    period = await stored(Resolution.DAY)
    assert period.totals is not None and period.days is None  # one meter: the values are not read at all
    english = list(csv.reader(io.StringIO(exports.build(period, "csv").decode())))
    assert english[1] == ["2026-03-28T23:00:00+00:00", "2026-03-29T22:00:00+00:00", "23.0", "", "92", "92"]
    sheet = openpyxl.load_workbook(io.BytesIO(exports.build(period, "xlsx"))).active
    assert sheet is not None and sheet.max_row == 3
    assert [sheet.cell(2, c).value for c in (3, 5, 6)] == [pytest.approx(23.0), 92, 92]


async def test_a_file_built_in_the_worker_process_is_the_one_built_here() -> None:
    period = await stored(Resolution.QUARTER_HOUR, days=3)
    pool = ProcessPool("exports", 1)
    try:
        in_worker = await pool.run(exports.build, period, "csv-de")
    finally:
        await pool.stop()
    assert in_worker == exports.build(period, "csv-de")


@pytest.mark.parametrize(("partner", "day"), [(PARTNER, MOVED_OUT), (NEW, MOVED_IN)])
async def test_after_a_move_an_export_and_the_15_minute_answer_hold_the_partners_days_only(
    partner: str, day: date
) -> None:
    period = await stored(Resolution.QUARTER_HOUR, days=2, first=MOVED_OUT, partner=partner, moved=True)
    rows = list(csv.reader(io.StringIO(exports.build(period, "csv").decode())))
    assert len(rows) == 1 + 96  # two days asked for, one of them the partner's
    assert (rows[1][0], rows[-1][1]) == (day_start(day).isoformat(), day_start(day + timedelta(days=1)).isoformat())
    entries = domain.encoded_quarter_hour_entries([(d, v, None, None) for d, v, _ in period.days or []], period.ranges)
    assert [orjson.loads(entry)["day"] for entry in entries] == [day.isoformat()]
    month = await stored(Resolution.MONTH, days=30, first=date(2026, 6, 1), partner=partner, moved=True)
    [bucket] = domain.period_buckets(month)
    assert (bucket.wh, bucket.present) == (96 * 250, 96)
    assert bucket.expected == (14 if partner == PARTNER else 16) * 96
