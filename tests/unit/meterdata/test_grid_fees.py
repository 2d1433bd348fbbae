"""The split of consumption by the time-variable grid fee (Modul 3): a week with known windows and values gives the
expected energy and fees to the cent, the daylight-saving days included; price sheets that break the
Festlegung's rules are refused."""

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
from pydantic import ValidationError

from contracts.grid_fees import FeeLevel, FeeQuarter
from contracts.masterdata import MeterPointRecorded
from kit.energy_day import BERLIN, quarter_hour_starts
from services.meterdata import handlers
from services.meterdata.grid_fees import GridFeeSplit, level_at, split
from tests.unit.examples import METER, meter_point, moved_point
from tests.unit.fakes import FakeClock, FakeUnits
from tests.unit.meterdata.fake_store import FakeReadings
from tests.unit.meterdata.test_use_cases import NEW, PREVIOUS, TENANT, ingest, load_day, record

# The numbers of a real price sheet (a small German grid operator, 2025): NT 01:00–04:00, HT 17:00–19:00.
Q1 = FeeQuarter.model_validate(
    {
        "quarter": "2026-Q1",
        "ht_ct_per_kwh": "10.84",
        "st_ct_per_kwh": "8.62",
        "nt_ct_per_kwh": "3.45",
        "ht": [{"from": time(17), "to": time(19)}],
        "nt": [{"from": time(1), "to": time(4)}],
    }
)
Q4 = Q1.model_copy(update={"quarter": "2026-Q4"})


def every_quarter_hour(first: date, end: date, wh: int = 100) -> list[tuple[datetime, int | None]]:
    days = (end - first).days
    return [(start, wh) for n in range(days) for start in quarter_hour_starts(first + timedelta(days=n))]


def test_a_week_with_the_spring_day_splits_to_the_cent() -> None:
    # Mon 23 … Sun 29 March 2026; the 29th has 92 quarter hours and no 02:00–03:00, so only 8 of them are NT.
    found = split(every_quarter_hour(date(2026, 3, 23), date(2026, 3, 30)), {"2026-Q1": Q1})

    by_level = {line.level: line for line in found.lines}
    assert (found.present, found.expected) == (668, 668)
    assert by_level[FeeLevel.NT].wh == (6 * 12 + 8) * 100
    assert by_level[FeeLevel.HT].wh == 7 * 8 * 100
    assert by_level[FeeLevel.ST].wh == (668 - 80 - 56) * 100
    # 8 kWh × 3.45 ct = 0.276 €; 5.6 kWh × 10.84 ct = 0.60704 €; 53.2 kWh × 8.62 ct = 4.58584 €
    assert [by_level[level].eur for level in (FeeLevel.NT, FeeLevel.HT, FeeLevel.ST)] == [
        Decimal("0.28"),
        Decimal("0.61"),
        Decimal("4.59"),
    ]
    assert found.modul3_eur == Decimal("5.48")
    assert found.standard_eur == Decimal("5.76")  # 66.8 kWh × 8.62 ct = 5.75816 €
    assert found.saving_eur == Decimal("0.28")
    assert by_level[FeeLevel.HT].windows == ("17:00–19:00",)
    assert by_level[FeeLevel.NT].windows == ("01:00–04:00",)


def test_moving_ht_consumption_into_nt_is_the_best_shift() -> None:
    found = split(every_quarter_hour(date(2026, 3, 23), date(2026, 3, 30)), {"2026-Q1": Q1})

    shift = found.best_shift
    assert shift is not None
    assert (shift.source, shift.target) == (FeeLevel.HT, FeeLevel.NT)
    assert shift.saving_ct_per_kwh == Decimal("7.39")
    assert shift.target_windows == ("01:00–04:00",)
    assert shift.saving_eur_if_all_moved == Decimal("0.41")  # 5.6 kWh × 7.39 ct = 0.41384 €


def test_the_autumn_day_counts_its_second_two_o_clock_hour_as_nt() -> None:
    found = split(every_quarter_hour(date(2026, 10, 25), date(2026, 10, 26)), {"2026-Q4": Q4})

    by_level = {line.level: line.wh for line in found.lines}
    assert found.expected == 100
    assert by_level[FeeLevel.NT] == 16 * 100  # 01:00–02:00, 02:00–03:00 twice, 03:00–04:00
    assert by_level[FeeLevel.HT] == 8 * 100
    assert by_level[FeeLevel.ST] == 76 * 100


def test_missing_values_and_quarters_without_prices_are_reported_not_guessed() -> None:
    hours = every_quarter_hour(date(2026, 3, 31), date(2026, 4, 2))  # 31 March (Q1) and 1 April (Q2)
    hours[5] = (hours[5][0], None)

    found = split(hours, {"2026-Q1": Q1})

    assert found.quarters_without_prices == ("2026-Q2",)
    assert (found.present, found.expected) == (95, 192)
    assert sum(line.wh for line in found.lines) == 95 * 100
    assert {line.quarter for line in found.lines} == {"2026-Q1"}


def test_a_quarter_without_windows_is_all_standard_and_suggests_no_shift() -> None:
    plain = Q1.model_copy(update={"ht": (), "nt": ()})

    found = split(every_quarter_hour(date(2026, 1, 5), date(2026, 1, 6)), {"2026-Q1": plain})

    assert [(line.level, line.wh) for line in found.lines] == [(FeeLevel.ST, 9600)]
    assert found.modul3_eur == found.standard_eur == Decimal("0.83")  # 9.6 kWh × 8.62 ct = 0.82752 €
    assert found.best_shift is None


def test_the_level_follows_local_wall_clock_time() -> None:
    summer = datetime.fromisoformat("2026-03-30T15:00:00+00:00").astimezone(BERLIN)  # 17:00 CEST
    winter = datetime.fromisoformat("2026-03-27T15:00:00+00:00").astimezone(BERLIN)  # 16:00 CET
    assert (level_at(Q1, summer), level_at(Q1, winter)) == (FeeLevel.HT, FeeLevel.ST)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"nt_ct_per_kwh": "4.00"}, "NT must lie between 10 % and 40 % of ST"),
        ({"nt_ct_per_kwh": "0.50"}, "NT must lie between 10 % and 40 % of ST"),
        ({"ht_ct_per_kwh": "17.25"}, "HT must lie above ST and at most at twice ST"),
        ({"ht_ct_per_kwh": "8.62"}, "HT must lie above ST and at most at twice ST"),
        ({"ht": [{"from": time(17), "to": time(18, 45)}]}, "HT must apply at least two hours a day"),
        ({"nt": [{"from": time(18), "to": time(20)}]}, "overlap"),
        ({"nt": [{"from": time(1, 10), "to": time(4)}]}, "is not on a quarter hour"),
        ({"nt": [{"from": time(4), "to": time(1)}]}, "ends before it begins"),
    ],
)
def test_a_price_sheet_against_the_festlegung_is_refused(change: dict[str, object], reason: str) -> None:
    sheet = {**Q1.model_dump(by_alias=True), **change}
    with pytest.raises(ValidationError, match=reason):
        FeeQuarter.model_validate(sheet)


# --- the use case, on fakes --------------------------------------------------------------------------------


@pytest.fixture
def units() -> FakeUnits[FakeReadings]:
    return FakeUnits(FakeReadings(), FakeClock(datetime(2026, 12, 7, 9, 0, tzinfo=UTC)))


async def split_for(units: FakeUnits[FakeReadings], partner: str, first: date, end: date) -> GridFeeSplit:
    period = handlers.PartnerPeriod(TENANT, partner, "consumption", first, end)
    async with units.read() as uow:
        return await handlers.grid_fee_split(handlers.ShowGridFees(period, {"2026-Q2": Q2}), uow)


Q2 = Q1.model_copy(update={"quarter": "2026-Q2"})


def chose_modul3(point: MeterPointRecorded, *partners: str) -> MeterPointRecorded:
    return point.model_copy(
        update={
            "partners": tuple(
                p.model_copy(update={"time_variable_grid_fee": p.partner_number in partners}) for p in point.partners
            )
        }
    )


async def test_a_partner_without_modul3_gets_no_split(units: FakeUnits[FakeReadings]) -> None:
    units.master_data.points[(TENANT, METER)] = meter_point(PREVIOUS)
    with pytest.raises(handlers.NoTimeVariableFee):
        await split_for(units, PREVIOUS, date(2026, 6, 1), date(2026, 6, 2))


async def test_after_a_move_the_split_counts_only_the_partners_own_days(units: FakeUnits[FakeReadings]) -> None:
    units.master_data.points[(TENANT, METER)] = chose_modul3(moved_point(PREVIOUS, NEW), PREVIOUS, NEW)
    await ingest(units, *(record(load_day(date(2026, 6, day), kwh=0.1)) for day in range(10, 20)))

    mine = await split_for(units, PREVIOUS, date(2026, 6, 10), date(2026, 6, 20))  # moved out on the 14th
    theirs = await split_for(units, NEW, date(2026, 6, 10), date(2026, 6, 20))  # moved in on the 15th

    assert (mine.expected, theirs.expected) == (5 * 96, 5 * 96)
    assert sum(line.wh for line in mine.lines) == sum(line.wh for line in theirs.lines) == 5 * 96 * 100
    by_level = {line.level: line.wh for line in mine.lines}
    assert by_level == {FeeLevel.HT: 5 * 8 * 100, FeeLevel.ST: 5 * 76 * 100, FeeLevel.NT: 5 * 12 * 100}
