"""Latency of the postal path under load: form submitted → dispatch job on the letter queue.

    python -m benchmarks.letters_latency [--rate 50] [--seconds 30] [--replicas N]
                                         [--kafka HOST:PORT --database-url URL]

Starts its own Kafka and PostgreSQL (local processes in a temp dir, as the test fixtures do) unless
URLs are given, creates the topics, runs a mail sink, onboarding and letters as processes, seeds one
meter per request (so every request matches automatically) and submits requests open-loop at a steady
rate. A consumer in this process joins LetterQueued(request_id, job_id) with LetterDispatchRequested(job_id)
and times each request from just before its POST to the moment its job is seen on the letter queue.
Baselines from the same run: a bare Kafka produce→consume round trip and the HTTP POST alone.
With ``--replicas N`` N letters processes share letters' database and consumer group (the partitions of the
onboarding topic); the report names N, the dispatch jobs per second and each process's CPU.

Exit status: 0 when every request got its dispatch job (whether or not the target is met), 1 on errors
(HTTP failures, missing jobs, a stack that does not start), 130 when interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import os
import random
import sys
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from backoffice.masterdata_import import publish_meter_points
from benchmarks._stack import (
    BenchmarkError,
    add_stack_arguments,
    benchmark_database,
    percentile,
    run_with_stack,
    say,
    start_servers,
)
from contracts.common import PartnerRole, PostalAddress
from contracts.envelope import HEADER_EVENT_TYPE, Envelope
from contracts.letters import LetterDispatchRequested, LetterQueued
from contracts.masterdata import MeterPointRecorded, PartnerOfRecord
from contracts.onboarding import PartnerNumberRequestMatched
from contracts.topics import DAY_MS, LETTER_QUEUE, LETTERS, MASTER_DATA, ONBOARDING_REQUESTS, Principal, TopicSpec
from stack import free_port
from stack.credentials import KafkaInstallation
from stack.mailsink import MailSink
from stack.services import ServiceProcess, service_env

TENANT = "000328"
HOST = {"Host": f"{TENANT}.localhost"}
TARGET_P99_MS = 500.0
TARGET_RATE = 50.0
# The services' consumer group ids (GROUP in services/<name>/messaging.py); used to see that both
# have read all seeded master data before the load starts.
SERVICE_GROUPS = ("onboarding", "letters")
# Only for the Kafka baseline: one partition, short retention. Created beside the platform's topics.
ROUND_TRIP_TOPIC = TopicSpec(
    "plusportal.benchmark.round-trip.v1",
    1,
    DAY_MS // 24,
    "none",
    "Benchmark: bare produce→consume round trip.",
    None,  # the admin principal writes and reads it
)
SURNAME = "Messer"
POSTCODE = "12345"


# --- the stack ------------------------------------------------------------------------------------


@dataclass
class Stack:
    kafka: KafkaInstallation
    onboarding: ServiceProcess
    letters: ServiceProcess
    workdir: Path
    letters_replicas: list[ServiceProcess] = field(default_factory=list)  # letters-2 … letters-N

    @property
    def measured(self) -> tuple[ServiceProcess, ...]:
        """The processes whose CPU is reported."""
        return (self.onboarding, self.letters, *self.letters_replicas)


def start_stack(args: argparse.Namespace, workdir: Path, cleanup: contextlib.ExitStack) -> Stack:
    """Kafka, PostgreSQL, topics, mail sink, onboarding and letters; `cleanup` stops each in reverse order."""
    kafka, server = start_servers(args, cleanup, [ROUND_TRIP_TOPIC])
    databases = {name: benchmark_database(args, server, f"bench_{name}", cleanup) for name in ("onboarding", "letters")}

    mail = cleanup.enter_context(MailSink(workdir / "mail"))
    env = service_env(kafka=kafka.bootstrap, database_url=None, smtp_port=mail.smtp_port)
    onboarding = ServiceProcess(
        "onboarding",
        "-m services.onboarding.app",
        {
            **env,
            **kafka.environment(Principal.ONBOARDING),
            "PLUSPORTAL_DATABASE_URL": databases["onboarding"],
            "PLUSPORTAL_LIMIT_PER_CLIENT": "100000/minute",
            "PLUSPORTAL_LIMIT_PER_EMAIL": "100000/minute",
        },
        workdir / "logs" / "onboarding.log",
        port=free_port(),
    )
    letters = ServiceProcess(
        "letters",
        "-m services.letters.app",
        {**env, **kafka.environment(Principal.LETTERS), "PLUSPORTAL_DATABASE_URL": databases["letters"]},
        workdir / "logs" / "letters.log",
        port=free_port(),
    )
    # Further letters replicas share the consumer group (and so the partitions) and the database.
    replicas = [
        ServiceProcess(
            f"letters-{n}",
            "-m services.letters.app",
            {**env, **kafka.environment(Principal.LETTERS), "PLUSPORTAL_DATABASE_URL": databases["letters"]},
            workdir / "logs" / f"letters-{n}.log",
            port=free_port(),
        )
        for n in range(2, args.letters_replicas + 1)
    ]
    for process in (onboarding, letters, *replicas):
        cleanup.callback(process.stop)  # registered first: a half-started stack is stopped as well
        process.start(wait=False)
    say(f"Services: onboarding and {1 + len(replicas)} letters process(es) starting …")
    onboarding.wait_healthy()
    for process in (letters, *replicas):
        process.wait_healthy()
    say(f"Services ready: onboarding {onboarding.url}, letters {letters.url}; logs in {workdir / 'logs'}")
    return Stack(kafka, onboarding, letters, workdir, replicas)


async def topic_partitions(kafka: KafkaInstallation, specs: Iterable[TopicSpec]) -> list[TopicPartition]:
    """Every partition of the topics, as the broker reports them."""
    names = [spec.name for spec in specs]
    admin = AIOKafkaAdminClient(**kafka.admin.client_options())
    await admin.start()
    try:
        described = await admin.describe_topics(names)
    finally:
        await admin.close()
    partitions = [TopicPartition(topic["topic"], p["partition"]) for topic in described for p in topic["partitions"]]
    if {tp.topic for tp in partitions} != set(names):
        raise BenchmarkError(f"topics missing on {kafka}: {sorted(set(names) - {tp.topic for tp in partitions})}")
    return sorted(partitions)


# --- master data and forms ------------------------------------------------------------------------


@dataclass
class Submission:
    index: int
    meter: str
    scheduled: float = 0.0  # perf_counter
    sent: float = 0.0  # perf_counter just before the POST
    answered: float | None = None
    request_id: str | None = None
    error: str | None = None


def meter_points(meters: Sequence[str], run: int) -> list[MeterPointRecorded]:
    now = datetime.now(UTC)
    points = []
    for index, meter in enumerate(meters):
        address = PostalAddress(
            street="Messweg", house_number=str(index % 300 + 1), postcode=POSTCODE, city="Prüfstadt"
        )
        partner = PartnerOfRecord(
            partner_number=f"{run:04d}{index:08d}",
            role=PartnerRole.CONSUMPTION,
            name=f"Lena {SURNAME}",
            postal_address=address,
        )
        points.append(
            MeterPointRecorded(meter_number=meter, connection_address=address, partners=(partner,), recorded_at=now)
        )
    return points


def request_form(submission: Submission, run: int) -> dict[str, Any]:
    return {
        "submission_id": str(uuid.uuid4()),
        "first_name": "Lena",
        "last_name": SURNAME,
        "postal_address": {
            "street": "Messweg",
            "house_number": str(submission.index % 300 + 1),
            "postcode": POSTCODE,
            "city": "Prüfstadt",
        },
        "meter_number": submission.meter,
        "email": f"lena.{run:04d}.{submission.index}@example.org",
    }


async def wait_for_master_data(kafka: KafkaInstallation, timeout: float) -> None:
    """Both services' groups have committed all master data (each commits after its transaction: the records are
    stored). The back-office's meter-point route would need a staff account, which the benchmark has not."""
    deadline = time.monotonic() + timeout
    probe = AIOKafkaConsumer(**kafka.admin.client_options(), group_id=None, enable_auto_commit=False)
    admin = AIOKafkaAdminClient(**kafka.admin.client_options())
    await probe.start()
    await admin.start()
    try:
        partitions = await topic_partitions(kafka, [MASTER_DATA])
        ends = await probe.end_offsets(partitions)
        while True:
            behind = {}
            for group in SERVICE_GROUPS:
                committed = await admin.list_consumer_group_offsets(group, partitions=partitions)
                done = {tp: max(meta.offset, 0) for tp, meta in committed.items() if meta is not None}
                behind[group] = sum(max(ends[tp] - done.get(tp, 0), 0) for tp in partitions)
            if not any(behind.values()):
                return
            if time.monotonic() > deadline:
                raise BenchmarkError(f"master data not consumed after {timeout:.0f} s (messages behind: {behind})")
            await asyncio.sleep(0.3)
    finally:
        await admin.close()
        await probe.stop()


# --- observing the topics -------------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    perf: float  # perf_counter when this process received the record
    wall: float  # time.time() at the same moment, to compare with Kafka record timestamps
    produced: float  # the record's timestamp (the producer's clock at send), seconds
    occurred: float  # the envelope's occurred_at, seconds


class Observer:
    """Reads the onboarding, letters and letter-queue topics from their end; joins request → job."""

    def __init__(self, kafka: KafkaInstallation) -> None:
        self._kafka = kafka
        self._consumer = AIOKafkaConsumer(
            **kafka.admin.client_options(),
            group_id=None,
            enable_auto_commit=False,
            fetch_max_wait_ms=100,
            max_partition_fetch_bytes=8 * 1024 * 1024,
        )
        self._task: asyncio.Task[None] | None = None
        self.matched: dict[str, Seen] = {}  # request_id → PartnerNumberRequestMatched on the onboarding topic
        self.job_of: dict[str, str] = {}  # request_id → job_id (LetterQueued)
        self.jobs: dict[str, Seen] = {}  # job_id → LetterDispatchRequested on the letter queue
        self.undecodable = 0

    async def start(self) -> None:
        partitions = await topic_partitions(self._kafka, [ONBOARDING_REQUESTS, LETTERS, LETTER_QUEUE])
        await self._consumer.start()
        self._consumer.assign(partitions)
        await self._consumer.seek_to_end(*partitions)
        for partition in partitions:  # resolve every position now: nothing produced from here on is missed
            await self._consumer.position(partition)
        self._task = asyncio.create_task(self._run(), name="observer")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._consumer.stop()

    def job(self, request_id: str) -> Seen | None:
        job_id = self.job_of.get(request_id)
        return self.jobs.get(job_id) if job_id else None

    async def _run(self) -> None:
        while True:
            batch = await self._consumer.getmany(timeout_ms=200)
            perf, wall = time.perf_counter(), time.time()
            for records in batch.values():
                for record in records:
                    try:
                        self._record(record, perf, wall)
                    except (ValueError, KeyError):
                        self.undecodable += 1

    def _record(self, record: Any, perf: float, wall: float) -> None:
        event_type = next((v.decode() for k, v in record.headers if k == HEADER_EVENT_TYPE), None)
        if event_type not in (
            PartnerNumberRequestMatched.EVENT_TYPE,
            LetterQueued.EVENT_TYPE,
            LetterDispatchRequested.EVENT_TYPE,
        ):
            return
        envelope = Envelope.model_validate_json(record.value)
        seen = Seen(perf, wall, record.timestamp / 1000, envelope.occurred_at.timestamp())
        if event_type == PartnerNumberRequestMatched.EVENT_TYPE:
            matched = PartnerNumberRequestMatched.model_validate(envelope.payload)
            self.matched[str(matched.request_id)] = seen
        elif event_type == LetterQueued.EVENT_TYPE:
            queued = LetterQueued.model_validate(envelope.payload)
            self.job_of[str(queued.request_id)] = str(queued.job_id)
        else:
            job = LetterDispatchRequested.model_validate(envelope.payload)
            self.jobs[str(job.job_id)] = seen


# --- load -----------------------------------------------------------------------------------------


async def submit(client: httpx.AsyncClient, submission: Submission, form: dict[str, Any]) -> None:
    submission.sent = time.perf_counter()
    try:
        response = await client.post("/requests", headers=HOST, json=form)
    except httpx.HTTPError as error:
        submission.error = f"{type(error).__name__}: {error}"[:200]
        return
    submission.answered = time.perf_counter()
    if response.status_code == 202:
        submission.request_id = str(response.json()["request_id"])
    else:
        submission.error = f"HTTP {response.status_code}: {response.text[:200]}"


async def open_loop(client: httpx.AsyncClient, submissions: Sequence[Submission], rate: float, run: int) -> None:
    """Sends submission i at t0 + i/rate, never waiting for earlier answers."""
    forms = [request_form(s, run) for s in submissions]
    tasks = []
    t0 = time.perf_counter() + 0.05
    for i, (submission, form) in enumerate(zip(submissions, forms, strict=True)):
        submission.scheduled = t0 + i / rate
        delay = submission.scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(submit(client, submission, form)))
    await asyncio.gather(*tasks)


def completed(submissions: Iterable[Submission], observer: Observer) -> int:
    return sum(1 for s in submissions if s.request_id and observer.job(s.request_id))


async def report_progress(
    label: str, submissions: Sequence[Submission], observer: Observer, started: float, every: float = 5.0
) -> None:
    while True:
        await asyncio.sleep(every)
        sent = sum(1 for s in submissions if s.sent)
        answered = sum(1 for s in submissions if s.answered or s.error)
        matched = sum(1 for s in submissions if s.request_id and s.request_id in observer.matched)
        say(
            f"  [{label} {time.perf_counter() - started:5.1f} s] sent {sent}/{len(submissions)}, "
            f"answered {answered}, matched {matched}, dispatch jobs {completed(submissions, observer)}"
        )


async def drain(submissions: Sequence[Submission], observer: Observer, stall_timeout: float) -> None:
    """Waits until every accepted request has its job, or until no job arrived for `stall_timeout` s."""
    accepted = [s for s in submissions if s.request_id]
    done, last_progress = -1, time.monotonic()
    while True:
        now_done = completed(accepted, observer)
        if now_done == len(accepted):
            return
        if now_done != done:
            done, last_progress = now_done, time.monotonic()
        elif time.monotonic() - last_progress > stall_timeout:
            return
        await asyncio.sleep(0.2)


# --- Kafka baseline -------------------------------------------------------------------------------


async def kafka_round_trip(kafka: KafkaInstallation, count: int, rate: float, warmup: int = 5) -> list[float]:
    """Seconds from just before producer.send to arrival at a consumer, open-loop at `rate`, acks=all."""
    consumer = AIOKafkaConsumer(**kafka.admin.client_options(), group_id=None, enable_auto_commit=False)
    producer = AIOKafkaProducer(**kafka.admin.client_options(), acks="all", enable_idempotence=True)
    partition = TopicPartition(ROUND_TRIP_TOPIC.name, 0)
    marker = uuid.uuid4().hex
    sent: dict[int, float] = {}
    received: dict[int, float] = {}
    await consumer.start()
    await producer.start()
    try:
        consumer.assign([partition])
        await consumer.seek_to_end(partition)
        await consumer.position(partition)

        async def receive() -> None:
            while len(received) < count + warmup:
                batch = await consumer.getmany(timeout_ms=200)
                now = time.perf_counter()
                for records in batch.values():
                    for record in records:
                        run, _, index = record.value.decode().partition(":")
                        if run == marker:
                            received[int(index)] = now

        receiver = asyncio.create_task(receive())
        t0 = time.perf_counter() + 0.05
        for i in range(count + warmup):
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            sent[i] = time.perf_counter()
            await producer.send(ROUND_TRIP_TOPIC.name, f"{marker}:{i}".encode(), partition=0)
        try:
            await asyncio.wait_for(receiver, 30)
        except TimeoutError:
            raise BenchmarkError(f"Kafka baseline: only {len(received)}/{count + warmup} messages came back") from None
    finally:
        await producer.stop()
        await consumer.stop()
    return [received[i] - sent[i] for i in range(warmup, count + warmup)]


# --- the run --------------------------------------------------------------------------------------


@dataclass
class Results:
    rate: float
    seconds: float
    submissions: list[Submission]
    observer: Observer
    kafka_rtt: list[float]
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds of each service during load + drain
    letters_processes: int = 1


def cpu_seconds(process: ServiceProcess) -> float | None:
    """utime + stime of a service process (Linux /proc), None if unknown."""
    if process.process is None:
        return None
    try:
        fields = Path(f"/proc/{process.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run_benchmark(args: argparse.Namespace, stack: Stack) -> Results:
    """Seed master data, warm up, measure the Kafka baseline, then the open-loop load (see the module doc)."""
    run = random.randrange(10_000)
    count = round(args.rate * args.seconds)
    meters = [f"1BEN{run:04d}{i:06d}" for i in range(args.warmup + count)]
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=stack.onboarding.url, timeout=30, limits=limits) as client:
        say(f"Master data: publishing {len(meters)} meter points …")
        await publish_meter_points(stack.kafka.access(Principal.BILLING_IMPORT), TENANT, meter_points(meters, run))
        await wait_for_master_data(stack.kafka, timeout=180)
        say("Master data: known to onboarding and letters.")

        observer = Observer(stack.kafka)
        await observer.start()
        try:
            warm = [Submission(i, meters[i]) for i in range(args.warmup)]
            say(f"Warm-up: {len(warm)} requests (not measured) …")
            await open_loop(client, warm, rate=5, run=run)
            failed = [s.error for s in warm if s.error]
            if failed:
                raise BenchmarkError(f"warm-up request failed: {failed[0]}")
            await drain(warm, observer, stall_timeout=60)
            if completed(warm, observer) != len(warm):
                raise BenchmarkError("warm-up: not every request reached the letter queue within 60 s")

            # At low rates fewer messages, so the baseline takes at most about ten seconds.
            messages = min(args.kafka_messages, max(30, round(args.rate * 10)))
            say(f"Kafka baseline: {messages} messages produce→consume at {args.rate:g}/s …")
            kafka_rtt = await kafka_round_trip(stack.kafka, messages, args.rate)

            load = [Submission(args.warmup + i, meters[args.warmup + i]) for i in range(count)]
            say(f"Load: {count} requests at {args.rate:g}/s for {args.seconds:g} s (open loop) …")
            cpu_before = {p.name: cpu_seconds(p) for p in stack.measured}
            started = time.perf_counter()
            progress = asyncio.create_task(report_progress("load", load, observer, started))
            try:
                await open_loop(client, load, args.rate, run)
                say(f"Load: all sent after {time.perf_counter() - started:.1f} s; waiting for the dispatch jobs …")
                await drain(load, observer, args.drain_timeout)
            finally:
                progress.cancel()
                await asyncio.gather(progress, return_exceptions=True)
            cpu = {}
            for process in stack.measured:
                before, after = cpu_before[process.name], cpu_seconds(process)
                if before is not None and after is not None:
                    cpu[process.name] = after - before
            say(f"Load: done after {time.perf_counter() - started:.1f} s.")
        finally:
            await observer.stop()
    return Results(args.rate, args.seconds, load, observer, kafka_rtt, cpu, 1 + len(stack.letters_replicas))


# --- the report -----------------------------------------------------------------------------------


def row(label: str, seconds: Sequence[float], width: int = 34) -> str:
    ms = [v * 1000 for v in seconds]
    cells = "".join(f"{percentile(ms, q):>10.1f}" for q in (50, 90, 99)) + f"{max(ms, default=float('nan')):>10.1f}"
    return f"  {label:<{width}}{cells}{len(ms):>8}"


def stages(results: Results) -> dict[str, list[float]]:
    """Per completed request, where the time went (seconds). Wall-clock stages use one host's clock."""
    out: dict[str, list[float]] = {
        "POST → Matched on onboarding topic": [],
        "Matched → job event created (render)": [],
        "job created → relay produced it": [],
        "relay produced → seen on letter queue": [],
    }
    for s in results.submissions:
        job = results.observer.job(s.request_id) if s.request_id else None
        matched = results.observer.matched.get(s.request_id or "")
        if job is None or matched is None:
            continue
        values = (
            matched.perf - s.sent,
            job.occurred - matched.wall,
            job.produced - job.occurred,
            job.wall - job.produced,
        )
        for key, value in zip(out, values, strict=True):
            out[key].append(value)
    return out


def report(results: Results) -> tuple[str, bool]:
    """The table, and whether the run was free of errors."""
    subs = results.submissions
    observer = results.observer
    errors = [s for s in subs if s.error]
    accepted = [s for s in subs if s.request_id]
    end_to_end = [job.perf - s.sent for s in accepted if (job := observer.job(s.request_id or ""))]
    missing = len(accepted) - len(end_to_end)
    http = [s.answered - s.sent for s in subs if s.answered is not None]
    lag = [s.sent - s.scheduled for s in subs if s.sent]
    sends = sorted(s.sent for s in subs if s.sent)
    achieved = (len(sends) - 1) / (sends[-1] - sends[0]) if len(sends) > 1 and sends[-1] > sends[0] else float("nan")
    job_times = sorted(job.perf for s in accepted if (job := observer.job(s.request_id or "")))
    throughput = (
        (len(job_times) - 1) / (job_times[-1] - job_times[0])
        if len(job_times) > 1 and job_times[-1] > job_times[0]
        else float("nan")
    )
    head = f"  {'':<34}{'p50':>10}{'p90':>10}{'p99':>10}{'max':>10}{'n':>8}"
    lines = [
        "",
        f"Plusportal letters latency: {results.rate:g} requests/s for {results.seconds:g} s, open loop, "
        f"tenant {TENANT}, {os.cpu_count()} CPUs",
        "",
        f"  requests sent {len(subs)}, accepted {len(accepted)}, completed {len(end_to_end)}, "
        f"missing {missing}, HTTP errors {len(errors)}",
        f"  achieved send rate {achieved:.1f}/s (client send lag p99 {percentile(lag, 99) * 1000:.1f} ms); "
        f"dispatch jobs arrived at {throughput:.1f}/s",
    ]
    if results.letters_processes > 1:
        lines.append(
            f"  letters replicas {results.letters_processes} (one database, one consumer group):"
            f" {throughput:.1f} dispatch jobs/s"
        )
    lines += [
        "",
        head + "   (ms)",
        row("submit → dispatch job", end_to_end),
        row("HTTP POST /requests", http),
        row("Kafka produce → consume", results.kafka_rtt),
    ]
    p50_e2e, p99_e2e = percentile(end_to_end, 50), percentile(end_to_end, 99)
    p50_k, p99_k = percentile(results.kafka_rtt, 50), percentile(results.kafka_rtt, 99)
    lines += [
        "",
        f"  submit→job ÷ Kafka round trip:  p50 {p50_e2e / p50_k:,.1f}×   p99 {p99_e2e / p99_k:,.1f}×",
        "",
        "  where the time goes (per request; wall-clock stages, same host):",
        head,
        *(row(label, values) for label, values in stages(results).items()),
    ]
    if results.cpu:
        done = max(len(end_to_end), 1)
        lines += [
            "",
            "  service CPU during load and drain: "
            + ", ".join(
                f"{name} {seconds:.1f} s ({seconds / done * 1000:.1f} ms per request)"
                for name, seconds in results.cpu.items()
            ),
        ]
    if results.rate >= TARGET_RATE and achieved >= 0.95 * TARGET_RATE:
        met = not missing and not errors and p99_e2e * 1000 <= TARGET_P99_MS
        verdict = "MET" if met else "MISSED"
        lines.append(
            f"\n  target p99 ≤ {TARGET_P99_MS:.0f} ms at {TARGET_RATE:g} requests/s: {verdict} "
            f"(p99 {p99_e2e * 1000:,.0f} ms)"
        )
    else:
        lines.append(
            f"\n  target p99 ≤ {TARGET_P99_MS:.0f} ms at {TARGET_RATE:g} requests/s: not judged "
            f"(this run: {achieved:.1f} requests/s)"
        )
    if errors:
        lines.append(f"  first HTTP error: {errors[0].error}")
    if observer.undecodable:
        lines.append(f"  {observer.undecodable} records on the observed topics could not be decoded")
    return "\n".join(lines), not errors and not missing


def write_csv(results: Results, path: Path) -> None:
    """Per request: when it was sent (s after the first), HTTP, end-to-end and stage times (ms)."""
    first = min((s.sent for s in results.submissions if s.sent), default=0.0)
    with path.open("w", newline="") as file:
        out = csv.writer(file)
        out.writerow(
            ["index", "sent_s", "http_ms", "matched_ms", "job_ms", "render_ms", "relay_ms", "queue_ms", "error"]
        )
        for s in results.submissions:
            job = results.observer.job(s.request_id) if s.request_id else None
            matched = results.observer.matched.get(s.request_id or "")
            ms: list[str] = [
                _ms(s.answered - s.sent if s.answered is not None else None),
                _ms(matched.perf - s.sent if matched else None),
                _ms(job.perf - s.sent if job else None),
                _ms(job.occurred - matched.wall if job and matched else None),
                _ms(job.produced - job.occurred if job else None),
                _ms(job.wall - job.produced if job else None),
            ]
            out.writerow([s.index, f"{s.sent - first:.3f}", *ms, s.error or ""])
    say(f"Per-request timings written to {path}")


def _ms(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds * 1000:.1f}"


# --- entry point ----------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.letters_latency", description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=50.0, help="requests per second (default 50)")
    parser.add_argument("--seconds", type=float, default=30.0, help="duration of the measured load (default 30)")
    parser.add_argument("--warmup", type=int, default=5, help="requests before the measurement (default 5)")
    parser.add_argument("--kafka-messages", type=int, default=300, help="messages for the Kafka baseline")
    parser.add_argument(
        "--drain-timeout", type=float, default=30.0, help="give up when no dispatch job arrived for this long (s)"
    )
    add_stack_arguments(parser)
    parser.add_argument(
        "--replicas",
        "--letters-replicas",
        dest="letters_replicas",
        type=int,
        default=1,
        help="letters processes sharing the database and consumer group (default 1; CPU is reported for each)",
    )
    parser.add_argument("--csv", type=Path, help="write one line per request (timings in ms) to this file")
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.seconds <= 0 or args.warmup < 1 or args.kafka_messages < 1 or args.letters_replicas < 1:
        parser.error("--rate and --seconds must be positive, --warmup, --kafka-messages and --replicas at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)

    async def measure(stack: Stack) -> tuple[str, bool]:
        results = await run_benchmark(args, stack)
        if args.csv:
            write_csv(results, args.csv)
        return report(results)

    return run_with_stack(args, lambda workdir, cleanup: start_stack(args, workdir, cleanup), measure, "letters")


if __name__ == "__main__":
    sys.exit(main())
