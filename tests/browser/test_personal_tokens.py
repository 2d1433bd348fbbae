"""Personal access tokens in the browser ([11 of 11] §1): on "Konto", a customer makes a key, sees its secret once
with a copy button, an application reads meter data with it through the gateway, and after "Widerrufen" it is
refused at once; the secret is never shown again."""

import re
from datetime import date, timedelta

import httpx
import pytest
from playwright.async_api import Browser, expect

from contracts.common import PartnerRole
from tests.browser.conftest import Visit
from tests.browser.test_portal import TENANT, _customer, _login, _register
from tests.conftest import System

pytestmark = pytest.mark.stack


async def test_a_customer_makes_a_key_sees_it_once_and_revokes_it(
    system: System, browser: Browser, visit: Visit
) -> None:
    meter, [partner] = await _customer(system, (PartnerRole.CONSUMPTION,), "Heike Automat")
    email = f"heike.{meter.lower()}@example.org"
    page = await browser.new_page()
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    await _register(page, system, meter, partner, email, visit, 1)
    await _login(page, system, email, visit)
    await expect(page.get_by_role("heading", level=1)).to_have_text("Ihr Verbrauch", timeout=15_000)
    await page.goto(system.gateway.url(TENANT) + "/konto")
    section = page.get_by_role("region", name="Persönliche Zugangsschlüssel")
    await expect(section).to_contain_text("noch keinen Zugangsschlüssel", timeout=15_000)
    await visit.check(page, "Konto Zugangsschlüssel")

    await section.get_by_label("Name").fill("Heimautomation")
    await section.get_by_role("button", name="Zugangsschlüssel anlegen").click()
    shown = section.get_by_role("textbox", name="Neuer Zugangsschlüssel »Heimautomation«")
    await expect(shown).to_have_value(re.compile(r"^ppt_[A-Za-z0-9_-]{43}$"))
    secret = await shown.input_value()
    await expect(section).to_contain_text("Sie sehen ihn nur jetzt")
    await section.get_by_role("button", name="Kopieren").click()
    await expect(section.get_by_text("Der Zugangsschlüssel ist in der Zwischenablage.")).to_be_visible()
    assert await page.evaluate("navigator.clipboard.readText()") == secret
    row = section.get_by_role("row").filter(has_text="Heimautomation")
    await expect(row).to_contain_text(secret[:12] + "…")
    await expect(row).to_contain_text("noch nie")
    await visit.check(page, "Zugangsschlüssel angelegt")

    yesterday = date.today() - timedelta(days=1)
    period = {"from": yesterday.isoformat(), "to": date.today().isoformat()}
    headers = {"Authorization": f"Bearer {secret}", "Host": f"{TENANT}.localhost"}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{system.gateway.port}", timeout=30) as application:
        read = await application.get(f"/api/meterdata/partners/{partner}/intervals", headers=headers, params=period)
        assert read.status_code == 200, read.text
        assert read.json()["results"][0]["kwh"] == pytest.approx(9.6)

        await page.reload()
        row = page.get_by_role("row").filter(has_text="Heimautomation")
        await expect(row).not_to_contain_text("noch nie", timeout=15_000)  # its use is shown
        assert secret not in await page.content()  # shown once: never again
        await row.get_by_role("button", name="Zugangsschlüssel »Heimautomation« widerrufen").click()
        await expect(page.get_by_role("status").filter(has_text="ist widerrufen")).to_be_visible()
        await expect(page.get_by_role("region", name="Persönliche Zugangsschlüssel")).to_contain_text(
            "noch keinen Zugangsschlüssel"
        )
        refused = await application.get(f"/api/meterdata/partners/{partner}/intervals", headers=headers, params=period)
        assert refused.status_code == 401
