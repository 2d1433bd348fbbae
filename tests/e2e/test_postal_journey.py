"""The postal half of the journey across services, on real Kafka, PostgreSQL and SMTP:
form → copy e-mail → letter at the address of record → dispatch status back to onboarding."""

from typing import Any
from uuid import UUID

import httpx
import pytest

from backoffice.printhouse import report_by_hand
from contracts.common import PartnerRole
from contracts.letters import DispatchStatus
from contracts.topics import LETTER_QUEUE, Principal
from tests.conftest import System
from tests.journeys import (
    address,
    envelopes,
    eventually,
    form,
    host,
    meter_point,
    pdf_text,
    printed_letters_mentioning,
    publish_master_data,
    random_meter_number,
    read_topic,
    staff,
    submit_matching_request,
    wait_for_meter_point,
    wait_for_status,
)
from tests.links import links_in

pytestmark = pytest.mark.stack
TENANT = "000328"


async def test_consumption_and_feed_in_customer_gets_one_letter_with_both_numbers(system: System) -> None:
    meter = random_meter_number()
    record_address = address("Postweg", "1", "12345", "Musterstadt")
    point = meter_point(
        meter,
        "Erika Beispiel",
        record_address,
        address("Lindenweg", "4", "12345", "Musterstadt"),
        roles=(PartnerRole.CONSUMPTION, PartnerRole.FEED_IN),
    )
    consumption, feed_in = (p.partner_number for p in point.partners)
    await publish_master_data(system.kafka, TENANT, point)
    email = f"erika.{meter.lower()}@example.org"

    async with httpx.AsyncClient(base_url=system.onboarding.url, timeout=10) as onboarding:
        await wait_for_meter_point(onboarding, TENANT, meter)
        typed = {"street": "Lindenweg", "house_number": "4", "postcode": "12345", "city": "Musterstadt"}
        # Hostile text in every free field: our copy must not carry anybody's link to the recipient.
        hostile = {"street": "evil.de/x", "house_number": "WWW.EVIL.DE", "postcode": "12345", "city": "http://evil.de"}
        response = await onboarding.post(
            "/requests",
            headers=host(TENANT),
            json=form(
                meter[:4].lower() + " " + meter[4:],
                "Erika HTTPS://EVIL.EXAMPLE/login",
                "Beispiel",
                typed,
                email,
                connection_address=hostile,
                phone="erika@evil.example",
            ),
        )
        assert response.status_code == 202, response.text
        request_id = response.json()["request_id"]

        copy = await system.mail.wait_for(lambda m: email in m.envelope_to, timeout=20)
        assert "Kopie" in copy.subject
        assert meter in copy.text and "Lindenweg 4" in copy.text
        assert links_in(copy.text) == [], copy.text  # as the recipient's mail client reads it off the wire
        assert "HTTPS[:]//EVIL[.]EXAMPLE/login" in copy.text and "evil[.]de/x WWW[.]EVIL[.]DE" in copy.text
        assert "erika[at]evil[.]example" in copy.text  # readable, not a link
        assert email.replace(".", "[.]").replace("@", "[at]") in copy.text  # the customer's own address too
        assert consumption not in copy.text and feed_in not in copy.text  # the number only goes by post
        assert "netzportal@swm-netz.example" in copy.sender  # the operator's own sender

        await wait_for_status(onboarding, TENANT, request_id, "letter_dispatched")

    letters = printed_letters_mentioning(system.printed / TENANT, meter)
    assert len(letters) == 1
    text = pdf_text(letters[0])
    assert consumption in text and feed_in in text
    assert "Bezug" in text and "Einspeisung" in text
    assert "Postweg 1" in text and "Lindenweg" not in text  # the address of record, not the typed one

    async with httpx.AsyncClient(base_url=system.letters.url, timeout=10) as letters_api:
        listed = (await letters_api.get("/backoffice/letters", headers=await staff(TENANT))).json()
        letter = next(item for item in listed if item["request_id"] == request_id)
        assert letter["status"] == "handed_to_carrier"
        assert letter["recipient"]["lines"][1] == "Postweg 1"
        pdf = await letters_api.get(f"/backoffice/letters/{letter['letter_id']}/pdf", headers=await staff(TENANT))
        assert pdf.status_code == 410  # deleted once with the carrier: the letter is a credential

    # Partner numbers, letter contents and personal data never reach a log line.
    for process in (system.onboarding, system.letters, system.printhouse):
        log = process.log_path.read_text(encoding="utf-8")
        for secret in (consumption, feed_in, email, "Erika", "Postweg", "Lindenweg"):
            assert secret not in log, f"{secret!r} in the log of {process.name}"


async def test_unmatched_request_goes_to_review_and_approval_sends_the_letter(system: System) -> None:
    meter = random_meter_number()
    point = meter_point(
        meter,
        "Karl Prüfer",
        address("Amtsweg", "9", "12345", "Musterstadt"),
        address("Amtsweg", "9", "12345", "Musterstadt"),
    )
    await publish_master_data(system.kafka, TENANT, point)
    email = f"karl.{meter.lower()}@example.org"
    async with httpx.AsyncClient(base_url=system.onboarding.url, timeout=10) as onboarding:
        await wait_for_meter_point(onboarding, TENANT, meter)
        typed = {"street": "Neue Straße", "house_number": "2", "postcode": "54321", "city": "Anderswo"}
        response = await onboarding.post(
            "/requests", headers=host(TENANT), json=form(meter, "Karl", "Pruefer", typed, email)
        )
        request_id = response.json()["request_id"]
        view = await wait_for_status(onboarding, TENANT, request_id, "in_review")
        assert view["note"] == "Postleitzahl passt nicht zu den Stammdaten"

        in_review = (
            await onboarding.get("/backoffice/requests", params={"status": "in_review"}, headers=await staff(TENANT))
        ).json()
        assert request_id in {item["request_id"] for item in in_review}

        approved = await onboarding.post(
            f"/backoffice/requests/{request_id}/approve",
            json={"meter_number": meter},
            headers=await staff(TENANT),
        )
        assert approved.status_code == 204, approved.text
        await wait_for_status(onboarding, TENANT, request_id, "letter_dispatched")
    letters = printed_letters_mentioning(system.printed / TENANT, meter)
    assert len(letters) == 1 and point.partners[0].partner_number in pdf_text(letters[0])


async def test_a_returned_letter_becomes_a_back_office_task_and_shows_in_the_request(system: System) -> None:
    request_id, _, _ = await submit_matching_request(system.kafka, system.onboarding.url, TENANT)
    async with httpx.AsyncClient(base_url=system.onboarding.url, timeout=10) as onboarding:
        await wait_for_status(onboarding, TENANT, request_id, "letter_dispatched")
        async with httpx.AsyncClient(base_url=system.letters.url, timeout=10) as letters_api:
            listed = (await letters_api.get("/backoffice/letters", headers=await staff(TENANT))).json()
            job_id = next(item["job_id"] for item in listed if item["request_id"] == request_id)
            await report_by_hand(
                system.kafka.access(Principal.PRINT_HOUSE),
                TENANT,
                UUID(job_id),
                DispatchStatus.RETURNED,
                "Empfänger unbekannt",
            )
            view = await wait_for_status(onboarding, TENANT, request_id, "letter_returned")
            assert view["note"] == "Empfänger unbekannt"
            tasks = (await letters_api.get("/backoffice/tasks", headers=await staff(TENANT))).json()
            assert {"letter_id": job_id, "kind": "returned", "reason": "Empfänger unbekannt"}.items() <= next(
                t for t in tasks if t["letter_id"] == job_id
            ).items()
            other = (await letters_api.get("/backoffice/tasks", headers=await staff("000512"))).json()
            assert job_id not in {t["letter_id"] for t in other}


async def test_a_second_request_for_the_meter_within_14_days_posts_no_second_letter(system: System) -> None:
    """[6 of 11] §2: the partner number is a credential — sending the form again must not make the post
    bring it again. The second request is kept and shown to the back-office, with why; no second job."""
    first, point, _ = await submit_matching_request(system.kafka, system.onboarding.url, TENANT)
    meter = point.meter_number
    async with httpx.AsyncClient(base_url=system.onboarding.url, timeout=10) as onboarding:
        await wait_for_status(onboarding, TENANT, first, "letter_dispatched")
        typed = {"street": "Postweg", "house_number": "1", "postcode": "12345", "city": "Musterstadt"}
        again = await onboarding.post(
            "/requests", headers=host(TENANT), json=form(meter, "Erika", "Beispiel", typed, "noch.einmal@example.org")
        )
        assert again.status_code == 202, again.text  # the form answers as always: nothing to learn from it
        second = again.json()["request_id"]
        await wait_for_status(onboarding, TENANT, second, "matched")

    async with httpx.AsyncClient(base_url=system.letters.url, timeout=10) as letters_api:

        async def held() -> dict[str, Any] | None:
            listed = await letters_api.get(
                "/backoffice/letters", params={"status": "not_posted_again"}, headers=await staff(TENANT)
            )
            return next((item for item in listed.json() if item["request_id"] == second), None)

        recorded = await eventually(held, what="the second request recorded as not posted again")
        everything = (await letters_api.get("/backoffice/letters", headers=await staff(TENANT))).json()
        posted = next(item for item in everything if item["request_id"] == first)
        assert recorded["job_id"] is None and not recorded["pdf_available"]
        assert posted["reference"] in recorded["status_reason"] and "14 Tagen" in recorded["status_reason"]
        assert recorded["recipient"]["lines"][1] == "Postweg 1"  # the clerk sees whom it would have gone to
        pdf = await letters_api.get(f"/backoffice/letters/{recorded['letter_id']}/pdf", headers=await staff(TENANT))
        assert pdf.status_code == 404

    # One dispatch job for the meter on the print house's queue, and one printed letter.
    jobs = [
        envelope["payload"]["job_id"]
        for _, envelope in envelopes(await read_topic(system.kafka, LETTER_QUEUE.name))
        if envelope["payload"].get("job_id") in {posted["letter_id"], recorded["letter_id"]}
    ]
    assert jobs == [posted["letter_id"]]
    assert len(printed_letters_mentioning(system.printed / TENANT, meter)) == 1
