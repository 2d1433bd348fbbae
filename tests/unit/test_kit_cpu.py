"""kit.cpu: CPU work in worker processes, and the per-key limit of concurrent jobs."""

import os
from concurrent.futures.process import BrokenProcessPool

import pytest

from kit.cpu import NoSlot, ProcessPool, Slots


def _pid_and_niceness() -> tuple[int, int]:
    return os.getpid(), os.nice(0)


def _die() -> None:
    os._exit(3)


def test_a_key_holds_at_most_its_limit_and_gets_its_slot_back_when_done() -> None:
    slots = Slots(1)
    with slots.hold(("000328", "a")):
        with pytest.raises(NoSlot), slots.hold(("000328", "a")):
            pass
        with slots.hold(("000328", "b")):  # another key has slots of its own
            assert slots.held(("000328", "b")) == 1
    with slots.hold(("000328", "a")):
        assert slots.held(("000328", "a")) == 1
    assert slots.held(("000328", "a")) == 0


def test_a_job_that_fails_gives_its_slot_back() -> None:
    slots = Slots(2)
    with pytest.raises(RuntimeError), slots.hold("000328"):
        raise RuntimeError("build failed")
    assert slots.held("000328") == 0


async def test_a_job_runs_in_another_process_niced() -> None:
    pool = ProcessPool("test", 1, nice=5)
    pool.start()
    try:
        pid, niceness = await pool.run(_pid_and_niceness)
    finally:
        await pool.stop()
    assert pid != os.getpid()
    assert niceness == os.nice(0) + 5


async def test_a_pool_whose_process_died_is_replaced_for_the_next_job() -> None:
    pool = ProcessPool("test", 1)
    try:
        with pytest.raises(BrokenProcessPool):
            await pool.run(_die)
        pid, _ = await pool.run(_pid_and_niceness)
    finally:
        await pool.stop()
    assert pid != os.getpid()


async def test_a_stopped_pool_takes_no_more_jobs() -> None:
    pool = ProcessPool("test", 1)
    pool.start()
    await pool.stop()
    with pytest.raises(RuntimeError):
        await pool.run(_pid_and_niceness)
