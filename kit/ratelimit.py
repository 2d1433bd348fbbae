"""Rate limits that hold across the processes of a service (replicas): hits counted in the service's database.

``kit.http.RateLimit`` counts in memory unless it is given a ``SharedHits``: with two replicas behind the gateway a
memory count lets a client through twice as often — for onboarding's per-e-mail limit that is twice as many copy
e-mails to someone else's address. ``DatabaseHits`` keeps one counter per key and fixed window in the table
``rate_limit_hits`` (``kit.migrations.create_rate_limit_hits_table_v1``): one upsert per limited request, no
transaction around it; two limits of one request (onboarding's client, then e-mail) in one statement
(``hit_in_turn``). The key is stored as a SHA-256 digest (an e-mail address is personal data). A fixed window lets
up to twice the limit through across a window's edge; for a limit against abuse that is enough, and it costs one
row per key and window. Windows that ended a day ago are deleted now and then by the requests themselves.
"""

import hashlib
import random
import time
from typing import Protocol

from kit.db import Database

_PURGE_SHARE = 0.01  # of the hits that also delete windows ended more than a day ago (a cheap, indexed delete)

_UPSERT = (
    "INSERT INTO rate_limit_hits (key, window_start, hits) {values}"
    " ON CONFLICT (key, window_start) DO UPDATE SET hits = rate_limit_hits.hits + 1 RETURNING hits"
)
_HIT = _UPSERT.format(values="VALUES ($1, to_timestamp($2), 1)")
# Two limits of one request in one round trip: the second key is counted only when the first's hits ($5 the limit)
# let the request through.
_HIT_IN_TURN = (
    f"WITH first AS ({_HIT}),"
    f" second AS ({_UPSERT.format(values='SELECT $3, to_timestamp($4), 1 FROM first WHERE first.hits <= $5')})"
    " SELECT (SELECT hits FROM first), (SELECT hits FROM second)"
)
_PURGE = "DELETE FROM rate_limit_hits WHERE window_start < now() - interval '1 day'"


class SharedHits(Protocol):
    async def hit(self, key: str, window_seconds: int) -> tuple[int, float]:
        """Counts one hit of ``key``: the hits in its current window (this one included) and when it ends."""
        ...

    async def hit_in_turn(
        self, first: tuple[str, int, int], second: tuple[str, int]
    ) -> tuple[tuple[int, float], tuple[int, float] | None]:
        """``hit`` of the first (key, window_seconds, limit), then of the second (key, window_seconds) only when
        the first's hits are within its limit (None otherwise)."""
        ...


class DatabaseHits:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def hit(self, key: str, window_seconds: int) -> tuple[int, float]:
        start = _window_start(window_seconds)
        [row] = await self._db.fetch(_HIT, _digest(key), start)
        await self._purge_now_and_then()
        return int(row[0]), float(start + window_seconds)

    async def hit_in_turn(
        self, first: tuple[str, int, int], second: tuple[str, int]
    ) -> tuple[tuple[int, float], tuple[int, float] | None]:
        (first_key, first_window, limit), (second_key, second_window) = first, second
        first_start, second_start = _window_start(first_window), _window_start(second_window)
        [(first_hits, second_hits)] = await self._db.fetch(
            _HIT_IN_TURN, _digest(first_key), first_start, _digest(second_key), second_start, limit
        )
        await self._purge_now_and_then()
        counted = None if second_hits is None else (int(second_hits), float(second_start + second_window))
        return (int(first_hits), float(first_start + first_window)), counted

    async def _purge_now_and_then(self) -> None:
        if random.random() < _PURGE_SHARE:
            await self._db.fetch(_PURGE)


def _window_start(window_seconds: int) -> int:
    return int(time.time()) // window_seconds * window_seconds


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()
