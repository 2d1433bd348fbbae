"""The whole journey in a real browser through the gateway: form → copy e-mail → letter → access request →
confirmation → password → login → (choose partner) → readings."""

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from playwright.async_api import Browser, Page, expect

from contracts import topics
from contracts.common import PartnerRole, PostalAddress
from contracts.masterdata import BillingPeriod, MeterPointRecorded, PartnerOfRecord
from kit.energy_day import day_of, quarter_hours_of
from kit.months import add_months
from services.meterdata.domain import kept_since
from tests.browser.conftest import Visit
from tests.conftest import System
from tests.e2e.test_meterdata import load_day, publish
from tests.journeys import (
    address,
    letter_links,
    meter_point,
    pdf_text,
    printed_letters_mentioning,
    publish_master_data,
    random_meter_number,
    random_partner_numbers,
    wait_until_consumed,
)
from tests.unit.examples import moved_point

pytestmark = pytest.mark.stack
TENANT = "000328"
PASSWORD = "Sonnenblumen am Deich 2026"

# What a signed-in customer's pages read, consumed before the test goes on: master data (identity, meter data),
# the signing keys and the readings.
READ_MODELS = {
    "identity": (topics.MASTER_DATA.name,),
    "meterdata": (topics.MASTER_DATA.name, topics.IDENTITY_KEYS.name),
    "meterdata-ingest": (topics.METER_READINGS.name,),
}


async def _customer(system: System, roles: tuple[PartnerRole, ...], name: str) -> tuple[str, list[str]]:
    record = address("Postweg", "1", "12345", "Musterstadt")
    point = meter_point(
        random_meter_number(), name, record, address("Lindenweg", "4", "12345", "Musterstadt"), roles=roles
    )
    await publish_master_data(system.kafka, TENANT, point)
    yesterday = date.today() - timedelta(days=1)
    for role in roles:
        obis = "1-1:1.29.0" if role == PartnerRole.CONSUMPTION else "1-1:2.29.0"
        await publish(
            system, *(load_day(point.meter_number, yesterday - timedelta(days=i), obis=obis, kwh=0.1) for i in range(3))
        )
    await wait_until_consumed(system.kafka, {**READ_MODELS, "onboarding": (topics.MASTER_DATA.name,)})
    return point.meter_number, [p.partner_number for p in point.partners]


async def _request_form(
    page: Page, system: System, meter: str, first: str, last: str, email: str, visit: Visit
) -> None:
    await page.goto(system.gateway.url(TENANT) + "/antrag")
    await visit.check(page, "Antrag")
    await page.get_by_label("Vorname").fill(first)
    await page.get_by_label("Nachname").fill(last)
    await page.get_by_label("Straße", exact=True).fill("Lindenweg")
    await page.get_by_label("Hausnummer", exact=True).fill("4")
    await page.get_by_label("PLZ", exact=True).fill("12345")
    await page.get_by_label("Ort", exact=True).fill("Musterstadt")
    await page.get_by_label("Zählernummer").fill(meter[:4].lower() + " " + meter[4:])
    await page.get_by_label("E-Mail").fill(email)
    await page.get_by_role("button", name="Absenden").click()
    await expect(page).to_have_url(f"{system.gateway.url(TENANT)}/antrag/gesendet")
    await visit.check(page, "Antrag gesendet")


def _consumer_of_record(name: str, home: PostalAddress, **partner: object) -> MeterPointRecorded:
    """A new meter with one consumption partner living at its connection address; ``partner``: more of the
    partner's master data (billing periods, Modul 3, …)."""
    [number] = random_partner_numbers(1)
    return MeterPointRecorded(
        meter_number=random_meter_number(),
        connection_address=home,
        partners=(
            PartnerOfRecord.model_validate(
                {
                    "partner_number": number,
                    "role": PartnerRole.CONSUMPTION,
                    "name": name,
                    "postal_address": home,
                    **partner,
                }
            ),
        ),
        recorded_at=datetime.now(UTC),
    )


async def _register(
    page: Page, system: System, meter: str, partner: str, email: str, visit: Visit, nth: int, link: str | None = None
) -> None:
    await page.goto(link or f"{system.gateway.url(TENANT)}/zugang")
    await visit.check(page, f"Zugang beantragen {nth}")
    if link is None:
        await page.get_by_label("Zählernummer").fill(meter)
        await page.get_by_label("Geschäftspartner-Nr.", exact=True).fill(partner)
    else:  # the letter's link carries both numbers in the fragment
        await expect(page.get_by_label("Zählernummer")).to_have_value(meter)
    await page.get_by_label("E-Mail").fill(email)
    await page.get_by_role("button", name="Zugang beantragen").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Postfach")
    mail = await system.mail.wait_for(
        lambda m: email in m.envelope_to and "bestätigen" in m.subject.lower() and m.id not in _seen, timeout=20
    )
    _seen.add(mail.id)
    [confirm] = [link for link in mail.links() if "#token=" in link]
    await page.goto(confirm)
    await visit.check(page, f"Bestätigen {nth}")
    if nth == 1:
        await page.get_by_label("Neues Passwort", exact=True).fill(PASSWORD)
        await page.get_by_label("Neues Passwort wiederholen").fill(PASSWORD)
        await page.get_by_role("button", name="Passwort speichern").click()
    else:
        await page.get_by_label("Ihr Passwort").fill(PASSWORD)
        await page.get_by_role("button", name="Bestätigen").click()
    await page.wait_for_load_state("networkidle")


_seen: set[str] = set()


async def _login(page: Page, system: System, email: str, visit: Visit) -> None:
    await page.goto(system.gateway.url(TENANT) + "/anmelden")
    await visit.check(page, "Anmelden")
    await page.get_by_label("E-Mail").fill(email)
    await page.get_by_label("Passwort", exact=True).fill(PASSWORD)
    await page.get_by_role("button", name="Anmelden").click()


async def test_one_partner_customer_from_form_to_readings(system: System, browser: Browser, visit: Visit) -> None:
    meter, [partner] = await _customer(system, (PartnerRole.CONSUMPTION,), "Erika Beispiel")
    email = f"erika.{meter.lower()}@example.org"
    page = await browser.new_page()
    await page.goto(system.gateway.url(TENANT) + "/")
    await visit.check(page, "Start")
    await _request_form(page, system, meter, "Erika", "Beispiel", email, visit)
    copy = await system.mail.wait_for(lambda m: email in m.envelope_to and "Kopie" in m.subject, timeout=20)
    assert meter in copy.text

    letters = []
    for _ in range(100):
        letters = printed_letters_mentioning(system.printed / TENANT, meter)
        if letters:
            break
        await page.wait_for_timeout(200)
    assert letters, "no printed letter"
    text = pdf_text(letters[0])
    assert partner in text and "Postweg 1" in text
    await page.goto(f"{system.gateway.url(TENANT)}/dev/letters/")
    await page.screenshot(path=str(visit.folder / f"{visit.name}-printed-letters.png"))

    [link] = {link for link in letter_links(letters[0]) if "#zaehler=" in link}  # the letter's QR code and link
    assert link.startswith(f"{system.gateway.url(TENANT)}/zugang#zaehler={meter}&partner={partner}&code=")
    await _register(page, system, meter, partner, email, visit, 1, link=link)
    await _login(page, system, email, visit)
    await expect(page.get_by_role("heading", level=1)).to_have_text("Ihr Verbrauch", timeout=15_000)
    await expect(page.locator(".completeness").first).to_contain_text("von")
    await visit.check(page, "Verbrauch")
    # The day view: 15-minute values come one entry per day from the API and are unpacked into quarter hours.
    yesterday = date.today() - timedelta(days=1)
    await page.goto(f"{page.url.split('?')[0]}?ansicht=tag&datum={yesterday.isoformat()}")
    await expect(page.locator(".completeness").first).to_contain_text(
        re.compile(r"\b(92|96|100) von \1 Werten"), timeout=15_000
    )
    async with page.expect_download() as download:
        await page.get_by_role("button", name="CSV herunterladen").click()
    assert (await download.value).suggested_filename.endswith(".csv")
    await expect(page.get_by_role("status").filter(has_text="Die Datei wurde heruntergeladen.")).to_be_visible()
    await page.get_by_role("button", name="Abmelden").click()
    await expect(page).to_have_url(f"{system.gateway.url(TENANT)}/anmelden?abgemeldet=1")
    access_log = system.gateway.access_log.read_text(encoding="utf-8")
    assert "/api/meterdata/partners/" in access_log  # the journey went through the gateway …
    assert partner not in access_log and email not in access_log and meter not in access_log  # … unnamed


async def test_two_partner_customer_chooses_and_switches(system: System, browser: Browser, visit: Visit) -> None:
    meter, [consumption, feed_in] = await _customer(system, (PartnerRole.CONSUMPTION, PartnerRole.FEED_IN), "Max Solar")
    email = f"max.{meter.lower()}@example.org"
    page = await browser.new_page()
    await _request_form(page, system, meter, "Max", "Solar", email, visit)
    letters = []
    for _ in range(100):
        letters = printed_letters_mentioning(system.printed / TENANT, meter)
        if letters:
            break
        await page.wait_for_timeout(200)
    assert len(letters) == 1  # one letter with both numbers and their roles
    text = pdf_text(letters[0])
    assert consumption in text and feed_in in text and "Einspeisung" in text
    await _register(page, system, meter, consumption, email, visit, 1)
    await _register(page, system, meter, feed_in, email, visit, 2)
    await _login(page, system, email, visit)
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Geschäftspartner", timeout=15_000)
    await visit.check(page, "Partner wählen")
    await page.get_by_label(f"{feed_in} – Einspeisung").check()
    await page.get_by_role("button", name="Als diese Geschäftspartner-Nr. fortfahren").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Ihre Einspeisung", timeout=15_000)
    await visit.check(page, "Einspeisung")
    await page.get_by_label("Angezeigte Geschäftspartner-Nr.").select_option(consumption)
    await page.get_by_role("button", name="Wechseln").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Ihr Verbrauch", timeout=15_000)
    await page.goto(system.gateway.url(TENANT) + "/konto")
    await visit.check(page, "Konto")
    await expect(page.get_by_role("main").get_by_text(feed_in).first).to_be_visible()
    await expect(page.get_by_role("table", name="Wo Sie gerade angemeldet sind")).to_contain_text("(dieses Gerät)")


async def test_both_demo_operators_side_by_side(system: System, browser: Browser, visit: Visit) -> None:
    page = await browser.new_page()
    headers = {}
    for tenant in ("000328", "000512"):
        await page.goto(system.gateway.url(tenant) + "/")
        await visit.check(page, f"Start {tenant}")
        headers[tenant] = await page.locator("header").inner_text()
    assert "Stadtwerke Musterstadt" in headers["000328"] and "Beispieltal" in headers["000512"]
    for path in ("/passwort-vergessen", "/entwicklung", "/passwort-neu#token=" + "x" * 43, "/gibt-es-nicht"):
        await page.goto(system.gateway.url(TENANT) + path)
        await visit.check(page, path)


async def test_the_request_form_by_keyboard_alone(system: System, browser: Browser, visit: Visit) -> None:
    meter, _ = await _customer(system, (PartnerRole.CONSUMPTION,), "Klara Tastatur")
    email = f"klara.{meter.lower()}@example.org"
    page = await browser.new_page()
    await page.goto(system.gateway.url(TENANT) + "/antrag")
    await page.wait_for_selector("h1")
    for _ in range(40):  # from the top of the page to the first field, by Tab only
        await page.keyboard.press("Tab")
        if await page.evaluate("document.activeElement && document.activeElement.name") == "first_name":
            break
    for value in ("Klara", "Tastatur", "Lindenweg", "4", "12345", "Musterstadt"):
        await page.keyboard.type(value)
        await page.keyboard.press("Tab")
    await page.keyboard.press("Tab")  # past "Anschlussobjekt weicht ab"
    for value in (meter, email):
        await page.keyboard.type(value)
        await page.keyboard.press("Tab")
    await page.keyboard.press("Tab")  # past the optional phone number
    assert await page.evaluate("document.activeElement.textContent") == "Absenden"
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(f"{system.gateway.url(TENANT)}/antrag/gesendet")
    await system.mail.wait_for(lambda m: email in m.envelope_to, timeout=20)


async def test_a_customer_who_moved_out_sees_moved_out_and_only_their_own_days(
    system: System, browser: Browser, visit: Visit
) -> None:
    """One meter: A moved out on the 14th of last month, B moved in on the 15th. A's account says "ausgezogen (bis
    14.…)", and A's month shows A's 14 days, none of B's."""
    last_month = (date.today().replace(day=1) - timedelta(days=1)).replace(day=1)
    moved_out, moved_in = last_month.replace(day=14), last_month.replace(day=15)
    a, b = random_partner_numbers(2)
    point = moved_point(
        a, b, meter=random_meter_number(), moved_out=moved_out, moved_in=moved_in, recorded_at=datetime.now(UTC)
    )
    meter = point.meter_number
    await publish_master_data(system.kafka, TENANT, point)
    await publish(system, *(load_day(meter, last_month.replace(day=n), kwh=0.1) for n in range(10, 20)))
    await wait_until_consumed(system.kafka, READ_MODELS)
    email = f"anna.{meter.lower()}@example.org"
    page = await browser.new_page()
    await _register(page, system, meter, a, email, visit, 1)
    await _login(page, system, email, visit)
    await expect(page.get_by_role("heading", level=1)).to_have_text("Ihr Verbrauch", timeout=15_000)
    await page.goto(f"{system.gateway.url(TENANT)}/verbrauch?ansicht=monat&datum={moved_out.isoformat()}")
    table = page.locator(".table-details table")
    await page.get_by_text("Werte als Tabelle anzeigen").click()
    await expect(table.locator("tbody tr")).to_have_count(14, timeout=15_000)  # the 1st … 14th, B's days not at all
    await expect(page.locator(".completeness").first).to_contain_text("480 von 1.344 Werten")  # 10th … 14th of 14 days
    await visit.check(page, "Verbrauch nach Auszug")
    await page.goto(system.gateway.url(TENANT) + "/konto")
    row = page.get_by_role("row").filter(has_text=a)
    await expect(row).to_contain_text(f"ausgezogen (bis {moved_out:%d.%m.%Y})")
    await visit.check(page, "Konto nach Auszug")


async def test_the_consumption_page_lists_billing_periods_and_says_how_far_back_values_reach(
    system: System, browser: Browser, visit: Visit
) -> None:
    """[8 of 11] §4: master data bills this customer from the first of a month for twelve months; the page lists the
    last such period and the running one with their consumption and completeness, and says how far back values
    reach (the first day kept, the customer's first value)."""
    today = day_of(datetime.now(UTC))  # the service's today: the Europe/Berlin day
    yesterday = today - timedelta(days=1)
    month = yesterday.replace(day=1)
    periods = (
        BillingPeriod(first_day=add_months(month, -12), last_day=month - timedelta(days=1)),
        BillingPeriod(first_day=month, last_day=add_months(month, 12) - timedelta(days=1)),
    )
    point = _consumer_of_record("Bea Beleg", address("Lindenweg", "4", "12345", "Musterstadt"), billing_periods=periods)
    meter, partner = point.meter_number, point.partners[0].partner_number
    await publish_master_data(system.kafka, TENANT, point)
    await publish(system, *(load_day(meter, yesterday - timedelta(days=n), kwh=0.1) for n in range(3)))
    await wait_until_consumed(system.kafka, READ_MODELS)
    email = f"bea.{meter.lower()}@example.org"
    page = await browser.new_page()
    await _register(page, system, meter, partner, email, visit, 1)
    await _login(page, system, email, visit)
    await expect(page.get_by_role("heading", level=1)).to_have_text("Ihr Verbrauch", timeout=15_000)
    panel = page.get_by_role("region", name="Abrechnungszeiträume")
    first_value = yesterday - timedelta(days=2)
    await expect(panel).to_contain_text(
        f"Ihre Werte reichen bis zum {kept_since(today):%d.%m.%Y} zurück", timeout=15_000
    )
    await expect(panel).to_contain_text(
        f"Der erste Messwert zu Ihrer Geschäftspartner-Nr. ist vom {first_value:%d.%m.%Y}."
    )
    rows = panel.locator("tbody tr")
    await expect(rows).to_have_count(2)
    for row, period in zip((rows.nth(0), rows.nth(1)), periods, strict=True):
        await expect(row.get_by_role("rowheader")).to_contain_text(
            f"{period.first_day:%d.%m.%Y} – {period.last_day:%d.%m.%Y}"
        )
    running = rows.nth(1)
    await expect(running).to_contain_text(f"(Werte vom {month:%d.%m.%Y} bis {yesterday:%d.%m.%Y})")
    await expect(running).to_contain_text("der Zeitraum läuft noch")
    days_in_running = [first_value + timedelta(days=n) for n in range(3) if first_value + timedelta(days=n) >= month]
    await expect(running.locator("td").first).to_have_text(
        f"{sum(quarter_hours_of(d) for d in days_in_running) * 0.1:.3f}".replace(".", ",") if days_in_running else "–"
    )
    await visit.check(page, "Verbrauch mit Abrechnungszeiträumen")


async def test_a_modul3_customer_sees_the_grid_fee_per_level_and_where_shifting_saves_most(
    system: System, browser: Browser, visit: Visit
) -> None:
    """[10 of 11] §3: a customer who chose Modul 3, a week of 100 Wh every quarter hour in the first quarter of 2026
    (000328's price sheet: NT 01:00–04:00, HT 17:00–19:00): the week view shows energy and fee per level, the
    standard fee beside it, and the tip to move HT consumption into NT — the same figures as the API."""
    point = _consumer_of_record(
        "Paul Pumpe", address("Wärmeweg", "3", "12345", "Musterstadt"), time_variable_grid_fee=True
    )
    meter, partner = point.meter_number, point.partners[0].partner_number
    monday = date(2026, 3, 23)
    await publish_master_data(system.kafka, TENANT, point)
    await publish(system, *(load_day(meter, monday + timedelta(days=n), kwh=0.1) for n in range(7)))
    await wait_until_consumed(system.kafka, READ_MODELS)
    email = f"paul.{meter.lower()}@example.org"
    page = await browser.new_page()
    await _register(page, system, meter, partner, email, visit, 1)
    await _login(page, system, email, visit)
    await expect(page.get_by_role("heading", level=1)).to_have_text("Ihr Verbrauch", timeout=15_000)
    await page.goto(f"{page.url.split('?')[0]}?ansicht=woche&datum={monday.isoformat()}")

    panel = page.get_by_role("region", name="Zeitvariables Netzentgelt (Modul 3)")
    await expect(panel).to_contain_text(
        "Netzentgelt mit Modul 3: 5,48 € · mit dem Standardpreis wären es 5,76 €. Sie sparen 0,28 €.", timeout=15_000
    )
    rows = panel.locator("tbody tr")
    await expect(rows).to_have_count(3)
    await expect(rows.nth(0)).to_have_text(re.compile(r"Hochlast \(HT\)\s*17:00–19:00 Uhr\s*10,84\s*5,600\s*0,61\s*€"))
    await expect(rows.nth(1)).to_have_text(re.compile(r"Standard \(ST\)\s*übrige Zeit\s*8,62\s*53,200\s*4,59\s*€"))
    await expect(rows.nth(2)).to_have_text(
        re.compile(r"Niedriglast \(NT\)\s*01:00–04:00 Uhr\s*3,45\s*8,000\s*0,28\s*€")
    )
    await expect(panel).to_contain_text("spart 7,39 ct")
    await expect(panel).to_contain_text("bis zu 0,41 € weniger")
    await visit.check(page, "Verbrauch mit zeitvariablem Netzentgelt")
    await page.goto(f"{page.url.split('?')[0]}?ansicht=jahr&datum={monday.isoformat()}")
    await expect(panel).to_contain_text("bitte wählen Sie oben einen davon", timeout=15_000)


async def test_on_a_phone_the_portal_installs_and_shows_the_last_values_without_a_network(
    system: System, browser: Browser, visit: Visit
) -> None:
    """[10 of 11] §4: in a phone's viewport the portal links its operator's manifest and installs a service worker;
    with the network cut, the readings page opens again from the device and says the values are the last ones
    loaded; signing out removes the kept answers."""
    meter, [partner] = await _customer(system, (PartnerRole.CONSUMPTION,), "Olga Offline")
    email = f"olga.{meter.lower()}@example.org"
    context = await browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=3, is_mobile=True, has_touch=True
    )
    page = await context.new_page()
    await _register(page, system, meter, partner, email, visit, 1)
    await _login(page, system, email, visit)
    await expect(page.get_by_role("heading", level=1)).to_have_text("Ihr Verbrauch", timeout=15_000)

    href = await page.locator('link[rel="manifest"]').get_attribute("href")
    assert href == f"/manifests/{TENANT}.webmanifest"
    manifest = await page.evaluate(
        "(href) => fetch(href).then(async (r) => ({type: r.headers.get('Content-Type'), body: await r.json()}))", href
    )
    assert manifest["type"].startswith("application/manifest+json")
    assert (manifest["body"]["display"], manifest["body"]["start_url"]) == ("standalone", "/")
    assert await page.evaluate("navigator.serviceWorker.ready.then((r) => Boolean(r.active))")
    await page.reload()  # now through the worker, which keeps the answers
    await expect(page.locator(".completeness").first).to_contain_text("von", timeout=15_000)
    shown = await page.locator(".completeness").first.text_content()
    await visit.check(page, "Verbrauch auf dem Telefon")

    await context.set_offline(True)
    await page.reload()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Ihr Verbrauch", timeout=15_000)
    banner = page.get_by_role("status").filter(has_text="Keine Verbindung.")
    await expect(banner).to_contain_text("Sie sehen die zuletzt geladenen Werte (Stand:")
    await expect(page.locator(".completeness").first).to_have_text(shown or "")
    await visit.check(page, "Verbrauch offline")

    await context.set_offline(False)
    await page.reload()
    await expect(page.locator(".completeness").first).to_contain_text("von", timeout=15_000)
    await expect(banner).to_have_count(0)
    await page.get_by_role("button", name="Abmelden").click()
    await expect(page).to_have_url(f"{system.gateway.url(TENANT)}/anmelden?abgemeldet=1")
    assert not await page.evaluate("caches.has('plusportal-data')")
    await context.close()


async def _tab_to(page: Page, name: str, limit: int = 40) -> None:
    """Presses Tab until the focused element's accessible name (label, or text of a button or link) is ``name``."""
    for _ in range(limit):
        await page.keyboard.press("Tab")
        focused = await page.evaluate(
            "(() => { const e = document.activeElement; if (!e) return '';"
            " const label = e.labels && e.labels.length ? e.labels[0].textContent : e.getAttribute('aria-label');"
            " return (label || e.textContent || '').trim(); })()"
        )
        if focused == name:
            return
    raise AssertionError(f"no element named {name!r} within {limit} presses of Tab")


async def test_sign_in_works_with_the_keyboard_alone_and_every_operator_publishes_an_accessibility_statement(
    system: System, browser: Browser, visit: Visit
) -> None:
    """[10 of 11] §4 (BFSG, EN 301 549): the sign-in form's fields and button carry accessible names and are reached
    and used with Tab, typing and Enter only; the footer links the operator's accessibility statement with its
    contact for reporting a barrier."""
    meter, [partner] = await _customer(system, (PartnerRole.CONSUMPTION,), "Tara Taste")
    email = f"tara.{meter.lower()}@example.org"
    page = await browser.new_page()
    await _register(page, system, meter, partner, email, visit, 1)

    await page.goto(system.gateway.url(TENANT) + "/anmelden")
    await expect(page.get_by_role("textbox", name="E-Mail")).to_be_visible()
    await expect(page.get_by_role("button", name="Anmelden")).to_be_visible()
    await _tab_to(page, "E-Mail")
    await page.keyboard.type(email)
    await _tab_to(page, "Passwort")
    await page.keyboard.type(PASSWORD)
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Ihr Verbrauch", timeout=15_000)

    await _tab_to(page, "Erklärung zur Barrierefreiheit", limit=200)
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Erklärung zur Barrierefreiheit")
    report = page.get_by_role("main").get_by_role("link", name="service@swm-netz.example")
    await expect(report).to_have_attribute("href", re.compile(r"^mailto:service@swm-netz\.example\?subject="))
    await expect(page.get_by_role("main")).to_contain_text("WCAG) 2.1, Stufe AA")
    await expect(page.get_by_role("main")).to_contain_text("Marktüberwachungsstelle der Länder")
    await visit.check(page, "Erklärung zur Barrierefreiheit")
