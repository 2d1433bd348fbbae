"""kit.worker.PollingWorker: when a batch is followed by another look at once, and when the worker waits."""

import asyncio

from kit.worker import PollingWorker


class Batches(PollingWorker):
    """Hands out the sizes it was given, one per batch, then 0; can wake itself during a batch."""

    def __init__(self, sizes: list[int], *, batch_limit: int | None, wake_during: int | None = None) -> None:
        super().__init__(poll_interval=60)  # no poll during the test: only wake-ups and "there may be more"
        self.batch_limit = batch_limit
        self._sizes = sizes
        self._wake_during = wake_during
        self.runs = 0

    async def run_once(self) -> int:
        self.runs += 1
        if self.runs == self._wake_during:
            self.wake()  # a commit in this process while the batch ran
        return self._sizes.pop(0) if self._sizes else 0


async def runs_after_start(worker: Batches) -> int:
    worker.start()
    await asyncio.sleep(0.05)
    await worker.stop()
    return worker.runs


async def test_without_a_batch_limit_every_batch_with_items_is_followed_by_another_look() -> None:
    assert await runs_after_start(Batches([3], batch_limit=None)) == 2  # the batch, then a look finding nothing


async def test_a_smaller_batch_than_the_limit_ends_the_round_without_a_look_that_finds_nothing() -> None:
    assert await runs_after_start(Batches([3], batch_limit=10)) == 1


async def test_a_full_batch_or_a_wake_during_the_batch_means_another_look() -> None:
    assert await runs_after_start(Batches([10, 3], batch_limit=10)) == 2
    assert await runs_after_start(Batches([3, 2], batch_limit=10, wake_during=1)) == 2
