"""Current values on request ([10 of 11] §1): the rules (one open request per meter, a few per partner and day,
a timeout) and the use cases on a fake store with a clock the test moves."""

from datetime import UTC, datetime, timedelta

import pytest

from contracts.meterdata import CurrentValuesRequested, RegisterReading, RegisterReadings
from contracts.topics import METER_VALUE_REQUESTS
from kit.energy_day import day_start
from services.meterdata import current_values, handlers
from services.meterdata.current_values import PER_PARTNER_PER_DAY, TIMEOUT, RequestState
from tests.unit.examples import METER, PARTNER, meter_point
from tests.unit.fakes import FakeClock, FakeUnits
from tests.unit.meterdata.fake_store import FakeReadings
from tests.unit.meterdata.test_use_cases import LOCATION_KINDS, TENANT, ingest, load_day, record

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # 10:00 in Berlin
ASK = handlers.RequestCurrentValues(TENANT, PARTNER, "consumption")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
async def units(clock: FakeClock) -> FakeUnits[FakeReadings]:
    units = FakeUnits(FakeReadings(), clock)
    await units.master_data.record(TENANT, meter_point())
    return units


async def ask(units: FakeUnits[FakeReadings]) -> handlers.ValueRequestShown:
    async with units() as uow:
        return await handlers.request_current_values(ASK, uow)


async def show(units: FakeUnits[FakeReadings], shown: handlers.ValueRequestShown) -> handlers.ValueRequestShown:
    async with units.read() as uow:
        found = await handlers.value_request(handlers.ShowValueRequest(TENANT, PARTNER, shown.request.id), uow)
    assert found is not None
    return found


def readings_now(clock: FakeClock) -> RegisterReadings:
    at = clock().replace(minute=clock().minute // 15 * 15, second=0, microsecond=0)
    return RegisterReadings(meter_number=METER, obis="1-1:1.8.0", readings=(RegisterReading(read_at=at, value=1234.5),))


async def test_a_request_asks_the_administrator_for_the_values_since_the_start_of_today(
    units: FakeUnits[FakeReadings],
) -> None:
    shown = await ask(units)

    assert shown.state is RequestState.OPEN
    [published] = units.outbox.events
    assert (published.topic, published.key) == (METER_VALUE_REQUESTS.name, f"{TENANT}/{METER}")
    assert published.tenant == TENANT
    event = published.event
    assert isinstance(event, CurrentValuesRequested)
    assert (event.request_id, event.meter_number, event.requested_at) == (shown.request.id, METER, NOW)
    assert event.since == day_start(NOW.date())  # nothing delivered today: from 00:00 Berlin
    assert event.interval_channels == ("1-1:1.29.0",)


async def test_since_is_the_last_register_reading_held(units: FakeUnits[FakeReadings], clock: FakeClock) -> None:
    await ingest(units, record(readings_now(clock)))
    clock.advance(timedelta(minutes=20))

    shown = await ask(units)

    assert shown.request.since == datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


async def test_one_open_request_per_meter_until_it_is_answered(
    units: FakeUnits[FakeReadings], clock: FakeClock
) -> None:
    first = await ask(units)
    with pytest.raises(current_values.Refused) as refused:
        await ask(units)
    assert (refused.value.status, str(refused.value)) == (409, current_values.ALREADY_OPEN)

    clock.advance(timedelta(seconds=5))
    outcome = await ingest(units, record(readings_now(clock)), record(load_day(clock().date())))

    assert outcome.answered == 1
    answered = await show(units, first)
    assert (answered.state, answered.request.answered_at, answered.message) == (RequestState.ANSWERED, clock(), None)
    assert (await ask(units)).state is RequestState.OPEN  # answered: the next one may be asked


async def test_register_readings_alone_answer_nothing_the_days_values_do(
    units: FakeUnits[FakeReadings], clock: FakeClock
) -> None:
    first = await ask(units)
    clock.advance(timedelta(seconds=5))
    assert (await ingest(units, record(readings_now(clock)))).answered == 0  # the page would find no quarter hour
    assert (await show(units, first)).state is RequestState.OPEN
    assert (await ingest(units, record(load_day(clock().date())))).answered == 1


async def test_a_redelivered_answer_changes_nothing(units: FakeUnits[FakeReadings], clock: FakeClock) -> None:
    first = await ask(units)
    clock.advance(timedelta(seconds=5))
    answer = (record(readings_now(clock)), record(load_day(clock().date())))
    assert (await ingest(units, *answer)).answered == 1
    answered_at = (await show(units, first)).request.answered_at
    clock.advance(timedelta(seconds=5))

    again = await ingest(units, *answer)

    assert again.answered == 0
    assert (await show(units, first)).request.answered_at == answered_at
    assert len(units.store.registers) == 1


async def test_an_unanswered_request_times_out_with_a_plain_message(
    units: FakeUnits[FakeReadings], clock: FakeClock
) -> None:
    first = await ask(units)
    clock.advance(TIMEOUT - timedelta(seconds=1))
    assert (await show(units, first)).state is RequestState.OPEN
    clock.advance(timedelta(seconds=1))

    over = await show(units, first)

    assert (over.state, over.message) == (RequestState.TIMED_OUT, current_values.TIMED_OUT)
    await ingest(units, record(load_day(clock().date())))  # too late: it stays timed out
    assert (await show(units, first)).state is RequestState.TIMED_OUT
    assert (await ask(units)).state is RequestState.OPEN  # a timed-out request no longer blocks the meter


async def test_a_few_requests_per_partner_and_day(units: FakeUnits[FakeReadings], clock: FakeClock) -> None:
    for _ in range(PER_PARTNER_PER_DAY):
        await ask(units)
        clock.advance(TIMEOUT)  # each one over before the next
    with pytest.raises(current_values.Refused) as refused:
        await ask(units)
    assert refused.value.status == 429
    assert "Morgen" in str(refused.value)
    assert current_values.next_reset(clock()) == datetime(2026, 12, 1, 23, 0, tzinfo=UTC)  # midnight in Berlin

    clock.current = datetime(2026, 12, 1, 23, 0, tzinfo=UTC)
    assert (await ask(units)).state is RequestState.OPEN


async def test_no_meter_today_no_request(units: FakeUnits[FakeReadings]) -> None:
    other = handlers.RequestCurrentValues(TENANT, "99999999", "consumption")
    async with units() as uow:
        with pytest.raises(handlers.NoMeterToday):
            await handlers.request_current_values(other, uow)
    assert units.outbox.events == []


async def test_another_partner_or_tenant_does_not_find_the_request(units: FakeUnits[FakeReadings]) -> None:
    shown = await ask(units)
    async with units.read() as uow:
        for tenant, partner in (("000512", PARTNER), (TENANT, "99999999")):
            query = handlers.ShowValueRequest(tenant, partner, shown.request.id)
            assert await handlers.value_request(query, uow) is None


async def test_an_answer_by_mscons_answers_the_request_too(units: FakeUnits[FakeReadings], clock: FakeClock) -> None:
    await units.master_data.record(TENANT, meter_point().model_copy(update={"malo_id": "41373559241"}))
    first = await ask(units)
    clock.advance(timedelta(seconds=5))

    async with units() as uow:
        await handlers.receive_interchange(handlers.ReceiveInterchange(LOCATION_KINDS, TENANT, "9900123000002"), uow)

    assert (await show(units, first)).state is RequestState.ANSWERED


async def test_a_partners_requests_are_forgotten_after_a_while(
    units: FakeUnits[FakeReadings], clock: FakeClock
) -> None:
    old = await ask(units)
    clock.advance(current_values.KEPT + timedelta(minutes=1))

    await ask(units)

    assert old.request.id not in units.store.value_requests
    assert len(units.store.value_requests) == 1
