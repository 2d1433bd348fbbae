"""Rate limits that hold across the processes of a service (replicas): hits counted in the service's database.

``kit.http.RateLimit`` counts in memory unless it is given a ``SharedHits``: with two replicas behind the gateway
a memory count lets a client through twice as often — for onboarding's per-e-mail limit that is twice as many copy
e-mails to someone else's address. ``DatabaseHits`` keeps one counter per key and fixed window in the table
``rate_limit_hits`` (``kit.migrations.create_rate_limit_hits_table_v1``): one upsert per limited request, no
transaction around it. The key is stored as a SHA-256 digest (an e-mail address is personal data). A fixed window
lets up to twice the limit through across a window's edge; for a limit against abuse that is enough, and it costs
one row per key and window. Windows that ended a day ago are deleted now and then by the requests themselves.
"""

import hashlib
import random
import time
from typing import Protocol

from kit.db import Database

_PURGE_SHARE = 0.01  # of the hits that also delete windows ended more than a day ago (a cheap, indexed delete)

_HIT = (
    "INSERT INTO rate_limit_hits (key, window_start, hits) VALUES ($1, to_timestamp($2), 1)"
    " ON CONFLICT (key, window_start) DO UPDATE SET hits = rate_limit_hits.hits + 1 RETURNING hits"
)
_PURGE = "DELETE FROM rate_limit_hits WHERE window_start < now() - interval '1 day'"


class SharedHits(Protocol):
    async def hit(self, key: str, window_seconds: int) -> tuple[int, float]:
        """Counts one hit of ``key``: the hits in its current window (this one included) and when it ends."""
        ...


class DatabaseHits:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def hit(self, key: str, window_seconds: int) -> tuple[int, float]:
        start = int(time.time()) // window_seconds * window_seconds
        digest = hashlib.sha256(key.encode()).hexdigest()
        [row] = await self._db.fetch(_HIT, digest, start)
        if random.random() < _PURGE_SHARE:
            await self._db.fetch(_PURGE)
        return int(row[0]), float(start + window_seconds)
