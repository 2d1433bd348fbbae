"""Chaos run: onboarding forms and meter readings under load while every part is killed in turn.

    python -m benchmarks.chaos [--forms-per-second 20] [--duration 240] [--readings-per-second 0]
                               [--faults onboarding,identity,letters,meterdata,printhouse,kafka,postgres,connection-cut]
                               [--keep-logs]

Starts its own Kafka, PostgreSQL, mail sink and the platform's processes (services and print house) in a temp
dir, as tests/stack/test_restore_drill.py does, and publishes master data for one meter per form. Then, for
`--duration` seconds:

* forms: one form a 1/rate seconds (open loop), each to its own meter; a form whose POST fails (connection
  error, 5xx while onboarding is down) is sent again with the same `submission_id`, which onboarding
  deduplicates: the customer sees one request whatever the retries;
* readings: LoadProfileDay messages on the readings topic (96 known values each, distinct meter/day), as fast as
  the producer goes or at `--readings-per-second` quarter-hour values; a send that fails is sent again;
* faults, spread over the duration, one after the other: SIGKILL + restart of each service process, of the Kafka
  broker and of PostgreSQL (postmaster and backends: the server crashes as a whole), and once every connection
  of meter data's database cut (pg_terminate_backend) while a batch is in flight. Recovery is the time from the
  kill until every service answers /health again and the consumer groups the fault touched are moving (have
  committed further, or have nothing left to read) — and for onboarding, Kafka and PostgreSQL, a form was
  accepted again.

At the end it waits until every outbox is empty and every consumer group has read everything, then checks each
form (one request, one copy e-mail, one letter, one dispatch job, one printed letter) and each readings message
(its row in interval_days with the exact day total) and prints a table: fault | recovery | what was sent after
it | lost | doubled, and the totals. Exit status 1 if anything was lost or doubled, a group stayed stuck, a
fault did not recover or a process died without being killed.

`run_chaos` is the run itself; tests/stack/test_chaos.py calls it with small figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from backoffice.printhouse import NAME as PRINTHOUSE_GROUP
from benchmarks._stack import header_line, run_with_stack, say
from contracts import topics
from contracts.letters import LetterDispatchRequested
from contracts.meterdata import CONSUMPTION_INTERVAL, LoadProfileDay, Quality
from contracts.topics import Principal
from kit.events import encode, envelope_for
from services.identity.messaging import GROUP as IDENTITY_GROUP
from services.letters.messaging import GROUP as LETTERS_GROUP
from services.meterdata.messaging import GROUP as METERDATA_GROUP
from services.meterdata.messaging import INGEST_GROUP
from services.onboarding.messaging import GROUP as ONBOARDING_GROUP
from stack import Reporter, free_port, port_open
from stack.acls import provision
from stack.kafka import KafkaServer
from stack.mailsink import MailSink
from stack.paths import kafka_libs_dir
from stack.postgres import PostgresServer, asyncpg_dsn
from stack.processes import (
    DATABASES,
    Purpose,
    Site,
    mail_store,
    platform_processes,
    prepare_credentials,
    printed_dir,
)
from stack.services import ServiceProcess
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

TENANT = "000328"
TENANTS = ("000328", "000512")
SERVICES = ("onboarding", "identity", "letters", "meterdata", "printhouse")
FAULTS = (*SERVICES, "kafka", "postgres", "connection-cut")
# What each consumer group reads (the services' messaging modules, backoffice.printhouse): all must end at lag 0.
CONSUMERS: dict[str, tuple[str, ...]] = {
    ONBOARDING_GROUP: (
        topics.MASTER_DATA.name,
        topics.LETTERS.name,
        topics.IDENTITY.name,
        topics.IDENTITY_KEYS.name,
    ),
    LETTERS_GROUP: (
        topics.MASTER_DATA.name,
        topics.ONBOARDING_REQUESTS.name,
        topics.LETTER_DISPATCH_STATUS.name,
        topics.IDENTITY_KEYS.name,
    ),
    IDENTITY_GROUP: (topics.MASTER_DATA.name, topics.IDENTITY_REQUESTS.name, topics.LETTERS.name),
    METERDATA_GROUP: (topics.MASTER_DATA.name, topics.IDENTITY_KEYS.name, topics.IDENTITY.name),
    INGEST_GROUP: (topics.METER_READINGS.name,),
    PRINTHOUSE_GROUP: (topics.LETTER_QUEUE.name,),
}
# The groups whose progress shows that a fault is over: the killed part's own, or the load's whole path.
LOAD_PATH = (ONBOARDING_GROUP, LETTERS_GROUP, PRINTHOUSE_GROUP, INGEST_GROUP)
WATCHED: dict[str, tuple[str, ...]] = {
    "onboarding": (ONBOARDING_GROUP,),
    "identity": (IDENTITY_GROUP,),
    "letters": (LETTERS_GROUP,),
    "meterdata": (INGEST_GROUP, METERDATA_GROUP),
    "printhouse": (PRINTHOUSE_GROUP,),
    "kafka": LOAD_PATH,
    "postgres": LOAD_PATH,
    "connection-cut": (INGEST_GROUP,),
}
TAKES_FORMS_DOWN = {"onboarding", "kafka", "postgres"}  # recovered only once a form is accepted again
# One address sends every form: the per-client and per-e-mail limits must stay out of the way.
LOAD_LIMITS = {"PLUSPORTAL_LIMIT_PER_CLIENT": "1000000/minute", "PLUSPORTAL_LIMIT_PER_EMAIL": "1000000/minute"}
FIRST_DAY = date(2025, 4, 1)  # 200 days without a daylight-saving change: every day has 96 values
DAYS_PER_METER = 200
SLOTS = 96
SEND_CHUNK = 500  # readings messages sent before their acknowledgements are awaited
RETRY_S = 0.5
POLL_S = 0.5
PROGRESS_S = 10.0


@dataclass(frozen=True)
class ChaosPlan:
    forms_per_second: float = 20.0
    duration: float = 240.0  # seconds of load; the faults fall within it
    readings_per_second: float = 0.0  # quarter-hour values; 0: as fast as the producer goes
    faults: tuple[str, ...] = FAULTS
    recovery_timeout: float = 180.0  # a fault not recovered by then counts as stuck
    settle_timeout: float = 600.0  # after the load: outboxes empty, every group at lag 0
    report: Reporter = say

    @property
    def forms(self) -> int:
        return max(1, round(self.forms_per_second * self.duration))


# --- the stack ------------------------------------------------------------------------------------------


@dataclass
class ChaosStack:
    root: Path
    kafka: KafkaServer
    postgres: PostgresServer
    mail: MailSink
    processes: dict[str, ServiceProcess]
    expected_down: set[str] = field(default_factory=set)  # killed on purpose right now: not an unexpected exit

    def database(self, name: str) -> str:
        return asyncpg_dsn(self.postgres.url(name))


def start_chaos_stack(root: Path, cleanup: contextlib.ExitStack, report: Reporter = say) -> ChaosStack:
    """Kafka, PostgreSQL (empty databases), the mail sink and every platform process below `root`, as the
    restore drill starts them; `cleanup` stops each. `root` must be passable for the postgres user (0755)."""
    kafka = KafkaServer(root / "kafka-var", free_port(), free_port(), libs_dir=kafka_libs_dir(), detach=False)
    cleanup.callback(kafka.stop)
    kafka.start()
    asyncio.run(provision(kafka.installation))
    postgres = PostgresServer(root / "postgres-var", free_port(), report=report)
    cleanup.callback(postgres.wipe)
    postgres.wipe()  # a /tmp fallback of an earlier run must not look like fresh data
    postgres.start()

    async def create_databases() -> None:
        for name in DATABASES:
            await postgres.create_database(name)

    asyncio.run(create_databases())
    mail = cleanup.enter_context(MailSink(mail_store(root), web_port=free_port()))
    site = Site(
        root,
        kafka=kafka.bootstrap_servers,
        kafka_secrets=kafka.credentials.folder,
        database_url=postgres.url,
        purpose=Purpose.TEST,
        smtp_port=mail.smtp_port,
        http_ports={name: free_port() for name in DATABASES},
    )
    prepare_credentials(site, TENANTS)
    processes = {spec.name: spec.process(root / "logs") for spec in platform_processes(site)}
    processes["onboarding"].env.update(LOAD_LIMITS)
    for process in processes.values():
        cleanup.callback(process.stop)
        process.start(wait=False)
    for process in processes.values():
        if process.port is not None:
            process.wait_healthy(120)
    report(f"Stack ready in {root}: Kafka {kafka.bootstrap_servers}, PostgreSQL :{postgres.port}, logs {root / 'logs'}")
    return ChaosStack(root, kafka, postgres, mail, processes)


async def _rows(url: str, query: str, *arguments: Any) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(url, timeout=10)
    try:
        return list(await connection.fetch(query, *arguments, timeout=60))
    finally:
        await connection.close()


async def _value(url: str, query: str, *arguments: Any) -> Any:
    return (await _rows(url, query, *arguments))[0][0]


# --- what was sent --------------------------------------------------------------------------------------


@dataclass
class SentForm:
    meter: str
    email: str
    body: dict[str, Any]
    first_sent: float = 0.0  # monotonic
    accepted_at: float | None = None
    request_id: str | None = None
    attempts: int = 0
    refused: str | None = None  # a 4xx answer: the form itself was wrong (a bug of this script or of onboarding)


@dataclass
class Ledger:
    forms: list[SentForm] = field(default_factory=list)
    readings_sent_at: list[float] = field(default_factory=list)  # per readings message: first send (monotonic)
    readings_acked: int = 0  # messages 0 … acked-1 are acknowledged by the broker
    form_retries: int = 0
    reading_resends: int = 0
    last_form_accepted: float = 0.0
    meter_prefix: str = ""


def reading_meter(prefix: str, index: int) -> str:
    return f"{prefix}{index // DAYS_PER_METER:06d}"


def reading_values_wh(index: int) -> list[int]:
    """The known Wh values of readings message `index` (0 … 399 Wh a quarter hour)."""
    return [(index * 31 + slot * 7) % 400 for slot in range(SLOTS)]


def reading_message(prefix: str, index: int) -> tuple[bytes, bytes]:
    """(Kafka key, envelope) of readings message `index`: its own meter/day, the values of reading_values_wh."""
    meter = reading_meter(prefix, index)
    day = FIRST_DAY + timedelta(days=index % DAYS_PER_METER)
    # The load generator shares two CPUs with everything it loads: an envelope made by pydantic for each message
    # (~100 µs) starved its own event loop. The values repeat every 400 messages, so each of those 400 envelopes is
    # encoded once and only meter, day and event id are put in (the same bytes the full encoding gives).
    template = _templates.get(index % 400) or _templates.setdefault(index % 400, _template(index))
    value = (
        template.replace(_METER_MARK, meter.encode())
        .replace(_DAY_MARK, day.isoformat().encode())
        .replace(_EVENT_MARK, str(uuid4()).encode())
    )
    return f"{TENANT}/{meter}".encode(), value


def _template(index: int) -> bytes:
    day = LoadProfileDay(
        meter_number=_METER_MARK.decode(),
        obis=CONSUMPTION_INTERVAL,
        day=date.fromisoformat(_DAY_MARK.decode()),
        values=tuple(wh / 1000 for wh in reading_values_wh(index)),
        qualities=(Quality.TRUE_VALUE,) * SLOTS,
    )
    envelope = envelope_for(day, tenant=TENANT, correlation_id=_CORRELATION)
    return encode(envelope).replace(str(envelope.event_id).encode(), _EVENT_MARK)


_CORRELATION = UUID(int=random.getrandbits(128))
_METER_MARK = b"1XXX9999999999"  # as long as a meter number, found nowhere else in an envelope
_DAY_MARK = b"1999-09-09"
_EVENT_MARK = b"@event-id@"
_templates: dict[int, bytes] = {}


# --- load -----------------------------------------------------------------------------------------------


async def _sleep_until(moment: float) -> None:
    await asyncio.sleep(max(moment - time.monotonic(), 0))


async def submit_forms(stack: ChaosStack, plan: ChaosPlan, ledger: Ledger, started: float, stop: float) -> None:
    """One form every 1/rate s until `stop`; each is retried (same submission id) until onboarding accepts it."""
    onboarding = stack.processes["onboarding"]
    give_up = stop + plan.settle_timeout

    async def submit(client: httpx.AsyncClient, sent: SentForm) -> None:
        sent.first_sent = time.monotonic()
        while time.monotonic() < give_up:
            sent.attempts += 1
            try:
                answer = await client.post("/requests", headers=host(TENANT), json=sent.body)
            except httpx.TransportError:
                answer = None
            if answer is not None and answer.status_code == 202:
                sent.accepted_at = ledger.last_form_accepted = time.monotonic()
                sent.request_id = answer.json()["request_id"]
                return
            if answer is not None and answer.status_code < 500 and answer.status_code != 429:
                sent.refused = f"HTTP {answer.status_code}: {answer.text[:200]}"
                return
            ledger.form_retries += 1
            await asyncio.sleep(RETRY_S)

    pending: list[asyncio.Task[None]] = []
    async with httpx.AsyncClient(
        base_url=onboarding.url, timeout=10, limits=httpx.Limits(max_connections=50)
    ) as client:
        for index, sent in enumerate(ledger.forms):
            moment = started + index / plan.forms_per_second
            if moment >= stop:
                break
            await _sleep_until(moment)
            pending.append(asyncio.create_task(submit(client, sent)))
        await asyncio.gather(*pending)
    del ledger.forms[len(pending) :]  # the ones never sent are not part of the run


async def produce_readings(stack: ChaosStack, plan: ChaosPlan, ledger: Ledger, started: float, stop: float) -> None:
    """Readings messages until `stop`, as fast as acknowledged or at the plan's rate; a failed send is repeated
    (a second copy on the topic only replaces the same day: the upsert is keyed by meter, channel and day)."""
    access = stack.kafka.installation.access(Principal.SMGW_ADMINISTRATOR)
    per_second = plan.readings_per_second / SLOTS
    producer: AIOKafkaProducer | None = None

    async def close() -> None:
        nonlocal producer
        if producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), 10)
        producer = None

    async def send(indices: Sequence[int]) -> None:
        nonlocal producer
        waiting = list(indices)
        while waiting:
            try:
                if producer is None:
                    producer = AIOKafkaProducer(
                        **access.client_options(),
                        acks="all",
                        enable_idempotence=True,
                        linger_ms=10,
                        max_batch_size=1024 * 1024,
                        request_timeout_ms=10_000,
                    )
                    await asyncio.wait_for(producer.start(), 15)
                futures = [await producer.send(topics.METER_READINGS.name, *_swap(reading_message(
                    ledger.meter_prefix, index))) for index in waiting]  # fmt: skip
                results = await asyncio.gather(*futures, return_exceptions=True)
            except Exception:  # the broker is away: start again with a fresh producer
                await close()
                ledger.reading_resends += len(waiting)
                await asyncio.sleep(RETRY_S)
                continue
            failed = [index for index, result in zip(waiting, results, strict=True) if isinstance(result, Exception)]
            if failed:
                ledger.reading_resends += len(failed)
                await close()
                await asyncio.sleep(RETRY_S)
            waiting = failed

    try:
        while time.monotonic() < stop:
            first = len(ledger.readings_sent_at)
            if per_second > 0:
                due = int((time.monotonic() - started) * per_second) + 1
                count = min(max(due - first, 0), SEND_CHUNK)
                if count == 0:
                    await asyncio.sleep(0.05)
                    continue
            else:
                count = SEND_CHUNK
            now = time.monotonic()
            ledger.readings_sent_at.extend([now] * count)
            await send(range(first, first + count))
            ledger.readings_acked = first + count
    finally:
        await close()


def _swap(message: tuple[bytes, bytes]) -> tuple[bytes, bytes]:
    """(value, key) for AIOKafkaProducer.send(topic, value, key)."""
    key, value = message
    return value, key


# --- faults ---------------------------------------------------------------------------------------------


@dataclass
class FaultOutcome:
    fault: str
    killed_at: float
    recovered_at: float | None = None  # None: not recovered within the plan's recovery_timeout
    note: str = ""

    @property
    def recovery_seconds(self) -> float | None:
        return None if self.recovered_at is None else self.recovered_at - self.killed_at


class GroupWatch:
    """Committed offsets and lag of the consumer groups; survives the broker going away (clients made anew)."""

    def __init__(self, stack: ChaosStack) -> None:
        self._stack = stack
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._partitions: dict[str, list[TopicPartition]] = {}
        self.last_error = ""  # why the last look failed (shown in the progress lines)

    async def _clients(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        if self._admin is None or self._consumer is None:
            options = self._stack.kafka.installation.admin.client_options()
            # Generous timeouts: under full load on two CPUs the broker answers admin requests slowly.
            admin = AIOKafkaAdminClient(**options, request_timeout_ms=20_000)
            consumer = AIOKafkaConsumer(**options, enable_auto_commit=False, request_timeout_ms=20_000)
            try:
                await admin.start()
                await consumer.start()
            except BaseException:
                with contextlib.suppress(Exception):
                    await admin.close()
                with contextlib.suppress(Exception):
                    await consumer.stop()
                raise
            self._admin, self._consumer = admin, consumer
        return self._admin, self._consumer

    async def close(self) -> None:
        admin, consumer, self._admin, self._consumer = self._admin, self._consumer, None, None
        if admin is not None:
            with contextlib.suppress(Exception):
                await admin.close()
        if consumer is not None:
            with contextlib.suppress(Exception):
                await consumer.stop()

    async def positions(self, groups: Sequence[str]) -> dict[str, tuple[int, int]] | None:
        """group → (committed offsets added up, lag); None while the broker does not answer."""
        try:
            return await asyncio.wait_for(self._positions(groups), 45)
        except Exception as error:
            self.last_error = f"{type(error).__name__}: {error}"[:120]
            await self.close()
            return None

    async def _positions(self, groups: Sequence[str]) -> dict[str, tuple[int, int]]:
        admin, consumer = await self._clients()
        if not self._partitions:
            names = sorted({topic for group_topics in CONSUMERS.values() for topic in group_topics})
            described = await admin.describe_topics(names)
            self._partitions = {
                d["topic"]: [TopicPartition(d["topic"], p["partition"]) for p in d["partitions"]] for d in described
            }
        found = {}
        for group in groups:
            partitions = [tp for topic in CONSUMERS[group] for tp in self._partitions[topic]]
            committed = await admin.list_consumer_group_offsets(group, partitions=partitions)
            ends = await consumer.end_offsets(partitions)
            done = {tp: max(meta.offset, 0) if (meta := committed.get(tp)) is not None else 0 for tp in partitions}
            lag = sum(max(end - done[tp], 0) for tp, end in ends.items())
            found[group] = (sum(done.values()), lag)
        return found


async def _all_healthy(stack: ChaosStack) -> bool:
    async with httpx.AsyncClient(timeout=3) as client:
        for process in stack.processes.values():
            if process.port is None:
                continue
            try:
                answer = (await client.get(f"{process.url}/health")).json()
            except (httpx.HTTPError, ValueError):
                return False
            if not (answer.get("kafka") is True and answer.get("database") == "ok"):
                return False
    return True


async def wait_recovered(
    stack: ChaosStack, watch: GroupWatch, ledger: Ledger, outcome: FaultOutcome, restarted: float, timeout: float
) -> None:
    """Until every service is healthy and the fault's groups have committed further since (or have nothing left
    to read); for faults that stop the intake, until a form was accepted after the restart."""
    groups = WATCHED[outcome.fault]
    deadline = outcome.killed_at + timeout
    baseline: dict[str, tuple[int, int]] | None = None
    while time.monotonic() < deadline:
        if await _all_healthy(stack):
            now = await watch.positions(groups)
            if baseline is None:
                baseline = now
            elif now is not None:
                moving = all(now[g][0] > baseline[g][0] or now[g][1] == 0 for g in groups)
                taking_forms = outcome.fault not in TAKES_FORMS_DOWN or ledger.last_form_accepted > restarted
                if moving and taking_forms:
                    outcome.recovered_at = time.monotonic()
                    return
        await asyncio.sleep(POLL_S)


async def kill_service(stack: ChaosStack, name: str) -> str:
    process = stack.processes[name]
    stack.expected_down.add(name)
    try:
        pid = process.process.pid if process.process else None
        await asyncio.to_thread(process.kill)
        process.start(wait=False)
    finally:
        stack.expected_down.discard(name)
    return f"pid {pid} SIGKILL, restarted"


async def kill_kafka(stack: ChaosStack) -> str:
    pid = stack.kafka.pid()
    if pid is None:
        raise RuntimeError("Kafka is not running")
    os.kill(pid, signal.SIGKILL)
    # Gone means reaped, not only a zombie leader: the JVM's other threads may still hold the listening socket.
    await eventually(
        _async(lambda: _reaped(pid) and not port_open(stack.kafka.port)), timeout=60, what="the broker gone"
    )
    stack.kafka.stop()  # nothing left to stop: forgets the pid file
    await asyncio.to_thread(stack.kafka.start, 120)
    return f"pid {pid} SIGKILL, restarted"


async def kill_postgres(stack: ChaosStack) -> str:
    """SIGKILL to the postmaster and its backends (the server crashes as a whole: a backend left over would keep
    the shared memory and stop the new postmaster), then start it again: crash recovery from the WAL."""
    pid = await asyncio.to_thread(stack.postgres.pid)
    if pid is None:
        raise RuntimeError("PostgreSQL is not running")
    backends = _children(pid)
    for victim in (pid, *backends):
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim, signal.SIGKILL)
    # Until reaped (init takes a second or two here): pg_ctl takes a zombie postmaster for a running server.
    gone = _async(lambda: all(_reaped(v) for v in (pid, *backends)) and not port_open(stack.postgres.port))
    await eventually(gone, timeout=60, what="PostgreSQL gone")
    await asyncio.to_thread(stack.postgres.start, 60)
    return f"postmaster {pid} and {len(backends)} backends SIGKILL, restarted"


def _children(parent: int) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                if int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1]) == parent:
                    found.append(int(proc.name))
    return found


def _reaped(pid: int) -> bool:
    """True once `pid` is gone from /proc: exited and reaped (by us if it is our child, else by init)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    return not Path(f"/proc/{pid}").exists()


def _async(probe: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def call() -> bool:
        return probe()

    return call


async def cut_connections(stack: ChaosStack) -> str:
    """pg_terminate_backend for every connection to meter data's database, at a moment one is in a statement or
    transaction (mid-batch) if that comes within 10 s."""
    connection = await asyncpg.connect(stack.database("meterdata"), timeout=10)
    others = "FROM pg_stat_activity WHERE datname = 'meterdata' AND pid <> pg_backend_pid()"
    try:
        busy = 0
        for _ in range(200):
            busy = await connection.fetchval(f"SELECT count(*) {others} AND state IN ('active', 'idle in transaction')")
            if busy:
                break
            await asyncio.sleep(0.05)
        cut = await connection.fetchval(f"SELECT count(*) FROM (SELECT pg_terminate_backend(pid) {others}) AS t")
    finally:
        await connection.close()
    return f"{cut} connections terminated, {busy} of them mid-statement or in a transaction"


async def inject(stack: ChaosStack, fault: str) -> str:
    if fault in SERVICES:
        return await kill_service(stack, fault)
    if fault == "kafka":
        return await kill_kafka(stack)
    if fault == "postgres":
        return await kill_postgres(stack)
    if fault == "connection-cut":
        return await cut_connections(stack)
    raise ValueError(f"unknown fault {fault!r}")


async def run_faults(
    stack: ChaosStack, plan: ChaosPlan, ledger: Ledger, watch: GroupWatch, started: float, outcomes: list[FaultOutcome]
) -> None:
    for index, fault in enumerate(plan.faults):
        await _sleep_until(started + plan.duration * (index + 0.5) / len(plan.faults))
        outcome = FaultOutcome(fault, time.monotonic())
        outcomes.append(outcome)
        plan.report(f"[{outcome.killed_at - started:6.1f} s] fault: {fault} …")
        outcome.note = await inject(stack, fault)
        await wait_recovered(stack, watch, ledger, outcome, time.monotonic(), plan.recovery_timeout)
        took = outcome.recovery_seconds
        plan.report(
            f"[{time.monotonic() - started:6.1f} s] fault: {fault}: {outcome.note}; "
            + (f"recovered after {took:.1f} s" if took is not None else f"NOT recovered in {plan.recovery_timeout} s")
        )


@dataclass(frozen=True)
class UnexpectedExit:
    name: str
    code: int | None
    at: float


async def watch_processes(stack: ChaosStack, exits: list[UnexpectedExit], started: float, report: Reporter) -> None:
    """A process that ends without being killed is a finding: it is noted and started again."""
    while True:
        await asyncio.sleep(1)
        for name, process in stack.processes.items():
            if name in stack.expected_down or process.running:
                continue
            code = process.process.returncode if process.process else None
            exits.append(UnexpectedExit(name, code, time.monotonic()))
            report(f"[{time.monotonic() - started:6.1f} s] {name} ended by itself (exit {code}); starting it again")
            process.start(wait=False)


async def show_progress(
    plan: ChaosPlan, ledger: Ledger, watch: GroupWatch, outcomes: list[FaultOutcome], started: float
) -> None:
    while True:
        await asyncio.sleep(PROGRESS_S)
        accepted = sum(1 for f in ledger.forms if f.accepted_at is not None)
        sent = sum(1 for f in ledger.forms if f.attempts)
        positions = await watch.positions((INGEST_GROUP, LETTERS_GROUP, PRINTHOUSE_GROUP))
        lags = (
            " ".join(f"{g} {lag:,}" for g, (_, lag) in positions.items())
            if positions
            else f"unknown ({watch.last_error})"
        )
        fault = outcomes[-1] if outcomes else None
        state = "" if fault is None else f" · {fault.fault} " + ("recovered" if fault.recovered_at else "in progress")
        plan.report(
            f"[{time.monotonic() - started:6.1f} s] forms {accepted}/{sent} accepted ({ledger.form_retries} retries)"
            f" · readings {ledger.readings_acked * SLOTS:,} sent ({ledger.readings_acked:,} messages)"
            f" · lag {lags}{state}"
        )


# --- the end: settle and check --------------------------------------------------------------------------


async def _outboxes_waiting(stack: ChaosStack) -> int:
    waiting = 0
    for name in DATABASES:
        url = stack.database(name)
        tables = await _rows(url, "SELECT to_regclass('outbox') IS NOT NULL, to_regclass('mail_outbox') IS NOT NULL")
        has_outbox, has_mail = tables[0]
        if has_outbox:
            waiting += await _value(url, "SELECT count(*) FROM outbox WHERE published_at IS NULL")
        if has_mail:
            waiting += await _value(url, "SELECT count(*) FROM mail_outbox WHERE sent_at IS NULL AND failed_at IS NULL")
    return int(waiting)


async def settle(stack: ChaosStack, plan: ChaosPlan) -> str | None:
    """Until the outboxes are empty and every group has read everything, twice in a row (consuming may fill an
    outbox again); the reason if that does not come within the plan's settle_timeout."""
    deadline = time.monotonic() + plan.settle_timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return f"not settled after {plan.settle_timeout:.0f} s"
        try:
            await eventually(lambda: _empty(stack), timeout=left, what="every outbox empty")
            await wait_until_consumed(stack.kafka.installation, CONSUMERS, timeout=max(deadline - time.monotonic(), 1))
        except AssertionError as error:
            return str(error)
        if await _outboxes_waiting(stack) == 0:
            return None


async def _empty(stack: ChaosStack) -> bool:
    try:
        return await _outboxes_waiting(stack) == 0
    except (OSError, asyncpg.PostgresError):
        return False


@dataclass
class Verdict:
    lost: int = 0
    doubled: int = 0
    forms: int = 0
    readings: int = 0  # messages


@dataclass
class Totals:
    forms_sent: int = 0
    forms_accepted: int = 0
    forms_refused: int = 0
    requests: int = 0
    copy_emails: int = 0
    copy_emails_resent: int = 0  # deliveries of a mail already delivered (same Message-ID): SMTP has no idempotency
    letters: int = 0
    dispatch_jobs: int = 0
    job_records: int = 0  # records on the letter queue: a relay resends after a crash, the print house dedupes
    printed: int = 0
    failed_mails: int = 0
    dead_letters: int = 0
    readings_sent: int = 0  # quarter-hour values
    readings_stored: int = 0
    wh_sent: int = 0
    wh_stored: int = 0
    messages_sent: int = 0
    messages_stored: int = 0


@dataclass
class ChaosReport:
    plan: ChaosPlan
    outcomes: list[FaultOutcome]
    windows: dict[str, Verdict]  # "before the first fault" or the fault whose window the item was sent in
    totals: Totals
    exits: list[UnexpectedExit]
    stuck: str | None
    problems: list[str]
    load_seconds: float  # from the load's start until the last fault recovered (or the load ended, if later)

    @property
    def lost(self) -> int:
        return sum(v.lost for v in self.windows.values())

    @property
    def doubled(self) -> int:
        return sum(v.doubled for v in self.windows.values())

    @property
    def ok(self) -> bool:
        recovered = all(o.recovered_at is not None for o in self.outcomes)
        return not (self.lost or self.doubled or self.stuck or self.exits or self.problems) and recovered

    def text(self) -> str:
        t = self.totals
        lines = [
            header_line("Chaos run"),
            f"load {self.plan.duration:.0f} s, the last fault over after {self.load_seconds:.0f} s:"
            f" forms at {self.plan.forms_per_second:g}/s, readings "
            + (f"at {self.plan.readings_per_second:,.0f}/s" if self.plan.readings_per_second else "as fast as sent"),
            "",
            f"{'fault':<16} {'recovery s':>10} {'forms':>6} {'readings':>10} {'lost':>5} {'doubled':>8}  what",
        ]
        notes = {o.fault: o for o in self.outcomes}
        for name, verdict in self.windows.items():
            outcome = notes.get(name)
            if outcome is None:
                recovery, what = "—", ""
            else:
                took = outcome.recovery_seconds
                recovery, what = ("stuck" if took is None else f"{took:.1f}"), outcome.note
            lines.append(
                f"{name:<16} {recovery:>10} {verdict.forms:>6} {verdict.readings * SLOTS:>10,} {verdict.lost:>5}"
                f" {verdict.doubled:>8}  {what}"
            )
        lines += [
            f"{'total':<16} {'':>10} {t.forms_sent:>6} {t.readings_sent:>10,} {self.lost:>5} {self.doubled:>8}",
            "",
            f"forms sent {t.forms_sent:,}, accepted {t.forms_accepted:,} (refused {t.forms_refused})"
            f" · requests {t.requests:,} · copy e-mails {t.copy_emails:,}"
            f" (delivered again after a crash, same Message-ID: {t.copy_emails_resent:,}) · letters {t.letters:,}"
            f" · dispatch jobs {t.dispatch_jobs:,} ({t.job_records:,} records on the queue) · printed {t.printed:,}",
            f"readings sent {t.readings_sent:,} in {t.messages_sent:,} day messages, stored {t.readings_stored:,} in"
            f" {t.messages_stored:,} rows · Wh sent {t.wh_sent:,}, stored {t.wh_stored:,}"
            f" ({'exact' if t.wh_sent == t.wh_stored else 'DIFFERENT'})",
            f"failed mails {t.failed_mails} · dead letters {t.dead_letters}"
            f" · consumer groups: {'all at lag 0, outboxes empty' if not self.stuck else 'STUCK: ' + self.stuck}",
        ]
        for gone in self.exits:
            lines.append(f"UNEXPECTED: {gone.name} ended by itself (exit {gone.code})")
        lines += [f"PROBLEM: {problem}" for problem in self.problems]
        return "\n".join(lines)


def _window(outcomes: Sequence[FaultOutcome], moment: float) -> str:
    """The fault whose window (its kill until the next fault's) `moment` falls into."""
    name = "before faults"
    for outcome in outcomes:
        if outcome.killed_at <= moment:
            name = outcome.fault
    return name


def _printed_jobs(stack: ChaosStack) -> set[UUID]:
    folder = printed_dir(stack.root) / TENANT
    return {UUID(json.loads(path.read_text())["job_id"]) for path in folder.glob("*.json")}


async def check(
    stack: ChaosStack, ledger: Ledger, outcomes: Sequence[FaultOutcome]
) -> tuple[dict[str, Verdict], Totals]:
    windows = {"before faults": Verdict(), **{o.fault: Verdict() for o in outcomes}}
    totals = Totals()
    onboarding, letters_db = stack.database("onboarding"), stack.database("letters")
    requests = Counter[str]()
    request_of: dict[str, UUID] = {}
    for row in await _rows(
        onboarding, "SELECT id, meter_number FROM partner_number_requests WHERE tenant = $1", TENANT
    ):
        requests[row["meter_number"]] += 1
        request_of[row["meter_number"]] = row["id"]
    letters = Counter[UUID]()
    letter_of: dict[UUID, UUID] = {}
    for row in await _rows(letters_db, "SELECT id, request_id FROM letters"):
        letters[row["request_id"]] += 1
        letter_of[row["request_id"]] = row["id"]
    job_records = [
        UUID(envelope["payload"]["job_id"])
        for _, envelope in envelopes(await read_topic(stack.kafka.installation, topics.LETTER_QUEUE.name))
        if envelope["event_type"] == LetterDispatchRequested.EVENT_TYPE
    ]
    jobs = set(job_records)
    printed = await asyncio.to_thread(_printed_jobs, stack)
    # A copy e-mail is one Message-ID (kit.mail: one per outbox row); one delivered again after a crash between
    # the SMTP server's answer and the relay's commit is the same mail twice, counted apart.
    deliveries = [
        (to, message.message()["Message-ID"])
        for message in await asyncio.to_thread(stack.mail.messages)
        for to in message.envelope_to
    ]
    copies = Counter(to for to, _ in set(deliveries))

    for sent in ledger.forms:
        verdict = windows[_window(outcomes, sent.first_sent)]
        verdict.forms += 1
        totals.forms_sent += 1
        totals.forms_accepted += sent.accepted_at is not None
        totals.forms_refused += sent.refused is not None
        request = request_of.get(sent.meter)
        letter = letter_of.get(request) if request else None
        counts = (requests[sent.meter], copies[sent.email], letters[request] if request else 0)
        delivered = letter is not None and letter in jobs and letter in printed
        if min(counts) == 0 or not delivered:
            verdict.lost += 1
        elif max(counts) > 1:
            verdict.doubled += 1
    totals.requests = sum(requests[f.meter] for f in ledger.forms)
    totals.copy_emails = sum(copies[f.email] for f in ledger.forms)
    our_addresses = {f.email for f in ledger.forms}
    totals.copy_emails_resent = sum(1 for to, _ in deliveries if to in our_addresses) - totals.copy_emails
    ours = {request_of[f.meter] for f in ledger.forms if f.meter in request_of}
    totals.letters = sum(count for request, count in letters.items() if request in ours)
    totals.dispatch_jobs = len(jobs)
    totals.job_records = len(job_records)
    totals.printed = len(printed)
    totals.failed_mails = int(await _value(onboarding, "SELECT count(*) FROM mail_outbox WHERE failed_at IS NOT NULL"))
    totals.dead_letters = len(await read_topic(stack.kafka.installation, topics.DEAD_LETTER.name))

    stored = {
        (row["meter_number"], row["day"]): int(row["total_wh"])
        for row in await _rows(
            stack.database("meterdata"),
            "SELECT meter_number, day, total_wh FROM interval_days WHERE tenant = $1 AND meter_number LIKE $2",
            TENANT,
            ledger.meter_prefix + "%",
        )
    }
    sent_count = ledger.readings_acked
    for index in range(sent_count):
        verdict = windows[_window(outcomes, ledger.readings_sent_at[index])]
        verdict.readings += 1
        expected = sum(reading_values_wh(index))
        found = stored.get(
            (reading_meter(ledger.meter_prefix, index), FIRST_DAY + timedelta(days=index % DAYS_PER_METER))
        )
        totals.wh_sent += expected
        if found != expected:
            verdict.lost += 1  # missing, or a different total: the reading as sent is not what is stored
    totals.messages_sent = sent_count
    totals.readings_sent = sent_count * SLOTS
    totals.messages_stored = len(stored)
    totals.readings_stored = len(stored) * SLOTS
    totals.wh_stored = sum(stored.values())
    extra = len(stored) - sent_count
    if extra > 0:  # rows of days never acknowledged as sent: would be readings stored twice under other days
        windows["before faults"].doubled += extra
    return windows, totals


# --- the run --------------------------------------------------------------------------------------------


def _forms(count: int) -> Iterator[tuple[Any, SentForm]]:
    """A meter point (master data) and the fitting form for each form to send."""
    home = address("Postweg", "1", "12345", "Musterstadt")
    typed = {"street": "Postweg", "house_number": "1", "postcode": "12345", "city": "Musterstadt"}
    for _ in range(count):
        point = meter_point(random_meter_number(), "Erika Beispiel", home, home)
        email = f"erika.{point.meter_number.lower()}@example.org"
        body = form(point.meter_number, "Erika", "Beispiel", typed, email)
        yield point, SentForm(point.meter_number, email, body)


async def run_chaos(stack: ChaosStack, plan: ChaosPlan) -> ChaosReport:
    """Master data, then the load with the faults in turn, then settle and check (see the module's text)."""
    unknown = set(plan.faults) - set(FAULTS)
    if unknown:
        raise ValueError(f"unknown faults {sorted(unknown)}; known: {', '.join(FAULTS)}")
    report = plan.report
    ledger = Ledger(meter_prefix=f"1CHA{random.randrange(10**4):04d}")
    points = []
    for point, sent in _forms(plan.forms):
        points.append(point)
        ledger.forms.append(sent)
    report(f"Master data for {len(points):,} meters …")
    for start in range(0, len(points), 500):
        await publish_master_data(stack.kafka.installation, TENANT, *points[start : start + 500])
    await wait_until_consumed(
        stack.kafka.installation, {g: (topics.MASTER_DATA.name,) for g in (ONBOARDING_GROUP, LETTERS_GROUP)}, 300
    )

    watch = GroupWatch(stack)
    outcomes: list[FaultOutcome] = []
    exits: list[UnexpectedExit] = []
    started = time.monotonic()
    stop = started + plan.duration
    report(f"Load for {plan.duration:.0f} s, faults: {', '.join(plan.faults)}")
    helpers = [
        asyncio.create_task(watch_processes(stack, exits, started, report)),
        asyncio.create_task(show_progress(plan, ledger, watch, outcomes, started)),
    ]
    try:
        await asyncio.gather(
            submit_forms(stack, plan, ledger, started, stop),
            produce_readings(stack, plan, ledger, started, stop),
            run_faults(stack, plan, ledger, watch, started, outcomes),
        )
        load_seconds = time.monotonic() - started
        report(f"Load and faults over after {load_seconds:.0f} s; waiting for the outboxes and consumer groups …")
        stuck = await settle(stack, plan)
    finally:
        for helper in helpers:
            helper.cancel()
        await asyncio.gather(*helpers, return_exceptions=True)
        await watch.close()
    report("Checking every form and every readings message …")
    windows, totals = await check(stack, ledger, outcomes)
    problems = [f"form for {f.meter} refused: {f.refused}" for f in ledger.forms if f.refused]
    problems += [f"form for {f.meter} never accepted" for f in ledger.forms if f.accepted_at is None and not f.refused]
    if totals.failed_mails:
        problems.append(f"{totals.failed_mails} mails given up")
    if totals.dead_letters:
        problems.append(f"{totals.dead_letters} records on the dead-letter topic")
    return ChaosReport(plan, outcomes, windows, totals, exits, stuck, problems, load_seconds)


def parse_args(argv: Sequence[str] | None = None) -> tuple[argparse.Namespace, ChaosPlan]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.chaos", description=__doc__.split("\n")[0])
    parser.add_argument("--forms-per-second", type=float, default=20.0)
    parser.add_argument("--duration", type=float, default=240.0, help="seconds of load; the faults fall within")
    parser.add_argument(
        "--readings-per-second", type=float, default=0.0, help="quarter-hour values a second (0: as fast as sent)"
    )
    parser.add_argument("--faults", default=",".join(FAULTS), help=f"comma-separated, in order, from {FAULTS}")
    parser.add_argument(
        "--settle-timeout",
        type=float,
        default=ChaosPlan.settle_timeout,
        help="seconds after the load for the backlogs to clear (a busy machine needs more)",
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep the processes' logs (path is printed)")
    args = parser.parse_args(argv)
    faults = tuple(name.strip() for name in args.faults.split(",") if name.strip())
    if set(faults) - set(FAULTS) or args.forms_per_second <= 0 or args.duration < 10 or args.readings_per_second < 0:
        parser.error(f"--faults from {', '.join(FAULTS)}; --forms-per-second > 0; --duration ≥ 10")
    plan = ChaosPlan(
        args.forms_per_second, args.duration, args.readings_per_second, faults, settle_timeout=args.settle_timeout
    )
    return args, plan


def main(argv: Sequence[str] | None = None) -> int:
    args, plan = parse_args(argv)

    def start(workdir: Path, cleanup: contextlib.ExitStack) -> ChaosStack:
        workdir.chmod(0o755)  # the postgres user passes through to its data dir
        return start_chaos_stack(workdir, cleanup)

    async def body(stack: ChaosStack) -> tuple[str, bool]:
        outcome = await run_chaos(stack, plan)
        return outcome.text(), outcome.ok

    return run_with_stack(args, start, body, "chaos")


if __name__ == "__main__":
    sys.exit(main())
