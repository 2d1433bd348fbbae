"""Database access: one async engine per service, transactions as units of work, and migrations.

Every service owns its own database; its schema changes are Alembic migrations kept in
``services/<service>/migrations`` and run through the one shared ``kit/alembic/env.py``.
"""

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
from alembic import command
from alembic.config import Config
from sqlalchemy import event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection
from sqlmodel.ext.asyncio.session import AsyncSession

_ALEMBIC_DIR = Path(__file__).resolve().parent / "alembic"


class Database:
    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        # No pre-ping: it costs a round trip per checkout; a dropped connection fails the unit of work, which
        # the consumer retries and HTTP clients see as a 5xx to repeat. One the driver knows is closed is
        # replaced on checkout (``discard_closed``, no round trip).
        # AUTOCOMMIT: SQLAlchemy begins and ends no transactions of its own; ``transaction`` begins them on the
        # driver's connection, so a unit of work's raw asyncpg statements (``driver``) are inside from the start.
        self.engine = create_async_engine(
            url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800, isolation_level="AUTOCOMMIT"
        )
        event.listen(self.engine.sync_engine, "checkout", discard_closed)
        self._sessions = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)
        self._reads: asyncpg.Pool | None = None
        self._reads_opening = asyncio.Lock()

    @property
    def driver_dsn(self) -> str:
        """The URL as asyncpg takes it (for a connection of its own beside the pools)."""
        return make_url(self.url).set(drivername="postgresql").render_as_string(hide_password=False)

    @asynccontextmanager
    async def transaction(self, *, read_only: bool = False) -> AsyncIterator[AsyncSession]:
        """A transaction: commits when the block ends normally, rolls back otherwise. ``read_only`` begins it
        READ ONLY (in the same BEGIN: no extra round trip), so a lock or a write in it is an error. ORM and
        ``driver`` statements in the block share it."""
        async with self._sessions() as session:
            connection = await driver(session)
            async with connection.transaction(readonly=read_only):
                yield session
                if session.new or session.dirty or session.deleted:  # a flush with nothing to write costs a hop too
                    await session.flush()

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        """One statement outside any transaction (a write commits by itself), on a small asyncpg pool of its own:
        a hot read (a customer's meter data) or a relay's claim skips the ORM pool's checkout and sends no
        BEGIN/COMMIT."""
        async with (await self._driver_pool()).acquire() as connection:
            return list(await connection.fetch(query, *args))

    @asynccontextmanager
    async def driver_transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """A transaction on that pool, for a mechanism that needs no ORM (the outbox relay): it skips the
        session and the ORM pool's checkout that ``transaction`` pays for (benchmarks/README.md)."""
        async with (await self._driver_pool()).acquire() as connection, connection.transaction():
            yield connection

    async def _driver_pool(self) -> asyncpg.Pool:
        if self._reads is None:
            async with self._reads_opening:
                if self._reads is None:
                    self._reads = await asyncpg.create_pool(
                        self.driver_dsn, min_size=1, max_size=_READ_POOL, reset=_unchanged
                    )
        return self._reads

    async def reachable(self, timeout: float = 2.0) -> bool:
        """Whether the database answers at all (an outage, as opposed to one statement failing)."""
        try:
            async with asyncio.timeout(timeout), self.engine.connect() as connection:
                await connection.exec_driver_sql("SELECT 1")
        except Exception:
            return False
        return True

    async def dispose(self) -> None:
        if self._reads is not None:
            await self._reads.close()
            self._reads = None
        await self.engine.dispose()


def discard_closed(_dbapi_connection: object, record: ConnectionPoolEntry, _proxy: PoolProxiedConnection) -> None:
    """On checkout: a pooled connection the server closed (a terminated backend, a restarted server) is replaced
    by a new one. ``transaction`` begins on the driver's connection, outside SQLAlchemy's disconnect handling,
    and AUTOCOMMIT's reset on return sends nothing, so without this such a connection went back to the pool
    after its failed BEGIN and failed every unit of work (and /health) until pool_recycle, unless a statement
    sent through SQLAlchemy happened to meet one and invalidated the pool."""
    connection = record.driver_connection
    if connection is not None and connection.is_closed():
        raise exc.DisconnectionError("the server closed this pooled connection")


async def driver(session: AsyncSession) -> asyncpg.Connection:
    """The asyncpg connection under a ``Database.transaction``: a hot statement sent on it skips SQLAlchemy's
    statement machinery (which costs more CPU than the round trip itself) and is part of the transaction."""
    if (kept := session.info.get(_DRIVER)) is not None:
        return kept
    # The checked-out pool connection of the session's Connection: read as attributes, not through
    # AsyncConnection.get_raw_connection, which is one more greenlet hop for the same object.
    connection = (await session.connection()).sync_connection.connection.driver_connection  # type: ignore[union-attr]
    assert connection is not None
    session.info[_DRIVER] = connection  # asking SQLAlchemy again costs greenlet hops per statement
    return connection


_DRIVER = "plusportal.driver"  # the session's asyncpg connection, in session.info


def insert_sql(table: str, columns: Sequence[str]) -> str:
    """``INSERT INTO table (columns) VALUES ($1, …)`` for the driver's connection (``driver``)."""
    placeholders = ", ".join(f"${n}" for n in range(1, len(columns) + 1))
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})"


async def insert_rows(
    session: AsyncSession, table: str, columns: Sequence[str], rows: Sequence[dict[str, Any]]
) -> None:
    """Rows (column → value) into ``table`` with one executemany on the unit of work's driver connection: one
    prepared statement, sent in one round trip."""
    await (await driver(session)).executemany(
        insert_sql(table, columns), [tuple(row[column] for column in columns) for row in rows]
    )


_READ_POOL = 5  # connections for Database.fetch and driver_transaction (one relay), beside the ORM pool's


async def _unchanged(connection: asyncpg.Connection) -> None:
    """The pool's statements change no session state (a transaction's locks end with it), so a connection goes
    back without the round trip of asyncpg's reset."""


def _alembic_config(url: str, versions_dir: Path) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_ALEMBIC_DIR))
    config.set_main_option("version_locations", str(versions_dir))
    config.set_main_option("sqlalchemy.url", url)
    config.set_main_option("path_separator", "os")
    return config


def upgrade_database(url: str, versions_dir: Path, revision: str = "head") -> None:
    """Bring the service's database to the newest migration, or to ``revision`` (blocking; runs its own event
    loop)."""
    command.upgrade(_alembic_config(url, versions_dir), revision)


async def migrate(url: str, versions_dir: Path, revision: str = "head") -> None:
    # Alembic's async env runs its own event loop, so it gets a thread of its own.
    await asyncio.to_thread(upgrade_database, url, versions_dir, revision)
