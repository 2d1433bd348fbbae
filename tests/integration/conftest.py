"""Fixtures the integration tests share."""

from collections.abc import AsyncIterator

import pytest

from kit.db import Database, migrate
from services.onboarding.app import MIGRATIONS
from stack.fixtures import DatabaseServer


@pytest.fixture
async def db(postgres_server: DatabaseServer) -> AsyncIterator[Database]:
    """A fresh database with kit's tables (inbox, dead letters) and the master-data read model (onboarding's
    migrations)."""
    url = await postgres_server.fresh_database("kit")
    await migrate(url, MIGRATIONS)
    database = Database(url)
    yield database
    await database.dispose()
