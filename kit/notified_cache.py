"""Answers kept in memory until PostgreSQL says the rows they were built from changed.

A hot read (a customer's month totals) costs a round trip to PostgreSQL even when nothing changed since the last
time. Triggers on the tables it reads send ``NOTIFY <channel>, '<tenant> <scope> <scope> …'`` (or ``'<tenant> *'``:
anything of the tenant) in the writing transaction, so the notice arrives only once the change is committed,
in every process that listens. An entry names the scopes it depends on (meter numbers, say) and is dropped by a
notice for one of them.

What keeps it honest:
- nothing is kept or served while the listening connection is down (and everything is dropped when it goes);
- an answer read while a notice arrived is not kept (``generation``): it may have been read before the commit;
- a notice reaches a listener only after the commit, so an answer can be older than the database for that
  moment (milliseconds), never for longer.
"""

import asyncio
from collections import OrderedDict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

import asyncpg

from kit.logging import get_logger

log = get_logger(__name__)

Key = TypeVar("Key", bound=Hashable)
Value = TypeVar("Value")

ANYTHING = "*"  # the scope of a notice that drops every entry of its tenant


@dataclass(frozen=True)
class _Entry(Generic[Value]):
    value: Value
    tenant: str
    scopes: frozenset[str]


class NotifiedCache(Generic[Key, Value]):
    def __init__(
        self,
        dsn: str,
        channel: str,
        *,
        max_entries: int = 20_000,
        retry_seconds: float = 2.0,
        ping_seconds: float = 10.0,
    ) -> None:
        self._dsn, self._channel = dsn, channel
        self._max_entries, self._retry_seconds, self._ping_seconds = max_entries, retry_seconds, ping_seconds
        self._entries: OrderedDict[Key, _Entry[Value]] = OrderedDict()  # least recently used first
        self._by_scope: dict[tuple[str, str], set[Key]] = {}
        self._by_tenant: dict[str, set[Key]] = {}
        self._listening = False
        self._task: asyncio.Task[None] | None = None
        self.generation = 0  # counts notices and losses of the connection

    # --- use ------------------------------------------------------------------------------------------------

    def get(self, key: Key) -> Value | None:
        entry = self._entries.get(key)
        if entry is None or not self._listening:
            return None
        self._entries.move_to_end(key)
        return entry.value

    def put(self, key: Key, value: Value, tenant: str, scopes: Iterable[str], generation: int) -> None:
        """Keep ``value``, read when ``generation`` was current, unless a notice came since (or nobody listens)."""
        if generation != self.generation or not self._listening:
            return
        self._drop(key)
        entry = _Entry(value, tenant, frozenset(scopes))
        self._entries[key] = entry
        self._by_tenant.setdefault(tenant, set()).add(key)
        for scope in entry.scopes:
            self._by_scope.setdefault((tenant, scope), set()).add(key)
        while len(self._entries) > self._max_entries:
            self._drop(next(iter(self._entries)))

    @property
    def listening(self) -> bool:
        return self._listening

    def __len__(self) -> int:
        return len(self._entries)

    # --- notices ----------------------------------------------------------------------------------------------

    def changed(self, notice: str) -> None:
        """A notice's payload: ``'<tenant> <scope> …'`` drops the entries of those scopes, ``'<tenant> *'`` all of
        the tenant's, ``'* *'`` all."""
        self.generation += 1
        tenant, *scopes = notice.split(" ")
        if tenant == ANYTHING:
            self._forget_everything(still_listening=True)
            return
        if ANYTHING in scopes:
            doomed = set(self._by_tenant.get(tenant, ()))
        else:
            doomed = {key for scope in scopes for key in self._by_scope.get((tenant, scope), ())}
        for key in doomed:
            self._drop(key)

    def _forget_everything(self, *, still_listening: bool = False) -> None:
        self.generation += 1
        self._listening = self._listening and still_listening
        self._entries.clear()
        self._by_scope.clear()
        self._by_tenant.clear()

    def _drop(self, key: Key) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        self._by_tenant[entry.tenant].discard(key)
        for scope in entry.scopes:
            keys = self._by_scope[(entry.tenant, scope)]
            keys.discard(key)
            if not keys:
                del self._by_scope[(entry.tenant, scope)]

    # --- the listening connection -------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name=f"listen-{self._channel}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        self._forget_everything()

    async def _listen(self) -> None:
        while True:
            try:
                await self._listen_on_one_connection()
                log.warning("notified_cache_connection_lost", channel=self._channel)
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                log.warning("notified_cache_cannot_listen", channel=self._channel, error=str(error))
            finally:
                self._forget_everything()
            await asyncio.sleep(self._retry_seconds)

    async def _listen_on_one_connection(self) -> None:
        lost = asyncio.Event()
        connection = await asyncpg.connect(self._dsn)
        try:
            connection.add_termination_listener(lambda _: lost.set())
            await connection.add_listener(self._channel, lambda _c, _pid, _ch, payload: self.changed(payload))
            self._forget_everything()  # whatever was kept before may have missed notices
            self._listening = True
            while not lost.is_set():  # a connection that died silently is found by the next ping
                try:
                    await asyncio.wait_for(lost.wait(), self._ping_seconds)
                except TimeoutError:
                    await asyncio.wait_for(connection.fetchval("SELECT 1"), self._ping_seconds)
        finally:
            self._listening = False
            if not connection.is_closed():
                connection.terminate()
