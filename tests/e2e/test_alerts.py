"""Alerts ([10 of 11] §2) on the real stack: a customer's alerts are judged as LoadProfileDay messages arrive on the
readings topic, each kind raised once and only once (also when the same readings come again), mailed by identity
to the account linked to the partner number (SMTP sink), turned off with the signed link from the mail through the
gateway; a forged link, another operator's host and another partner's token are refused."""

from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from uuid import uuid4

import asyncpg
import httpx
import pytest

from contracts import topics
from contracts.common import PartnerRole
from contracts.meterdata import LoadProfileDay, Quality
from kit.energy_day import day_of, quarter_hours_of
from stack.mailsink import StoredMail
from stack.postgres import asyncpg_dsn
from tests.conftest import System
from tests.e2e.test_meterdata import publish, token
from tests.journeys import (
    CUSTOMER_PASSWORD,
    address,
    envelopes,
    eventually,
    meter_point,
    publish_master_data,
    random_meter_number,
    read_topic,
    register_by_hand,
    wait_until_consumed,
)

pytestmark = pytest.mark.stack
TENANT, OTHER_TENANT = "000328", "000512"
CONSUMED = {
    "meterdata": (topics.MASTER_DATA.name, topics.IDENTITY_KEYS.name),
    "meterdata-ingest": (topics.METER_READINGS.name,),
}
MAILED: dict[str, tuple[str, ...]] = {"identity": (topics.METER_ALERTS.name,)}
# Identity answers an access request for a meter it does not know yet with silence: wait before typing the numbers.
KNOWN_TO_IDENTITY: dict[str, tuple[str, ...]] = {"identity": (topics.MASTER_DATA.name,)}
CONSUMPTION, FEED_IN = "1-1:1.29.0", "1-1:2.29.0"


def day_of_values(meter: str, day: date, obis: str, night_wh: int, day_wh: int) -> LoadProfileDay:
    """Wh per quarter hour: ``night_wh`` in the first 16 (00:00–04:00 on a normal day), ``day_wh`` after."""
    n = quarter_hours_of(day)
    values = tuple((night_wh if i < 16 else day_wh) / 1000 for i in range(n))
    return LoadProfileDay(meter_number=meter, obis=obis, day=day, values=values, qualities=(Quality.TRUE_VALUE,) * n)


async def api(system: System, method: str, partner: str, role: str, path: str = "", **kwargs: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=system.meterdata.url, timeout=30) as client:
        return await client.request(
            method, f"/partners/{partner}/alerts{path}", headers=token(system, partner, role), **kwargs
        )


async def through_gateway(system: System, method: str, link: str, tenant: str = TENANT) -> httpx.Response:
    parts = urlsplit(link)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{system.gateway.port}", timeout=30) as client:
        return await client.request(method, f"{parts.path}?{parts.query}", headers={"Host": f"{tenant}.localhost"})


def alert_mails(system: System, email: str) -> list[StoredMail]:
    return [m for m in system.mail.messages() if email in m.envelope_to and "Benachrichtigung" in m.text]


async def test_each_kind_is_raised_once_mailed_and_turned_off_with_the_signed_link(system: System) -> None:
    # The PV day: yesterday, or the day before where a clock change falls on it or four days earlier (the figures
    # below count 96 quarter hours; the rules' DST days are covered by the unit tests). Within the 7 days judged.
    today = day_of(datetime.now(UTC))
    pv_day = next(
        day
        for day in (today - timedelta(days=back) for back in (1, 2))
        if quarter_hours_of(day) == 96 and quarter_hours_of(day - timedelta(days=4)) == 96
    )
    # A household (consumption) and a PV system (feed-in) in one postcode area, five other PV systems there.
    # An area of its own (no other test's or demo meter's postcode begins with 6 or 7): the group is this test's.
    area = f"{uuid4().int % 200 + 600}42"
    home = address("Am Hang", "3", area, "Sonnendorf")
    household = meter_point(random_meter_number(), "Hanna Haushalt", home, home)
    pv = meter_point(random_meter_number(), "Paul Paneel", home, home, roles=(PartnerRole.FEED_IN,))
    others = [meter_point(random_meter_number(), "Nachbar", home, home, roles=(PartnerRole.FEED_IN,)) for _ in range(5)]
    await publish_master_data(system.kafka, TENANT, household, pv, *others)
    await wait_until_consumed(system.kafka, KNOWN_TO_IDENTITY)
    consumer, producer = household.partners[0].partner_number, pv.partners[0].partner_number
    hanna, paul = f"hanna-{uuid4().hex[:8]}@example.org", f"paul-{uuid4().hex[:8]}@example.org"
    for meter, partner, email in ((household, consumer, hanna), (pv, producer, paul)):
        browser = await register_by_hand(system.identity.url, system.mail, TENANT, meter.meter_number, partner, email)
        await browser.http.aclose()

    defined = {}
    for partner, role, kind, threshold in (
        (consumer, "consumption", "daily_consumption", 5),
        (consumer, "consumption", "night_base_load", 200),
        (consumer, "consumption", "missing_data", 2),
        (producer, "feed_in", "pv_without_feed_in", 0),
    ):
        made = await api(system, "POST", partner, role, json={"kind": kind, "threshold": threshold})
        assert made.status_code == 201, made.text
        defined[kind] = made.json()["id"]
    refused = await api(system, "POST", producer, "feed_in", json={"kind": "night_base_load", "threshold": 10})
    assert refused.status_code == 422 and "Bezug" in refused.json()["detail"]

    # The household's day four days ago: 100 Wh per quarter hour at night (400 W), 13.6 kWh in all.
    first = pv_day - timedelta(days=3)
    household_day = day_of_values(household.meter_number, first - timedelta(days=1), CONSUMPTION, 100, 150)
    await publish(system, household_day)
    await wait_until_consumed(system.kafka, CONSUMED)
    # The PV day: the PV system fed in nothing, the five others did; the household's meter stayed silent since.
    pv_days = [
        day_of_values(pv.meter_number, pv_day, FEED_IN, 0, 0),
        *(day_of_values(o.meter_number, pv_day, FEED_IN, 0, 300) for o in others),
    ]
    await publish(system, *pv_days)
    await wait_until_consumed(system.kafka, CONSUMED)
    readings = [household_day, *pv_days]

    async def raised(partner: str, role: str, count: int) -> list[dict[str, Any]] | None:
        found = (await api(system, "GET", partner, role, "/occurrences")).json()
        return found if len(found) >= count else None

    household_raised = await eventually(lambda: raised(consumer, "consumption", 3), what="the household's alerts")
    pv_raised = await eventually(lambda: raised(producer, "feed_in", 1), what="the PV hint")
    by_kind = {o["kind"]: o for o in household_raised + pv_raised}
    assert by_kind["daily_consumption"]["period"] == (first - timedelta(days=1)).isoformat()
    assert by_kind["daily_consumption"]["value"] == pytest.approx(1.6 + 80 * 0.15)
    assert by_kind["night_base_load"]["value"] == 400
    assert (by_kind["missing_data"]["period"], by_kind["missing_data"]["value"]) == (first.isoformat(), 4)
    assert (by_kind["pv_without_feed_in"]["value"], by_kind["pv_without_feed_in"]["peers"]) == (5, 5)

    # The same readings again (a redelivery): nothing is raised again, nothing mailed again.
    await publish(system, *readings)
    await wait_until_consumed(system.kafka, CONSUMED)
    connection = await asyncpg.connect(asyncpg_dsn(system.meterdata_db))
    try:
        unsent = "SELECT count(*) FROM outbox WHERE published_at IS NULL AND topic = $1"
        await eventually(
            lambda: _none_left(connection, unsent, topics.METER_ALERTS.name), what="the outbox to be relayed"
        )
    finally:
        await connection.close()
    published = [
        e for _, e in envelopes(await read_topic(system.kafka, topics.METER_ALERTS.name))
        if e["payload"]["partner_number"] in (consumer, producer)
    ]  # fmt: skip
    assert sorted(e["payload"]["kind"] for e in published) == sorted(defined)
    assert len(await api_json(system, consumer, "consumption", "/occurrences")) == 3
    await wait_until_consumed(system.kafka, MAILED)
    to_hanna, to_paul = alert_mails(system, hanna), alert_mails(system, paul)
    assert sorted(m.subject for m in to_hanna) == [
        "Hohe Grundlast in der Nacht",
        "Hoher Tagesverbrauch",
        "Keine Messwerte",
    ]
    assert [m.subject for m in to_paul] == ["Ihre PV-Anlage hat nicht eingespeist"]
    assert consumer not in to_hanna[0].text  # the partner number only by its last digits

    # The off link: opening it changes nothing (mail scanners fetch links); the button turns off that alert only.
    [mail] = [m for m in to_hanna if m.subject == "Hoher Tagesverbrauch"]
    [link] = [k for k in mail.links() if "/api/meterdata/alerts/off?" in k]
    assert f"alert={defined['daily_consumption']}" in link
    shown = await through_gateway(system, "GET", link)
    assert shown.status_code == 200 and "ausschalten" in shown.text, shown.text
    assert all(a["on"] for a in await api_json(system, consumer, "consumption"))
    forged = link[:-3] + ("abc" if not link.endswith("abc") else "xyz")
    assert (await through_gateway(system, "POST", forged)).status_code == 404
    assert (await through_gateway(system, "POST", link, tenant=OTHER_TENANT)).status_code == 404
    other_alert = link.replace(defined["daily_consumption"], defined["night_base_load"])
    assert (await through_gateway(system, "POST", other_alert)).status_code == 404
    done = await through_gateway(system, "POST", link)
    assert done.status_code == 200 and "ist ausgeschaltet" in done.text
    assert (await through_gateway(system, "POST", link)).status_code == 200  # again: nothing changes
    states = {a["kind"]: a["on"] for a in await api_json(system, consumer, "consumption")}
    assert states == {"daily_consumption": False, "night_base_load": True, "missing_data": True}

    # The mail program's own button (RFC 8058): one POST to the List-Unsubscribe address, no page in between.
    [night] = [m for m in to_hanna if m.subject == "Hohe Grundlast in der Nacht"]
    headers = night.message().get("List-Unsubscribe"), night.message().get("List-Unsubscribe-Post")
    assert headers[1] == "List-Unsubscribe=One-Click"
    one_click = str(headers[0]).strip("<>")
    assert f"alert={defined['night_base_load']}" in one_click and one_click in night.links()
    parts = urlsplit(one_click)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{system.gateway.port}", timeout=30) as mail_program:
        clicked = await mail_program.post(
            f"{parts.path}?{parts.query}",
            headers={"Host": f"{TENANT}.localhost"},
            data={"List-Unsubscribe": "One-Click"},
        )
    assert clicked.status_code == 200, clicked.text
    states = {a["kind"]: a["on"] for a in await api_json(system, consumer, "consumption")}
    assert states == {"daily_consumption": False, "night_base_load": False, "missing_data": True}


async def api_json(system: System, partner: str, role: str, path: str = "") -> Any:
    response = await api(system, "GET", partner, role, path)
    assert response.status_code == 200, response.text
    return response.json()


async def _none_left(connection: asyncpg.Connection, query: str, topic: str) -> bool | None:
    return True if await connection.fetchval(query, topic) == 0 else None


async def test_another_partner_or_operator_sees_and_removes_nothing(system: System) -> None:
    home = address("Weg", "1", "12345", "Musterstadt")
    mine = meter_point(random_meter_number(), "Erika", home, home)
    theirs = meter_point(random_meter_number(), "Mallory", home, home)
    await publish_master_data(system.kafka, TENANT, mine, theirs)
    me, them = mine.partners[0].partner_number, theirs.partners[0].partner_number
    made = await api(system, "POST", me, "consumption", json={"kind": "daily_consumption", "threshold": 30})
    assert made.status_code == 201, made.text
    alert_id = made.json()["id"]
    async with httpx.AsyncClient(base_url=system.meterdata.url, timeout=30) as client:
        # Their token on my partner number, and my token on another operator's host.
        listed = await client.get(f"/partners/{me}/alerts", headers=token(system, them, "consumption"))
        assert listed.status_code == 403
        elsewhere = await client.get(
            f"/partners/{me}/alerts", headers={**token(system, me, "consumption"), "Host": f"{OTHER_TENANT}.localhost"}
        )
        assert elsewhere.status_code == 403
    # My alert's id guessed under their own partner number: not theirs to remove.
    removed = await api(system, "DELETE", them, "consumption", f"/{alert_id}")
    assert removed.status_code == 404 and "gibt es nicht" in removed.json()["detail"]
    assert [a["id"] for a in await api_json(system, me, "consumption")] == [alert_id]
    assert (await api(system, "DELETE", me, "consumption", f"/{alert_id}")).status_code == 204
    assert await api_json(system, me, "consumption") == []


async def test_a_deleted_login_takes_its_alerts_along(system: System) -> None:
    home = address("Abschiedsweg", "2", "12345", "Musterstadt")
    point = meter_point(random_meter_number(), "Dora Delete", home, home)
    await publish_master_data(system.kafka, TENANT, point)
    await wait_until_consumed(system.kafka, KNOWN_TO_IDENTITY)
    partner = point.partners[0].partner_number
    email = f"dora-{uuid4().hex[:8]}@example.org"
    browser = await register_by_hand(system.identity.url, system.mail, TENANT, point.meter_number, partner, email)
    made = await api(system, "POST", partner, "consumption", json={"kind": "missing_data", "threshold": 3})
    assert made.status_code == 201, made.text
    assert [a["id"] for a in await api_json(system, partner, "consumption")] == [made.json()["id"]]
    async with browser:
        deleted = await browser.call("POST", "/account/delete", json={"password": CUSTOMER_PASSWORD})
        assert deleted.status_code == 204, deleted.text

    async def gone() -> bool | None:
        return True if await api_json(system, partner, "consumption") == [] else None

    await eventually(gone, what="the deleted login's alerts to be removed")
