"""What the identity benchmarks share: their own stack (Kafka, PostgreSQL, mail sink, identity as a process),
registering accounts through the real journey, figures, and a `main` that always cleans up.

The stack is started the way `benchmarks.letters_latency` and the test fixtures do it: local Kafka and
PostgreSQL processes in a temp dir (or the servers given with `--kafka` / `--database-url`), fresh
databases, a `stack.mailsink.MailSink` in this process and the service as a `stack.services.ServiceProcess`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import shutil
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from backoffice.masterdata_import import publish_meter_points
from contracts.common import PartnerRole, PostalAddress
from contracts.masterdata import MeterPointRecorded, PartnerOfRecord
from contracts.topics import ALL_TOPICS, MASTER_DATA, Principal, TopicSpec
from stack import StackError, free_port, run_sync
from stack.acls import provision
from stack.credentials import KafkaCredentials, KafkaInstallation, kafka_secrets_dir
from stack.fixtures import DatabaseServer, _asyncpg_url, _start_local_kafka, _start_local_postgres
from stack.kafka import CLUSTER_NODES, KafkaCluster
from stack.mailsink import MailSink
from stack.paths import kafka_libs_dir, var_dir
from stack.postgres import asyncpg_dsn, with_database
from stack.services import ServiceProcess, service_env
from stack.topics import wait_for_kafka

TENANT = "000328"
HOST = {"Host": f"{TENANT}.localhost"}
PASSWORD = "Sonnenblumen am Deich 2026"
IDENTITY_GROUP = "identity"  # GROUP in services/identity/messaging.py
# The benchmark client must never meet the per-client limits: it is one address sending thousands of requests.
BENCHMARK_LIMITS = {
    "PLUSPORTAL_LIMIT_LOGIN_PER_CLIENT": "1000000/minute",
    "PLUSPORTAL_LIMIT_REQUESTS_PER_CLIENT": "1000000/minute",
}


StackT = TypeVar("StackT")


class BenchmarkError(RuntimeError):
    """The run could not measure what it should (a stack that does not start, unexpected answers)."""


def say(message: str) -> None:
    print(message, flush=True)


# --- the stack ------------------------------------------------------------------------------------------


@dataclass
class IdentityStack:
    kafka: KafkaInstallation
    identity: ServiceProcess
    mail: MailSink
    workdir: Path
    database: str  # URL of identity's database
    replicas: list[ServiceProcess] = field(default_factory=list)  # API-only processes on the same database

    @property
    def url(self) -> str:
        return self.identity.url

    @property
    def processes(self) -> list[ServiceProcess]:
        return [self.identity, *self.replicas]

    def cpu_seconds(self) -> float | None:
        """CPU seconds of every identity process together."""
        seconds = [process_cpu_seconds(p.process.pid) if p.process else None for p in self.processes]
        return None if None in seconds else sum(s for s in seconds if s is not None)

    def database_cpu(self) -> dict[int, float]:
        """CPU seconds of each PostgreSQL backend serving identity's database (local server only)."""
        name = self.database.rsplit("/", 1)[-1]
        found = {}
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if command.startswith("postgres: ") and f" {name} " in command:
                seconds = process_cpu_seconds(int(proc.name))
                if seconds is not None:
                    found[int(proc.name)] = seconds
        return found


def add_stack_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kafka", help="bootstrap servers of a broker to use instead of starting one")
    parser.add_argument("--database-url", help="URL of a PostgreSQL server to use instead of starting one")
    parser.add_argument("--keep-logs", action="store_true", help="keep the service log (path is printed)")


def start_servers(
    args: argparse.Namespace, cleanup: contextlib.ExitStack, extra_topics: Sequence[TopicSpec] = ()
) -> tuple[KafkaInstallation, DatabaseServer]:
    """Kafka with the platform's topics (and `extra_topics`) and a PostgreSQL server: the ones given with
    `--kafka` / `--database-url`, or local processes that `cleanup` stops."""
    if args.kafka:
        kafka = KafkaInstallation(args.kafka, KafkaCredentials(kafka_secrets_dir(var_dir())))
    elif getattr(args, "kafka_nodes", 1) == CLUSTER_NODES:
        say(f"Kafka: starting a local cluster of {CLUSTER_NODES} nodes (replication factor 3, min.insync.replicas 2) …")
        kafka = _start_kafka_cluster(cleanup)
    else:
        say("Kafka: starting a local broker …")
        kafka, stop_kafka = _start_local_kafka()  # registers its own atexit stop as well
        cleanup.callback(stop_kafka)
    run_sync(wait_for_kafka(kafka.admin, 60))
    run_sync(provision(kafka, [*ALL_TOPICS, *extra_topics]))
    return kafka, start_database_server(args, cleanup)


def _start_kafka_cluster(cleanup: contextlib.ExitStack) -> KafkaInstallation:
    """stack.kafka.KafkaCluster on free ports in a temp dir; `cleanup` stops it and removes the dir."""
    folder = Path(tempfile.mkdtemp(prefix="plusportal-bench-kafka-cluster-"))
    cleanup.callback(shutil.rmtree, folder, ignore_errors=True)
    ports = [(free_port(), free_port()) for _ in range(CLUSTER_NODES)]
    cluster = KafkaCluster(folder, ports=ports, libs_dir=kafka_libs_dir(), detach=False)
    cleanup.callback(cluster.stop)  # before the dir is removed (an ExitStack runs its callbacks in reverse)
    cluster.start()
    return cluster.installation


async def prepare_meterdata_database(url: str) -> None:
    """Meter data's tables and the monthly partitions the service makes when it starts, in the database at ``url``
    (the migrations make only the months that hold data and the next ones; a benchmark's readings are older)."""
    # Imported here: the identity and letters benchmarks need none of meter data.
    from kit.db import Database, migrate
    from kit.uow import UnitsOfWork
    from services.meterdata import handlers
    from services.meterdata.app import MIGRATIONS
    from services.meterdata.store import MeterdataStore

    await migrate(url, MIGRATIONS)
    database = Database(url)
    try:
        async with UnitsOfWork(database, MeterdataStore)() as uow:
            await handlers.maintain_partitions(handlers.MaintainPartitions(), uow)
    finally:
        await database.dispose()


def start_database_server(args: argparse.Namespace, cleanup: contextlib.ExitStack) -> DatabaseServer:
    """The PostgreSQL server given with `--database-url`, or a local one that `cleanup` stops."""
    if args.database_url:
        return DatabaseServer(_asyncpg_url(args.database_url))
    say("PostgreSQL: starting a local server …")
    server_url, stop_postgres = _start_local_postgres()
    cleanup.callback(stop_postgres)
    return DatabaseServer(server_url)


def benchmark_database(
    args: argparse.Namespace, server: DatabaseServer, name: str, cleanup: contextlib.ExitStack
) -> str:
    """A fresh database; on a server we do not own (`--database-url`) it is dropped again at the end."""
    database = asyncio.run(server.fresh_database(name))
    if args.database_url:
        cleanup.callback(drop_database, database)
    return database


def start_identity_stack(
    args: argparse.Namespace, workdir: Path, cleanup: contextlib.ExitStack, replicas: int = 0
) -> IdentityStack:
    """Kafka, PostgreSQL, topics, a fresh database, mail sink and identity (plus `replicas` API-only identity
    processes on the same database, without outbox relay); `cleanup` stops each in reverse order."""
    started = time.monotonic()
    kafka, server = start_servers(args, cleanup)
    database = benchmark_database(args, server, "bench_identity", cleanup)

    mail = cleanup.enter_context(MailSink(workdir / "mail"))
    env = service_env(
        kafka=kafka.bootstrap,
        database_url=database,
        smtp_port=mail.smtp_port,
        extra=kafka.environment(Principal.IDENTITY),
    )
    identity = ServiceProcess(
        "identity",
        "-m services.identity.app",
        {**env, **BENCHMARK_LIMITS, "PLUSPORTAL_SIGNING_KEY_FILE": str(workdir / "key.pem")},
        workdir / "logs" / "identity.log",
        port=free_port(),
    )
    cleanup.callback(identity.stop)  # registered first: a half-started service is stopped as well
    say("Identity: starting …")
    identity.start(wait=True)  # alone first: it runs the migrations
    more = [
        ServiceProcess(
            f"identity-{n}",
            "-m services.identity.app",
            {**identity.env, "PLUSPORTAL_OUTBOX_RELAY_ENABLED": "false"},
            workdir / "logs" / f"identity-{n}.log",
            port=free_port(),
        )
        for n in range(2, replicas + 2)
    ]
    for replica in more:
        cleanup.callback(replica.stop)
        replica.start(wait=False)
    for replica in more:
        replica.wait_healthy()
    if more:
        say(f"Identity: {len(more)} more API processes on the same database: {', '.join(r.url for r in more)}")
    say(f"Stack ready after {time.monotonic() - started:.0f} s: identity {identity.url}, log {identity.log_path}")
    return IdentityStack(kafka, identity, mail, workdir, database, more)


def drop_database(url: str) -> None:
    async def drop() -> None:
        name = url.rsplit("/", 1)[-1]
        connection = await asyncpg.connect(asyncpg_dsn(with_database(url, "postgres")))
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()

    try:
        asyncio.run(drop())
    except (OSError, asyncpg.PostgresError) as error:
        say(f"Could not drop benchmark database {url}: {error}")


def run_with_stack(
    args: argparse.Namespace,
    start: Callable[[Path, contextlib.ExitStack], StackT],
    body: Callable[[StackT], Coroutine[Any, Any, tuple[str, bool]]],
    name: str,
) -> int:
    """Start a stack with `start`, run `body` (which returns the report and whether the run was free of errors),
    stop everything — also on errors and Ctrl-C/SIGTERM — and print the report. Exit status 0, 1 on errors, 130."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)
    workdir = Path(tempfile.mkdtemp(prefix=f"plusportal-bench-{name}-"))
    keep = bool(args.keep_logs)
    text, ok = "", False
    try:
        with contextlib.ExitStack() as cleanup:
            try:
                stack = start(workdir, cleanup)
                text, ok = asyncio.run(body(stack))
            finally:
                say("Stopping everything the benchmark started …")
    except KeyboardInterrupt:
        say("Interrupted; everything the benchmark started is stopped.")
        keep = True
        return 130
    except (
        BenchmarkError,
        StackError,
        RuntimeError,
        TimeoutError,
        OSError,
        httpx.HTTPError,
        asyncpg.PostgresError,
        KafkaError,
    ) as error:
        keep = True
        say(f"Benchmark failed: {type(error).__name__}: {error}")
        return 1
    finally:
        if keep or not ok:
            say(f"Service log kept in {workdir / 'logs'}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    say(text)
    if not ok:
        say("\nThe run had errors (see above).")
        return 1
    return 0


def main_with_stack(
    args: argparse.Namespace,
    body: Callable[[IdentityStack], Coroutine[Any, Any, tuple[str, bool]]],
    name: str,
    replicas: int = 0,
) -> int:
    """The identity benchmarks' stack around `body` (see run_with_stack)."""
    return run_with_stack(
        args, lambda workdir, cleanup: start_identity_stack(args, workdir, cleanup, replicas), body, name
    )


# --- master data and accounts ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Pair:
    meter_number: str
    partner_number: str


def new_pairs(count: int) -> list[Pair]:
    """`count` meter/partner pairs no earlier run used (a random run number in both)."""
    run = random.randrange(10**4)
    return [Pair(f"1IDB{run:04d}{i:06d}", f"8{run:04d}{i:07d}") for i in range(count)]


async def publish_pairs(kafka: KafkaInstallation, pairs: Sequence[Pair]) -> None:
    """Master data for each pair (one consumption partner per meter), then wait until identity has read it."""
    now = datetime.now(UTC)
    address = PostalAddress(street="Messweg", house_number="1", postcode="12345", city="Prüfstadt")
    points = [
        MeterPointRecorded(
            meter_number=pair.meter_number,
            connection_address=address,
            partners=(
                PartnerOfRecord(
                    partner_number=pair.partner_number,
                    role=PartnerRole.CONSUMPTION,
                    name="Lena Messer",
                    postal_address=address,
                ),
            ),
            recorded_at=now,
        )
        for pair in pairs
    ]
    await publish_meter_points(kafka.access(Principal.BILLING_IMPORT), TENANT, points)
    await wait_until_consumed(kafka, IDENTITY_GROUP, MASTER_DATA.name)


async def wait_until_consumed(kafka: KafkaInstallation, group: str, topic: str, timeout: float = 120) -> None:
    """The group has committed up to the end of every partition of `topic`: all it was sent is handled."""
    admin = AIOKafkaAdminClient(**kafka.admin.client_options())
    consumer = AIOKafkaConsumer(**kafka.admin.client_options(), enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        described = await admin.describe_topics([topic])
        partitions = [TopicPartition(topic, p["partition"]) for t in described for p in t["partitions"]]
        if not partitions:
            raise BenchmarkError(f"topic {topic} has no partitions on {kafka.bootstrap}")
        ends = await consumer.end_offsets(partitions)
        deadline = time.monotonic() + timeout
        while True:
            committed = await admin.list_consumer_group_offsets(group, partitions=partitions)
            behind = sum(
                max(end - max(meta.offset if (meta := committed.get(tp)) else 0, 0), 0) for tp, end in ends.items()
            )
            if not behind:
                return
            if time.monotonic() > deadline:
                raise BenchmarkError(f"{group} has not read {topic} after {timeout:.0f} s ({behind} behind)")
            await asyncio.sleep(0.2)
    finally:
        await consumer.stop()
        await admin.close()


def access_form(pair: Pair, email: str) -> dict[str, str]:
    return {"meter_number": pair.meter_number, "partner_number": pair.partner_number, "email": email}


async def confirmation_tokens(mail: MailSink, emails: Sequence[str], timeout: float = 120) -> dict[str, str]:
    """The token of the newest confirmation link sent to each e-mail (waits until every e-mail has one)."""
    wanted = set(emails)
    deadline = time.monotonic() + timeout
    while True:
        found: dict[str, str] = {}
        for message in await asyncio.to_thread(mail.messages):
            for to in message.envelope_to:
                if to in wanted:
                    links = [link for link in message.links() if "/zugang/bestaetigen#token=" in link]
                    if links:
                        found[to] = links[0].split("#token=", 1)[1]
        if len(found) == len(wanted):
            return found
        if time.monotonic() > deadline:
            raise BenchmarkError(f"no confirmation mail for {len(wanted) - len(found)} of {len(wanted)} e-mails")
        await asyncio.sleep(0.2)


async def register_accounts(stack: IdentityStack, client: httpx.AsyncClient, accounts: dict[str, Pair]) -> None:
    """Each e-mail gets a login for its pair: access request → link from the mail sink → password set.
    The pairs' master data must be known to identity already."""
    gate = asyncio.Semaphore(4)

    async def post(path: str, body: dict[str, str], expected: int) -> None:
        async with gate:
            response = await client.post(path, headers=HOST, json=body)
        if response.status_code != expected:
            raise BenchmarkError(f"POST {path}: HTTP {response.status_code} {response.text[:200]}")

    await asyncio.gather(*(post("/access-requests", access_form(p, e), 202) for e, p in accounts.items()))
    tokens = await confirmation_tokens(stack.mail, list(accounts))
    await asyncio.gather(
        *(post("/access-requests/complete", {"token": t, "password": PASSWORD}, 204) for t in tokens.values())
    )


def unique_email(label: str) -> str:
    return f"{label}.{uuid.uuid4().hex[:12]}@example.org"


# --- figures --------------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), linear between closest ranks; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def process_cpu_seconds(pid: int) -> float | None:
    """utime + stime of a process and all its threads (Linux /proc), None if unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return float("nan"), float("nan")
    ticks = [int(x) for x in first[:8]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    hz = os.sysconf("SC_CLK_TCK")
    return (sum(ticks) - idle) / hz, sum(ticks) / hz


async def background_busy(seconds: float = 2.0) -> float:
    """CPUs busy on average over `seconds` while this benchmark sends nothing: other work on the machine."""
    before, _ = machine_cpu()
    started = time.perf_counter()
    await asyncio.sleep(seconds)
    after, _ = machine_cpu()
    return (after - before) / (time.perf_counter() - started)


def header_line(title: str) -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    python = sys.version.split()[0]
    return f"{title} — tenant {TENANT}, {os.cpu_count()} CPUs, load average at the end {load}, Python {python}"
