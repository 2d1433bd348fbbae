"""A background loop that does a batch of work, then sleeps until woken or until the poll interval ends.

The relays (outbox → Kafka, mail → SMTP) are such loops. Code that just committed work wakes them so
nothing waits a whole interval; the interval catches what other processes or restarts left behind.
"""

import asyncio
import contextlib
from abc import ABC, abstractmethod

from kit.logging import get_logger

log = get_logger(__name__)


class PollingWorker(ABC):
    name = "worker"
    # The most items a batch takes. Given, a smaller batch is the end of the work unless the worker was woken while
    # it ran (no look that finds nothing: the relays' share of every form); None: a batch with any items means
    # there may be more.
    batch_limit: int | None = None

    def __init__(self, *, poll_interval: float = 1.0, error_backoff: float = 1.0) -> None:
        self._poll_interval = poll_interval
        self._error_backoff = error_backoff
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @abstractmethod
    async def run_once(self) -> int:
        """Do one batch; return how many items were handled (0 = nothing to do)."""

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _loop(self) -> None:
        backoff = self._error_backoff
        while True:
            self._wake.clear()
            try:
                handled = await self.run_once()
                backoff = self._error_backoff
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("worker_batch_failed", worker=self.name, error=type(error).__name__, retry_in_s=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            if handled and (self.batch_limit is None or handled >= self.batch_limit or self._wake.is_set()):
                continue  # there may be more
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll_interval)
