"""Pytest plugin: one real Kafka and one real PostgreSQL for the whole test session.

Load it with `pytest_plugins = ["stack.fixtures"]` (root conftest) or `pytest -p stack.fixtures`.

Where the servers come from, first match wins:
1. `PLUSPORTAL_KAFKA_BOOTSTRAP` (with `PLUSPORTAL_KAFKA_SECRETS_DIR`, the folder with `admin.password`) /
   `PLUSPORTAL_DATABASE_URL`: servers someone else runs (CI services).
2. A Docker engine that answers: testcontainers.
3. Otherwise local processes (stack.kafka, stack.postgres) in a temporary var dir, on free ports.

Servers this plugin starts are stopped at session end, on Ctrl-C/SIGTERM and at interpreter exit; a
session killed outright leaves its temp dir behind, and the next session stops what runs there.
The fixtures are synchronous on purpose: they do their async setup in a private event loop, so they
work with any pytest-asyncio loop scope.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import shutil
import signal
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from kit.settings import DEFAULT_KAFKA_SECRETS_DIR
from stack import StackError, free_port, run_sync
from stack.acls import provision
from stack.credentials import KafkaCredentials, KafkaInstallation, kafka_secrets_dir
from stack.kafka import CONTAINER_CONFIG_DIR, STARTED_LINE, KafkaServer, write_container_config
from stack.paths import kafka_libs_dir
from stack.postgres import PostgresServer, check_database_name, ensure_database, with_database
from stack.topics import wait_for_kafka

KAFKA_ENV = "PLUSPORTAL_KAFKA_BOOTSTRAP"
KAFKA_SECRETS_ENV = "PLUSPORTAL_KAFKA_SECRETS_DIR"
DATABASE_ENV = "PLUSPORTAL_DATABASE_URL"

KAFKA_IMAGE = "apache/kafka:4.1.1"  # the version of deploy/kafka/pom.xml
POSTGRES_IMAGE = "postgres:15-alpine"  # the version Debian bookworm ships for the local fallback
TEMP_PREFIX = "plusportal-test-stack-"
OWNER_FILE = "owner.pid"


@dataclass(frozen=True)
class DatabaseServer:
    """A PostgreSQL server tests can make databases on. `server_url` names any database on it."""

    server_url: str

    def url(self, database: str) -> str:
        """SQLAlchemy URL (asyncpg driver) of `database` on this server."""
        return with_database(self.server_url, check_database_name(database))

    async def create_database(self, name: str) -> str:
        """Creates database `name` unless it exists; returns its URL."""
        await ensure_database(self.server_url, name)
        return self.url(name)

    async def fresh_database(self, prefix: str = "test") -> str:
        """Creates a database no earlier run used (`<prefix>_<random>`): tests never see old rows."""
        return await self.create_database(f"{prefix}_{uuid.uuid4().hex[:12]}")


# --- fixtures ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def kafka() -> Iterator[KafkaInstallation]:
    """A Kafka with SASL/SCRAM and ACLs, every principal's credential, and every topic of contracts.topics."""
    configured = os.environ.get(KAFKA_ENV)
    if configured:
        secrets = Path(os.environ.get(KAFKA_SECRETS_ENV, str(DEFAULT_KAFKA_SECRETS_DIR)))
        installation, stop = KafkaInstallation(configured, KafkaCredentials(secrets)), None
    elif docker_available():
        installation, stop = _start_kafka_container()
    else:
        installation, stop = _start_local_kafka()
    try:
        run_sync(wait_for_kafka(installation.admin, 60))
        run_sync(provision(installation))
        yield installation
    finally:
        if stop is not None:
            stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[DatabaseServer]:
    """A PostgreSQL server; tests create their own databases on it (`await server.fresh_database()`)."""
    configured = os.environ.get(DATABASE_ENV)
    if configured:
        server_url, stop = _asyncpg_url(configured), None
    elif docker_available():
        server_url, stop = _start_postgres_container()
    else:
        server_url, stop = _start_local_postgres()
    try:
        yield DatabaseServer(server_url)
    finally:
        if stop is not None:
            stop()


# --- where servers come from ------------------------------------------------------------------------


@functools.cache
def docker_available() -> bool:
    """True if a Docker engine answers a ping within a few seconds (asked once per session)."""
    try:
        import docker  # testcontainers' dependency; optional for the local fallback

        client = docker.from_env(timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # no SDK, no socket, no permission: all mean "use local processes"
        return False


def _start_kafka_container() -> tuple[KafkaInstallation, Callable[[], None]]:
    """Apache's image with the local broker's own server.properties: the same listeners, SCRAM and ACLs."""
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs

    root = _session_dir() / "kafka-container"
    credentials = KafkaCredentials(kafka_secrets_dir(root))
    port = free_port()
    write_container_config(root / "config", credentials, "127.0.0.1", port)
    container = (
        DockerContainer(KAFKA_IMAGE)
        .with_bind_ports(port, port)  # advertised as 127.0.0.1:<port>, the same inside and outside
        .with_volume_mapping(str(root / "config"), CONTAINER_CONFIG_DIR, "ro")
        .with_command(["bash", f"{CONTAINER_CONFIG_DIR}/start.sh"])
    )
    container.start()
    wait_for_logs(container, STARTED_LINE, timeout=120)
    return KafkaInstallation(f"127.0.0.1:{port}", credentials), _stop_once(container.stop)


def _start_postgres_container() -> tuple[str, Callable[[], None]]:
    from testcontainers.community.postgres import PostgresContainer

    container = PostgresContainer(
        POSTGRES_IMAGE, username="plusportal", password="plusportal", dbname="postgres", driver="asyncpg"
    ).with_command("postgres -c max_connections=200")
    container.start()
    return container.get_connection_url(), _stop_once(container.stop)


def _start_local_kafka() -> tuple[KafkaInstallation, Callable[[], None]]:
    port, controller_port = _two_free_ports()
    # The repo's jars (fetched once, not per session); attached: the JVM dies with this process.
    server = KafkaServer(_session_dir(), port, controller_port, libs_dir=kafka_libs_dir(), detach=False)
    stop = _stop_once(server.stop)
    server.start()
    return server.installation, stop


def _start_local_postgres() -> tuple[str, Callable[[], None]]:
    server = PostgresServer(_session_dir(), free_port())
    stop = _stop_once(server.wipe)  # wipe: stop, and the cluster is garbage after the session
    server.start()
    return server.url("postgres"), stop


# --- cleanup ----------------------------------------------------------------------------------------


def _stop_once(stop: Callable[[], Any]) -> Callable[[], None]:
    """Wraps `stop` to run once, from the fixture teardown or at interpreter exit, whichever comes first.

    Registered before the server starts, so a start that fails halfway still gets cleaned up.
    """
    done = False

    def run() -> None:
        nonlocal done
        if done:
            return
        done = True
        try:
            stop()
        except StackError as exc:  # teardown must go on with the other servers
            print(f"Stack-Aufräumen fehlgeschlagen: {exc}")

    atexit.register(run)
    _interrupt_on_sigterm()
    return run


def _interrupt_on_sigterm() -> None:
    """Turns SIGTERM (CI timeouts, `kill`) into KeyboardInterrupt, so pytest tears the servers down.

    Only if nobody else handles SIGTERM, and only from the main thread (a signal module rule).
    """
    with contextlib.suppress(ValueError):
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@functools.cache
def _session_dir() -> Path:
    """This session's temp var dir; removed at exit after the servers in it are stopped."""
    _sweep_abandoned_dirs()
    path = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX))
    # mkdtemp makes it 0700; the postgres user (when we are root) must be able to pass through.
    path.chmod(0o755)
    (path / OWNER_FILE).write_text(f"{os.getpid()}\n")
    # atexit runs last-registered first: registered before any server, this runs after their stops.
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def _sweep_abandoned_dirs() -> None:
    """Stops servers left behind by test sessions that were killed (SIGKILL, OOM), and removes their dirs."""
    for path in Path(tempfile.gettempdir()).glob(f"{TEMP_PREFIX}*"):
        if _owner_alive(path):
            continue
        with contextlib.suppress(StackError, OSError):
            KafkaServer(path, report=_silent).stop(timeout=10)
        postgres = PostgresServer(path, report=_silent)
        # Never the /tmp fallback: that may be the developer's own server, not an abandoned one.
        if (path / "postgres" / "data").exists() and postgres.root == path / "postgres":
            with contextlib.suppress(StackError, OSError):
                postgres.stop()
        shutil.rmtree(path, ignore_errors=True)


def _owner_alive(path: Path) -> bool:
    try:
        pid = int((path / OWNER_FILE).read_text().strip())
    except (OSError, ValueError):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _silent(message: str) -> None:
    pass


# --- small helpers ----------------------------------------------------------------------------------


def _two_free_ports() -> tuple[int, int]:
    first = free_port()
    second = free_port()
    while second == first:
        second = free_port()
    return first, second


def _asyncpg_url(url: str) -> str:
    """`url` with the asyncpg driver, whatever driver (or none) it named."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme="postgresql+asyncpg"))
