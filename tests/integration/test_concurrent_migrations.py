"""Replicas starting at once on a fresh database: each runs the migrations, one after the other under an advisory
lock (kit/alembic/env.py), so every start succeeds and the schema is made once. Without the lock two processes
creating ``alembic_version`` at once made one of them fail its start (found with benchmarks.letters_latency
--replicas 2)."""

import asyncio
import sys

import asyncpg
import pytest

from services.letters.app import MIGRATIONS
from stack.fixtures import DatabaseServer
from stack.postgres import asyncpg_dsn

pytestmark = pytest.mark.stack


async def test_three_processes_migrating_one_fresh_database_at_once_all_succeed(
    postgres_server: DatabaseServer,
) -> None:
    url = await postgres_server.fresh_database("migrations")

    # Processes, as replicas are: Alembic's context is one per process, so threads could not show it.
    script = "import sys; from kit.db import upgrade_database; upgrade_database(sys.argv[1], sys.argv[2])"
    starts = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", script, url, str(MIGRATIONS), stderr=asyncio.subprocess.PIPE
        )
        for _ in range(3)
    ]
    outcomes = await asyncio.wait_for(asyncio.gather(*(start.communicate() for start in starts)), timeout=120)

    assert [start.returncode for start in starts] == [0, 0, 0], [err.decode()[-500:] for _, err in outcomes]

    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        versions = await connection.fetch("SELECT version_num FROM alembic_version")
    finally:
        await connection.close()
    assert len(versions) == 1
