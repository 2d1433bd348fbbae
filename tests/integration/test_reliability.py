"""Reliability on the real broker, database and SMTP server: redelivery, dead letters, crashes, outages,
and tenant isolation."""

import asyncio
from pathlib import Path
from uuid import UUID

import asyncpg
import httpx
import pytest

from contracts import topics
from contracts.envelope import (
    HEADER_DLT_CONSUMER,
    HEADER_DLT_ERROR,
    HEADER_DLT_SOURCE_OFFSET,
    HEADER_DLT_SOURCE_PARTITION,
    HEADER_DLT_SOURCE_TOPIC,
)
from contracts.topics import Principal
from stack.acls import provision
from stack.fixtures import DatabaseServer
from stack.kafka import KafkaServer
from stack.mailsink import MailSink
from stack.postgres import asyncpg_dsn
from stack.services import ServiceProcess, service_env
from tests.conftest import System, free_port
from tests.journeys import (
    address,
    envelopes,
    eventually,
    form,
    host,
    meter_point,
    pdf_text,
    printed_letters_mentioning,
    produce,
    random_meter_number,
    read_topic,
    staff,
    submit_matching_request,
    wait_for_status,
    wait_until_consumed,
)

pytestmark = pytest.mark.stack
TENANT = "000328"
OTHER = "000512"
CONSUMERS = {
    "onboarding": (topics.MASTER_DATA.name, topics.LETTERS.name, topics.IDENTITY.name),
    "letters": (topics.MASTER_DATA.name, topics.ONBOARDING_REQUESTS.name, topics.LETTER_DISPATCH_STATUS.name),
    "printhouse": (topics.LETTER_QUEUE.name,),
}


async def _letter_of(system: System, tenant: str, request_id: str) -> dict:
    async with httpx.AsyncClient(base_url=system.letters.url, timeout=10) as client:
        listed = (await client.get("/backoffice/letters", headers=await staff(tenant))).json()
        matches = [item for item in listed if item["request_id"] == request_id]
        assert len(matches) == 1, f"expected exactly one letter, found {len(matches)}"
        return (await client.get(f"/backoffice/letters/{matches[0]['letter_id']}", headers=await staff(tenant))).json()


async def test_every_event_delivered_twice_gives_one_mail_one_letter_one_dispatch_job(system: System) -> None:
    request_id, point, email = await submit_matching_request(system.kafka, system.onboarding.url, TENANT)
    async with httpx.AsyncClient(base_url=system.onboarding.url) as client:
        await wait_for_status(client, TENANT, request_id, "letter_dispatched")
    await system.mail.wait_for(lambda m: email in m.envelope_to)

    journey = None
    replayed = 0
    for _record, envelope in envelopes(await read_topic(system.kafka, topics.ONBOARDING_REQUESTS.name)):
        if envelope["payload"].get("request_id") == request_id:
            journey = envelope["correlation_id"]
    assert journey
    for topic in (topics.ONBOARDING_REQUESTS, topics.LETTERS, topics.LETTER_QUEUE, topics.LETTER_DISPATCH_STATUS):
        for record, envelope in envelopes(await read_topic(system.kafka, topic.name)):
            if envelope["correlation_id"] == journey:
                await produce(system.kafka, topic.name, record.value, key=record.key)  # the same event again
                replayed += 1
    assert replayed >= 8  # requested, matched, queued, job, 3 status reports, dispatched
    await wait_until_consumed(system.kafka, CONSUMERS)

    assert len([m for m in system.mail.messages() if email in m.envelope_to]) == 1
    letter = await _letter_of(system, TENANT, request_id)
    assert [r["status"] for r in letter["reports"]] == ["picked_up", "printed", "handed_to_carrier"]
    jobs = {
        env["event_id"]
        for _, env in envelopes(await read_topic(system.kafka, topics.LETTER_QUEUE.name))
        if env["payload"].get("job_id") == letter["job_id"]
    }
    assert len(jobs) == 1
    assert len(printed_letters_mentioning(system.printed / TENANT, point.meter_number)) == 1


async def test_malformed_messages_go_to_the_dead_letter_topic_and_consumers_go_on(system: System) -> None:
    produced = {}
    for topic in (
        topics.MASTER_DATA,
        topics.ONBOARDING_REQUESTS,
        topics.LETTERS,
        topics.LETTER_DISPATCH_STATUS,
        topics.LETTER_QUEUE,
    ):
        metadata = await produce(system.kafka, topic.name, b'{"not": "an envelope"', key=b"garbage")
        produced[topic.name] = (str(metadata.partition), str(metadata.offset))
    bad_payload = (
        b'{"event_id":"5b0f1f9e-58a4-4bd6-9a0e-8e1b6f3f2a10","event_type":"MeterPointRecorded",'
        b'"schema_version":1,"tenant":"000328","occurred_at":"2026-11-25T08:00:00Z",'
        b'"correlation_id":"5b0f1f9e-58a4-4bd6-9a0e-8e1b6f3f2a11","payload":{"meter_number":"42"}}'
    )
    bad = await produce(system.kafka, topics.MASTER_DATA.name, bad_payload, key=b"bad")

    # A record is named by topic, partition and offset: the same offset exists in every partition.
    expected = {
        (topic, *position, group)
        for group, subscribed in CONSUMERS.items()
        for topic, position in produced.items()
        if topic in subscribed
    }
    bad_source = (topics.MASTER_DATA.name, str(bad.partition), str(bad.offset))
    expected |= {(*bad_source, group) for group in ("onboarding", "letters")}

    async def all_dead_lettered() -> bool:
        seen = set()
        for record in await read_topic(system.kafka, topics.DEAD_LETTER.name):
            headers = {key: value.decode() for key, value in record.headers}
            source = (
                headers[HEADER_DLT_SOURCE_TOPIC],
                headers[HEADER_DLT_SOURCE_PARTITION],
                headers[HEADER_DLT_SOURCE_OFFSET],
            )
            seen.add((*source, headers[HEADER_DLT_CONSUMER]))
            if source == bad_source:
                assert "meter_number" in headers[HEADER_DLT_ERROR]
        return expected <= seen

    await eventually(all_dead_lettered, what="a dead letter per consumer and malformed message")
    # …and every consumer went on: a new journey still completes.
    request_id, _, _ = await submit_matching_request(system.kafka, system.onboarding.url, TENANT)
    async with httpx.AsyncClient(base_url=system.onboarding.url) as client:
        await wait_for_status(client, TENANT, request_id, "letter_dispatched")


async def test_tenants_never_see_each_others_records_requests_or_letters(system: System) -> None:
    meter, partner = random_meter_number(), "4711000001"
    ours = meter_point(
        meter,
        "Erika Musterfrau",
        address("Postweg", "1", "12345", "Musterstadt"),
        address("Postweg", "1", "12345", "Musterstadt"),
        partner_numbers=(partner,),
    )
    theirs = meter_point(
        meter,
        "Hans Beispiel",
        address("Talstraße", "8", "98765", "Beispieltal"),
        address("Talstraße", "8", "98765", "Beispieltal"),
        partner_numbers=(partner,),
    )
    our_request, _, _ = await submit_matching_request(
        system.kafka, system.onboarding.url, TENANT, first="Erika", last="Musterfrau", point=ours
    )
    their_request, _, _ = await submit_matching_request(
        system.kafka, system.onboarding.url, OTHER, first="Hans", last="Beispiel", point=theirs
    )
    async with httpx.AsyncClient(base_url=system.onboarding.url, timeout=10) as client:
        await wait_for_status(client, TENANT, our_request, "letter_dispatched")
        await wait_for_status(client, OTHER, their_request, "letter_dispatched")
        # Erika at the other operator: that operator's record names Hans, so no match there.
        typed = {"street": "Postweg", "house_number": "1", "postcode": "12345", "city": "Musterstadt"}
        crossed = await client.post(
            "/requests", headers=host(OTHER), json=form(meter, "Erika", "Musterfrau", typed, "erika.x@example.org")
        )
        await wait_for_status(client, OTHER, crossed.json()["request_id"], "in_review")

        other_list = (await client.get("/backoffice/requests", headers=await staff(OTHER))).json()
        assert our_request not in {item["request_id"] for item in other_list}
        peek = await client.get(f"/backoffice/requests/{our_request}", headers=await staff(OTHER))
        assert peek.status_code == 404

    [our_letter] = printed_letters_mentioning(system.printed / TENANT, meter)
    [their_letter] = printed_letters_mentioning(system.printed / OTHER, meter)
    assert "Postweg 1" in pdf_text(our_letter) and "Stadtwerke Musterstadt" in pdf_text(our_letter)
    assert "Talstraße 8" in pdf_text(their_letter) and "Beispieltal" in pdf_text(their_letter)
    assert "Erika" not in pdf_text(their_letter)
    async with httpx.AsyncClient(base_url=system.letters.url, timeout=10) as client:
        other_letters = (await client.get("/backoffice/letters", headers=await staff(OTHER))).json()
        assert our_request not in {item["request_id"] for item in other_letters}


async def test_killed_between_commit_and_publish_the_event_still_goes_out_once(system: System) -> None:
    system.onboarding.stop()
    system.onboarding.start(extra_env={"PLUSPORTAL_OUTBOX_RELAY_ENABLED": "false"})
    request_id, point, email = await submit_matching_request(system.kafka, system.onboarding.url, TENANT)
    connection = await asyncpg.connect(asyncpg_dsn(system.onboarding_db))
    try:
        unpublished = await connection.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
    finally:
        await connection.close()
    assert unpublished >= 2  # PartnerNumberRequested + PartnerNumberRequestMatched, committed, not sent

    system.onboarding.kill()  # SIGKILL: nothing of the process survives but what was committed
    system.onboarding.start()
    async with httpx.AsyncClient(base_url=system.onboarding.url) as client:
        await wait_for_status(client, TENANT, request_id, "letter_dispatched")
    await system.mail.wait_for(lambda m: email in m.envelope_to)
    await wait_until_consumed(system.kafka, CONSUMERS)
    await _letter_of(system, TENANT, request_id)  # asserts exactly one
    assert len(printed_letters_mentioning(system.printed / TENANT, point.meter_number)) == 1
    assert len([m for m in system.mail.messages() if email in m.envelope_to]) == 1


async def test_kafka_and_smtp_down_while_a_form_is_submitted(postgres_server: DatabaseServer, tmp_path: Path) -> None:
    """An onboarding instance of its own, whose Kafka and SMTP server are not there yet."""
    kafka_port, controller_port, smtp_port = free_port(), free_port(), free_port()
    database = await postgres_server.fresh_database("onboarding_outage")
    kafka = KafkaServer(tmp_path / "kafka-var", kafka_port, controller_port)
    credential = kafka.installation.environment(Principal.ONBOARDING)
    env = service_env(kafka=f"127.0.0.1:{kafka_port}", database_url=database, smtp_port=smtp_port, extra=credential)
    onboarding = ServiceProcess(
        "onboarding-outage", "-m services.onboarding.app", env, tmp_path / "onboarding.log", port=free_port()
    )
    onboarding.start(wait=False)
    try:
        onboarding.wait_healthy(need_kafka=False)
        typed = {"street": "Postweg", "house_number": "1", "postcode": "12345", "city": "Musterstadt"}
        async with httpx.AsyncClient(base_url=onboarding.url, timeout=10) as client:
            response = await client.post(
                "/requests",
                headers=host(TENANT),
                json=form(random_meter_number(), "Ola", "Ausfall", typed, "ola@example.org"),
            )
            assert response.status_code == 202  # accepted and stored while Kafka is down
            request_id = response.json()["request_id"]
        # Stored (this onboarding has no staff keys yet: Kafka is down, so its database is read directly).
        connection = await asyncpg.connect(asyncpg_dsn(database))
        try:
            status = await connection.fetchval(
                "SELECT status FROM partner_number_requests WHERE id = $1", UUID(request_id)
            )
        finally:
            await connection.close()
        assert status == "in_review"

        await asyncio.to_thread(kafka.start)  # Kafka is back
        await provision(kafka.installation)

        async def published() -> bool:
            records = envelopes(await read_topic(kafka.installation, topics.ONBOARDING_REQUESTS.name))
            return any(env["payload"].get("request_id") == request_id for _, env in records)

        await eventually(published, timeout=60, what="the outbox to publish once Kafka is back")

        async def mail_attempted() -> bool:
            connection = await asyncpg.connect(asyncpg_dsn(database))
            try:
                return bool(
                    await connection.fetchval("SELECT max(attempts) >= 1 FROM mail_outbox WHERE sent_at IS NULL")
                )
            finally:
                await connection.close()

        await eventually(mail_attempted, timeout=30, what="a failed mail attempt while SMTP is down")
        with MailSink(tmp_path / "mail", smtp_port=smtp_port) as sink:  # SMTP is back
            copy = await sink.wait_for(lambda m: "ola@example.org" in m.envelope_to, timeout=30)
            assert "Kopie" in copy.subject
    finally:
        onboarding.stop()
        await asyncio.to_thread(kafka.stop)
