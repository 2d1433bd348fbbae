"""Alerts in the browser ([10 of 11] §2): the customer defines one on the consumption page, readings arrive, and the
page lists the raised alert (the mail goes out too)."""

from datetime import UTC, datetime, timedelta

import pytest
from playwright.async_api import Browser, expect

from kit.energy_day import day_of, quarter_hours_of
from tests.browser.conftest import Visit
from tests.browser.test_portal import READ_MODELS, _consumer_of_record, _login, _register
from tests.conftest import System
from tests.e2e.test_meterdata import load_day, publish
from tests.journeys import address, publish_master_data, wait_until_consumed

pytestmark = pytest.mark.stack
TENANT = "000328"


async def test_a_customer_defines_an_alert_and_sees_it_raised(system: System, browser: Browser, visit: Visit) -> None:
    point = _consumer_of_record("Alma Alarm", address("Wachweg", "5", "12345", "Musterstadt"))
    meter, partner = point.meter_number, point.partners[0].partner_number
    yesterday = day_of(datetime.now(UTC)) - timedelta(days=1)
    await publish_master_data(system.kafka, TENANT, point)
    await publish(system, load_day(meter, yesterday - timedelta(days=1), kwh=0.01))  # 0.96 kWh: below
    await wait_until_consumed(system.kafka, READ_MODELS)
    email = f"alma.{meter.lower()}@example.org"
    page = await browser.new_page()
    await _register(page, system, meter, partner, email, visit, 1)
    await _login(page, system, email, visit)
    await expect(page.get_by_role("heading", level=1)).to_have_text("Ihr Verbrauch", timeout=15_000)

    panel = page.get_by_role("region", name="Benachrichtigungen")
    await expect(panel).to_contain_text("Sie haben noch keine Benachrichtigung angelegt.", timeout=15_000)
    await panel.get_by_label("Benachrichtigen bei").select_option(label="Tagesverbrauch über …")
    await panel.get_by_label("Schwellenwert (kWh)").fill("5")
    await panel.get_by_role("button", name="Benachrichtigung anlegen").click()
    await expect(panel.get_by_role("listitem").filter(has_text="Tagesverbrauch über 5 kWh")).to_be_visible()
    await expect(panel).to_contain_text("Bisher wurde keine Benachrichtigung ausgelöst.")
    await visit.check(page, "Verbrauch mit Benachrichtigungen")

    await publish(system, load_day(meter, yesterday, kwh=0.1))  # yesterday: 9.6 kWh (96 quarter hours)
    await wait_until_consumed(system.kafka, READ_MODELS)
    await page.reload()
    kwh = f"{quarter_hours_of(yesterday) * 0.1:.3f}".replace(".", ",")
    await expect(panel).to_contain_text(f"{yesterday:%d.%m.%Y} · Tagesverbrauch über 5 kWh: {kwh} kWh", timeout=15_000)
    mail = await system.mail.wait_for(lambda m: email in m.envelope_to and m.subject == "Hoher Tagesverbrauch", 20)
    assert "/api/meterdata/alerts/off?" in mail.text
    await visit.check(page, "Verbrauch mit ausgelöster Benachrichtigung")
