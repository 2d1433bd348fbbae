"""The back-office pages in a real browser through the gateway: staff login, review (approve with the
master-data record, reject with a reason), requests, letters, returned letters, dead letters and received MSCONS
interchanges, each checked with axe."""

import re
from typing import Any
from uuid import UUID

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from backoffice.printhouse import report_by_hand
from contracts import topics
from contracts.common import ROLE_LABELS, PartnerRole
from contracts.letters import DispatchStatus
from contracts.topics import Principal
from tests.browser.conftest import Visit
from tests.conftest import System
from tests.e2e.test_meterdata import CONSUMED
from tests.e2e.test_mscons_answers import SENDER, deliver, located_point, mscons_file, two_messages, unique_moment
from tests.e2e.test_poison import day_json
from tests.journeys import (
    StaffAccount,
    address,
    eventually,
    form,
    host,
    meter_point,
    produce,
    publish_master_data,
    random_meter_number,
    staff,
    totp_code,
    wait_for_meter_point,
    wait_for_status,
    wait_until_consumed,
)

pytestmark = pytest.mark.stack
TENANT = "000328"


async def _request_in_review(system: System, first: str, last: str) -> tuple[str, str, list[str]]:
    """Master data for a new meter, then a request whose postcode does not fit: it lands in review."""
    meter = random_meter_number()
    record = address("Amtsweg", "9", "12345", "Musterstadt")
    point = meter_point(meter, f"{first} {last}", record, record)
    await publish_master_data(system.kafka, TENANT, point)
    typed = {"street": "Neue Straße", "house_number": "2", "postcode": "54321", "city": "Anderswo"}
    async with httpx.AsyncClient(base_url=system.onboarding.url, timeout=10) as onboarding:
        await wait_for_meter_point(onboarding, TENANT, meter)
        response = await onboarding.post(
            "/requests",
            headers=host(TENANT),
            json=form(meter, first, last, typed, f"{first.lower()}.{meter}@example.org"),
        )
        assert response.status_code == 202, response.text
        request_id = str(response.json()["request_id"])
        await wait_for_status(onboarding, TENANT, request_id, "in_review")
    return request_id, meter, [p.partner_number for p in point.partners]


async def _letters(system: System) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=system.letters.url, timeout=10) as letters:
        response = await letters.get("/backoffice/letters", params={"limit": 500}, headers=await staff(TENANT))
        response.raise_for_status()
        result: list[dict[str, Any]] = response.json()
        return result


async def _login(page: Page, base: str, visit: Visit, account: StaffAccount) -> None:
    """Signs in as the staff member with e-mail, password and a TOTP code (a wrong code first)."""
    await page.goto(base + "/backoffice/pruefung")
    await expect(page).to_have_url(f"{base}/backoffice/anmelden?weiter=%2Fbackoffice%2Fpruefung")
    await visit.check(page, "Back-Office Anmelden")
    await page.get_by_label("E-Mail-Adresse").fill(account.email)
    await page.get_by_label("Passwort").fill(account.password)
    right = totp_code(account.totp_secret)
    await page.get_by_label("Code aus der Authenticator-App").fill(f"{(int(right) + 1) % 1_000_000:06d}")
    await page.get_by_role("button", name="Anmelden").click()
    await expect(page.get_by_role("alert")).to_contain_text("stimmt nicht")
    await visit.check(page, "Back-Office Anmelden Fehler")
    await page.get_by_label("Passwort").fill(account.password)
    await page.get_by_label("Code aus der Authenticator-App").fill(right)
    await page.get_by_role("button", name="Anmelden").click()
    await expect(page).to_have_url(f"{base}/backoffice/pruefung")
    await expect(page.get_by_text(f"Angemeldet: {account.name}")).to_be_visible()
    # Nothing of the sign-in is kept where page scripts could read it: the session is an HttpOnly cookie.
    assert await page.evaluate("sessionStorage.length + localStorage.length") == 0
    assert "staff-session" not in await page.evaluate("document.cookie")


async def test_staff_review_approve_and_reject(system: System, browser: Browser, visit: Visit) -> None:
    approved_id, meter, partners = await _request_in_review(system, "Karla", "Prüferin")
    rejected_id, other_meter, _ = await _request_in_review(system, "Rolf", "Ablehner")
    base = system.gateway.url(TENANT)
    page = await browser.new_page()
    await _login(page, base, visit, system.staff[TENANT]["clerk"])

    await expect(page.get_by_role("heading", level=1)).to_have_text("Prüfung")
    card = page.locator("article", has_text=meter)
    await expect(card).to_contain_text("Postleitzahl passt nicht zu den Stammdaten")
    await card.get_by_role("button", name="Stammdaten anzeigen").click()
    for partner in partners:
        await expect(card.get_by_label(partner, exact=False)).to_be_checked()
        await expect(card.get_by_label(partner, exact=False)).to_have_accessible_name(
            re.compile(f"^{partner} – {re.escape(ROLE_LABELS[PartnerRole.CONSUMPTION])} – ")
        )
    await visit.check(page, "Prüfung mit Stammdaten")
    await card.get_by_role("button", name="Freigeben").click()
    await expect(page.get_by_role("status").filter(has_text="freigegeben")).to_be_visible()
    await expect(page.locator("article", has_text=meter)).to_have_count(0)

    other = page.locator("article", has_text=other_meter)
    await other.get_by_role("button", name="Ablehnen").click()  # empty reason: error at the field
    await expect(other.get_by_role("alert")).to_contain_text("Grund")
    await visit.check(page, "Prüfung Fehler")
    # Longer than onboarding's 500 characters: the page sends it, the server's message shows at the field.
    await other.get_by_label("Grund").fill("Zu ausführlich. " * 40)
    await other.get_by_role("button", name="Ablehnen").click()
    await expect(other.locator(".field__error")).to_have_text("Fehler: Zu lang.")
    await expect(other.get_by_role("alert")).to_contain_text("Grund: Zu lang.")
    await expect(other.get_by_label("Grund")).to_have_attribute("aria-invalid", "true")
    await visit.check(page, "Prüfung Fehler vom Server")
    await other.get_by_label("Grund").fill("Kein Kunde dieses Netzbetreibers")
    await other.get_by_role("button", name="Ablehnen").click()
    await expect(page.locator("article", has_text=other_meter)).to_have_count(0)
    await visit.check(page, "Prüfung nach Ablehnen")

    async with httpx.AsyncClient(base_url=system.onboarding.url, timeout=10) as onboarding:
        await wait_for_status(onboarding, TENANT, approved_id, "letter_dispatched")
        rejected = await wait_for_status(onboarding, TENANT, rejected_id, "rejected")
        assert rejected["note"] == "Kein Kunde dieses Netzbetreibers"

    await page.get_by_role("link", name="Übersicht").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Back-Office")
    await visit.check(page, "Übersicht")

    await page.get_by_role("link", name="Anträge", exact=True).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Eingegangene Anträge")
    await page.get_by_label("Status").select_option(label="abgelehnt")
    await page.get_by_role("button", name="Filtern").click()
    await expect(page).to_have_url(f"{base}/backoffice/antraege?status=rejected")
    row = page.get_by_role("row").filter(has_text=other_meter)
    await expect(row).to_contain_text("abgelehnt")
    await expect(row).to_contain_text("Rolf Ablehner")
    await visit.check(page, "Anträge abgelehnt")
    await page.goto(f"{base}/backoffice/antraege")
    await expect(page.get_by_role("row").filter(has_text=meter)).to_contain_text("Brief versandt")

    [letter] = [item for item in await _letters(system) if item["request_id"] == approved_id]
    await page.get_by_role("link", name="Briefe").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Briefe")
    letter_row = page.get_by_role("row").filter(has_text=letter["reference"])
    await expect(letter_row).to_contain_text("Karla Prüferin")
    await visit.check(page, "Briefe")

    # The print house reports the letter as returned: a task on the page, done with "Erledigt".
    await report_by_hand(
        system.kafka.access(Principal.PRINT_HOUSE),
        TENANT,
        UUID(letter["job_id"]),
        DispatchStatus.RETURNED,
        "Empfänger unbekannt",
    )
    async with httpx.AsyncClient(base_url=system.onboarding.url, timeout=10) as onboarding:
        await wait_for_status(onboarding, TENANT, approved_id, "letter_returned")
    await page.get_by_role("link", name="Rückläufer").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Rückläufer")
    task_row = page.get_by_role("row").filter(has_text=letter["reference"])
    await expect(task_row).to_contain_text("Empfänger unbekannt")
    await expect(task_row).to_contain_text("Brief zurück")
    await visit.check(page, "Rückläufer")
    await task_row.get_by_role("button", name="Erledigt").click()
    await expect(page.get_by_role("status").filter(has_text="ist erledigt")).to_be_visible()
    await expect(page.get_by_role("row").filter(has_text=letter["reference"])).to_have_count(0)
    await visit.check(page, "Rückläufer erledigt")

    await page.get_by_role("button", name="Abmelden").click()
    await expect(page).to_have_url(f"{base}/backoffice/anmelden?abgemeldet=1")
    await page.goto(base + "/backoffice/briefe")
    await expect(page.get_by_label("E-Mail-Adresse")).to_be_visible()


async def test_an_ended_session_sends_back_to_the_login(system: System, browser: Browser, visit: Visit) -> None:
    base = system.gateway.url(TENANT)
    page = await browser.new_page()
    await page.goto(base + "/backoffice/antraege")
    await expect(page).to_have_url(f"{base}/backoffice/anmelden?weiter=%2Fbackoffice%2Fantraege")
    await expect(page.get_by_label("Code aus der Authenticator-App")).to_be_visible()
    await visit.check(page, "Ohne Anmeldung")


async def test_a_clerk_of_one_operator_cannot_sign_in_at_another(system: System, browser: Browser) -> None:
    account = system.staff[TENANT]["clerk"]
    base = system.gateway.url("000512")
    page = await browser.new_page()
    await page.goto(base + "/backoffice/anmelden")
    await page.get_by_label("E-Mail-Adresse").fill(account.email)
    await page.get_by_label("Passwort").fill(account.password)
    await page.get_by_label("Code aus der Authenticator-App").fill(totp_code(account.totp_secret))
    await page.get_by_role("button", name="Anmelden").click()
    await expect(page.get_by_role("alert")).to_contain_text("stimmt nicht")


async def test_an_admin_replays_a_dead_letter_and_a_clerk_is_told_it_is_for_admins(
    system: System, browser: Browser, visit: Visit
) -> None:
    """A poison reading (a day the ingest refuses) shows on "Störungen" with where and why, never whose; a replay
    before the cause is fixed says it failed again and why, and the list counts the second failure."""
    meter = random_meter_number()
    await produce(system.kafka, topics.METER_READINGS.name, day_json(meter, "9999-12-31", 0), key=meter.encode())
    base = system.gateway.url(TENANT)
    page = await browser.new_page()
    await _login(page, base, visit, system.staff[TENANT]["admin"])
    row = page.get_by_role("row").filter(has_text="9999-12-31").filter(has_text="1×")

    async def shown() -> bool | None:
        await page.goto(base + "/backoffice/stoerungen")
        await expect(page.get_by_role("heading", level=1)).to_have_text("Störungen")
        return await row.count() == 1 or None

    await eventually(shown, timeout=60, what="the poison reading on the page Störungen")
    await expect(row).to_contain_text("Messwerte")
    await expect(row).to_contain_text("LoadProfileDay")
    await expect(row).not_to_contain_text(meter)
    await visit.check(page, "Störungen")
    await row.get_by_role("button", name=re.compile("^Erneut verarbeiten")).click()
    await expect(page.get_by_role("status").filter(has_text="erneut fehlgeschlagen")).to_contain_text("9999-12-31")
    again = page.get_by_role("row").filter(has_text="9999-12-31").filter(has_text="2×")
    await expect(again).to_contain_text(system.staff[TENANT]["admin"].name)
    await visit.check(page, "Störungen nach erneuter Verarbeitung")

    clerk_page = await browser.new_page()
    await _login(clerk_page, base, visit, system.staff[TENANT]["clerk"])
    await clerk_page.goto(base + "/backoffice/stoerungen")
    await expect(
        clerk_page.get_by_role("status").filter(has_text="nur Administratorinnen und Administratoren")
    ).to_be_visible()
    await expect(clerk_page.get_by_role("table")).to_have_count(0)
    await visit.check(clerk_page, "Störungen für Sachbearbeitung")


async def test_an_admin_sees_a_received_interchange_and_reprocesses_its_refused_message(
    system: System, browser: Browser, visit: Visit
) -> None:
    """An MSCONS file with one message for a known location and one for a location master data does not know yet
    shows on "Marktkommunikation" with the refusal in German and the answers sent; once the location's master data
    is in, "Erneut verarbeiten" stores the message and the page says so. Another file under the same reference is
    listed as rejected, a duplicate, with nothing to process again."""
    known, unknown = random_meter_number(), random_meter_number()
    await publish_master_data(system.kafka, TENANT, located_point(known))
    await wait_until_consumed(system.kafka, CONSUMED)
    created = unique_moment()
    reference = created.strftime("%y%m%d%H%M%S")
    await deliver(system, two_messages(mscons_file(known, created), mscons_file(unknown, created)))
    await deliver(system, mscons_file(known, created))  # another file under the same reference: a duplicate

    base = system.gateway.url(TENANT)
    page = await browser.new_page()
    await page.goto(base + "/backoffice/marktkommunikation")
    await expect(page).to_have_url(f"{base}/backoffice/anmelden?weiter=%2Fbackoffice%2Fmarktkommunikation")
    account = system.staff[TENANT]["admin"]
    await page.get_by_label("E-Mail-Adresse").fill(account.email)
    await page.get_by_label("Passwort").fill(account.password)
    await page.get_by_label("Code aus der Authenticator-App").fill(totp_code(account.totp_secret))
    await page.get_by_role("button", name="Anmelden").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Marktkommunikation")

    duplicate = page.get_by_role("row").filter(has_text=reference).filter(has_text="Ganze Datei abgelehnt")
    await expect(duplicate).to_contain_text("Doppelt: der Absender hat diese Referenz schon für eine andere Datei")
    await expect(duplicate).to_contain_text("CONTRL: abgelehnt")
    await expect(duplicate.get_by_role("button")).to_have_count(0)  # the sender must send it again
    row = page.get_by_role("row").filter(has_text=reference).filter(has_not_text="Ganze Datei abgelehnt")
    await expect(row).to_contain_text("1 angenommen, 1 abgelehnt")
    await expect(row).to_contain_text("Nachricht 2: Z14 – Markt- bzw. Messlokation im IT-System nicht gefunden")
    await expect(row).to_contain_text(SENDER)
    await expect(row).to_contain_text("13025")
    await expect(row).to_contain_text("CONTRL: angenommen")
    await expect(row).to_contain_text("APERAK zu Nachricht 2")
    await visit.check(page, "Marktkommunikation")

    await publish_master_data(system.kafka, TENANT, located_point(unknown))  # the cause is fixed
    await wait_until_consumed(system.kafka, CONSUMED)
    await row.get_by_role("button", name=re.compile(f"^Erneut verarbeiten\\W+Referenz {reference}$")).click()
    said = page.get_by_role("status").filter(has_text=f"Übertragungsdatei {reference}")
    await expect(said).to_contain_text("Alle Nachrichten sind jetzt übernommen.")
    await expect(said).to_contain_text("Gespeichert: 1 Tag Lastgang.")
    await expect(row).to_contain_text("2 angenommen, 0 abgelehnt")
    await expect(row.get_by_role("button")).to_have_count(0)  # nothing left to process
    await visit.check(page, "Marktkommunikation nach erneuter Verarbeitung")
