"""The system on a three-node Kafka cluster (stack.kafka.KafkaCluster: each node broker and controller, replication
factor 3, min.insync.replicas 2): one broker killed with SIGKILL, or the active KRaft controller, must cost
nothing — every reading stored once with its exact energy, every form one request, one copy e-mail, one letter,
one dispatch job and one printed letter.

One cluster and one system on it for the module (the faults are taken in turn; each test restarts the node it
killed). What was sent is compared with what the databases hold, as the chaos run does (benchmarks/chaos.py).
"""

import asyncio
import contextlib
import json
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from benchmarks.chaos import (
    CONSUMERS,
    DAYS_PER_METER,
    FIRST_DAY,
    reading_message,
    reading_meter,
    reading_values_wh,
)
from contracts import topics
from contracts.letters import LetterDispatchRequested
from contracts.topics import Principal
from stack import free_port, run_sync
from stack.acls import provision
from stack.credentials import KafkaInstallation
from stack.fixtures import DatabaseServer
from stack.kafka import KafkaCluster
from stack.paths import kafka_libs_dir
from stack.postgres import asyncpg_dsn
from tests.conftest import TENANTS, System, clerks_of, running_system
from tests.journeys import (
    address,
    envelopes,
    eventually,
    form,
    host,
    meter_point,
    publish_master_data,
    random_meter_number,
    read_topic,
    wait_until_consumed,
)

pytestmark = pytest.mark.stack
TENANT = TENANTS[0]
SETTLE_S = 180.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    root = tmp_path_factory.mktemp("cluster")
    ports = [(free_port(), free_port()) for _ in range(3)]
    cluster = KafkaCluster(root, ports=ports, libs_dir=kafka_libs_dir(), detach=False)
    try:
        cluster.start()
        run_sync(provision(cluster.installation))
        yield cluster
    finally:
        cluster.stop(timeout=5)  # throwaway data: no need to wait for a clean shutdown


@pytest.fixture(scope="module")
def cluster_system(
    cluster: KafkaCluster, postgres_server: DatabaseServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[System]:
    """Every process of the system on the cluster (bootstrap: all three nodes)."""
    root = tmp_path_factory.mktemp("cluster-system")
    with running_system(cluster.installation, postgres_server, root) as running, clerks_of(running):
        yield running


# --- what is sent ----------------------------------------------------------------------------------------


@dataclass
class Readings:
    """LoadProfileDay messages of benchmarks.chaos (own meter/day each, known Wh), sent with acks=all."""

    prefix: str = field(default_factory=lambda: f"1CLU{random.randrange(10**4):04d}")
    acked: int = 0  # messages 0 … acked-1 are acknowledged by the brokers
    resent: int = 0  # sends that failed and were repeated

    async def send(self, kafka: KafkaInstallation, count: int, per_second: float) -> None:
        """`count` messages at `per_second`; a send that fails is repeated with a fresh producer."""
        access = kafka.access(Principal.SMGW_ADMINISTRATOR)
        started = time.monotonic()
        producer: AIOKafkaProducer | None = None
        try:
            while self.acked < count:
                due = min(count, int((time.monotonic() - started) * per_second) + 1)
                if due <= self.acked:
                    await asyncio.sleep(0.05)
                    continue
                waiting = list(range(self.acked, due))
                while waiting:
                    try:
                        if producer is None:
                            producer = AIOKafkaProducer(
                                **access.client_options(),
                                acks="all",
                                enable_idempotence=True,
                                request_timeout_ms=15_000,
                            )
                            await asyncio.wait_for(producer.start(), 20)
                        futures = []
                        for index in waiting:
                            key, value = reading_message(self.prefix, index)
                            futures.append(await producer.send(topics.METER_READINGS.name, value, key=key))
                        results = await asyncio.gather(*futures, return_exceptions=True)
                        waiting = [i for i, r in zip(waiting, results, strict=True) if isinstance(r, Exception)]
                    except Exception:
                        if producer is not None:
                            await _quietly(producer.stop())
                        producer = None
                    if waiting:
                        self.resent += len(waiting)
                        await asyncio.sleep(0.5)
                self.acked = due
        finally:
            if producer is not None:
                await _quietly(producer.stop())

    async def check(self, system: System) -> tuple[int, int, int, int]:
        """(messages sent, rows stored, Wh sent, Wh stored); asserts each row holds its day's exact total."""
        rows = await _rows(
            system.meterdata_db,
            "SELECT meter_number, day, total_wh FROM interval_days WHERE tenant = $1 AND meter_number LIKE $2",
            TENANT,
            self.prefix + "%",
        )
        stored = {(row["meter_number"], row["day"]): int(row["total_wh"]) for row in rows}
        expected = {
            (reading_meter(self.prefix, i), FIRST_DAY + timedelta(days=i % DAYS_PER_METER)): sum(reading_values_wh(i))
            for i in range(self.acked)
        }
        wrong = {key: (total, stored.get(key)) for key, total in expected.items() if stored.get(key) != total}
        assert not wrong, (
            f"{len(wrong)} of {len(expected)} days missing or with another total, e.g. {list(wrong.items())[:3]}"
        )
        return len(expected), len(rows), sum(expected.values()), sum(stored.values())


async def _quietly(step: Any) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(step, 10)


@dataclass
class Forms:
    """Forms, each to a meter of its own whose master data names the customer: each must become a letter."""

    sent: dict[str, dict[str, Any]] = field(default_factory=dict)  # meter → form
    request_ids: dict[str, str] = field(default_factory=dict)  # meter → onboarding's request id

    async def prepare(self, system: System, count: int) -> list[str]:
        """Master data for `count` new meters, read by onboarding and letters; their meter numbers."""
        home = address("Postweg", "1", "12345", "Musterstadt")
        points = [meter_point(random_meter_number(), "Erika Cluster", home, home) for _ in range(count)]
        await publish_master_data(system.kafka, TENANT, *points)
        groups: dict[str, tuple[str, ...]] = {group: (topics.MASTER_DATA.name,) for group in ("onboarding", "letters")}
        await wait_until_consumed(system.kafka, groups, timeout=60)
        return [point.meter_number for point in points]

    async def submit(self, system: System, meters: list[str]) -> None:
        """One form per meter; a form whose POST fails is sent again with its submission id (deduplicated)."""
        typed = {"street": "Postweg", "house_number": "1", "postcode": "12345", "city": "Musterstadt"}
        async with httpx.AsyncClient(base_url=system.onboarding.url, timeout=15) as client:
            for meter in meters:
                body = form(meter, "Erika", "Cluster", typed, f"erika.{meter.lower()}@example.org")
                self.sent[meter] = body
                for _ in range(60):
                    try:
                        answer = await client.post("/requests", headers=host(TENANT), json=body)
                    except httpx.TransportError:
                        answer = None
                    if answer is not None and answer.status_code == 202:
                        self.request_ids[meter] = answer.json()["request_id"]
                        break
                    assert answer is None or answer.status_code >= 500, answer.text
                    await asyncio.sleep(0.5)
                else:
                    raise AssertionError(f"form for {meter} never accepted")

    async def printed(self, system: System) -> None:
        """Until every form's letter is printed."""

        async def all_printed() -> bool:
            letters = await _letters(system)
            jobs = _printed_jobs(system.printed / TENANT)
            return all(letters.get(UUID(request)) in jobs for request in self.request_ids.values())

        await eventually(all_printed, timeout=SETTLE_S, what=f"{len(self.request_ids)} letters printed")

    async def check_once(self, system: System) -> None:
        """One request, one copy e-mail, one letter, one dispatch job and one printed letter per form."""
        requests = Counter(
            row["meter_number"]
            for row in await _rows(
                system.onboarding_db, "SELECT meter_number FROM partner_number_requests WHERE tenant = $1", TENANT
            )
        )
        letter_rows = await _rows(system.letters_db, "SELECT id, request_id FROM letters")
        letters_per_request = Counter(row["request_id"] for row in letter_rows)
        letter_of = {row["request_id"]: row["id"] for row in letter_rows}
        queue = [
            UUID(envelope["payload"]["job_id"])
            for _, envelope in envelopes(await read_topic(system.kafka, topics.LETTER_QUEUE.name))
            if envelope["event_type"] == LetterDispatchRequested.EVENT_TYPE
        ]
        job_records = Counter(queue)
        printed = Counter(
            UUID(json.loads(path.read_text())["job_id"]) for path in (system.printed / TENANT).glob("*.json")
        )
        copies = Counter(to for message in system.mail.messages() for to in message.envelope_to)
        problems = []
        for meter, body in self.sent.items():
            request = UUID(self.request_ids[meter])
            letter = letter_of.get(request)
            counts = {
                "requests": requests[meter],
                "copy e-mails": copies[body["email"]],
                "letters": letters_per_request[request],
                "dispatch jobs": job_records[letter] if letter else 0,
                "printed": printed[letter] if letter else 0,
            }
            if set(counts.values()) != {1}:
                problems.append(f"{meter}: {counts}")
        assert not problems, f"{len(problems)} of {len(self.sent)} forms not exactly once: {problems[:5]}"


async def _rows(url: str, query: str, *arguments: Any) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(asyncpg_dsn(url), timeout=10)
    try:
        return list(await connection.fetch(query, *arguments))
    finally:
        await connection.close()


async def _letters(system: System) -> dict[UUID, UUID]:
    """request id → letter id (the letter id is the dispatch job's id)."""
    return {
        row["request_id"]: row["id"] for row in await _rows(system.letters_db, "SELECT id, request_id FROM letters")
    }


def _printed_jobs(folder: Path) -> set[UUID]:
    return {UUID(json.loads(path.read_text())["job_id"]) for path in folder.glob("*.json")}


async def _settle(system: System) -> None:
    """Every outbox empty and every consumer group at the end of its topics."""

    async def outboxes_empty() -> bool:
        for url in (system.onboarding_db, system.letters_db, system.identity_db, system.meterdata_db):
            [row] = await _rows(url, "SELECT to_regclass('outbox') IS NOT NULL AS has_outbox")
            if row["has_outbox"] and await _rows(url, "SELECT 1 FROM outbox WHERE published_at IS NULL LIMIT 1"):
                return False
        return True

    await eventually(outboxes_empty, timeout=SETTLE_S, what="every outbox empty")
    await wait_until_consumed(system.kafka, CONSUMERS, timeout=SETTLE_S)


async def _leader(system: System, topic: str, partition: int = 0) -> int:
    admin = AIOKafkaAdminClient(**system.kafka.admin.client_options())
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
        return int(next(p["leader"] for p in described["partitions"] if p["partition"] == partition))
    finally:
        await admin.close()


async def _leader_moved(system: System, topic: str, victim: int) -> None:
    """Until partition 0 of `topic`, led by the killed `victim`, has another leader (the failover happened)."""

    async def moved() -> bool:
        try:
            return await _leader(system, topic) not in (victim, -1)
        except KafkaError:  # the admin client asked the killed node: ask again
            return False

    await eventually(moved, timeout=60, what=f"a new leader of {topic}/0 instead of node {victim}")


async def _replication(system: System, topic: str) -> set[int]:
    admin = AIOKafkaAdminClient(**system.kafka.admin.client_options())
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
        return {len(p["replicas"]) for p in described["partitions"]}
    finally:
        await admin.close()


# --- the tests -------------------------------------------------------------------------------------------


async def test_topics_have_three_replicas_on_the_cluster(cluster: KafkaCluster, cluster_system: System) -> None:
    assert cluster_system.kafka.bootstrap.count(",") == 2
    for spec in (topics.METER_READINGS, topics.ONBOARDING_REQUESTS, topics.LETTER_QUEUE):
        assert await _replication(cluster_system, spec.name) == {3}
    assert await _replication(cluster_system, "__consumer_offsets") == {3}


async def test_readings_ingested_once_while_a_broker_is_killed_and_restarted(
    cluster: KafkaCluster, cluster_system: System
) -> None:
    victim = await _leader(cluster_system, topics.METER_READINGS.name)
    readings = Readings()
    sending = asyncio.create_task(readings.send(cluster_system.kafka, count=600, per_second=25))
    await asyncio.sleep(4)
    killed_at = readings.acked
    await asyncio.to_thread(cluster.kill, victim)
    try:
        killed = time.monotonic()
        await _leader_moved(cluster_system, topics.METER_READINGS.name, victim)

        async def acknowledged_meanwhile() -> bool:
            return readings.acked > killed_at + 25  # a second's worth more, all partitions

        await eventually(acknowledged_meanwhile, timeout=60, what="readings acknowledged while the broker is down")
        moved_after = time.monotonic() - killed
        down_at = readings.acked
    finally:
        await asyncio.to_thread(cluster.restart, victim)
    await sending
    assert 0 < killed_at < down_at < readings.acked  # sent before, while the broker was away, and after
    await _settle(cluster_system)
    sent, rows, wh_sent, wh_stored = await readings.check(cluster_system)
    print(
        f"broker {victim} killed after {killed_at} messages, sends going on {moved_after:.1f} s later ({down_at}):"
        f" {sent} day messages sent ({readings.resent} resent), {rows} rows stored"
    )
    assert (rows, wh_stored) == (sent, wh_sent)


async def test_forms_submitted_while_a_broker_is_down_become_one_letter_each(
    cluster: KafkaCluster, cluster_system: System
) -> None:
    forms = Forms()
    meters = await forms.prepare(cluster_system, 15)
    victim = await _leader(cluster_system, topics.ONBOARDING_REQUESTS.name)
    await asyncio.to_thread(cluster.kill, victim)
    try:
        await forms.submit(cluster_system, meters[:10])
        await forms.printed(cluster_system)  # two of three brokers carry on: the letters go out meanwhile
        await _leader_moved(cluster_system, topics.ONBOARDING_REQUESTS.name, victim)
    finally:
        await asyncio.to_thread(cluster.restart, victim)
    await forms.submit(cluster_system, meters[10:])
    await forms.printed(cluster_system)
    await _settle(cluster_system)
    await forms.check_once(cluster_system)


async def test_relays_and_consumers_ride_through_a_controller_failover(
    cluster: KafkaCluster, cluster_system: System
) -> None:
    forms = Forms()
    meters = await forms.prepare(cluster_system, 10)
    controller = await asyncio.to_thread(cluster.active_controller)
    readings = Readings()
    sending = asyncio.create_task(readings.send(cluster_system.kafka, count=200, per_second=25))
    await asyncio.sleep(2)
    await asyncio.to_thread(cluster.kill, controller)
    try:

        async def new_controller() -> int | None:
            leader = await asyncio.to_thread(cluster.active_controller)
            return leader if leader != controller else None

        successor = await eventually(new_controller, timeout=30, what="another node to become the active controller")
        await forms.submit(cluster_system, meters)
        await forms.printed(cluster_system)
    finally:
        await asyncio.to_thread(cluster.restart, controller)
    await sending
    await _settle(cluster_system)
    await forms.check_once(cluster_system)
    sent, rows, wh_sent, wh_stored = await readings.check(cluster_system)
    print(f"controller {controller} killed, {successor} took over: {sent} day messages, {len(forms.sent)} forms")
    assert (rows, wh_stored) == (sent, wh_sent)
