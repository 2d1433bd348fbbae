"""Fixtures the integration tests share."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kit.db import Database, migrate
from services.identity.app import MIGRATIONS as IDENTITY_MIGRATIONS
from services.meterdata.app import MIGRATIONS as METERDATA_MIGRATIONS
from services.onboarding.app import MIGRATIONS as ONBOARDING_MIGRATIONS
from stack.fixtures import DatabaseServer


async def _fresh(server: DatabaseServer, name: str, migrations: Path) -> AsyncIterator[Database]:
    url = await server.fresh_database(name)
    await migrate(url, migrations)
    database = Database(url)
    yield database
    await database.dispose()


@pytest.fixture
async def db(postgres_server: DatabaseServer) -> AsyncIterator[Database]:
    """A fresh database with kit's tables (inbox, dead letters) and the master-data read model (onboarding's
    migrations)."""
    async for database in _fresh(postgres_server, "kit", ONBOARDING_MIGRATIONS):
        yield database


@pytest.fixture
async def meterdata_db(postgres_server: DatabaseServer) -> AsyncIterator[Database]:
    """A fresh database with meter data's migrations."""
    async for database in _fresh(postgres_server, "meterdata", METERDATA_MIGRATIONS):
        yield database


@pytest.fixture
async def identity_db(postgres_server: DatabaseServer) -> AsyncIterator[Database]:
    """A fresh database with identity's migrations."""
    async for database in _fresh(postgres_server, "identity", IDENTITY_MIGRATIONS):
        yield database
