"""Identity on the real stack: access request → confirmation mail → password → login per partner number."""

import asyncio

import httpx
import jwt
import pytest
from pydantic import SecretStr

from contracts import topics
from contracts.common import PartnerRole
from services.identity import crypto
from services.identity.api import DEVICE_COOKIE
from tests.conftest import System
from tests.journeys import (
    PortalClient,
    address,
    envelopes,
    meter_point,
    produce,
    publish_master_data,
    random_meter_number,
    read_topic,
    submit_matching_request,
    token_from,
    wait_for_status,
    wait_until_consumed,
)

pytestmark = pytest.mark.stack
TENANT = "000328"
PASSWORD = "Sonnenblumen am Deich 2026"


async def _known_to_identity(system: System, tenant: str, roles: tuple[PartnerRole, ...]) -> tuple[str, list[str]]:
    home = address("Postweg", "1", "12345", "Musterstadt")
    point = meter_point(random_meter_number(), "Erika Beispiel", home, home, roles=roles)
    await publish_master_data(system.kafka, tenant, point)
    await wait_until_consumed(system.kafka, {"identity": (topics.MASTER_DATA.name,)})
    return point.meter_number, [p.partner_number for p in point.partners]


async def _confirmation_link(system: System, email: str, count: int = 1) -> str:
    async def arrived() -> bool:
        return len([m for m in system.mail.messages() if email in m.envelope_to]) >= count

    for _ in range(100):
        if await arrived():
            break
        await asyncio.sleep(0.2)
    mails = [m for m in system.mail.messages() if email in m.envelope_to]
    assert len(mails) >= count, f"no mail #{count} for {email}"
    [link] = [link for link in mails[count - 1].links() if "#token=" in link]
    assert "kundenservice@plusportal.de" in mails[count - 1].sender
    return link


async def _register(client: PortalClient, system: System, meter: str, partner: str, email: str, count: int) -> None:
    asked = await client.call(
        "POST", "/access-requests", json={"meter_number": meter, "partner_number": partner, "email": email}
    )
    assert asked.status_code == 202
    token = token_from(await _confirmation_link(system, email, count))
    info = (await client.call("POST", "/links/inspect", json={"token": token})).json()
    assert info["email"] == email
    done = await client.call("POST", "/access-requests/complete", json={"token": token, "password": PASSWORD})
    assert done.status_code == 204, done.text
    again = await client.call("POST", "/access-requests/complete", json={"token": token, "password": PASSWORD})
    assert again.status_code == 410  # single use


async def test_one_partner_customer_registers_and_logs_in(system: System) -> None:
    meter, [partner] = await _known_to_identity(system, TENANT, (PartnerRole.CONSUMPTION,))
    email = f"erika.{meter.lower()}@example.org"
    async with PortalClient(system.identity.url, TENANT) as browser:
        await _register(browser, system, meter, partner, email, 1)
        login = await browser.call("POST", "/sessions", json={"email": email, "password": PASSWORD})
        assert login.status_code == 200, login.text
        assert login.json()["partner_number"] == partner and login.json()["role"] == "consumption"
        token = (await browser.call("POST", "/session/token")).json()["access_token"]
    async with httpx.AsyncClient(base_url=system.identity.url) as plain:
        jwks = (await plain.get("/.well-known/jwks.json", headers={"Host": f"{TENANT}.localhost"})).json()
    key = jwt.PyJWK(jwks["keys"][0])
    claims = jwt.decode(token, key.key, algorithms=["ES256"], audience="plusportal")
    assert (claims["tenant"], claims["partner"], claims["role"]) == (TENANT, partner, "consumption")
    log = system.identity.log_path.read_text(encoding="utf-8")
    assert email not in log and partner not in log and PASSWORD not in log  # no personal data in logs


async def test_two_partner_customer_links_both_to_one_login_and_switches(system: System) -> None:
    meter, [consumption, feed_in] = await _known_to_identity(
        system, TENANT, (PartnerRole.CONSUMPTION, PartnerRole.FEED_IN)
    )
    email = f"solar.{meter.lower()}@example.org"
    async with PortalClient(system.identity.url, TENANT) as browser:
        await _register(browser, system, meter, consumption, email, 1)
        await _register(browser, system, meter, feed_in, email, 2)  # same e-mail, proves the same password
        added = await system.mail.wait_for(lambda m: email in m.envelope_to and "hinzugefügt" in m.subject)
        assert feed_in[-4:] in added.text and "Einspeisung" in added.text

        login = (await browser.call("POST", "/sessions", json={"email": email, "password": PASSWORD})).json()
        assert login["choose_partner"] is True and login["partner_number"] is None
        assert {p["partner_number"] for p in login["partners"]} == {consumption, feed_in}
        no_token = await browser.call("POST", "/session/token")
        assert no_token.status_code == 409

        first_id = browser.session_id
        chosen = await browser.call("POST", "/session/partner", json={"partner_number": feed_in})
        assert chosen.json()["role"] == "feed_in"
        assert browser.session_id != first_id  # a new session id on every partner choice
        switched_from = browser.session_id
        switched = await browser.call("POST", "/session/partner", json={"partner_number": consumption})
        assert switched.json()["partner_number"] == consumption and browser.session_id != switched_from
        token = (await browser.call("POST", "/session/token")).json()["access_token"]
        assert jwt.decode(token, options={"verify_signature": False})["partner"] == consumption

        # The old session id is dead.
        browser.cookies["__Host-plusportal-session"] = switched_from or ""
        assert (await browser.call("GET", "/session")).status_code == 401


async def test_a_session_acts_for_its_own_partner_and_tenant_only(system: System) -> None:
    meter, [partner] = await _known_to_identity(system, TENANT, (PartnerRole.CONSUMPTION,))
    _, [stranger] = await _known_to_identity(system, TENANT, (PartnerRole.CONSUMPTION,))
    email = f"isolation.{meter.lower()}@example.org"
    async with PortalClient(system.identity.url, TENANT) as browser:
        await _register(browser, system, meter, partner, email, 1)
        await browser.call("POST", "/sessions", json={"email": email, "password": PASSWORD})
        other = await browser.call("POST", "/session/partner", json={"partner_number": stranger})
        assert other.status_code == 403
        browser.tenant = "000512"  # the same cookie at the other operator's portal
        assert (await browser.call("GET", "/session")).status_code == 401
        login_there = await browser.call("POST", "/sessions", json={"email": email, "password": PASSWORD})
        assert login_there.status_code == 401  # accounts live within one tenant


async def test_answers_do_not_tell_known_from_unknown(system: System) -> None:
    meter, [partner] = await _known_to_identity(system, TENANT, (PartnerRole.CONSUMPTION,))
    email = f"known.{meter.lower()}@example.org"
    async with PortalClient(system.identity.url, TENANT) as browser:
        await _register(browser, system, meter, partner, email, 1)

        async def answer(method: str, path: str, body: dict[str, str]) -> tuple[int, bytes]:
            response = await browser.call(method, path, json=body)
            return response.status_code, response.content

        valid = await answer(
            "POST", "/access-requests", {"meter_number": meter, "partner_number": partner, "email": email}
        )
        invalid = await answer(
            "POST",
            "/access-requests",
            {"meter_number": meter, "partner_number": "999999999", "email": "nobody@example.org"},
        )
        assert valid == invalid and valid[0] == 202
        known = await answer("POST", "/sessions", {"email": email, "password": "ganz sicher falsch 1"})
        unknown = await answer("POST", "/sessions", {"email": f"x{email}", "password": "ganz sicher falsch 1"})
        assert known == unknown and known[0] == 401
        reset_known = await answer("POST", "/password-resets", {"email": email})
        reset_unknown = await answer("POST", "/password-resets", {"email": f"x{email}"})
        assert reset_known == reset_unknown and reset_known[0] == 202


async def test_a_second_delivery_of_a_request_sends_no_second_mail(system: System) -> None:
    meter, [partner] = await _known_to_identity(system, TENANT, (PartnerRole.CONSUMPTION,))
    email = f"twice.{meter.lower()}@example.org"
    async with PortalClient(system.identity.url, TENANT) as browser:
        await browser.call(
            "POST", "/access-requests", json={"meter_number": meter, "partner_number": partner, "email": email}
        )
        await _confirmation_link(system, email, 1)
    replayed = 0
    for record, envelope in envelopes(await read_topic(system.kafka, topics.IDENTITY_REQUESTS.name)):
        if envelope["payload"].get("email") == email:
            await produce(system.kafka, topics.IDENTITY_REQUESTS.name, record.value, key=record.key)
            replayed += 1
    assert replayed == 1
    await wait_until_consumed(system.kafka, {"identity": (topics.IDENTITY_REQUESTS.name,)})
    await asyncio.sleep(1.5)  # the mail relay's poll interval: a second mail would be out by now
    assert len([m for m in system.mail.messages() if email in m.envelope_to]) == 1


async def test_bad_input_gets_a_reason_never_a_server_error(system: System) -> None:
    async with PortalClient(system.identity.url, TENANT) as browser:
        bad = await browser.call(
            "POST", "/access-requests", json={"meter_number": "12", "partner_number": "abc", "email": "kein-at-zeichen"}
        )
        assert bad.status_code == 422
        assert {e["field"] for e in bad.json()["errors"]} == {"meter_number", "partner_number", "email"}
        not_json = await browser.call("POST", "/sessions", content=b"{", headers={"Content-Type": "application/json"})
        assert not_json.status_code == 422
        short = await browser.call("POST", "/access-requests/complete", json={"token": "x" * 43, "password": "kurz"})
        assert short.status_code == 410  # an unknown link is refused before the password is looked at
        no_session = await browser.call("POST", "/session/token")
        assert no_session.status_code == 401


async def test_onboarding_shows_the_request_as_registered_once_the_partner_is_linked(system: System) -> None:
    request_id, point, email = await submit_matching_request(system.kafka, system.onboarding.url, TENANT)
    partner = point.partners[0].partner_number
    async with httpx.AsyncClient(base_url=system.onboarding.url) as onboarding:
        await wait_for_status(onboarding, TENANT, request_id, "letter_dispatched")
        await wait_until_consumed(system.kafka, {"identity": (topics.MASTER_DATA.name,)})
        async with PortalClient(system.identity.url, TENANT) as browser:
            await _register(browser, system, point.meter_number, partner, email, 2)  # mail 1 is the form's copy
        await wait_for_status(onboarding, TENANT, request_id, "registered")


async def test_a_resend_retires_the_earlier_link(system: System) -> None:
    meter, [partner] = await _known_to_identity(system, TENANT, (PartnerRole.CONSUMPTION,))
    email = f"resend.{meter.lower()}@example.org"
    async with PortalClient(system.identity.url, TENANT) as browser:
        body = {"meter_number": meter, "partner_number": partner, "email": email}
        await browser.call("POST", "/access-requests", json=body)
        first = token_from(await _confirmation_link(system, email, 1))
        await browser.call("POST", "/access-requests", json=body)
        second = token_from(await _confirmation_link(system, email, 2))
        assert (await browser.call("POST", "/links/inspect", json={"token": first})).status_code == 410
        assert (await browser.call("POST", "/links/inspect", json={"token": second})).status_code == 200


async def test_someone_elses_partner_number_gets_a_neutral_mail_and_the_owner_is_told(system: System) -> None:
    meter, [partner] = await _known_to_identity(system, TENANT, (PartnerRole.CONSUMPTION,))
    owner, intruder = f"owner.{meter.lower()}@example.org", f"intruder.{meter.lower()}@example.org"
    async with PortalClient(system.identity.url, TENANT) as browser:
        await _register(browser, system, meter, partner, owner, 1)
        asked = await browser.call(
            "POST", "/access-requests", json={"meter_number": meter, "partner_number": partner, "email": intruder}
        )
        assert asked.status_code == 202
    neutral = await system.mail.wait_for(lambda m: intruder in m.envelope_to)
    assert "#token=" not in neutral.text and "rufen Sie uns an" in neutral.text
    warning = await system.mail.wait_for(lambda m: owner in m.envelope_to and "Hinweis" in m.subject)
    assert intruder not in warning.text  # the owner learns that it happened, not who


async def test_after_five_invalid_pairs_a_partner_number_gets_no_link_for_a_day(system: System) -> None:
    meter, [partner] = await _known_to_identity(system, TENANT, (PartnerRole.CONSUMPTION,))
    email = f"guess.{meter.lower()}@example.org"
    async with PortalClient(system.identity.url, TENANT) as browser:
        for guess in range(5):  # wrong meter numbers for this partner number
            await browser.call(
                "POST",
                "/access-requests",
                json={"meter_number": f"1ABC{guess:010d}", "partner_number": partner, "email": f"g{guess}@example.org"},
            )
        answer = await browser.call(
            "POST", "/access-requests", json={"meter_number": meter, "partner_number": partner, "email": email}
        )
        assert answer.status_code == 202
    await wait_until_consumed(system.kafka, {"identity": (topics.IDENTITY_REQUESTS.name,)})
    await asyncio.sleep(1.5)  # the mail relay's poll interval
    assert [m for m in system.mail.messages() if email in m.envelope_to] == []


async def test_reset_ends_every_session_and_tells_the_customer(system: System) -> None:
    meter, [partner] = await _known_to_identity(system, TENANT, (PartnerRole.CONSUMPTION,))
    email = f"reset.{meter.lower()}@example.org"
    async with (
        PortalClient(system.identity.url, TENANT) as browser,
        PortalClient(system.identity.url, TENANT) as other_browser,
    ):
        await _register(browser, system, meter, partner, email, 1)
        assert (await other_browser.call("POST", "/sessions", json={"email": email, "password": PASSWORD})).is_success
        await browser.call("POST", "/password-resets", json={"email": email})
        token = token_from(await _confirmation_link(system, email, 2))
        new_password = "Ein völlig anderes Passwort 42"
        done = await browser.call("POST", "/password-resets/complete", json={"token": token, "password": new_password})
        assert done.status_code == 204
        assert (await other_browser.call("GET", "/session")).status_code == 401
        await system.mail.wait_for(lambda m: email in m.envelope_to and "geändert" in m.subject)
        assert (await browser.call("POST", "/sessions", json={"email": email, "password": PASSWORD})).status_code == 401
        assert (await browser.call("POST", "/sessions", json={"email": email, "password": new_password})).is_success


async def test_a_customer_downloads_their_data_logs_out_and_deletes_the_login(system: System) -> None:
    meter, [partner] = await _known_to_identity(system, TENANT, (PartnerRole.CONSUMPTION,))
    email = f"gdpr.{meter.lower()}@example.org"
    async with PortalClient(system.identity.url, TENANT) as browser:
        await _register(browser, system, meter, partner, email, 1)
        await browser.call("POST", "/sessions", json={"email": email, "password": PASSWORD})
        export = (await browser.call("GET", "/account/export")).json()
        assert export["email"] == email and export["partner_numbers"][0]["partner_number"] == partner
        assert (await browser.call("DELETE", "/session")).status_code == 204
        assert (await browser.call("GET", "/session")).status_code == 401
        await browser.call("POST", "/sessions", json={"email": email, "password": PASSWORD})
        assert (await browser.call("POST", "/account/delete", json={"password": PASSWORD})).status_code == 204
        assert (await browser.call("POST", "/sessions", json={"email": email, "password": PASSWORD})).status_code == 401
        # The partner number is free again: its owner can register anew.
        await _register(browser, system, meter, partner, email, 2)


async def test_a_customer_sees_their_signed_in_devices_and_ends_the_others(system: System) -> None:
    meter, [partner] = await _known_to_identity(system, TENANT, (PartnerRole.CONSUMPTION,))
    email = f"devices.{meter.lower()}@example.org"
    async with PortalClient(system.identity.url, TENANT) as laptop, PortalClient(system.identity.url, TENANT) as phone:
        await _register(laptop, system, meter, partner, email, 1)
        for browser in (laptop, phone):
            assert (await browser.call("POST", "/sessions", json={"email": email, "password": PASSWORD})).is_success
        listed = (await laptop.call("GET", "/account/sessions")).json()
        assert len(listed) == 2 and [s["current"] for s in listed].count(True) == 1
        assert (await laptop.call("POST", "/account/sessions/end-others")).status_code == 204
        assert (await phone.call("GET", "/session")).status_code == 401
        assert (await laptop.call("GET", "/session")).status_code == 200
        assert len((await laptop.call("GET", "/account/sessions")).json()) == 1


async def test_a_forged_device_cookie_does_not_skip_the_back_off(system: System) -> None:
    """The device cookie spares the customer's own browser the per-e-mail back-off. Its key is this installation's
    own (generated, never in the repository): a cookie signed with the old published development key, or with a
    made-up signature, is an unknown browser like any other."""
    meter, [partner] = await _known_to_identity(system, TENANT, (PartnerRole.CONSUMPTION,))
    email = f"geraet.{meter.lower()}@example.org"
    async with PortalClient(system.identity.url, TENANT) as browser:
        await _register(browser, system, meter, partner, email, 1)
        assert (await browser.call("POST", "/sessions", json={"email": email, "password": PASSWORD})).status_code == 200
        genuine = browser.cookies[DEVICE_COOKIE]
    async with PortalClient(system.identity.url, TENANT) as attacker:
        for _ in range(20):
            wrong = await attacker.call("POST", "/sessions", json={"email": email, "password": "falsch-falsch-1"})
            if wrong.status_code == 429:
                break
        assert wrong.status_code == 429  # the e-mail is in its back-off
        published_keys = ("dev-only-device-cookie-secret", "dev-device-cookie-secret-change-me")
        signed = [crypto.DeviceCookies(SecretStr(key)).issue(TENANT, email) for key in published_keys]
        made_up = f"{genuine.rsplit('|', 1)[0]}|{'0' * 32}"
        for forged in (*signed, made_up):
            attacker.cookies[DEVICE_COOKIE] = forged
            refused = await attacker.call("POST", "/sessions", json={"email": email, "password": PASSWORD})
            assert refused.status_code == 429, forged
    async with PortalClient(system.identity.url, TENANT) as own_browser:
        own_browser.cookies[DEVICE_COOKIE] = genuine
        welcome = await own_browser.call("POST", "/sessions", json={"email": email, "password": PASSWORD})
        assert welcome.status_code == 200, welcome.text
