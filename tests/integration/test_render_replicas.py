"""The render workers of two letters replicas on one database: each letter is rendered by one of them, not both."""

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from sqlalchemy import text

from kit.db import Database, migrate
from services.letters.app import MIGRATIONS
from services.letters.domain import LetterStatus
from services.letters.render_worker import RenderWorker
from services.letters.store import LetterRow
from stack.fixtures import DatabaseServer
from tests.journeys import eventually

pytestmark = pytest.mark.stack
LETTERS = 16
RENDER_S = 0.05  # what fpdf2 would take, roughly


class CountingRenderer:
    """Stands in for render_worker.Renderer: counts the renders of each letter, stores a checksum as keep_pdf does."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.renders: Counter[UUID] = Counter()

    async def stored_pdf(self, tenant: str, letter_id: UUID, *, urgent: bool) -> bytes | None:
        async with self.db.transaction() as session:
            row = await session.get(LetterRow, letter_id)
            if row is None or row.pdf_sha256 is not None:
                return None  # rendered meanwhile: the real one returns the stored PDF without rendering
        self.renders[letter_id] += 1
        await asyncio.sleep(RENDER_S)
        async with self.db.transaction() as session:
            await session.exec(  # type: ignore[call-overload]
                text("UPDATE letters SET pdf_sha256 = :sha WHERE id = :id").bindparams(sha="ab" * 32, id=letter_id)
            )
        return b"%PDF-"


async def test_two_render_workers_render_each_letter_once(postgres_server: DatabaseServer) -> None:
    url = await postgres_server.fresh_database("letters_render")
    await migrate(url, MIGRATIONS)
    databases = [Database(url), Database(url)]
    now = datetime.now(UTC)
    async with databases[0].transaction() as session:
        for i in range(LETTERS):
            created = now + timedelta(milliseconds=i)
            session.add(
                LetterRow(
                    id=uuid4(),
                    tenant="000328",
                    request_id=uuid4(),
                    correlation_id=uuid4(),
                    status=LetterStatus.QUEUED.value,
                    meter_number=f"1TST{i:010d}",
                    grants=[],
                    reference=f"R{i}",
                    created_at=created,
                    updated_at=created,
                )
            )
    renderers = [CountingRenderer(db) for db in databases]
    workers = [
        RenderWorker(db, renderer, batch_size=1, poll_interval=0.05)  # type: ignore[arg-type]
        for db, renderer in zip(databases, renderers, strict=True)
    ]
    try:
        for worker in workers:
            worker.start()

        async def all_rendered() -> bool:
            async with databases[0].transaction() as session:
                left = await session.exec(text("SELECT count(*) FROM letters WHERE pdf_sha256 IS NULL"))  # type: ignore[call-overload]
                return int(left.scalar_one()) == 0

        await eventually(all_rendered, timeout=60, what="every letter rendered")
    finally:
        for worker in workers:
            await worker.stop()
        for db in databases:
            await db.dispose()
    renders = renderers[0].renders + renderers[1].renders
    assert len(renders) == LETTERS
    assert max(renders.values()) == 1, f"rendered twice: {sum(1 for n in renders.values() if n > 1)} letters"
    assert renderers[0].renders and renderers[1].renders, "one worker rendered everything"
