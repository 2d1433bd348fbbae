"""[10 of 11] §1 in a real browser through the gateway: "Aktuelle Werte abrufen" → the SMGW simulator answers →
today's values appear on the page without a reload, with how fresh they are; where the event stream is not
available, the page polls the request's state instead."""

import re
from datetime import UTC, datetime
from uuid import uuid4

import pytest
from playwright.async_api import Browser, Route, expect

from kit.energy_day import BERLIN
from services.meterdata.current_values import TIMED_OUT
from tests.browser.conftest import Visit
from tests.browser.test_portal import READ_MODELS, TENANT, _consumer_of_record, _login, _register
from tests.conftest import System
from tests.journeys import address, publish_master_data, wait_until_consumed

pytestmark = pytest.mark.stack
STATE_URL = re.compile(r"/api/meterdata/partners/[^/]+/current-values/[0-9a-f-]{36}$")


async def test_current_values_arrive_on_the_page_without_a_reload(
    system: System, browser: Browser, visit: Visit
) -> None:
    point = _consumer_of_record("Jana Jetzt", address("Uhrweg", "15", "12345", "Musterstadt"))
    meter, partner = point.meter_number, point.partners[0].partner_number
    await publish_master_data(system.kafka, TENANT, point)
    await wait_until_consumed(system.kafka, READ_MODELS)
    email = f"jana.{meter.lower()}@example.org"
    page = await browser.new_page()
    await _register(page, system, meter, partner, email, visit, 1)
    await _login(page, system, email, visit)
    await expect(page.get_by_role("heading", level=1)).to_have_text("Ihr Verbrauch", timeout=15_000)

    panel = page.get_by_role("region", name="Aktuelle Werte")
    await expect(panel).to_contain_text("Noch keine Werte von heute.", timeout=15_000)
    await page.evaluate("window.samePage = true")  # gone if the page were loaded again
    await panel.get_by_role("button", name="Aktuelle Werte abrufen").click()

    await expect(panel).to_contain_text("Die aktuellen Werte sind da.", timeout=60_000)
    await expect(panel.get_by_test_id("freshness")).to_have_text(re.compile(r"^Stand: \d\d:\d\d Uhr$"))
    results = page.locator("section.results")
    await expect(results).to_contain_text("der Zeitraum läuft noch", timeout=15_000)  # today's day view
    now = datetime.now(UTC).astimezone(BERLIN)
    if now.hour * 60 + now.minute >= 20:  # at least one quarter hour of today has ended: values to show
        await expect(results.get_by_text("Werte als Tabelle anzeigen")).to_be_visible()
    assert await page.evaluate("window.samePage") is True
    await visit.check(page, "Aktuelle Werte")

    # Without the event stream (a proxy that drops it): the page polls the request's state and gets there too.
    async def no_stream(route: Route) -> None:
        await route.abort()

    await page.route(re.compile(r".*/current-values/[^/]+/events$"), no_stream)
    polls: list[str] = []
    page.on("request", lambda request: polls.append(request.url) if STATE_URL.search(request.url) else None)
    await panel.get_by_role("button", name="Aktuelle Werte abrufen").click()
    await expect(panel).to_contain_text("Angefordert", timeout=15_000)
    await expect(panel).to_contain_text("Die aktuellen Werte sind da.", timeout=60_000)
    assert polls  # the state came by polling
    assert await page.evaluate("window.samePage") is True

    # No answer in time: the page says so plainly (the service's answers stood in for by the browser, as waiting
    # out the timeout here would take minutes; the timeout itself: tests/unit/meterdata/test_current_values.py).
    request = {"id": str(uuid4()), "state": "open", "message": None}
    over = {**request, "state": "timed_out", "message": TIMED_OUT}
    await page.route(re.compile(r".*/current-values$"), lambda route: route.fulfill(status=202, json=request))
    await page.route(STATE_URL, lambda route: route.fulfill(status=200, json=over))
    await panel.get_by_role("button", name="Aktuelle Werte abrufen").click()
    await expect(panel).to_contain_text(TIMED_OUT, timeout=30_000)
