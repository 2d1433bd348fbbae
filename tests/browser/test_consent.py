"""Consent for third parties in the browser ([11 of 11] §2): a sample third party sends the signed-in customer to the
portal's consent page; the customer narrows the request to daily values and approves; the third party reads them
through the gateway (and no 15-minute values); "Konto" shows the grant with its last access, and "Widerrufen" ends
it within seconds. Refusing sends the browser back with ``access_denied``."""

from datetime import date, timedelta

import pytest
from playwright.async_api import Browser, Page, Route, expect
from pydantic import SecretStr

from backoffice.third_party_client import ThirdPartyClient, ThirdPartyError
from contracts.common import PartnerRole
from services.identity.settings import IdentitySettings
from services.identity.staff_cli import register_third_party
from tests.browser.conftest import Visit
from tests.browser.test_portal import TENANT, _customer, _login, _register
from tests.conftest import System
from tests.journeys import eventually

pytestmark = pytest.mark.stack

REDIRECT = "https://app.sonnenhaus.example/plusportal/callback"


async def returned_to_the_third_party(page: Page) -> list[str]:
    """The third party's redirect URI, answered in the browser by the test (it has no server): the URLs it got."""
    arrived: list[str] = []

    async def answer(route: Route) -> None:
        arrived.append(route.request.url)
        await route.fulfill(status=200, content_type="text/html", body="<h1>Sonnenhaus</h1>")

    await page.route("https://app.sonnenhaus.example/**", answer)
    return arrived


async def test_a_customer_approves_less_than_asked_sees_the_reads_and_revokes(
    system: System, browser: Browser, visit: Visit
) -> None:
    meter, [partner] = await _customer(system, (PartnerRole.CONSUMPTION,), "Frieda Freigabe")
    email = f"frieda.{meter.lower()}@example.org"
    settings = IdentitySettings(database_url=system.identity_db, staff_totp_key=SecretStr(system.staff_totp_key))
    party = await register_third_party(
        settings, TENANT, "Sonnenhaus Energiemanager GmbH", "api@sonnenhaus.example", (REDIRECT,), False
    )
    api = f"http://127.0.0.1:{system.gateway.port}/api"
    client = ThirdPartyClient(
        system.gateway.url(TENANT), party.client_id, party.client_secret, REDIRECT,
        identity_url=f"{api}/identity", meterdata_url=f"{api}/meterdata", headers={"Host": f"{TENANT}.localhost"},
    )  # fmt: skip
    page = await browser.new_page()
    arrived = await returned_to_the_third_party(page)
    await _register(page, system, meter, partner, email, visit, 1)
    await _login(page, system, email, visit)
    await expect(page.get_by_role("heading", level=1)).to_have_text("Ihr Verbrauch", timeout=15_000)

    a_week_ago = date.today() - timedelta(days=7)
    start = client.authorisation("meterdata:15min", data_from=a_week_ago, days=30)
    await page.goto(start.url)
    await expect(page.get_by_role("heading", level=1)).to_have_text("Datenfreigabe", timeout=15_000)
    await expect(page.get_by_text("Sonnenhaus Energiemanager GmbH möchte Ihre Messwerte lesen.")).to_be_visible()
    await expect(page.get_by_text("app.sonnenhaus.example")).to_be_visible()
    await visit.check(page, "Datenfreigabe")
    await page.get_by_label("Tageswerte (und Wochen, Monate, Jahre)").check()  # less than asked
    await page.get_by_label("Gültig für (Tage)").fill("10")
    await page.get_by_role("button", name="Freigeben").click()
    await eventually(lambda: _first(arrived), timeout=15, what="the redirect back to the third party")
    tokens = await client.exchange(client.code_from(arrived[0], start), start)
    assert tokens.scope == "meterdata:day"

    period = {"from": a_week_ago.isoformat(), "to": date.today().isoformat(), "resolution": "day"}
    days = await client.read(tokens, partner, "/intervals", period)
    assert days.status_code == 200, days.text
    assert [round(r["kwh"], 1) for r in days.json()["results"] if r["kwh"] is not None] == [9.6, 9.6, 9.6]
    finer = await client.read(tokens, partner, "/intervals", {**period, "resolution": "15min"})
    assert finer.status_code == 403

    await page.goto(system.gateway.url(TENANT) + "/konto")
    section = page.get_by_role("region", name="Freigaben für Dritte")
    row = section.get_by_role("row").filter(has_text="Sonnenhaus Energiemanager GmbH")
    await expect(row).to_contain_text("Aktiv", timeout=15_000)
    await expect(row).not_to_contain_text("noch keiner")
    await expect(section).to_contain_text("las Tageswerte vom")
    await visit.check(page, "Konto Freigaben")
    await row.get_by_role("button", name="Freigabe für Sonnenhaus Energiemanager GmbH widerrufen").click()
    await expect(section.get_by_role("status")).to_contain_text("ist widerrufen")
    await expect(row).to_contain_text("Beendet (von Ihnen widerrufen)")

    async def refused() -> bool | None:
        answer = await client.read(tokens, partner, "/intervals", period)
        return True if answer.status_code in (401, 403) else None

    await eventually(refused, timeout=10, what="the revoked grant's token refused")

    # Refusing: back to the third party with access_denied, and no grant.
    another = client.authorisation("meterdata:month")
    await page.goto(another.url)
    await page.get_by_role("button", name="Ablehnen").click()
    await eventually(lambda: _first(arrived[1:]), timeout=15, what="the refusal's redirect")
    with pytest.raises(ThirdPartyError) as denied:
        client.code_from(arrived[1], another)
    assert denied.value.error == "access_denied"


async def _first(urls: list[str]) -> str | None:
    return urls[0] if urls else None
