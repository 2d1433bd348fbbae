"""Ingest throughput of meter data: SMGW day batches on Kafka → rows in `interval_days`, and its ceiling.

    python -m benchmarks.meterdata_ingest [--readings 1000000] [--days 105] [--batch 2000] [--processes N]
                                          [--kafka HOST:PORT --database-url URL] [--keep-logs]
                                          [--kafka-nodes 3]

`--kafka-nodes 3` starts a three-node Kafka cluster (stack.kafka.KafkaCluster: replication factor 3,
min.insync.replicas 2, acks=all answered once two replicas have a batch) instead of the single node.

Starts its own stack (Kafka, PostgreSQL, meter data as a process) unless servers are given. Generates the
readings with the SMGW simulator as LoadProfileDay messages (96 quarter hours each, many meters × `--days` days)
and encodes them as the simulator does, before anything is timed. Then, in one run:

* End to end: with meter data up and its ingest consumer warmed (one message consumed), every message is produced
  onto the readings topic as fast as the producer batches them; the clock runs from the first send until the
  group `meterdata-ingest` has committed the end offsets of every partition and the rows are counted in
  `interval_days`. Meter data's peak RSS during the ingest comes from /proc (VmHWM, reset before the run).
* Ceiling: the same messages through the service's own batch handler (`handlers.ingest`: msgspec decode, checks,
  one COPY + one upsert per batch via `MeterdataStore.upsert_days`) into a fresh database migrated with meter data's
  migrations, in this process, without Kafka, in batches of the same size.

With ``--processes N``, N meter data processes share the database and the ingest consumer group (the readings
topic's partitions); the warm-up waits until the group is stable with all N members, the end-to-end figure is
reported with N, CPU is the processes' sum and peak memory the largest process's.

Exit status: 0 when every reading was stored both ways (whether or not the targets are met), 1 on errors
(rejected messages, missing rows, a stack that does not start), 130 when interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import random
import sys
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import asyncpg
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment

from backoffice.smgw_simulator import Role, generate_days
from benchmarks._stack import (
    TENANT,
    BenchmarkError,
    add_stack_arguments,
    background_busy,
    benchmark_database,
    drop_database,
    header_line,
    machine_cpu,
    prepare_meterdata_database,
    process_cpu_seconds,
    run_with_stack,
    say,
    start_servers,
)
from contracts.topics import METER_READINGS, Principal
from kit.db import Database
from kit.events import encode, envelope_for
from kit.tenants import TenantDirectory, load_tenants
from kit.uow import UnitsOfWork
from services.meterdata import handlers
from services.meterdata.domain import IntervalDay
from services.meterdata.messaging import INGEST_GROUP
from services.meterdata.settings import MeterdataSettings
from services.meterdata.store import MeterdataStore
from stack import free_port
from stack.credentials import KafkaInstallation
from stack.fixtures import DatabaseServer
from stack.postgres import asyncpg_dsn
from stack.services import ServiceProcess, service_env

TARGET_READINGS_PER_S = 250_000.0
TARGET_SHARE_OF_CEILING = 0.5
TARGET_PEAK_RSS_MB = 300.0
FIRST_DAY = date(2025, 4, 1)  # no daylight-saving change for the next 200 days: every day has 96 values
SLOTS = 96
DEFAULT_BATCH: int = MeterdataSettings.model_fields["ingest_batch"].default  # the service's own
POLL_S = 0.02  # how often the end of the ingest is looked for (and RSS sampled): the clock's resolution
ROLE: Role = "consumption"


# --- the stack ------------------------------------------------------------------------------------------


@dataclass
class MeterdataStack:
    kafka: KafkaInstallation
    server: DatabaseServer
    meterdata: ServiceProcess
    database: str  # meter data's database (SQLAlchemy URL, asyncpg driver)
    workdir: Path
    cleanup: contextlib.ExitStack
    external_server: bool  # --database-url: databases made here are dropped at the end
    more: list[ServiceProcess] = field(default_factory=list)  # --processes N: meter data 2 … N, one group

    @property
    def pid(self) -> int:
        if self.meterdata.process is None:
            raise BenchmarkError("meter data is not running")
        return self.meterdata.process.pid

    @property
    def pids(self) -> list[int]:
        """Every meter data process's."""
        return [self.pid, *(p.process.pid for p in self.more if p.process is not None)]

    async def fresh_database(self, prefix: str) -> str:
        url = await self.server.fresh_database(prefix)
        if self.external_server:
            self.cleanup.callback(drop_database, url)
        return url


def start_meterdata_stack(
    args: argparse.Namespace,
    workdir: Path,
    cleanup: contextlib.ExitStack,
    *,
    batch: int = DEFAULT_BATCH,
    processes: int = 1,
) -> MeterdataStack:
    """Kafka, PostgreSQL, topics, a fresh database and meter data as a process (identity is not needed: the
    benchmark publishes a signing key itself when it wants one); `cleanup` stops each in reverse order."""
    started = time.monotonic()
    kafka, server = start_servers(args, cleanup)
    database = benchmark_database(args, server, "bench_meterdata", cleanup)

    env = service_env(  # meter data sends no mail
        kafka=kafka.bootstrap,
        database_url=database,
        smtp_port=free_port(),
        extra=kafka.environment(Principal.METERDATA),
    )
    meterdata, *more = (
        ServiceProcess(
            name,
            "-m services.meterdata.app",
            {**env, "PLUSPORTAL_INGEST_BATCH": str(batch)},
            workdir / "logs" / f"{name}.log",
            port=free_port(),
        )
        for name in ["meterdata", *(f"meterdata-{n}" for n in range(2, processes + 1))]
    )
    cleanup.callback(meterdata.stop)  # registered first: a half-started service is stopped as well
    say("Meter data: starting …")
    meterdata.start(wait=True)  # migrates its database before it answers /health
    for process in more:  # the database is migrated: the others only join the group
        cleanup.callback(process.stop)
        process.start(wait=False)
    for process in more:
        process.wait_healthy()
    if more:
        say(f"Meter data: {processes} processes in the consumer group {INGEST_GROUP}")
    say(f"Stack ready after {time.monotonic() - started:.0f} s: meter data {meterdata.url}, log {meterdata.log_path}")
    return MeterdataStack(kafka, server, meterdata, database, workdir, cleanup, bool(args.database_url), more)


def main_with_meterdata(
    args: argparse.Namespace,
    body: Callable[[MeterdataStack], Coroutine[Any, Any, tuple[str, bool]]],
    name: str,
    *,
    batch: int = DEFAULT_BATCH,
    processes: int = 1,
) -> int:
    """The meter-data benchmarks' stack around `body` (see _stack.run_with_stack)."""
    return run_with_stack(
        args,
        lambda workdir, cleanup: start_meterdata_stack(args, workdir, cleanup, batch=batch, processes=processes),
        body,
        name,
    )


# --- readings -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    """What `handlers.ingest` reads of a Kafka record."""

    value: bytes


def meter_numbers(kind: str, count: int) -> list[str]:
    """`count` valid meter numbers (DIN 43863-5 shape) no earlier run used: `kind` is 3 letters."""
    run = random.randrange(10**4)
    return [f"1{kind}{run:04d}{i:06d}" for i in range(count)]


def encoded_days(meters: Sequence[str], first_day: date, days: int, seed: int = 1) -> Iterator[tuple[bytes, bytes]]:
    """(Kafka key, envelope) per meter and day from the SMGW simulator, meter by meter."""
    correlation_id = uuid4()
    for meter in meters:
        key = f"{TENANT}/{meter}".encode()
        for day in generate_days(meter, ROLE, first_day, days, seed):
            yield key, encode(envelope_for(day, tenant=TENANT, correlation_id=correlation_id))


def batches(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def store_records(db: Database, tenants: TenantDirectory, records: Sequence[Record]) -> int:
    """One batch through the service's own handler (decode, checks, one COPY + upsert) in one transaction."""
    async with UnitsOfWork(db, MeterdataStore)() as uow:
        outcome = await handlers.ingest(handlers.IngestReadings(records, tenants), uow)
    if outcome.rejected:
        raise BenchmarkError(f"{len(outcome.rejected)} message(s) rejected, e.g. {outcome.rejected[0][1]}")
    return outcome.days


async def count_rows(url: str, meter_prefix: str, connection: asyncpg.Connection | None = None) -> int:
    """Rows of the meters whose numbers start with `meter_prefix`, on `connection` or a new one."""
    own = connection is None
    connection = connection or await asyncpg.connect(asyncpg_dsn(url))
    try:
        found = await connection.fetchval(
            "SELECT count(*) FROM interval_days WHERE tenant = $1 AND meter_number LIKE $2", TENANT, meter_prefix + "%"
        )
    finally:
        if own:
            await connection.close()
    return int(found)


# --- the process's memory -------------------------------------------------------------------------------


def proc_status_kb(pid: int, field_name: str) -> int | None:
    """A `kB` field of /proc/<pid>/status (VmRSS, VmHWM), None if unknown."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def reset_peak_rss(pid: int) -> bool:
    """Set VmHWM to the current RSS (`echo 5 > /proc/<pid>/clear_refs`, Linux ≥ 4.0); False if not allowed."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


# --- end to end -----------------------------------------------------------------------------------------


@dataclass
class EndToEnd:
    seconds: float = float("nan")  # first send → offsets committed and rows counted
    produce_seconds: float = float("nan")  # first send → every send acknowledged
    commit_seconds: float = float("nan")  # first send → end offsets committed
    rows: int = 0
    rss_before_mb: float = float("nan")
    rss_max_sampled_mb: float = float("nan")
    peak_rss_mb: float = float("nan")
    peak_is_lifetime: bool = False  # VmHWM could not be reset: the peak since the process started
    service_cpu: float = float("nan")  # CPU seconds of the meter data process(es) during the run
    machine_busy: float = float("nan")  # CPUs busy on average during the run


async def wait_committed(
    kafka: KafkaInstallation, group: str, ends: dict[TopicPartition, int], timeout: float
) -> float:
    """perf_counter when `group` has committed at least `ends` on every partition."""
    admin = AIOKafkaAdminClient(**kafka.admin.client_options())
    await admin.start()
    try:
        deadline = time.monotonic() + timeout
        while True:
            committed = await admin.list_consumer_group_offsets(group, partitions=list(ends))
            behind = sum(
                max(end - (meta.offset if (meta := committed.get(tp)) is not None else 0), 0)
                for tp, end in ends.items()
            )
            if not behind:
                return time.perf_counter()
            if time.monotonic() > deadline:
                raise BenchmarkError(f"{group} is {behind} message(s) behind after {timeout:.0f} s")
            await asyncio.sleep(POLL_S)
    finally:
        await admin.close()


async def produce(
    kafka: KafkaInstallation, messages: Sequence[tuple[bytes, bytes]]
) -> tuple[dict[TopicPartition, int], float]:
    """Every message onto the readings topic without waiting for each; returns the end offsets it produced
    (partition → last offset + 1) and perf_counter of the first send."""
    producer = AIOKafkaProducer(
        **kafka.access(Principal.SMGW_ADMINISTRATOR).client_options(),
        acks="all",
        enable_idempotence=True,
        linger_ms=10,
        max_batch_size=1024 * 1024,
        max_request_size=8 * 1024 * 1024,
    )
    await producer.start()
    try:
        first_send = time.perf_counter()
        pending = [await producer.send(METER_READINGS.name, value, key=key) for key, value in messages]
        await producer.flush()
        ends: dict[TopicPartition, int] = {}
        for metadata in await asyncio.gather(*pending):
            tp = TopicPartition(metadata.topic, metadata.partition)
            ends[tp] = max(ends.get(tp, 0), metadata.offset + 1)
        return ends, first_send
    finally:
        await producer.stop()


async def sample_rss(pids: Sequence[int], into: list[int], stop: asyncio.Event) -> None:
    """The largest process's RSS, every POLL_S."""
    while not stop.is_set():
        rss = max((kb for pid in pids if (kb := proc_status_kb(pid, "VmRSS")) is not None), default=None)
        if rss is not None:
            into.append(rss)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), POLL_S)


async def end_to_end(
    stack: MeterdataStack, messages: Sequence[tuple[bytes, bytes]], meter_prefix: str, timeout: float
) -> EndToEnd:
    result = EndToEnd()
    pids = stack.pids
    result.rss_before_mb = max(proc_status_kb(pid, "VmRSS") or 0 for pid in pids) / 1024
    result.peak_is_lifetime = not all([reset_peak_rss(pid) for pid in pids])
    cpu_before, (busy_before, _) = _cpu_sum(pids), machine_cpu()
    samples: list[int] = []
    stop = asyncio.Event()
    counter = await asyncpg.connect(asyncpg_dsn(stack.database))  # opened before the clock starts
    sampler = asyncio.create_task(sample_rss(pids, samples, stop))
    try:
        ends, first_send = await produce(stack.kafka, messages)
        result.produce_seconds = time.perf_counter() - first_send
        say(f"  produced {len(messages):,} messages in {result.produce_seconds:.2f} s; waiting for the commits …")
        committed_at = await wait_committed(stack.kafka, INGEST_GROUP, ends, timeout)
        result.commit_seconds = committed_at - first_send
        deadline = time.monotonic() + 30
        while (rows := await count_rows(stack.database, meter_prefix, counter)) < len(messages):
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(POLL_S)
        result.seconds = time.perf_counter() - first_send
        result.rows = rows
    finally:
        stop.set()
        await sampler
        await counter.close()
    cpu_after, (busy_after, _) = _cpu_sum(pids), machine_cpu()
    if cpu_before is not None and cpu_after is not None:
        result.service_cpu = cpu_after - cpu_before
    result.machine_busy = (busy_after - busy_before) / result.seconds
    result.rss_max_sampled_mb = max(samples, default=0) / 1024
    peak = max(proc_status_kb(pid, "VmHWM") or 0 for pid in pids)
    result.peak_rss_mb = max(peak, max(samples, default=0)) / 1024
    return result


def _cpu_sum(pids: Sequence[int]) -> float | None:
    """The processes' CPU seconds together, None if one is unknown."""
    seconds = [process_cpu_seconds(pid) for pid in pids]
    return None if any(s is None for s in seconds) else sum(s for s in seconds if s is not None)


async def wait_group_stable(kafka: KafkaInstallation, group: str, members: int, timeout: float) -> None:
    """Until `group` is Stable with `members` members, each holding partitions (after a rebalance)."""
    admin = AIOKafkaAdminClient(**kafka.admin.client_options())
    await admin.start()
    try:
        deadline = time.monotonic() + timeout
        while True:
            [response] = await admin.describe_consumer_groups([group])
            _, _, state, _, _, found = response.groups[0][:6]
            held = [ConsumerProtocolMemberAssignment.decode(member[-1]).partitions() for member in found]
            if state == "Stable" and len(held) == members and all(held):
                return
            if time.monotonic() > deadline:
                raise BenchmarkError(f"{group}: {len(found)} of {members} members, state {state}, after {timeout} s")
            await asyncio.sleep(0.2)
    finally:
        await admin.close()


async def warm_up(stack: MeterdataStack, messages: Sequence[tuple[bytes, bytes]], meter_prefix: str) -> None:
    """A few messages through the running service: its ingest consumer has joined the group, holds every
    partition and has stored once (connection pool, staging table) before the clock starts."""
    ends, _ = await produce(stack.kafka, messages)
    await wait_committed(stack.kafka, INGEST_GROUP, ends, 120)
    if await count_rows(stack.database, meter_prefix) != len(messages):
        raise BenchmarkError("the warm-up messages are not all in interval_days (see the service log)")
    if stack.more:  # every process holds its share of the partitions before the clock starts
        await wait_group_stable(stack.kafka, INGEST_GROUP, len(stack.pids), 120)


# --- ceiling: the same handler without Kafka ------------------------------------------------------------


@dataclass
class Ceiling:
    seconds: float = float("nan")  # handlers.ingest batch by batch, one transaction each
    rows: int = 0
    # The same steps timed one by one (into a second fresh database): what the handler spends where.
    decode_seconds: float = float("nan")  # msgspec decode alone (envelope + day), measured on its own
    prepare_seconds: float = float("nan")  # decode + the handler's checks and conversion to rows
    store_seconds: float = float("nan")  # MeterdataStore.upsert_days: COPY into staging + upsert + commit
    split_rows: int = 0


def prepare(records: Sequence[Record], tenants: TenantDirectory) -> list[IntervalDay]:
    """What `handlers.ingest` does with LoadProfileDay messages before the database (the same functions)."""
    days: dict[Any, IntervalDay] = {}
    now = datetime.now(UTC)
    for record in records:
        envelope = handlers._decode_envelope(record.value)
        tenants.get(envelope.tenant)
        handlers._add_day(days, envelope.tenant, handlers._decode_day(envelope.payload), now)
    return list(days.values())


def decode_only(records: Sequence[Record]) -> int:
    count = 0
    for record in records:
        count += len(handlers._decode_day(handlers._decode_envelope(record.value).payload).values)
    return count


async def migrated_database(stack: MeterdataStack, prefix: str) -> str:
    """A fresh database prepared as meter data prepares its own when it starts."""
    url = await stack.fresh_database(prefix)
    await prepare_meterdata_database(url)
    return url


async def ceiling(
    stack: MeterdataStack, records: Sequence[Record], warmup: Sequence[Record], batch: int, meter_prefix: str
) -> Ceiling:
    result = Ceiling()
    tenants = load_tenants()
    url = await migrated_database(stack, "bench_meterdata_ceiling")
    db = Database(url)
    try:
        await store_records(db, tenants, warmup)
        started = time.perf_counter()
        for chunk in batches(records, batch):
            await store_records(db, tenants, chunk)
        result.seconds = time.perf_counter() - started
    finally:
        await db.dispose()
    result.rows = await count_rows(url, meter_prefix)

    url = await migrated_database(stack, "bench_meterdata_split")
    db = Database(url)
    result.prepare_seconds = result.store_seconds = 0.0
    try:
        async with db.transaction() as session:
            await MeterdataStore(session).upsert_days(prepare(warmup, tenants))
        for chunk in batches(records, batch):
            started = time.perf_counter()
            rows = prepare(chunk, tenants)
            prepared = time.perf_counter()
            async with db.transaction() as session:
                await MeterdataStore(session).upsert_days(rows)
            result.prepare_seconds += prepared - started
            result.store_seconds += time.perf_counter() - prepared
    finally:
        await db.dispose()
    result.split_rows = await count_rows(url, meter_prefix)
    started = time.perf_counter()
    decode_only(records)
    result.decode_seconds = time.perf_counter() - started
    return result


# --- the run --------------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def report(args: argparse.Namespace, readings: int, messages: int, e2e: EndToEnd, top: Ceiling, meters: int) -> str:
    e2e_rate = readings / e2e.seconds
    ceiling_rate = readings / top.seconds
    share = e2e_rate / ceiling_rate
    split = top.prepare_seconds + top.store_seconds
    peak_label = "since start (VmHWM could not be reset)" if e2e.peak_is_lifetime else "during the ingest (VmHWM)"
    lines = [
        header_line("Meter data ingest"),
        f"readings               {readings:>12,}   ({messages:,} LoadProfileDay messages: {meters} meters × "
        f"≤{args.days} days × {SLOTS} values, batch {args.batch})",
        f"end to end             {e2e_rate:>12,.0f} readings/s   {e2e.seconds:.2f} s first send → offsets committed"
        f" and {e2e.rows:,} rows counted" + (f", {args.processes} meter data processes" if args.processes > 1 else ""),
        f"  per partition        {e2e_rate / METER_READINGS.partitions:>12,.0f} readings/s   of the readings topic's"
        f" {METER_READINGS.partitions} partitions, shared by {args.processes} process(es) (docs/scaling.md)",
        f"  producer             {readings / e2e.produce_seconds:>12,.0f} readings/s   {e2e.produce_seconds:.2f} s to"
        " send and have every message acknowledged",
        f"  commits              {'':>12}   all end offsets committed after {e2e.commit_seconds:.2f} s",
        f"  meter data CPU       {e2e.service_cpu:>12.2f} s   ({e2e.service_cpu / e2e.seconds:.2f} cores;"
        f" {e2e.service_cpu / readings * 1e6:.2f} µs a reading); machine busy {e2e.machine_busy:.2f}"
        f" of {os.cpu_count()} CPUs",
        f"ceiling (no Kafka)     {ceiling_rate:>12,.0f} readings/s   {top.seconds:.2f} s handlers.ingest in batches of"
        f" {args.batch}, {top.rows:,} rows",
        f"  the same steps timed one by one (another fresh database, {top.split_rows:,} rows):",
        f"  decode+checks+rows   {readings / top.prepare_seconds:>12,.0f} readings/s   {top.prepare_seconds:.2f} s"
        f" (msgspec decode alone {top.decode_seconds:.2f} s)",
        f"  COPY + upsert        {readings / top.store_seconds:>12,.0f} readings/s   {top.store_seconds:.2f} s"
        " (MeterdataStore.upsert_days and commit)",
        f"  together             {readings / split:>12,.0f} readings/s   {split:.2f} s",
        f"ratio e2e / ceiling    {share:>12.0%}",
        f"meter data RSS         {e2e.peak_rss_mb:>12.0f} MB peak {peak_label}; {e2e.rss_before_mb:.0f} MB before,"
        f" {e2e.rss_max_sampled_mb:.0f} MB highest sample",
        "",
        "Targets:",
        f"  ≥ {TARGET_READINGS_PER_S:,.0f} readings/s end to end: {e2e_rate:,.0f} — "
        f"{verdict(e2e_rate >= TARGET_READINGS_PER_S)}",
        f"  ≥ {TARGET_SHARE_OF_CEILING:.0%} of the ceiling: {share:.0%} — {verdict(share >= TARGET_SHARE_OF_CEILING)}",
        f"  peak memory ≤ {TARGET_PEAK_RSS_MB:.0f} MB: {e2e.peak_rss_mb:.0f} MB — "
        f"{verdict(e2e.peak_rss_mb <= TARGET_PEAK_RSS_MB)}",
    ]
    return "\n".join(lines)


async def run_benchmark(args: argparse.Namespace, stack: MeterdataStack) -> tuple[str, bool]:
    messages_wanted = math.ceil(args.readings / SLOTS)
    meters = meter_numbers("BMI", math.ceil(messages_wanted / args.days))
    prefix = meters[0][:8]  # "1BMI" + the run number
    warm_meters = meter_numbers("BMW", 2)
    say(f"Generating {messages_wanted:,} day messages ({len(meters)} meters × ≤{args.days} days) …")
    started = time.perf_counter()
    per_meter = [list(encoded_days([meter], FIRST_DAY, args.days)) for meter in meters]
    # Day by day across the meters, as a gateway administrator sends a day's values; the last day is cut short.
    messages = [per_meter[m][d] for d in range(args.days) for m in range(len(meters))][:messages_wanted]
    del per_meter
    warmup = list(encoded_days(warm_meters, FIRST_DAY, 2))
    readings = messages_wanted * SLOTS  # no daylight-saving day in the period
    megabytes = sum(len(value) for _, value in messages) / 1e6
    elapsed = time.perf_counter() - started
    say(f"  {len(messages):,} messages, {readings:,} readings, {megabytes:.0f} MB in {elapsed:.1f} s")

    say("Warm-up: a few messages through meter data …")
    await warm_up(stack, warmup, warm_meters[0][:8])
    idle_busy = await background_busy()
    say(f"End to end: producing {len(messages):,} messages onto {METER_READINGS.name} …")
    timeout = max(120.0, readings / 10_000)
    e2e = await end_to_end(stack, messages, prefix, timeout)
    say(f"  {readings / e2e.seconds:,.0f} readings/s end to end ({e2e.seconds:.2f} s), RSS {e2e.peak_rss_mb:.0f} MB")

    say(f"Ceiling: the same messages through handlers.ingest into a fresh database, batches of {args.batch} …")
    records = [Record(value) for _, value in messages]
    top = await ceiling(stack, records, [Record(value) for _, value in warmup], args.batch, prefix)
    say(f"  {readings / top.seconds:,.0f} readings/s ({top.seconds:.2f} s)")

    problems = []
    if e2e.rows != len(messages):
        problems.append(f"end to end: {e2e.rows:,} of {len(messages):,} rows in interval_days")
    for label, rows in (("ceiling", top.rows), ("split", top.split_rows)):
        if rows != len(messages):
            problems.append(f"{label}: {rows:,} of {len(messages):,} rows in interval_days")
    text = report(args, readings, len(messages), e2e, top, len(meters))
    text += (
        f"\n\nOther work on the machine before the run: {idle_busy:.2f} of {os.cpu_count()} CPUs busy (skews figures)"
    )
    if problems:
        text += "\n\nErrors:\n" + "\n".join(f"  {p}" for p in problems)
    return text, not problems


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.meterdata_ingest", description=__doc__.split("\n")[0])
    parser.add_argument("--readings", type=int, default=1_000_000, help="quarter-hour values to ingest")
    parser.add_argument("--days", type=int, default=105, help="days per meter (meters = readings / 96 / days)")
    parser.add_argument(
        "--batch", type=int, default=DEFAULT_BATCH, help="PLUSPORTAL_INGEST_BATCH of meter data and ceiling"
    )
    parser.add_argument(
        "--processes", type=int, default=1, help="meter data processes in one ingest consumer group (default 1)"
    )
    add_stack_arguments(parser)
    parser.add_argument(
        "--kafka-nodes", type=int, choices=(1, 3), default=1, help="start one Kafka node (default) or a cluster of 3"
    )
    args = parser.parse_args(argv)
    if args.readings < SLOTS or not 1 <= args.days <= 200 or args.batch < 1 or args.processes < 1:
        parser.error(
            f"--readings at least {SLOTS}, --days 1..200 (no DST day after {FIRST_DAY}), --batch and --processes ≥ 1"
        )
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    return main_with_meterdata(
        args, lambda stack: run_benchmark(args, stack), "meterdata-ingest", batch=args.batch, processes=args.processes
    )


if __name__ == "__main__":
    sys.exit(main())
