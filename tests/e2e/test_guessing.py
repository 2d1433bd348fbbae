"""Guessing a partner number into an account must not pay ([6 of 11] §2), tried as the attacker did: someone who
knows a meter number (it is printed on the meter) varies the partner number, from many client addresses, each
guess from a mailbox of its own. The meter is held after a few failures; the real customer, with the letter's
link, still gets through; the back-office sees the alert."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs, urlsplit

import httpx

from contracts import topics
from services.identity.domain import UNSOLICITED_MAILS_PER_RECIPIENT
from tests.conftest import System
from tests.journeys import (
    CLERKS,
    PortalClient,
    eventually,
    letter_links,
    printed_letters_mentioning,
    register_by_hand,
    submit_matching_request,
    wait_until_consumed,
)

TENANT = "000328"
GUESSES = 20


def fragment(link: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(link).fragment).items()}


async def test_twenty_guesses_from_twenty_addresses_get_no_link_but_the_letters_link_does(system: System) -> None:
    _, point, _ = await submit_matching_request(system.kafka, system.onboarding.url, TENANT)
    meter, partner = point.meter_number, point.partners[0].partner_number

    async def printed() -> list[str] | None:
        letters = printed_letters_mentioning(system.printed / TENANT, meter)
        return sorted({link for link in letter_links(letters[0]) if "#zaehler=" in link}) if letters else None

    [letter_link] = await eventually(printed, timeout=60, what="the printed letter")
    from_letter = fragment(letter_link)
    assert (from_letter["zaehler"], from_letter["partner"]) == (meter, partner)
    assert len(from_letter["code"]) >= 22  # at least 128 bits

    # The attacker: partner numbers around the right one (which comes last), each from its own client address
    # and e-mail, through the gateway as a browser behind the TLS proxy would come.
    guesses = [str(int(partner) + offset) for offset in range(-GUESSES + 1, 0)] + [partner]
    attackers = [f"mallory.{n}.{meter.lower()}@example.org" for n in range(GUESSES)]
    through_gateway = {
        "base_url": f"http://127.0.0.1:{system.gateway.port}",
        "headers": {"Host": f"{TENANT}.localhost"},
    }
    async with httpx.AsyncClient(**through_gateway, timeout=10) as gateway:  # type: ignore[arg-type]
        for number, (guess, email) in enumerate(zip(guesses, attackers, strict=True)):
            answer = await gateway.post(
                "/api/identity/access-requests",
                json={"meter_number": meter, "partner_number": guess, "email": email},
                headers={"X-Forwarded-For": f"198.51.100.{number + 1}"},
            )
            assert answer.status_code == 202, answer.text  # the same answer for every guess
        await wait_until_consumed(system.kafka, {"identity": (topics.IDENTITY_REQUESTS.name,)})
        await asyncio.sleep(1.5)  # the mail relay's poll interval
        assert [m for m in system.mail.messages() if set(m.envelope_to) & set(attackers)] == []

        alerts = await CLERKS[TENANT].at_identity("GET", "/staff/alerts")
        assert alerts.status_code == 200, alerts.text
        [alert] = [a for a in alerts.json() if a["meter_number"] == meter]
        assert (alert["scope"], alert["active"], alert["held_requests"]) == ("meter", True, GUESSES - 3)

        # Typing the three fields by hand is held too, for now; the letter's link admits its request, once.
        customer = f"erika.{meter.lower()}@example.org"
        typed = {"meter_number": meter, "partner_number": partner, "email": customer}
        assert (await gateway.post("/api/identity/access-requests", json=typed)).status_code == 202
        with_code = {**typed, "registration_code": from_letter["code"]}
        assert (await gateway.post("/api/identity/access-requests", json=with_code)).status_code == 202
        assert (await gateway.post("/api/identity/access-requests", json=with_code)).status_code == 202

    async def confirmation() -> list[str] | None:
        mails = [m for m in system.mail.messages() if customer in m.envelope_to]
        return [link for m in mails for link in m.links() if "/zugang/bestaetigen#token=" in link] or None

    assert len(await eventually(confirmation, what="the customer's confirmation mail")) == 1
    await wait_until_consumed(system.kafka, {"identity": (topics.IDENTITY_REQUESTS.name,)})
    await asyncio.sleep(1.5)
    assert len([m for m in system.mail.messages() if customer in m.envelope_to]) == 1  # the code is used up

    # Another operator's clerk sees nothing of it, not even by naming this operator's host.
    elsewhere = await CLERKS["000512"].at_identity("GET", "/staff/alerts")
    assert elsewhere.status_code == 200 and all(a["meter_number"] != meter for a in elsewhere.json())
    foreign = await CLERKS["000512"].at_identity("GET", "/staff/alerts", headers={"Host": f"{TENANT}.localhost"})
    assert foreign.status_code == 401


async def test_a_hundred_reset_requests_for_one_email_send_a_bounded_number_of_mails(system: System) -> None:
    _, point, email = await submit_matching_request(system.kafka, system.onboarding.url, TENANT)
    async with PortalClient(system.identity.url, TENANT) as browser:
        for _ in range(100):
            assert (await browser.call("POST", "/password-resets", json={"email": email})).status_code == 202
    await wait_until_consumed(system.kafka, {"identity": (topics.IDENTITY_REQUESTS.name,)})
    await asyncio.sleep(1.5)  # the mail relay's poll interval
    resets = [m for m in system.mail.messages() if email in m.envelope_to and "Passwort" in m.subject]
    assert resets == []  # no login for this e-mail yet: nobody to tell
    meter, partner = point.meter_number, point.partners[0].partner_number
    customer = await register_by_hand(system.identity.url, system.mail, TENANT, meter, partner, email)
    await customer.http.aclose()
    async with PortalClient(system.identity.url, TENANT) as browser:
        for _ in range(100):
            assert (await browser.call("POST", "/password-resets", json={"email": email})).status_code == 202
    await wait_until_consumed(system.kafka, {"identity": (topics.IDENTITY_REQUESTS.name,)})
    await asyncio.sleep(1.5)
    links = [m for m in system.mail.messages() if email in m.envelope_to and "#token=" in m.text]
    assert len(links) == UNSOLICITED_MAILS_PER_RECIPIENT  # the confirmation link and four resets, then quiet
