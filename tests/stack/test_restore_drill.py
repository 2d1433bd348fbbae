"""The restore drill of docs/operations.md, on a Kafka, two PostgreSQL servers and the services of its own.

Three batches of requests, each in another state when the databases are dumped:
  done       — letter printed and dispatched before the dump;
  in Kafka   — matched and published, but letters was stopped: the events wait in Kafka;
  in outbox  — submitted while Kafka was down: the events wait in onboarding's outbox (no copy e-mail yet).
Then the first database server is lost, the dump is restored into a fresh one, the services' consumer groups are
rewound to before the dump (`plusportal-stack reset-offsets`), and the services start against the restored
databases. Every request then has exactly one copy e-mail, one dispatch job and one printed letter: the
redelivered events of the first batch are dropped by the inboxes, the waiting ones are handled once.

Its own Kafka, because the drill stops the broker and rewinds consumer groups that the shared `system` uses.
"""

import asyncio
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import pytest

from contracts import topics
from contracts.letters import LetterDispatchRequested
from contracts.masterdata import MeterPointRecorded
from stack import free_port
from stack.acls import provision
from stack.backup import Manifest, backup, reset_offsets, restore
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
    printed_letters_mentioning,
    publish_master_data,
    random_meter_number,
    read_topic,
    wait_until_consumed,
)

pytestmark = pytest.mark.stack
TENANT = "000328"
TENANTS = ("000328", "000512")
CONSUMERS = {
    "onboarding": (topics.MASTER_DATA.name, topics.LETTERS.name),
    "letters": (topics.MASTER_DATA.name, topics.ONBOARDING_REQUESTS.name, topics.LETTER_DISPATCH_STATUS.name),
    "printhouse": (topics.LETTER_QUEUE.name,),
}


@pytest.fixture
def drill_root() -> Iterator[Path]:
    """A temp dir the postgres user can pass through when we are root (pytest's own are mode 0700)."""
    with tempfile.TemporaryDirectory(prefix="plusportal-restore-drill-") as folder:
        Path(folder).chmod(0o755)
        yield Path(folder)


async def test_restored_databases_resume_from_offsets_and_outboxes_nothing_lost_or_doubled(drill_root: Path) -> None:
    with ExitStack() as cleanup:
        kafka = KafkaServer(drill_root / "kafka-var", free_port(), free_port(), libs_dir=kafka_libs_dir(), detach=False)
        cleanup.callback(kafka.stop)
        await asyncio.to_thread(kafka.start)
        await provision(kafka.installation)
        lost = await _fresh_server(drill_root / "postgres-lost", cleanup)
        mail = cleanup.enter_context(MailSink(mail_store(drill_root), web_port=free_port()))
        http_ports = {name: free_port() for name in DATABASES}

        def site(server: PostgresServer) -> Site:
            return Site(
                drill_root,
                kafka=kafka.bootstrap_servers,
                kafka_secrets=kafka.credentials.folder,
                database_url=server.url,
                purpose=Purpose.TEST,
                smtp_port=mail.smtp_port,
                http_ports=http_ports,
            )

        prepare_credentials(site(lost), TENANTS)
        points = [_point() for _ in range(6)]
        done, in_kafka, in_outbox = points[0:2], points[2:4], points[4:6]
        requests: dict[str, tuple[str, str]] = {}  # meter number → (request id, e-mail)

        async with _running(site(lost), drill_root / "logs-before", cleanup) as processes:
            await publish_master_data(kafka.installation, TENANT, *points)
            await _wait_for_master_data(lost, points)
            requests |= await _submit(processes["onboarding"], done)
            await _wait_for_status(lost, [requests[p.meter_number][0] for p in done], "letter_dispatched")

            processes["letters"].stop()
            requests |= await _submit(processes["onboarding"], in_kafka)
            await _wait_for_copies(mail, [requests[p.meter_number][1] for p in done + in_kafka])
            await eventually(lambda: _unpublished(lost, "onboarding"), what="onboarding's outbox relayed")
            for name in ("identity", "meterdata", "printhouse"):
                processes[name].stop()

            await asyncio.to_thread(kafka.stop)  # from here on onboarding's events stay in its outbox
            requests |= await _submit(processes["onboarding"], in_outbox)
            assert await _count(lost, "onboarding", "SELECT count(*) FROM outbox WHERE published_at IS NULL") >= 2

            manifest = await asyncio.to_thread(backup, drill_root / "backup", lost.url("postgres"), DATABASES)
            processes["onboarding"].kill()  # the disaster: the service dies, the server and its data are lost
        await asyncio.to_thread(lost.wipe)

        fresh = await _fresh_server(drill_root / "postgres-fresh", cleanup)
        restored = await asyncio.to_thread(restore, drill_root / "backup", fresh.url("postgres"))
        assert restored == Manifest.read(drill_root / "backup") == manifest
        await asyncio.to_thread(kafka.start)
        resets = {
            reset.group: reset for reset in await reset_offsets(kafka.installation.admin, manifest.rewind_point())
        }
        # Rewound to before the test began: every event is delivered again, the first batch's included.
        assert {"onboarding", "letters", "identity", "meterdata"} <= resets.keys()
        assert all(offset == 0 for offset in resets["letters"].offsets.values())

        async with _running(site(fresh), drill_root / "logs-after", cleanup):
            every = [request_id for request_id, _ in requests.values()]
            await _wait_for_status(fresh, every, "letter_dispatched", timeout=90)
            await wait_until_consumed(kafka.installation, CONSUMERS, timeout=60)
            await _wait_for_copies(mail, [email for _, email in requests.values()])

            assert await _count(fresh, "onboarding", "SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0
            for meter, (_, email) in requests.items():
                assert len([m for m in mail.messages() if email in m.envelope_to]) == 1, f"copy e-mails of {meter}"
                assert len(printed_letters_mentioning(printed_dir(drill_root) / TENANT, meter)) == 1, meter
            letters = await _rows(fresh, "letters", "SELECT id, request_id FROM letters")
            assert sorted(str(row["request_id"]) for row in letters) == sorted(every)  # one letter per request
            jobs = {
                UUID(envelope["payload"]["job_id"])
                for _, envelope in envelopes(await read_topic(kafka.installation, topics.LETTER_QUEUE.name))
                if envelope["event_type"] == LetterDispatchRequested.EVENT_TYPE
            }
            assert jobs == {row["id"] for row in letters}  # one dispatch job per letter, no job of a lost letter


# --- the drill's steps ----------------------------------------------------------------------------------


async def _fresh_server(root: Path, cleanup: ExitStack) -> PostgresServer:
    server = PostgresServer(root, free_port())
    cleanup.callback(server.wipe)
    await asyncio.to_thread(server.wipe)  # a /tmp fallback of an earlier run must not look like fresh data
    await asyncio.to_thread(server.start)
    for name in DATABASES:  # empty, as `make up` creates them; restore fills empty ones
        await server.create_database(name)
    return server


@asynccontextmanager
async def _running(site: Site, logs: Path, cleanup: ExitStack) -> AsyncIterator[dict[str, ServiceProcess]]:
    """The services and the print house, started together (each migrates its database first)."""
    processes = {spec.name: spec.process(logs) for spec in platform_processes(site)}
    for process in processes.values():
        cleanup.callback(process.stop)
        process.start(wait=False)
    for process in processes.values():
        if process.port is not None:
            await asyncio.to_thread(process.wait_healthy, 120)
    try:
        yield processes
    finally:
        for process in processes.values():
            await asyncio.to_thread(process.stop)


def _point() -> MeterPointRecorded:
    home = address("Postweg", "1", "12345", "Musterstadt")
    return meter_point(random_meter_number(), "Erika Beispiel", home, home)


async def _submit(onboarding: ServiceProcess, points: list[MeterPointRecorded]) -> dict[str, tuple[str, str]]:
    typed = {"street": "Postweg", "house_number": "1", "postcode": "12345", "city": "Musterstadt"}
    submitted = {}
    async with httpx.AsyncClient(base_url=onboarding.url, timeout=10) as client:
        for point in points:
            email = f"erika.{point.meter_number.lower()}@example.org"
            answer = await client.post(
                "/requests", headers=host(TENANT), json=form(point.meter_number, "Erika", "Beispiel", typed, email)
            )
            assert answer.status_code == 202, answer.text
            submitted[point.meter_number] = (answer.json()["request_id"], email)
    return submitted


async def _wait_for_master_data(server: PostgresServer, points: list[MeterPointRecorded]) -> None:
    meters = [point.meter_number for point in points]
    query = "SELECT count(*) FROM meter_points WHERE meter_number = ANY($1::text[])"

    async def known() -> bool:
        counts = [await _count(server, name, query, meters) for name in ("onboarding", "letters")]
        return counts == [len(meters)] * 2

    await eventually(known, timeout=60, what="master data in onboarding and letters")


async def _wait_for_status(server: PostgresServer, request_ids: list[str], status: str, timeout: float = 60) -> None:
    query = "SELECT count(*) FROM partner_number_requests WHERE id = ANY($1::uuid[]) AND status = $2"

    async def reached() -> bool:
        return await _count(server, "onboarding", query, [UUID(i) for i in request_ids], status) == len(request_ids)

    await eventually(reached, timeout=timeout, what=f"{len(request_ids)} requests to reach {status}")


async def _wait_for_copies(mail: MailSink, emails: list[str]) -> None:
    async def arrived() -> bool:
        return all(any(email in m.envelope_to for m in mail.messages()) for email in emails)

    await eventually(arrived, timeout=60, what="the copy e-mails")


async def _unpublished(server: PostgresServer, database: str) -> bool:
    return await _count(server, database, "SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0


async def _count(server: PostgresServer, database: str, query: str, *arguments: Any) -> int:
    rows = await _rows(server, database, query, *arguments)
    return int(rows[0][0])


async def _rows(server: PostgresServer, database: str, query: str, *arguments: Any) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(asyncpg_dsn(server.url(database)))
    try:
        return list(await connection.fetch(query, *arguments))
    finally:
        await connection.close()
