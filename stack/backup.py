"""Backup and restore of every service database, and rewinding the consumer groups after a restore.

    plusportal-stack backup DIR                   pg_dump -Fc of every database of stack.processes.DATABASES,
                                                  with DIR/manifest.json (times, sizes, SHA-256, versions)
    plusportal-stack restore DIR                  into a fresh server: each database created and pg_restore'd
    plusportal-stack reset-offsets --to-datetime  the services' consumer groups back to a time before the dump

Kafka's committed offsets are not in the dump. After a restore the consumer groups are rewound to a time
safely before the dump started (the manifest's `started_at` minus the consumers' lag, an hour by default):
every event from then on is delivered again, and each service's inbox drops the ones its restored database
already handled. The procedure is docs/operations.md "Restore"; tests/stack/test_restore_drill.py drills it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote, urlsplit

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import (
    CommitFailedError,
    IllegalGenerationError,
    KafkaError,
    RebalanceInProgressError,
    UnknownMemberIdError,
)
from aiokafka.structs import OffsetAndMetadata
from kafka import errors as kafka_errors
from kafka.admin import KafkaAdminClient

from contracts.topics import ALL_TOPICS
from kit.kafka import KafkaAccess
from stack import Reporter, StackError, run_sync, say, tail
from stack.postgres import asyncpg_dsn, check_database_name, ensure_database, find_bin_dir, with_database

MANIFEST = "manifest.json"
FORMAT = "custom"  # pg_dump -Fc: compressed, restorable table by table, checked by pg_restore --list
DEFAULT_MARGIN = timedelta(hours=1)  # how far before the dump the consumers are rewound by default
# The services' consumer groups (services/*/messaging.py; tests/unit/test_backup.py keeps them in step). Not the
# print house's: it is another party whose state is not in our dump, and it must not print old jobs again.
MEMBERS_WAIT = 90.0  # seconds: well above a consumer's session timeout (aiokafka's default: 10 s)
SERVICE_GROUPS = ("onboarding", "letters", "identity", "meterdata", "meterdata-ingest", "meterdata-mscons")


@dataclass(frozen=True)
class DumpedDatabase:
    name: str
    file: str
    bytes: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    started_at: datetime  # before the first pg_dump began: the rewind point is computed from this
    finished_at: datetime
    server_version: str
    pg_dump_version: str
    databases: tuple[DumpedDatabase, ...]

    def rewind_point(self, margin: timedelta = DEFAULT_MARGIN) -> datetime:
        """Where the consumer groups go after restoring this backup (docs/operations.md "Restore")."""
        return self.started_at - margin

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": FORMAT,
                "started_at": self.started_at.isoformat(),
                "finished_at": self.finished_at.isoformat(),
                "server_version": self.server_version,
                "pg_dump_version": self.pg_dump_version,
                "databases": [vars(database) for database in self.databases],
            },
            indent=2,
        )

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        path = folder / MANIFEST
        try:
            raw = json.loads(path.read_text())
            return cls(
                datetime.fromisoformat(raw["started_at"]),
                datetime.fromisoformat(raw["finished_at"]),
                raw["server_version"],
                raw["pg_dump_version"],
                tuple(DumpedDatabase(**database) for database in raw["databases"]),
            )
        except FileNotFoundError:
            raise StackError(f"{path} fehlt: {folder} ist keine Sicherung von `plusportal-stack backup`.") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise StackError(f"{path} ist unlesbar ({exc!r}): Sicherung unvollständig, eine andere nehmen.") from exc


# --- backup -------------------------------------------------------------------------------------------


def backup(folder: Path, server_url: str, databases: Sequence[str], *, report: Reporter = say) -> Manifest:
    """Dumps each of `databases` on the server of `server_url` into `folder` (new or empty), manifest last:
    a folder without manifest.json is an interrupted backup."""
    if folder.exists() and any(folder.iterdir()):
        raise StackError(f"{folder} ist nicht leer: für jede Sicherung einen neuen Ordner angeben.")
    started_at = datetime.now(UTC)
    server_version = _server_version(server_url)  # before the folder exists: a failed start leaves nothing
    folder.mkdir(parents=True, exist_ok=True)
    pg_dump = _tool("pg_dump")
    report(f"Sicherung nach {folder}: PostgreSQL {server_version}, Datenbanken {', '.join(databases)}")
    dumped = []
    for name in databases:
        file = folder / f"{check_database_name(name)}.dump"
        _run(
            [pg_dump, "--format=custom", f"--file={file}", *_connection(server_url, name)],
            f"pg_dump {name}",
            server_url,
        )
        dumped.append(DumpedDatabase(name, file.name, file.stat().st_size, _sha256(file)))
        report(f"  {name}: {file.stat().st_size / 1024:.0f} KiB gesichert")
    manifest = Manifest(started_at, datetime.now(UTC), server_version, _version(pg_dump), tuple(dumped))
    (folder / MANIFEST).write_text(manifest.to_json() + "\n")
    report(f"Sicherung fertig: {folder / MANIFEST} (begonnen {started_at.isoformat(timespec='seconds')})")
    return manifest


# --- restore ------------------------------------------------------------------------------------------


def restore(folder: Path, server_url: str, *, report: Reporter = say) -> Manifest:
    """Creates each database of the backup in `folder` on the server of `server_url` and restores it there.

    Only into databases that do not exist or are empty: restoring over live data would mix two states.
    """
    manifest = Manifest.read(folder)
    for database in manifest.databases:
        _check_file(folder, database)
    for database in manifest.databases:
        _check_empty(server_url, database.name)
    pg_restore = _tool("pg_restore")
    report(
        f"Wiederherstellung aus {folder} (Sicherung vom {manifest.started_at.isoformat(timespec='seconds')}, "
        f"PostgreSQL {manifest.server_version}) nach PostgreSQL {_server_version(server_url)}"
    )
    for database in manifest.databases:
        run_sync(ensure_database(server_url, database.name))
        command = [
            pg_restore, "--exit-on-error", "--single-transaction", "--no-owner", "--no-privileges",
            *_connection(server_url, database.name), str(folder / database.file),
        ]  # fmt: skip
        _run(command, f"pg_restore {database.name}", server_url)
        report(f"  {database.name}: wiederhergestellt")
    report(
        "Wiederherstellung fertig. Vor dem Start der Dienste die Consumer-Gruppen zurücksetzen:\n"
        f"  plusportal-stack reset-offsets --to-datetime {manifest.rewind_point().isoformat(timespec='seconds')}"
    )
    return manifest


def _check_file(folder: Path, database: DumpedDatabase) -> None:
    path = folder / database.file
    if not path.is_file():
        raise StackError(f"{path} fehlt: Sicherung unvollständig, eine andere nehmen.")
    if _sha256(path) != database.sha256:
        raise StackError(f"{path} ist beschädigt (SHA-256 passt nicht zum Manifest): eine andere Sicherung nehmen.")


def _check_empty(server_url: str, name: str) -> None:
    async def tables() -> int | None:
        connection = await asyncpg.connect(asyncpg_dsn(with_database(server_url, "postgres")))
        try:
            if not await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                return None
        finally:
            await connection.close()
        connection = await asyncpg.connect(asyncpg_dsn(with_database(server_url, name)))
        try:
            count: int = await connection.fetchval(
                "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
            )
            return count
        finally:
            await connection.close()

    if run_sync(tables()):
        raise StackError(
            f"Datenbank {name} existiert schon und hat Tabellen. Wiederherstellen nur in einen frischen Server: "
            "Dienste stoppen, `plusportal-stack postgres wipe`, `plusportal-stack postgres start`, dann erneut."
        )


# --- consumer groups ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupReset:
    group: str
    offsets: dict[TopicPartition, int]  # the new committed offset of each partition the group had


async def reset_offsets(
    admin_access: KafkaAccess,
    to_datetime: datetime,
    groups: Iterable[str] | None = None,
    *,
    report: Reporter = say,
) -> list[GroupReset]:
    """Sets each group's committed offsets to the first record at or after `to_datetime` (the end where no
    record is that new). Default: every consumer group of the services (SERVICE_GROUPS); partitions a group
    never committed it reads from the beginning anyway, and are left alone.

    The groups must be empty (services stopped): Kafka refuses a commit from outside a group with members.
    """
    timestamp_ms = int(to_datetime.timestamp() * 1000)
    partitions = await _partitions(admin_access)
    resets = []
    for group in sorted(groups) if groups is not None else SERVICE_GROUPS:
        offsets = await _rewind(admin_access, group, partitions, timestamp_ms, report)
        if offsets:
            resets.append(GroupReset(group, offsets))
    return resets


async def _partitions(access: KafkaAccess) -> list[TopicPartition]:
    """Every partition of the platform's topics, as the broker has them."""
    admin = AIOKafkaAdminClient(**access.client_options())
    await admin.start()
    try:
        described = await admin.describe_topics([topic.name for topic in ALL_TOPICS])
    finally:
        await admin.close()
    return [
        TopicPartition(topic["topic"], partition["partition"])
        for topic in described
        for partition in topic["partitions"]
    ]


async def _rewind(
    access: KafkaAccess, group: str, partitions: list[TopicPartition], timestamp_ms: int, report: Reporter
) -> dict[TopicPartition, int]:
    """Commits the rewound offsets for `group` without joining it (manual assignment): what an empty group
    accepts. The consumer's own offset requests wait while a freshly started broker still loads the group."""
    consumer = AIOKafkaConsumer(**access.client_options(), group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(partitions)
        committed = await _committed(access, group)
        had = [tp for tp in partitions if (tp.topic, tp.partition) in committed]
        if not had:
            return {}
        found = await consumer.offsets_for_times(dict.fromkeys(had, timestamp_ms))
        ends = await consumer.end_offsets(had)
        offsets = {tp: hit.offset if (hit := found.get(tp)) is not None else ends[tp] for tp in had}
        await _commit_once_empty(consumer, group, offsets, report)
        return offsets
    finally:
        await consumer.stop()


async def _committed(access: KafkaAccess, group: str) -> set[tuple[str, int]]:
    """(topic, partition) of each offset `group` has committed. Through kafka-python: aiokafka's answer is empty,
    not an error, while a freshly started broker still loads the group's offsets."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + MEMBERS_WAIT

    def fetch() -> set[tuple[str, int]]:
        admin = KafkaAdminClient(**access.client_options(), client_id="plusportal-stack")
        try:
            offsets = admin.list_group_offsets({group: None})[group]
        finally:
            admin.close()
        return {(tp.topic, tp.partition) for tp, offset in offsets.items() if offset.offset >= 0}

    while True:
        try:
            return await asyncio.to_thread(fetch)
        except (
            kafka_errors.CoordinatorLoadInProgressError,
            kafka_errors.CoordinatorNotAvailableError,
            kafka_errors.NotCoordinatorError,
        ) as exc:
            if loop.time() > deadline:
                raise StackError(
                    f"Kafka nennt die Offsets der Gruppe {group} nach {MEMBERS_WAIT:.0f} s nicht ({exc!r}): "
                    "Broker-Log prüfen, dann erneut."
                ) from exc
            await asyncio.sleep(1)


async def _commit_once_empty(
    consumer: AIOKafkaConsumer, group: str, offsets: dict[TopicPartition, int], report: Reporter
) -> None:
    """Kafka takes a commit from outside the group only once the group has no members. Members of services
    stopped a moment ago (or killed, or left over from before a broker restart) count until their session
    times out, so this waits that long before it concludes that a service still runs."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + MEMBERS_WAIT
    waiting = False
    while True:
        try:
            await consumer.commit({tp: OffsetAndMetadata(offset, "") for tp, offset in offsets.items()})
            return
        except (CommitFailedError, UnknownMemberIdError, IllegalGenerationError, RebalanceInProgressError) as exc:
            if loop.time() > deadline:
                raise StackError(
                    f"Consumer-Gruppe {group} hat nach {MEMBERS_WAIT:.0f} s noch Mitglieder ({exc!r}): "
                    "läuft noch ein Dienst? Erst alle Dienste stoppen, dann erneut."
                ) from exc
            if not waiting:
                report(
                    f"  {group}: Sitzungen gestoppter Dienste laufen noch ab, warte (höchstens {MEMBERS_WAIT:.0f} s) …"
                )
                waiting = True
            await asyncio.sleep(1)
        except KafkaError as exc:
            raise StackError(f"Kafka nimmt die neuen Offsets der Gruppe {group} nicht an ({exc!r}).") from exc


# --- helpers ------------------------------------------------------------------------------------------


def _tool(name: str) -> str:
    """pg_dump/pg_restore of the newest local PostgreSQL (they read dumps of the same or older servers)."""
    return str(find_bin_dir() / name)


def _connection(server_url: str, database: str) -> list[str]:
    parts = urlsplit(server_url)
    arguments = [f"--host={parts.hostname or '127.0.0.1'}", f"--port={parts.port or 5432}", f"--dbname={database}"]
    if parts.username:
        arguments.append(f"--username={unquote(parts.username)}")
    return [*arguments, "--no-password"]


def _environment(server_url: str) -> dict[str, str]:
    password = urlsplit(server_url).password
    return {**os.environ, "PGPASSWORD": unquote(password)} if password else dict(os.environ)


def _run(command: list[str], what: str, server_url: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=_environment(server_url))
    if done.returncode != 0:
        raise StackError(
            f"{what} ist fehlgeschlagen (Exit {done.returncode}):\n{tail(done.stdout + done.stderr)}\n"
            "Läuft PostgreSQL und stimmen Adresse und Benutzer (--database-url)?"
        )


def _version(tool: str) -> str:
    done = subprocess.run([tool, "--version"], capture_output=True, text=True, check=False)
    return done.stdout.strip()


def _server_version(server_url: str) -> str:
    async def ask() -> str:
        connection = await asyncpg.connect(asyncpg_dsn(with_database(server_url, "postgres")))
        try:
            version: str = await connection.fetchval("SHOW server_version")
            return version
        finally:
            await connection.close()

    try:
        return run_sync(ask())
    except (OSError, asyncpg.PostgresError) as exc:
        raise StackError(
            f"PostgreSQL unter {server_url} antwortet nicht ({exc!r}). Läuft er? `plusportal-stack postgres start`"
        ) from exc


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
