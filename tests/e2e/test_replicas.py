"""Several processes per service on one database and one consumer group (replicas): nothing doubled, nothing lost.

One system of the module's own (tests/conftest.py: disposable_system, its own Kafka and fresh databases) with a
second process of onboarding, letters and identity each — same database, same consumer groups, another HTTP
port — and, for meter data, ingest processes that join and leave the group (SIGTERM, SIGKILL) while readings arrive.

What makes it safe (README.md, "Several processes per service"): a consumer group hands each partition to one
process, and what a rebalance hands over uncommitted comes again — the inbox drops a duplicate event, the
readings' upsert replaces the same meter/day; the outbox relays publish one at a time (kit.outbox), the mail
relays lock each mail and check it is still due (kit.mail), identity's key schedule and meter data's partitions
are kept under advisory locks, letters' render workers render only letters whose render lock they hold.
"""

import asyncio
import json
import random
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer

from benchmarks.chaos import DAYS_PER_METER, FIRST_DAY, reading_message, reading_meter, reading_values_wh
from benchmarks.meterdata_ingest import wait_group_stable
from contracts import topics
from contracts.envelope import HEADER_DLT_SOURCE_TOPIC
from contracts.letters import LetterDispatchRequested
from contracts.topics import Principal
from services.meterdata.messaging import INGEST_GROUP
from stack import free_port
from stack.postgres import asyncpg_dsn
from stack.services import ServiceProcess
from tests.conftest import System
from tests.journeys import (
    CUSTOMER_PASSWORD,
    PortalClient,
    address,
    envelopes,
    eventually,
    form,
    host,
    meter_point,
    publish_master_data,
    random_meter_number,
    read_topic,
    token_from,
    wait_for_meter_point,
    wait_until_consumed,
)

pytestmark = pytest.mark.stack
TENANT = "000328"
FORMS = 10
REPLICATED = ("onboarding", "letters", "identity")
GROUPS = {
    "onboarding": (topics.MASTER_DATA.name, topics.LETTERS.name),
    "letters": (topics.MASTER_DATA.name, topics.ONBOARDING_REQUESTS.name, topics.LETTER_DISPATCH_STATUS.name),
    "identity": (topics.MASTER_DATA.name, topics.IDENTITY_REQUESTS.name, topics.LETTERS.name),
    "printhouse": (topics.LETTER_QUEUE.name,),
}


def replica(original: ServiceProcess, number: int) -> ServiceProcess:
    """Another process of `original`'s service: the same command, database and credentials, its own port,
    log and trace file."""
    env = dict(original.env)
    if "PLUSPORTAL_TRACES_FILE" in env:
        env["PLUSPORTAL_TRACES_FILE"] = env["PLUSPORTAL_TRACES_FILE"].replace(".jsonl", f"-{number}.jsonl")
    name = f"{original.name}-{number}"
    return ServiceProcess(name, original.command, env, original.log_path.with_name(f"{name}.log"), port=free_port())


@pytest.fixture(scope="module")
def replicas(disposable_system: System) -> Iterator[dict[str, ServiceProcess]]:
    """The second process of onboarding, letters and identity, started once the first ones are healthy."""
    started = {name: replica(getattr(disposable_system, name), 2) for name in REPLICATED}
    try:
        for process in started.values():
            process.start(wait=False)
        for process in started.values():
            process.wait_healthy(90)
        yield started
    finally:
        for process in started.values():
            process.stop()


async def _rows(url: str, query: str, *arguments: Any) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return list(await connection.fetch(query, *arguments))
    finally:
        await connection.close()


async def _outboxes_empty(system: System) -> bool:
    for url in (system.onboarding_db, system.letters_db, system.identity_db):
        [(has_outbox, has_mail)] = await _rows(
            url, "SELECT to_regclass('outbox') IS NOT NULL, to_regclass('mail_outbox') IS NOT NULL"
        )
        waiting = "SELECT count(*) FROM outbox WHERE published_at IS NULL" if has_outbox else "SELECT 0"
        if has_mail:
            waiting += " UNION ALL SELECT count(*) FROM mail_outbox WHERE sent_at IS NULL AND failed_at IS NULL"
        if any(row[0] for row in await _rows(url, waiting)):
            return False
    return True


def _logged(log: Path, event: str, field: str) -> int:
    """The sum of `field` over the JSON log lines of `event` (0 when there is no log)."""
    total = 0
    if log.exists():
        for line in log.read_text(errors="replace").splitlines():
            if f'"{event}"' in line:
                try:
                    total += int(json.loads(line).get(field, 0))
                except (ValueError, TypeError):
                    continue
    return total


async def test_forms_through_two_replicas_give_one_mail_letter_job_and_print_each(
    disposable_system: System, replicas: dict[str, ServiceProcess]
) -> None:
    system = disposable_system
    started = time.monotonic()
    home = address("Postweg", "1", "12345", "Musterstadt")
    typed = {"street": "Postweg", "house_number": "1", "postcode": "12345", "city": "Musterstadt"}
    points = [meter_point(random_meter_number(), "Erika Beispiel", home, home) for _ in range(FORMS)]
    await publish_master_data(system.kafka, TENANT, *points)
    onboarding_urls = (system.onboarding.url, replicas["onboarding"].url)
    async with httpx.AsyncClient(base_url=onboarding_urls[1], timeout=20) as client:
        for point in points:  # the read model both replicas share
            await wait_for_meter_point(client, TENANT, point.meter_number)

    emails = {point.meter_number: f"erika.{point.meter_number.lower()}@example.org" for point in points}
    request_ids: dict[str, str] = {}
    for index, point in enumerate(points):  # every other form through the second replica
        body = form(point.meter_number, "Erika", "Beispiel", typed, emails[point.meter_number])
        async with httpx.AsyncClient(base_url=onboarding_urls[index % 2], timeout=20) as client:
            answer = await client.post("/requests", headers=host(TENANT), json=body)
        assert answer.status_code == 202, answer.text
        request_ids[point.meter_number] = answer.json()["request_id"]

    letters_of_ours = "SELECT id, request_id FROM letters WHERE request_id = ANY($1::uuid[])"
    ours = [UUID(request_id) for request_id in request_ids.values()]

    async def all_printed() -> bool:
        letters = await _rows(system.letters_db, letters_of_ours, ours)
        return len(letters) >= FORMS and {row["id"] for row in letters} <= _printed_jobs(system)

    await eventually(all_printed, timeout=120, what=f"{FORMS} letters printed")
    await eventually(lambda: _outboxes_empty(system), timeout=60, what="every outbox and mail outbox empty")
    await wait_until_consumed(system.kafka, GROUPS, timeout=60)

    requests = await _rows(
        system.onboarding_db,
        "SELECT id FROM partner_number_requests WHERE tenant = $1 AND meter_number = ANY($2::text[])",
        TENANT,
        list(request_ids),
    )
    letters = await _rows(system.letters_db, letters_of_ours, ours)
    letter_ids = {row["id"] for row in letters}
    job_records = [
        UUID(envelope["payload"]["job_id"])
        for _, envelope in envelopes(await read_topic(system.kafka, topics.LETTER_QUEUE.name))
        if envelope["event_type"] == LetterDispatchRequested.EVENT_TYPE
    ]
    our_jobs = [job for job in job_records if job in letter_ids]
    printed = [job for job in _printed_job_list(system) if job in letter_ids]
    ours_to = set(emails.values())
    deliveries = [
        (to, message.message()["Message-ID"])
        for message in await asyncio.to_thread(system.mail.messages)
        for to in message.envelope_to
        if to in ours_to
    ]
    copies = Counter(to for to, _ in set(deliveries))
    dead = await read_topic(system.kafka, topics.DEAD_LETTER.name)
    signing_keys = await _rows(system.identity_db, "SELECT kid, not_before FROM signing_key_schedule")
    handled = {
        process.name: _logged(process.log_path, "events_handled", "events")
        for process in (system.onboarding, replicas["onboarding"], system.letters, replicas["letters"])
    }
    print(
        f"{FORMS} forms through two onboarding replicas in {time.monotonic() - started:.1f} s: requests"
        f" {len(requests)}, copy e-mails {len(deliveries)} ({len(copies)} addresses), letters {len(letters)},"
        f" dispatch-job records {len(our_jobs)}, printed {len(printed)}, dead letters {len(dead)};"
        f" events handled per process (all topics) {handled}"
    )
    assert len(requests) == FORMS
    assert len(deliveries) == FORMS and all(copies[email] == 1 for email in ours_to), copies
    assert len(letters) == len(letter_ids) == FORMS
    assert sorted(our_jobs) == sorted(letter_ids), "a dispatch job went twice or not at all"
    assert sorted(printed) == sorted(letter_ids), "a letter printed twice or not at all"
    assert not dead, [record.headers for record in dead]
    starts = [row["not_before"] for row in signing_keys]
    assert len(set(starts)) == len(starts), "two identity processes each made the schedule's next key"


def _printed_job_list(system: System) -> list[UUID]:
    folder = system.printed / TENANT
    return [UUID(json.loads(path.read_text())["job_id"]) for path in sorted(folder.glob("*.json"))]


def _printed_jobs(system: System) -> set[UUID]:
    return set(_printed_job_list(system))


ACCOUNTS = 6


async def test_accounts_through_two_identity_replicas_get_one_confirmation_mail_each(
    disposable_system: System, replicas: dict[str, ServiceProcess]
) -> None:
    """Asked on one identity process, confirmed on the other, signed in on the first: one mail per request, and
    nothing a process keeps to itself is needed (links, sessions and throttles are the database's)."""
    system = disposable_system
    home = address("Postweg", "1", "12345", "Musterstadt")
    points = [meter_point(random_meter_number(), "Erika Beispiel", home, home) for _ in range(ACCOUNTS)]
    await publish_master_data(system.kafka, TENANT, *points)
    await wait_until_consumed(system.kafka, {"identity": (topics.MASTER_DATA.name,)}, timeout=60)
    urls = (system.identity.url, replicas["identity"].url)
    emails = [f"konto.{point.meter_number.lower()}@example.org" for point in points]
    for index, (point, email) in enumerate(zip(points, emails, strict=True)):
        typed = {"meter_number": point.meter_number, "partner_number": point.partners[0].partner_number, "email": email}
        async with PortalClient(urls[index % 2], TENANT) as browser:
            assert (await browser.call("POST", "/access-requests", json=typed)).status_code == 202

    async def links() -> list[str] | None:
        found = {
            to: link for m in system.mail.messages() for to in m.envelope_to for link in m.links() if "#token=" in link
        }
        return [found[email] for email in emails] if all(email in found for email in emails) else None

    for index, (email, link) in enumerate(
        zip(emails, await eventually(links, timeout=60, what="every link"), strict=True)
    ):
        async with PortalClient(urls[(index + 1) % 2], TENANT) as other:
            completed = {"token": token_from(link), "password": CUSTOMER_PASSWORD}
            done = await other.call("POST", "/access-requests/complete", json=completed)
            assert done.status_code == 204, done.text
        async with PortalClient(urls[index % 2], TENANT) as browser:
            login = await browser.call("POST", "/sessions", json={"email": email, "password": CUSTOMER_PASSWORD})
            assert login.status_code == 200, login.text
    await eventually(lambda: _outboxes_empty(system), timeout=60, what="every outbox and mail outbox empty")
    deliveries = [
        (to, message.message()["Message-ID"])
        for message in await asyncio.to_thread(system.mail.messages)
        for to in message.envelope_to
        if to in emails
    ]
    print(f"{ACCOUNTS} accounts through two identity replicas: {len(deliveries)} mails to them")
    assert sorted(to for to, _ in deliveries) == sorted(emails), "a confirmation mail went twice or not at all"


# --- meter data: a process joins and leaves the ingest group mid-stream ----------------------------------

READINGS_PER_SECOND = 75  # day messages (7,200 quarter-hour values a second): meter data keeps up easily
STEP = 25  # messages sent, then acknowledged, at a time


async def _produce_readings(system: System, prefix: str, sent: list[int], stop: asyncio.Event) -> None:
    """Readings messages 0, 1, … at READINGS_PER_SECOND until `stop`, each acknowledged (appended to `sent`):
    the stream goes on for as long as the processes take to start and stop, however busy the machine."""
    producer = AIOKafkaProducer(
        **system.kafka.access(Principal.SMGW_ADMINISTRATOR).client_options(), acks="all", enable_idempotence=True
    )
    await producer.start()
    try:
        began = time.monotonic()
        while not stop.is_set():
            chunk = range(len(sent), len(sent) + STEP)
            pending = [
                await producer.send(topics.METER_READINGS.name, *_swap(reading_message(prefix, i))) for i in chunk
            ]
            await asyncio.gather(*pending)
            sent.extend(chunk)
            await asyncio.sleep(max(began + len(sent) / READINGS_PER_SECOND - time.monotonic(), 0))
    finally:
        await producer.stop()


def _swap(message: tuple[bytes, bytes]) -> tuple[bytes, bytes]:
    key, value = message
    return value, key


async def _lag_zero(system: System) -> None:
    await wait_until_consumed(system.kafka, {INGEST_GROUP: (topics.METER_READINGS.name,)}, timeout=120)


async def test_meterdata_processes_joining_and_leaving_the_ingest_group_store_every_reading_once(
    disposable_system: System,
) -> None:
    system = disposable_system
    assert topics.METER_READINGS.partitions >= 4, "two processes need partitions to share"
    first = system.meterdata
    second = replica(first, 2)
    third = replica(first, 3)
    prefix = f"1RPL{random.randrange(10**4):04d}"
    sent: list[int] = []
    timeline: list[str] = []
    began = time.monotonic()

    def note(what: str) -> None:
        timeline.append(f"{time.monotonic() - began:5.1f} s, {len(sent):>5} sent: {what}")

    stop = asyncio.Event()
    producing = asyncio.create_task(_produce_readings(system, prefix, sent, stop))
    try:
        await asyncio.sleep(4)
        note("second process starts")
        await asyncio.to_thread(second.start, timeout=90)
        await wait_group_stable(system.kafka, INGEST_GROUP, 2, 60)
        note("second process healthy, both hold partitions")
        await asyncio.sleep(4)
        note("first process: SIGTERM")
        await asyncio.to_thread(first.stop)
        await asyncio.sleep(4)
        note("third process starts")
        await asyncio.to_thread(third.start, timeout=90)
        await wait_group_stable(system.kafka, INGEST_GROUP, 2, 60)
        note("third process healthy, second and third hold partitions")
        await asyncio.sleep(4)
        note("second process: SIGKILL (its partitions wait for the session timeout)")
        await asyncio.to_thread(second.kill)
        await asyncio.sleep(5)  # readings go on arriving for the killed process's partitions
        stop.set()
        await producing
        note("the last message sent and acknowledged")
        await _lag_zero(system)
        note("lag 0")
    finally:
        stop.set()
        producing.cancel()
        second.stop()
        third.stop()
        if not first.running:
            first.start(timeout=90)  # the module's system as it was, for whatever runs after
    print("\n".join(timeline))

    stored = await _rows(
        system.meterdata_db,
        "SELECT meter_number, day, total_wh, count(*) OVER (PARTITION BY meter_number, day) AS copies"
        " FROM interval_days WHERE tenant = $1 AND meter_number LIKE $2",
        TENANT,
        prefix + "%",
    )
    expected = {
        (reading_meter(prefix, i), FIRST_DAY.toordinal() + i % DAYS_PER_METER): sum(reading_values_wh(i))
        for i in range(len(sent))
    }
    found = {(row["meter_number"], row["day"].toordinal()): int(row["total_wh"]) for row in stored}
    handled = {
        process.name: _logged(process.log_path, "readings_ingested", "days") for process in (first, second, third)
    }
    dead = [
        record
        for record in await read_topic(system.kafka, topics.DEAD_LETTER.name)
        if dict(record.headers).get(HEADER_DLT_SOURCE_TOPIC, b"").decode() == topics.METER_READINGS.name
    ]
    print(
        f"{len(sent)} day messages sent, {len(stored)} rows stored; day messages handled per process (a message"
        f" handed over uncommitted in a rebalance is handled again and replaces its day): {handled}"
    )
    assert len(sent) >= 20 * READINGS_PER_SECOND  # the stream went on for the whole join, leave, join, kill
    assert max((row["copies"] for row in stored), default=0) == 1, "a meter/day stored twice"
    assert found.keys() == expected.keys(), f"{len(expected.keys() - found.keys())} days missing"
    assert found == expected, "Wh sums differ"
    assert sum(found.values()) == sum(expected.values())
    assert handled["meterdata-2"] > 0 and handled["meterdata-3"] > 0, "the joining processes took no share"
    assert not dead
