"""Alerts ([10 of 11] §2): each rule on its own, and the use case on a fake store — raised once per alert and
period, also when the same readings come again, and judged as readings arrive (no polling)."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from backoffice.smgw_simulator import malo_for, write_mscons
from contracts.alerts import AlertKind, AlertRaised
from contracts.common import PartnerRole, PostalAddress
from contracts.identity import AccountDeleted
from contracts.masterdata import MeterPointRecorded, PartnerOfRecord
from contracts.meterdata import LoadProfileDay, Quality
from contracts.topics import METER_ALERTS
from kit.consumer import Delivered
from kit.energy_day import quarter_hours_of
from kit.events import encode, envelope_for
from kit.tenants import load_tenants
from services.meterdata import alerts, handlers
from services.meterdata.alerts import Alert, PeerGroup
from services.meterdata.domain import StoredDay
from services.meterdata.messaging import account_deleted
from tests.unit.fakes import FakeClock, FakeUnits
from tests.unit.meterdata.fake_store import FakeReadings

TENANT, OTHER_TENANT = "000328", "000329"
NORMAL, SPRING, AUTUMN = date(2026, 11, 30), date(2026, 3, 29), date(2026, 10, 25)
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
CONSUMPTION, FEED_IN = "1-1:1.29.0", "1-1:2.29.0"
KEY = b"a key for the tests, long enough for HMAC"


def alert(kind: AlertKind, threshold: float = 0, role: str = "consumption", partner: str = "1000000001") -> Alert:
    return Alert(uuid4(), TENANT, partner, role, kind, threshold, "account", NOW - timedelta(days=30))


def day(on: date, wh: int | None = 100, night: int | None = None, gap: int | None = None) -> StoredDay:
    """A day with ``wh`` in every quarter hour; ``night``: in the first 16 instead; ``gap``: that one empty."""
    n = quarter_hours_of(on)
    values = [night if night is not None and i < 16 else wh for i in range(n)]
    if gap is not None:
        values[gap] = None
    return StoredDay(on, values, [0] * n)


# --- the rules ---------------------------------------------------------------------------------------------


def test_daily_consumption_above_the_threshold_only() -> None:
    rule = alert(AlertKind.DAILY_CONSUMPTION, 9.5)
    assert alerts.daily_consumption(rule, day(NORMAL, 100)) == alerts.Finding(NORMAL, 9.6)  # 96 × 0.1 kWh
    assert alerts.daily_consumption(alert(AlertKind.DAILY_CONSUMPTION, 9.6), day(NORMAL, 100)) is None
    assert alerts.daily_consumption(rule, day(NORMAL, None)) is None  # no value at all


def test_night_base_load_is_the_lowest_quarter_hour_of_midnight_to_four_in_watts() -> None:
    rule = alert(AlertKind.NIGHT_BASE_LOAD, 300)
    found = alerts.night_base_load(rule, day(NORMAL, wh=500, night=100))  # 100 Wh per 15 min = 400 W
    assert found == alerts.Finding(NORMAL, 400.0)
    assert alerts.night_base_load(alert(AlertKind.NIGHT_BASE_LOAD, 400), day(NORMAL, wh=500, night=100)) is None
    # One quarter hour of the night is low: the lowest counts, nothing raised.
    low = day(NORMAL, wh=500, night=100)
    low.values_wh[7] = 10
    assert alerts.night_base_load(rule, low) is None
    # An empty quarter hour in the night: not judged (yet).
    assert alerts.night_base_load(rule, day(NORMAL, wh=500, night=100, gap=3)) is None


def test_the_night_has_12_and_20_quarter_hours_on_the_days_of_a_clock_change() -> None:
    assert alerts.night_quarter_hours(NORMAL) == 16
    assert alerts.night_quarter_hours(SPRING) == 12
    assert alerts.night_quarter_hours(AUTUMN) == 20
    rule = alert(AlertKind.NIGHT_BASE_LOAD, 300)
    # In spring the 13th quarter hour is already 04:00: a low value there is not part of the night.
    spring = day(SPRING, wh=100, night=None)
    spring.values_wh[:12] = [200] * 12
    assert alerts.night_base_load(rule, spring) == alerts.Finding(SPRING, 800.0)
    # In autumn the 20th quarter hour (03:45) still is: a low value there counts.
    autumn = day(AUTUMN, wh=200)
    autumn.values_wh[19] = 50
    assert alerts.night_base_load(rule, autumn) is None


def test_pv_hint_only_with_an_anonymised_group_of_at_least_five_that_mostly_fed_in() -> None:
    rule = alert(AlertKind.PV_WITHOUT_FEED_IN, role="feed_in")
    nothing = day(NORMAL, 0)
    assert alerts.pv_without_feed_in(rule, nothing, PeerGroup(with_data=6, fed_in=5)) == alerts.Finding(NORMAL, 5, 6)
    assert alerts.pv_without_feed_in(rule, nothing, PeerGroup(with_data=4, fed_in=4)) is None  # fewer than 5
    assert alerts.pv_without_feed_in(rule, nothing, PeerGroup(with_data=10, fed_in=5)) is None  # not most of them
    assert alerts.pv_without_feed_in(rule, day(NORMAL, 1), PeerGroup(6, 6)) is None  # it fed in
    assert alerts.pv_without_feed_in(rule, day(NORMAL, 0, gap=40), PeerGroup(6, 6)) is None  # day not complete


def test_missing_data_counts_from_the_day_after_the_last_value() -> None:
    rule = alert(AlertKind.MISSING_DATA, 3)
    assert alerts.missing_data(rule, NORMAL - timedelta(days=4), NORMAL) == alerts.Finding(
        NORMAL - timedelta(days=3), 4.0
    )
    assert alerts.missing_data(rule, NORMAL - timedelta(days=3), NORMAL) is None  # 3 days: not more than 3
    # Never a value: counted from the day the alert was made.
    assert alerts.missing_data(rule, None, NORMAL) == alerts.Finding(date(2026, 11, 1), 30.0)


def test_definitions_are_checked_in_german() -> None:
    assert alerts.definition_problem(AlertKind.DAILY_CONSUMPTION, 10, "consumption", 0) is None
    assert "Einspeisung" in (alerts.definition_problem(AlertKind.PV_WITHOUT_FEED_IN, 0, "consumption", 0) or "")
    assert "Bezug" in (alerts.definition_problem(AlertKind.NIGHT_BASE_LOAD, 100, "feed_in", 0) or "")
    assert "zwischen" in (alerts.definition_problem(AlertKind.MISSING_DATA, 0, "feed_in", 0) or "")
    assert "Höchstens" in (alerts.definition_problem(AlertKind.MISSING_DATA, 2, "feed_in", 20) or "")


def test_off_link_is_signed_for_one_alert_on_one_portal() -> None:
    alert_id = uuid4()
    signature = alerts.off_signature(KEY, TENANT, alert_id)
    assert alerts.signed_off(KEY, TENANT, alert_id, signature)
    assert not alerts.signed_off(KEY, OTHER_TENANT, alert_id, signature)  # another operator's host
    assert not alerts.signed_off(KEY, TENANT, uuid4(), signature)  # another alert
    assert not alerts.signed_off(KEY, TENANT, alert_id, signature[:-1] + ("A" if signature[-1] != "A" else "B"))
    assert not alerts.signed_off(b"another key", TENANT, alert_id, signature)
    assert not alerts.signed_off(KEY, TENANT, alert_id, "T\u00f3\u00a8 é")  # not even base64url: refused, no error


# --- the use case on a fake store --------------------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    value: bytes


def point(meter: str, partner: str, role: PartnerRole, postcode: str = "12345") -> MeterPointRecorded:
    home = PostalAddress(street="Sonnenweg", house_number="1", postcode=postcode, city="Musterstadt")
    return MeterPointRecorded(
        meter_number=meter,
        connection_address=home,
        recorded_at=datetime(2026, 1, 1, tzinfo=UTC),
        partners=(PartnerOfRecord(partner_number=partner, role=role, name="Kundin", postal_address=home),),
    )


def reading(meter: str, on: date, kwh: float, obis: str = CONSUMPTION, tenant: str = TENANT) -> Record:
    n = quarter_hours_of(on)
    payload = LoadProfileDay(
        meter_number=meter, obis=obis, day=on, values=(kwh,) * n, qualities=(Quality.TRUE_VALUE,) * n
    )
    return Record(encode(envelope_for(payload, tenant=tenant, correlation_id=uuid4())))


@pytest.fixture
def units() -> FakeUnits[FakeReadings]:
    return FakeUnits(FakeReadings(), FakeClock(NOW))


async def ingest(units: FakeUnits[FakeReadings], *records: Record) -> handlers.Ingested:
    async with units() as uow:
        return await handlers.ingest(handlers.IngestReadings(records, load_tenants(), KEY), uow)


async def define(units: FakeUnits[FakeReadings], partner: str, role: str, kind: AlertKind, threshold: float) -> UUID:
    async with units() as uow:
        command = handlers.DefineAlert(handlers.PartnerAlerts(TENANT, partner, role), kind, threshold, "account-1")
        return (await handlers.define_alert(command, uow)).id


def raised(units: FakeUnits[FakeReadings]) -> list[AlertRaised]:
    return units.outbox.of_type(AlertRaised)


async def test_daily_consumption_is_raised_once_also_when_the_readings_come_again(
    units: FakeUnits[FakeReadings],
) -> None:
    meter = "1EMH0000000001"
    units.master_data.points[(TENANT, meter)] = point(meter, "1000000001", PartnerRole.CONSUMPTION)
    alert_id = await define(units, "1000000001", "consumption", AlertKind.DAILY_CONSUMPTION, 10)
    assert (await ingest(units, reading(meter, NORMAL, 0.1))).alerts == 0  # 9.6 kWh
    assert (await ingest(units, reading(meter, NORMAL, 0.2))).alerts == 1  # a correction: 19.2 kWh
    await ingest(units, reading(meter, NORMAL, 0.2), reading(meter, NORMAL, 0.3))  # again, and higher
    [event] = raised(units)
    assert (event.kind, event.period, event.value, event.alert_id) == (
        AlertKind.DAILY_CONSUMPTION, NORMAL, 19.2, str(alert_id),
    )  # fmt: skip
    published = units.outbox.events[-1]
    assert (published.topic, published.key, published.tenant) == (METER_ALERTS.name, f"{TENANT}/1000000001", TENANT)
    assert alerts.signed_off(KEY, TENANT, alert_id, event.off_path.rpartition("sig=")[2])
    # The next day is another occurrence.
    await ingest(units, reading(meter, NORMAL - timedelta(days=1), 0.2))
    assert [e.period for e in raised(units)] == [NORMAL, NORMAL - timedelta(days=1)]


async def test_old_days_and_other_tenants_raise_nothing(units: FakeUnits[FakeReadings]) -> None:
    meter = "1EMH0000000001"
    units.master_data.points[(TENANT, meter)] = point(meter, "1000000001", PartnerRole.CONSUMPTION)
    await define(units, "1000000001", "consumption", AlertKind.DAILY_CONSUMPTION, 1)
    await ingest(units, reading(meter, NORMAL - timedelta(days=30), 0.2))  # a backfill of history
    await ingest(units, reading(meter, NORMAL, 0.2, tenant=OTHER_TENANT))  # the same meter number elsewhere
    assert raised(units) == []


async def test_a_switched_off_alert_raises_nothing(units: FakeUnits[FakeReadings]) -> None:
    meter = "1EMH0000000001"
    units.master_data.points[(TENANT, meter)] = point(meter, "1000000001", PartnerRole.CONSUMPTION)
    alert_id = await define(units, "1000000001", "consumption", AlertKind.DAILY_CONSUMPTION, 1)
    link = handlers.OffLink(TENANT, alert_id, alerts.off_signature(KEY, TENANT, alert_id), KEY)
    async with units() as uow:
        assert (await handlers.alert_of_link(link, uow)).on  # opening the link changes nothing
        assert not (await handlers.switch_alert_off(link, uow)).on
    await ingest(units, reading(meter, NORMAL, 0.2))
    assert raised(units) == []
    async with units() as uow:
        with pytest.raises(handlers.InvalidOffLink):
            await handlers.switch_alert_off(handlers.OffLink(OTHER_TENANT, alert_id, link.signature, KEY), uow)


async def pv_area(units: FakeUnits[FakeReadings], others: int) -> str:
    """A PV system whose partner has the alert, and ``others`` PV systems of the same postcode area."""
    for n in range(others + 1):
        meter = f"1EMH00000001{n:02d}"
        units.master_data.points[(TENANT, meter)] = point(meter, f"20000000{n:02d}", PartnerRole.FEED_IN, "12399")
        units.store.postcodes[(TENANT, meter)] = "12399"
    await define(units, "2000000000", "feed_in", AlertKind.PV_WITHOUT_FEED_IN, 0)
    return "1EMH0000000100"


async def test_pv_hint_when_the_area_fed_in_whichever_arrives_last(units: FakeUnits[FakeReadings]) -> None:
    mine = await pv_area(units, 5)
    await ingest(units, reading(mine, NORMAL, 0.0, FEED_IN))  # nothing fed in, the others not there yet
    assert raised(units) == []
    await ingest(units, *(reading(f"1EMH00000001{n:02d}", NORMAL, 0.5, FEED_IN) for n in range(1, 6)))
    [event] = raised(units)
    assert (event.kind, event.value, event.peers) == (AlertKind.PV_WITHOUT_FEED_IN, 5, 5)
    await ingest(units, *(reading(f"1EMH00000001{n:02d}", NORMAL, 0.5, FEED_IN) for n in range(1, 6)))
    assert len(raised(units)) == 1


async def test_no_pv_hint_with_fewer_than_five_others(units: FakeUnits[FakeReadings]) -> None:
    mine = await pv_area(units, 4)
    await ingest(units, *(reading(f"1EMH00000001{n:02d}", NORMAL, 0.5, FEED_IN) for n in range(1, 5)))
    await ingest(units, reading(mine, NORMAL, 0.0, FEED_IN))
    assert raised(units) == []


async def test_missing_data_is_raised_when_other_meters_deliver(units: FakeUnits[FakeReadings]) -> None:
    quiet, busy = "1EMH0000000001", "1EMH0000000002"
    units.master_data.points[(TENANT, quiet)] = point(quiet, "1000000001", PartnerRole.CONSUMPTION)
    units.master_data.points[(TENANT, busy)] = point(busy, "1000000002", PartnerRole.CONSUMPTION)
    first = NORMAL - timedelta(days=5)
    await ingest(units, reading(quiet, first, 0.1), reading(busy, first, 0.1))
    await define(units, "1000000001", "consumption", AlertKind.MISSING_DATA, 3)
    for n in range(1, 4):
        await ingest(units, reading(busy, first + timedelta(days=n), 0.1))
    assert raised(units) == []  # three days without values: not more than 3
    await ingest(units, reading(busy, first + timedelta(days=4), 0.1))
    await ingest(units, reading(busy, first + timedelta(days=5), 0.1))
    [event] = raised(units)
    assert (event.kind, event.period, event.value) == (AlertKind.MISSING_DATA, first + timedelta(days=1), 4)
    # Values again, then a new gap: another occurrence.
    await ingest(units, reading(quiet, NORMAL, 0.1))
    units.clock.advance(timedelta(days=5))  # type: ignore[attr-defined]
    for n in range(1, 6):
        await ingest(units, reading(busy, NORMAL + timedelta(days=n), 0.1))
    assert [e.period for e in raised(units)] == [first + timedelta(days=1), NORMAL + timedelta(days=1)]


async def test_the_mscons_path_raises_alerts_too_and_a_file_delivered_again_nothing(
    units: FakeUnits[FakeReadings],
) -> None:
    meter = "1EMH0000000001"
    malo = malo_for(meter)
    recorded = point(meter, "1000000001", PartnerRole.CONSUMPTION).model_copy(update={"malo_id": malo})
    units.master_data.points[(TENANT, meter)] = recorded
    await define(units, "1000000001", "consumption", AlertKind.DAILY_CONSUMPTION, 5)
    n = quarter_hours_of(NORMAL)
    day = LoadProfileDay(
        meter_number=meter, obis=CONSUMPTION, day=NORMAL, values=(0.1,) * n, qualities=(Quality.TRUE_VALUE,) * n
    )
    data = write_mscons([day], sender_mp_id="9900000000003", receiver_mp_id="9900123000002", malo_id=malo)
    for _ in range(2):
        async with units() as uow:
            command = handlers.ReceiveInterchange(data, TENANT, "9900123000002", KEY)
            await handlers.receive_interchange(command, uow)
    [event] = raised(units)
    assert (event.kind, event.period, event.value) == (AlertKind.DAILY_CONSUMPTION, NORMAL, 9.6)


async def test_a_deleted_login_takes_the_alerts_of_its_partner_numbers_along(units: FakeUnits[FakeReadings]) -> None:
    await define(units, "1000000001", "consumption", AlertKind.DAILY_CONSUMPTION, 5)
    kept = await define(units, "1000000002", "consumption", AlertKind.DAILY_CONSUMPTION, 5)
    tenant = load_tenants().get(TENANT)
    deleted = AccountDeleted(account_id=str(uuid4()), partner_numbers=("1000000001",))
    envelope = envelope_for(deleted, tenant=TENANT, correlation_id=uuid4())
    async with units() as uow:  # the one AccountDeleted handler of meter data's consumer
        await account_deleted(Delivered(envelope, deleted, tenant), uow)
    assert list(units.store.alerts) == [kept]
    assert [(t, a) for t, a, _ in units.store.accounts_revoked] == [(TENANT, deleted.account_id)]  # tokens too
