"""The 15-minute answer's entries kept encoded: only for days that are over, replaced by a correction, byte for byte
what the answer holds when built from the arrays, and only on the partner's days."""

from datetime import UTC, date, datetime, timedelta

import orjson
import pytest

from contracts.meterdata import Quality
from kit.energy_day import day_start, quarter_hours_of
from services.meterdata import domain, exports
from tests.unit.fakes import FakeClock, FakeUnits
from tests.unit.meterdata.fake_store import FakeReadings
from tests.unit.meterdata.test_use_cases import CONSUMPTION, METER, TENANT, load_day, record
from tests.unit.meterdata.test_use_cases import ingest as ingest_records

NORMAL, SPRING, AUTUMN = date(2026, 6, 1), date(2026, 3, 29), date(2026, 10, 25)
TRUE, SUBSTITUTE, MISSING = (domain.QUALITY_CODES[q] for q in (Quality.TRUE_VALUE, Quality.SUBSTITUTE, Quality.MISSING))


def after(day: date) -> datetime:
    return day_start(day + timedelta(days=1)) + timedelta(hours=3)


def stored(day: date, kwh: float, at: datetime, qualities: list[Quality] | None = None) -> domain.IntervalDay:
    n = quarter_hours_of(day)
    values: list[float | None] = [kwh] * n
    codes = qualities or [Quality.TRUE_VALUE] * n
    for index, quality in enumerate(codes):
        if quality == Quality.MISSING:
            values[index] = None
    return domain.interval_day(TENANT, METER, CONSUMPTION, day, 0, values, codes, at)


@pytest.mark.parametrize(("day", "slots"), [(NORMAL, 96), (SPRING, 92), (AUTUMN, 100)])
def test_a_day_stored_after_it_ended_keeps_its_entry_as_the_answer_writes_it(day: date, slots: int) -> None:
    kept = stored(day, 0.052, after(day))
    assert kept.quarter_hour_entry is not None
    entry = orjson.loads(kept.quarter_hour_entry)
    assert entry == {
        "day": day.isoformat(),
        "start": day_start(day).isoformat(),
        "interval_minutes": 15,
        "kwh": [0.052] * slots,
        "quality": "220",
    }
    # Byte for byte what the answer built from the arrays holds.
    assert kept.quarter_hour_entry == orjson.dumps(domain.quarter_hour_entry(day, kept.values_wh, kept.qualities))


def test_a_day_not_over_yet_is_not_kept_encoded() -> None:
    running = stored(NORMAL, 0.1, day_start(NORMAL) + timedelta(hours=20))
    assert running.quarter_hour_entry is None
    at_its_end = stored(NORMAL, 0.1, day_start(NORMAL + timedelta(days=1)))
    assert at_its_end.quarter_hour_entry is not None
    assert not domain.day_has_ended(NORMAL, day_start(NORMAL + timedelta(days=1)) - timedelta(microseconds=1))


def test_mixed_qualities_and_gaps_keep_one_code_per_value() -> None:
    qualities = [Quality.TRUE_VALUE] * 96
    qualities[5], qualities[6] = Quality.MISSING, Quality.SUBSTITUTE
    kept = stored(NORMAL, 0.25, after(NORMAL), qualities)
    assert kept.quarter_hour_entry is not None
    entry = orjson.loads(kept.quarter_hour_entry)
    assert entry["kwh"][5] is None and entry["kwh"][6] == 0.25
    assert entry["quality"][:7] == ["220"] * 5 + ["Z30", "67"]


async def test_a_correction_replaces_the_kept_entry_and_an_older_revision_does_not() -> None:
    units = FakeUnits(FakeReadings(), FakeClock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC)))
    await ingest_records(units, record(load_day(NORMAL, kwh=0.1, revision=1)))
    await ingest_records(units, record(load_day(NORMAL, kwh=0.3, revision=2)))  # the correction
    await ingest_records(units, record(load_day(NORMAL, kwh=0.9, revision=0)))  # late, older: changes nothing
    day = units.store.days[(TENANT, METER, CONSUMPTION, NORMAL)]
    assert day.revision == 2 and day.quarter_hour_entry is not None
    assert orjson.loads(day.quarter_hour_entry)["kwh"] == [0.3] * 96


def test_the_answer_uses_kept_entries_as_they_are_and_fills_the_partners_days_only() -> None:
    kept = b'{"kept":"as stored"}'
    june_2 = NORMAL + timedelta(days=1)
    days: list[domain.QuarterHourDay] = [
        (NORMAL, None, None, kept),
        (june_2, [100] * 96, [TRUE] * 95 + [SUBSTITUTE], None),  # no entry (stored while running): built now
        (NORMAL + timedelta(days=9), None, None, b'{"another":"partner\'s day"}'),  # outside the ranges
    ]
    ranges = [(NORMAL, NORMAL + timedelta(days=3))]  # kit.validity.ranges: the partner's days
    entries = domain.encoded_quarter_hour_entries(days, ranges)
    assert len(entries) == 3 and entries[0] is kept
    assert orjson.loads(entries[1])["quality"] == ["220"] * 95 + ["67"]
    assert orjson.loads(entries[2]) == {
        "day": (NORMAL + timedelta(days=2)).isoformat(),
        "start": day_start(NORMAL + timedelta(days=2)).isoformat(),
        "interval_minutes": 15,
        "kwh": [None] * 96,
        "quality": "Z30",
    }


def test_the_whole_answer_is_byte_for_byte_the_one_built_from_the_arrays() -> None:
    first = SPRING - timedelta(days=1)
    built = [stored(first + timedelta(days=n), 0.001 * (n + 1), after(first + timedelta(days=3))) for n in range(3)]
    ranges = [(first, first + timedelta(days=4))]  # the last day has no data
    as_kept = [(d.day, None, None, d.quarter_hour_entry) for d in built]
    from_arrays = [(d.day, d.values_wh, None, None) for d in built]  # all true values: qualities as None
    by_entries = orjson.dumps(
        {
            "count": 4,
            "results": orjson.Fragment(exports.json_list(domain.encoded_quarter_hour_entries(as_kept, ranges))),
        }
    )
    rows = [domain.quarter_hour_entry(d.day, d.values_wh, None) for d in built]
    rows.append(orjson.loads(domain.encoded_day_without_data(first + timedelta(days=3))))
    assert by_entries == orjson.dumps({"count": 4, "results": rows})
    assert by_entries == orjson.dumps(
        {
            "count": 4,
            "results": orjson.Fragment(exports.json_list(domain.encoded_quarter_hour_entries(from_arrays, ranges))),
        }
    )
