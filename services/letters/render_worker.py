"""Rendering letters after their dispatch job went out: worker processes, one stored result, a background loop.

The dispatch job carries the PDF by reference, so nothing on the way from a matched request to the letter
queue waits for fpdf2 (CPU-bound, holding the GIL; its cost per letter is in benchmarks/README.md). Letters
are rendered right after, by
:class:`RenderWorker`, or when the print house fetches a PDF that is not there yet (api.build_print_api).
The worker renders what the domain says a letter says (``domain.letter_content``); it runs no use case.

Rendering runs in processes of its own (kit.cpu.ProcessPool): in this process it would hold the GIL and stall
the consumer, the outbox relay and the HTTP API. Background renders run niced, so under load they take only the CPU the
critical path leaves; a fetch waiting for its PDF renders at normal priority.

Two renders of one letter may race (the worker and a fetch, two fetches, two replicas' fetches). The render itself
holds no row lock — a status report must never wait behind fpdf2 — but the result is stored only if the row has
no PDF yet (``LetterStore.keep_pdf``: ``SELECT … FOR UPDATE``), and every caller gets the stored bytes: one
letter, one PDF. The render workers of several replicas do not race each other: each takes only letters whose
advisory render lock it holds (``LetterStore.claim_render``).
"""

import asyncio
import hashlib
from uuid import UUID

from kit.cpu import ProcessPool
from kit.db import Database
from kit.logging import get_logger
from kit.tenants import TenantDirectory
from kit.uow import Clock
from kit.worker import PollingWorker
from services.letters.domain import LetterStatus, letter_content, needs_render
from services.letters.letter_pdf import render_letter
from services.letters.settings import LettersSettings
from services.letters.store import LetterStore

log = get_logger(__name__)
CANDIDATES = 4  # letters looked at per letter a batch renders: those another replica's worker holds are skipped


class Renderer:
    """Renders a letter whose job is out and stores the PDF once; concurrent callers share one render."""

    def __init__(self, db: Database, tenants: TenantDirectory, settings: LettersSettings, clock: Clock) -> None:
        self._db = db
        self._tenants = tenants
        self._clock = clock
        self._code_key = settings.code_key
        self._background = ProcessPool("render-background", settings.render_processes, settings.render_nice)
        self._on_demand = ProcessPool("render-on-demand", 1)
        self._inflight: dict[tuple[UUID, bool], asyncio.Task[bytes | None]] = {}

    def start(self) -> None:
        self._background.start()
        self._on_demand.start()

    async def stop(self) -> None:
        await self._background.stop()
        await self._on_demand.stop()

    async def pdf_for_fetch(self, tenant: str, letter_id: UUID) -> tuple[bytes | None, LetterStatus | None]:
        """The PDF (rendered now if its job is out and it has none yet) and the letter's status; (None, None)
        when this tenant has no such letter. Reads without a lock: a fetch never waits behind a status report."""
        async with self._db.transaction() as session:
            stored = await LetterStore(session).stored_pdf(tenant, letter_id)
        if stored is None:
            return None, None
        if stored.pdf is None and needs_render(stored.status, stored.pdf_sha256):
            return await self.stored_pdf(tenant, letter_id, urgent=True), stored.status
        return stored.pdf, stored.status

    async def stored_pdf(self, tenant: str, letter_id: UUID, *, urgent: bool) -> bytes | None:
        """The letter's PDF, rendered and stored now if it has none yet; None if it has none and gets none
        (no such letter, no job yet, or handed to the carrier and deleted).

        ``urgent``: someone waits (a fetch), so render at normal priority instead of joining the niced queue.
        """
        key = (letter_id, urgent)
        # A background caller joins any render of the letter under way; a fetch joins only an urgent one.
        task = self._inflight.get(key) or (None if urgent else self._inflight.get((letter_id, True)))
        if task is None:
            task = asyncio.create_task(self._render_and_store(tenant, letter_id, urgent))
            self._inflight[key] = task
            task.add_done_callback(lambda done: self._forget(key, done))
        # Shielded: a fetch that gives up does not throw away a render that others wait for or that is stored.
        return await asyncio.shield(task)

    def _forget(self, key: tuple[UUID, bool], task: asyncio.Task[bytes | None]) -> None:
        self._inflight.pop(key, None)
        if not task.cancelled():
            task.exception()  # retrieved here, so an error nobody waited for is not reported a second time

    async def _render_and_store(self, tenant: str, letter_id: UUID, urgent: bool) -> bytes | None:
        async with self._db.transaction() as session:
            store = LetterStore(session)
            stored = await store.stored_pdf(tenant, letter_id)
            if stored is None:
                return None
            if stored.pdf is not None:
                return stored.pdf
            if not needs_render(stored.status, stored.pdf_sha256):
                return None
            letter = await store.letter(tenant, letter_id)
        if letter is None:
            return None
        content = letter_content(letter, self._tenants.get(letter.tenant), self._code_key)
        pdf = await (self._on_demand if urgent else self._background).run(render_letter, content)
        async with self._db.transaction() as session:
            kept = await LetterStore(session).keep_pdf(
                tenant, letter_id, pdf, hashlib.sha256(pdf).hexdigest(), self._clock()
            )
        if kept is pdf:
            log.info("letter_rendered", job_id=str(letter_id), urgent=urgent)
        return kept


class RenderWorker(PollingWorker):
    """Renders the letters whose job is out and whose PDF is missing, oldest first; woken after each commit."""

    name = "render-worker"

    def __init__(self, db: Database, renderer: Renderer, *, batch_size: int = 1, **kwargs: float) -> None:
        super().__init__(**kwargs)
        self._db = db
        self._renderer = renderer
        self._batch_size = max(1, batch_size)

    async def run_once(self) -> int:
        # Replicas share the letters: each worker renders only letters whose render lock it holds, in a transaction
        # kept open while they render (the renders store in transactions of their own). Without the lock the
        # workers of two replicas took the same oldest letters and rendered each twice (one PDF kept, CPU wasted).
        async with self._db.transaction() as session:
            store = LetterStore(session)
            due = []
            for tenant, letter_id in await store.to_render(self._batch_size * CANDIDATES):
                if await store.claim_render(letter_id):
                    due.append((tenant, letter_id))
                    if len(due) == self._batch_size:
                        break
            if not due:
                return 0  # nothing, or all under way in another replica (which goes on while there are more)
            return await self._render(due)

    async def _render(self, due: list[tuple[str, UUID]]) -> int:
        results = await asyncio.gather(
            *(self._renderer.stored_pdf(tenant, letter_id, urgent=False) for tenant, letter_id in due),
            return_exceptions=True,
        )
        errors = [result for result in results if isinstance(result, BaseException)]
        if len(errors) == len(results):
            raise errors[0]  # nothing went: let the loop back off instead of spinning on the same letters
        for error in errors:
            log.warning("letter_render_failed", error=type(error).__name__)
        return len(due)
