"""The SMGW simulator's answers to requests for current values: the readings the platform stores as it stores any."""

from datetime import UTC, date, datetime

from backoffice.smgw_simulator import current_values, generate_days, generate_registers, role_of
from contracts.meterdata import FEED_IN_INTERVAL, LoadProfileDay, Quality, RegisterReadings
from kit.energy_day import day_start
from services.meterdata import domain

METER = "1EMH0005939068"
ORIGIN = date(2026, 11, 1)
NOW = datetime(2026, 12, 1, 13, 37, 12, tzinfo=UTC)  # 14:37 in Berlin: 58 quarter hours of the day ended
TODAY = date(2026, 12, 1)


def test_the_answer_holds_the_day_so_far_and_the_registers_since_the_last_delivery() -> None:
    since = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    answer = current_values(METER, "consumption", since, NOW, origin=ORIGIN, seed=1)

    [registers] = [p for p in answer if isinstance(p, RegisterReadings)]
    [day] = [p for p in answer if isinstance(p, LoadProfileDay)]
    assert day.day == TODAY
    assert day.values[58:] == (None,) * 38 and set(day.qualities[58:]) == {Quality.MISSING}
    full = generate_days(METER, "consumption", ORIGIN, 31, 1)[-1]
    assert day.values[:58] == full.values[:58]  # the same values the full day will bring later
    assert [r.read_at for r in registers.readings] == [datetime(2026, 12, 1, 13, 30, tzinfo=UTC)]
    # Continues the simulated registers: today's midnight reading plus the energy counted since.
    midnight = generate_registers(METER, "consumption", ORIGIN, 31, 1)[0].readings[30]
    assert midnight.read_at == day_start(TODAY)
    assert registers.readings[0].value > midnight.value
    # What meter data's rules accept.
    assert domain.day_problem(day.obis, day.day, day.unit, day.values, day.qualities, TODAY) is None
    moments = [r.read_at for r in registers.readings]
    assert domain.register_problem(registers.obis, registers.unit, moments, TODAY) is None


def test_an_answer_reaches_back_to_the_day_of_since_at_most_two_days() -> None:
    since = datetime(2026, 11, 20, 23, 0, tzinfo=UTC)

    answer = current_values(METER, "feed_in", since, NOW, origin=ORIGIN, seed=1)

    days = [p.day for p in answer if isinstance(p, LoadProfileDay)]
    assert days == [date(2026, 11, 29), date(2026, 11, 30), TODAY]
    [registers] = [p for p in answer if isinstance(p, RegisterReadings)]
    assert registers.obis == "1-1:2.8.0"
    assert registers.readings[0].read_at == day_start(date(2026, 11, 22))  # every midnight after since


def test_the_channels_asked_name_the_meter_kind() -> None:
    assert role_of(["1-1:1.29.0"]) == "consumption"
    assert role_of([FEED_IN_INTERVAL]) == "feed_in"
    assert role_of(["1-1:1.29.0", FEED_IN_INTERVAL]) == "both"
