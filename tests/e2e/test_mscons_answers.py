"""The answers to MSCONS interchanges on the real stack ([8 of 11] §2): published as the SMGW administrator, answered
on plusportal.meterdata.mscons-answers.v1 (read as the smgw principal, parsed with pydifact), once per file even when
it is delivered twice; listed in the back-office and processed again once the refused message's master data is in."""

import asyncio
import random
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from pydifact.segmentcollection import Interchange

from backoffice.smgw_simulator import generate_days, malo_for, write_mscons
from contracts import topics
from contracts.masterdata import MeterPointRecorded
from contracts.topics import Principal
from tests.conftest import System
from tests.e2e.test_meterdata import CONSUMED, TENANT, intervals
from tests.journeys import (
    address,
    eventually,
    meter_point,
    produce,
    publish_master_data,
    random_meter_number,
    staff,
    wait_until_consumed,
)

SENDER, OPERATOR = "9900000000003", "9900123000002"  # the metering point operator; 000328's market partner id
DAY = date(2026, 6, 1)
MSCONS_CONSUMED: dict[str, tuple[str, ...]] = {"meterdata-mscons": (topics.METER_MSCONS.name,)}


def located_point(meter: str) -> MeterPointRecorded:
    home = address("Messweg", "3", "12345", "Musterstadt")
    base = meter_point(meter, "Mia Messwert", home, home)
    return MeterPointRecorded(
        meter_number=meter,
        malo_id=malo_for(meter),
        connection_address=home,
        partners=base.partners,
        recorded_at=base.recorded_at,
    )


def mscons_file(meter: str, created_at: datetime) -> bytes:
    return write_mscons(
        generate_days(meter, "consumption", DAY, 1, seed=3),
        sender_mp_id=SENDER,
        receiver_mp_id=OPERATOR,
        malo_id=malo_for(meter),
        created_at=created_at,
    )


def two_messages(first: bytes, second: bytes) -> bytes:
    """``first``'s interchange with ``second``'s message added as message 2, without its meter number (RFF+MG):
    only master data can say which meter its location has."""
    head, _, tail = first.decode("latin-1").rpartition("UNZ+")
    other = second.decode("latin-1")
    message = re.sub(r"RFF\+MG:[^']*'\s*", "", other[other.index("UNH+") : other.rindex("UNZ+")])
    message = re.sub(r"UNH\+[^+']*\+", "UNH+2+", message, count=1)
    message = re.sub(r"(UNT\+\d+\+)[^']*'", r"\g<1>2'", message, count=1)
    return (head + message + "UNZ+2+" + tail.split("+", 1)[1]).encode("latin-1")


def unique_moment() -> datetime:
    """The interchange's creation time: its UNB reference (to the second), one of its own per test run."""
    return datetime(2026, 6, 2, tzinfo=UTC) + timedelta(seconds=random.randrange(180 * 86_400))


async def deliver(system: System, data: bytes, times: int = 1) -> None:
    for _ in range(times):
        await produce(system.kafka, topics.METER_MSCONS.name, data, key=b"answers.edi", headers=[("tenant", b"000328")])
    await wait_until_consumed(system.kafka, MSCONS_CONSUMED)


async def answers_to(system: System, reference: str) -> list[dict[str, Any]]:
    """The answers on the answers topic to the interchange ``reference``, read as the SMGW administrator reads them."""
    consumer = AIOKafkaConsumer(
        **system.kafka.access(Principal.SMGW_ADMINISTRATOR).client_options(), enable_auto_commit=False
    )
    await consumer.start()
    try:
        partitions = [
            TopicPartition(topics.METER_MSCONS_ANSWERS.name, p) for p in range(topics.METER_MSCONS_ANSWERS.partitions)
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        found: list[dict[str, Any]] = []
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    try:  # other tests write records of their own here (test_bus_access: may the owner write?)
                        envelope = orjson.loads(record.value)
                    except orjson.JSONDecodeError:
                        continue
                    if envelope.get("event_type") != "InterchangeAnswered":
                        continue
                    if envelope["payload"]["answered_reference"] == reference:
                        found.append(envelope["payload"])
        return found
    finally:
        await consumer.stop()


async def all_answers(system: System, reference: str, count: int) -> list[dict[str, Any]]:
    """The answers once ``count`` are there; then, a relay poll later, still exactly those."""
    await eventually(lambda: _at_least(system, reference, count), timeout=30, what=f"{count} answer(s) to {reference}")
    await asyncio.sleep(1.5)  # the outbox relay polls every second: anything written twice would be out by now
    return await answers_to(system, reference)


async def _at_least(system: System, reference: str, count: int) -> list[dict[str, Any]] | None:
    found = await answers_to(system, reference)
    return found if len(found) >= count else None


def segments(edifact: str) -> tuple[Interchange, list[list[tuple[str, Any]]]]:
    interchange = Interchange.from_str(edifact)
    return interchange, [[(s.tag, s.elements) for s in m.segments] for m in interchange.get_messages()]


async def listed(client: httpx.AsyncClient, reference: str) -> dict[str, Any]:
    answer = await client.get("/backoffice/interchanges", headers=await staff(TENANT))
    assert answer.status_code == 200, answer.text
    [entry] = [entry for entry in answer.json() if entry["reference"] == reference]
    return entry


async def test_an_interchange_is_acknowledged_its_refused_message_answered_once_and_stored_when_reprocessed(
    system: System,
) -> None:
    known, unknown = random_meter_number(), random_meter_number()
    await publish_master_data(system.kafka, TENANT, located_point(known))
    await wait_until_consumed(system.kafka, CONSUMED)
    created = unique_moment()
    reference = created.strftime("%y%m%d%H%M%S")
    data = two_messages(mscons_file(known, created), mscons_file(unknown, created))
    await deliver(system, data, times=2)  # the same file twice: stored and answered once

    answers = await all_answers(system, reference, 2)
    assert sorted(a["kind"] for a in answers) == ["APERAK", "CONTRL"]
    contrl = next(a for a in answers if a["kind"] == "CONTRL")
    aperak = next(a for a in answers if a["kind"] == "APERAK")
    assert contrl["accepted"] and (contrl["sender"], contrl["receiver"]) == (OPERATOR, SENDER)
    interchange, [message] = segments(contrl["edifact"])
    assert (interchange.sender, interchange.recipient) == ([OPERATOR, "500"], [SENDER, "500"])
    assert dict(message)["UCI"] == [reference, [SENDER, "500"], [OPERATOR, "500"], "7"]
    _, [refusal] = segments(aperak["edifact"])
    references = {elements[0][0]: elements[0][1] for tag, elements in refusal if tag == "RFF"}
    assert (references["ACE"], references["ACW"]) == (reference, "2")  # the interchange, the refused message
    assert {elements[0]: elements[1][0] for tag, elements in refusal if tag == "NAD"} == {"MS": OPERATOR, "MR": SENDER}
    assert dict(refusal)["ERC"] == ["Z14"]  # the unknown meter's MaLo: not in master data

    async with httpx.AsyncClient(base_url=system.meterdata.url, timeout=30) as client:
        entry = await listed(client, reference)
        assert (entry["sender"], entry["status"], entry["messages_accepted"], entry["messages_refused"]) == (
            SENDER,
            "partly_refused",
            1,
            1,
        )
        assert entry["pruefidentifikatoren"] == ["13025"]
        assert [(r["message"], r["aperak_code"]) for r in entry["refused"]] == [("2", "Z14")]
        assert [a["kind"] for a in entry["answers"]] == ["CONTRL", "APERAK"]

        point = located_point(unknown)
        await publish_master_data(system.kafka, TENANT, point)  # the cause is fixed
        await wait_until_consumed(system.kafka, CONSUMED)
        reprocess = f"/backoffice/interchanges/{entry['id']}/reprocess"
        again = await client.post(reprocess, headers=await staff(TENANT))
        assert again.status_code == 200, again.text
        assert (again.json()["stored_days"], again.json()["answers"]) == (1, [])
        assert (await listed(client, reference))["status"] == "accepted"
        assert (await client.post(reprocess, headers=await staff(TENANT))).status_code == 409  # nothing left
        assert (await client.post(reprocess, headers=await staff("000512"))).status_code == 404  # not theirs

    partner = point.partners[0].partner_number
    stored = (await intervals(system, partner, "consumption", DAY, DAY + timedelta(days=1), "day")).json()
    # Every value the file carried, no more: the simulator's own gaps (a few days in a hundred, depending on the
    # random meter number) stay gaps.
    [sent] = generate_days(unknown, "consumption", DAY, 1, seed=3)
    assert stored["results"][0]["present"] == sum(value is not None for value in sent.values)
    assert len(await answers_to(system, reference)) == 2  # the reprocess answered nothing again


async def test_a_file_with_a_syntax_error_is_rejected_by_contrl_and_listed(system: System) -> None:
    created = unique_moment()
    reference = created.strftime("%y%m%d%H%M%S")
    broken = re.sub(rb"QTY\+220:(\d)\.", rb"QTY+220:\1,O", mscons_file(random_meter_number(), created), count=1)
    await deliver(system, broken)

    [contrl] = await all_answers(system, reference, 1)
    assert contrl["kind"] == "CONTRL" and not contrl["accepted"]
    _, [message] = segments(contrl["edifact"])
    assert dict(message)["UCI"] == [reference, [SENDER, "500"], [OPERATOR, "500"], "4"]
    assert dict(message)["UCM"][2:] == ["4", "12"]  # the message rejected: an invalid value
    async with httpx.AsyncClient(base_url=system.meterdata.url, timeout=30) as client:
        entry = await listed(client, reference)
        assert entry["status"] == "rejected" and entry["syntax_error"].startswith("12 QTY")
        refused = await client.post(f"/backoffice/interchanges/{entry['id']}/reprocess", headers=await staff(TENANT))
        assert refused.status_code == 409 and "Syntaxfehler" in refused.json()["detail"]


async def test_another_file_under_a_reference_used_before_is_rejected_as_a_duplicate(system: System) -> None:
    created = unique_moment()
    reference = created.strftime("%y%m%d%H%M%S")
    await deliver(system, mscons_file(random_meter_number(), created))
    await deliver(system, mscons_file(random_meter_number(), created))  # another meter's file, the same reference

    contrls = [a for a in await all_answers(system, reference, 2) if a["kind"] == "CONTRL"]
    assert [a["accepted"] for a in contrls] == [True, False]
    _, [message] = segments(contrls[1]["edifact"])
    assert dict(message)["UCI"] == [reference, [SENDER, "500"], [OPERATOR, "500"], "4", "26", "UNB"]
    async with httpx.AsyncClient(base_url=system.meterdata.url, timeout=30) as client:
        answer = await client.get("/backoffice/interchanges", headers=await staff(TENANT))
        listed = [entry for entry in answer.json() if entry["reference"] == reference]
        assert [(entry["status"], entry["syntax_error"]) for entry in listed] == [
            ("rejected", "26 UNB (Segment 1)"),  # newest first
            ("accepted", None),
        ]
        assert listed[0]["syntax_reason"].startswith("Doppelt")
