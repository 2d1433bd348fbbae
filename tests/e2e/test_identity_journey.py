"""Identity on the real stack: access request → confirmation mail → password → login per partner number."""

import asyncio

import httpx
import jwt
import pytest

from contracts import topics
from contracts.common import PartnerRole
from tests.conftest import System
from tests.journeys import (
    PortalClient,
    address,
    meter_point,
    publish_master_data,
    random_meter_number,
    token_from,
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


async def test_two_partner_customer_links_both_to_one_login_and_switches(system: System) -> None:
    meter, [consumption, feed_in] = await _known_to_identity(
        system, TENANT, (PartnerRole.CONSUMPTION, PartnerRole.FEED_IN)
    )
    email = f"solar.{meter.lower()}@example.org"
    async with PortalClient(system.identity.url, TENANT) as browser:
        await _register(browser, system, meter, consumption, email, 1)
        await _register(browser, system, meter, feed_in, email, 2)  # same e-mail, proves the same password
        added = [m for m in system.mail.messages() if email in m.envelope_to and "hinzugefügt" in m.subject]
        assert len(added) == 1

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
