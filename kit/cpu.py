"""CPU-bound work off the serving event loop: a pool of worker processes, and a per-key limit of concurrent jobs.

A request that costs more than a few milliseconds of CPU (a letter's PDF, a three-year export) would hold the
GIL and stall every other request, the consumers and the outbox relay of its process. It runs in a
:class:`ProcessPool` instead; the service reads what the job needs and passes plain data (tuples, lists,
bytes) — pickled both ways, so ORM objects and open connections stay home. A job whose input is itself large
(three years of arrays: decoding and pickling them is CPU of the loop too) reads it in the worker instead,
with a connection of the worker's own (:func:`read_in_worker`). :class:`Slots` refuses a job when its key
already holds as many as allowed, so one client cannot fill the pool for everyone.
"""

import asyncio
import contextlib
import ctypes
import multiprocessing
import os
import signal
from collections import Counter
from collections.abc import Awaitable, Callable, Hashable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, ParamSpec, TypeVar

from sqlmodel.ext.asyncio.session import AsyncSession

from kit.db import Database
from kit.logging import get_logger
from kit.uow import UnitOfWork, UnitsOfWork

log = get_logger(__name__)

_PR_SET_PDEATHSIG = 1
P = ParamSpec("P")
T = TypeVar("T")
S = TypeVar("S")


def _init_process(parent: int, nice: int) -> None:
    # Ctrl-C reaches the whole process group; the service shuts its pools down itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The pool's queues keep a pipe end open in each child, so a SIGKILLed service would leave its worker
    # processes waiting forever: ask Linux to end them with their parent.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(0)
    if nice:
        os.nice(nice)


def _ready() -> bool:
    return True


class ProcessPool:
    """``await pool.run(fn, *args)``: ``fn(*args)`` in a worker process (``fn`` a module-level function, its
    arguments and result picklable). Processes run ``nice`` steps lower, so the serving loop keeps its CPU; a
    pool whose process died is replaced on the next call (the call that noticed raises BrokenProcessPool)."""

    def __init__(self, name: str, processes: int, nice: int = 0) -> None:
        self.name = name
        self._processes = max(1, processes)
        self._nice = nice
        self._executor: ProcessPoolExecutor | None = None
        self._stopped = False

    def start(self) -> None:
        # spawn, not fork: this process runs threads (asyncio's, the database driver's) that fork must not copy.
        self._executor = ProcessPoolExecutor(
            self._processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_process,
            initargs=(os.getpid(), self._nice),
        )
        for _ in range(self._processes):  # start the processes now, not on the first job
            self._executor.submit(_ready)

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        if self._stopped:
            raise RuntimeError(f"process pool {self.name} is stopped")  # shutting down: start no new processes
        if self._executor is None:
            self.start()
        executor = self._executor
        assert executor is not None
        future = executor.submit(fn, *args, **kwargs)
        try:
            return await asyncio.wrap_future(future)
        except BrokenProcessPool:
            log.warning("process_pool_broken", pool=self.name)
            if self._executor is executor:  # the first caller to notice replaces it
                executor.shutdown(wait=False, cancel_futures=True)
                self.start()
            raise
        finally:
            future.cancel()  # a caller that gave up: drop the job if no process has taken it yet

    async def stop(self) -> None:
        self._stopped = True
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.to_thread(executor.shutdown, True, cancel_futures=True)


# A worker process's own event loop and units of work, made by its first read_in_worker and kept for the next.
_worker_loop: asyncio.AbstractEventLoop | None = None
_worker_units: dict[tuple[str, Any], UnitsOfWork[Any]] = {}


def read_in_worker(
    database_url: str, store: Callable[[AsyncSession], S], read: Callable[[UnitOfWork[S]], Awaitable[T]]
) -> T:
    """In a job of a :class:`ProcessPool`: ``await read(uow)`` in a read-only unit of work on the worker's own
    connection (one per worker process and database, kept between jobs)."""
    global _worker_loop
    if _worker_loop is None:
        _worker_loop = asyncio.new_event_loop()
    units = _worker_units.get((database_url, store))
    if units is None:
        units = _worker_units[(database_url, store)] = UnitsOfWork(Database(database_url, pool_size=1), store)

    async def in_transaction() -> T:
        async with units.read() as uow:
            return await read(uow)

    return _worker_loop.run_until_complete(in_transaction())


class NoSlot(Exception):
    """The key holds as many jobs as it may; the caller answers "try again later" (HTTP: 429)."""


class Slots:
    """At most ``limit`` jobs per key at once; one more is refused at once, not queued (a waiting request
    would hold its connection and its memory for as long as the jobs before it). One event loop, no lock:
    taking and giving back never await."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self._held: Counter[Hashable] = Counter()

    @contextlib.contextmanager
    def hold(self, key: Hashable) -> Iterator[None]:
        if self._held[key] >= self.limit:
            raise NoSlot(key)
        self._held[key] += 1
        try:
            yield
        finally:
            self._held[key] -= 1
            if not self._held[key]:
                del self._held[key]

    def held(self, key: Hashable) -> int:
        return self._held[key]
