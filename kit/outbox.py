"""Transactional outbox: events are stored with the state change and published after commit.

``event_row`` makes an event's row; the unit of work writes it in the caller's transaction (``insert_events``).
``OutboxRelay`` publishes unpublished rows in insertion order and marks them; if the process dies between Kafka's
ack and the mark, the event goes out again and the consumers' inbox drops the duplicate (at-least-once +
idempotent readers).

Several processes of a service (replicas) share one database and so one outbox. A relay publishes a batch only
while it holds the database's relay lock (a transaction-level advisory lock, tried, never waited for): one relay
at a time, so the rows go out in insertion order — two relays with batches of their own would publish them side
by side, and a key's later event could reach Kafka before its earlier one. The batch's rows are also locked
(``FOR UPDATE SKIP LOCKED``) and marked in the same transaction, so a row is never published twice by two relays
either; only a crash between Kafka's ack and the commit sends one again, which the inbox drops. A relay woken by
its own process's commit that finds the lock taken tries again as soon as the holder's batch is through: the holder
looks again only after a full batch or when its own process woke it, so it may not see those rows.
Each row keeps the trace context it was written in (kit.tracing): the relay publishes it in that trace.
"""

import asyncio
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from faststream.kafka import KafkaBroker, KafkaRouter
from sqlalchemy import BigInteger, Column, DateTime, Identity, LargeBinary
from sqlmodel import Field, SQLModel, col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from contracts.envelope import HEADER_CORRELATION_ID, HEADER_EVENT_TYPE, HEADER_TENANT, EventPayload
from contracts.topics import TopicSpec
from kit.db import Database, insert_rows
from kit.events import encode, envelope_for
from kit.tracing import TRACEPARENT, continued, current_traceparent
from kit.worker import PollingWorker


class OutboxMessage(SQLModel, table=True):
    __tablename__ = "outbox"

    seq: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    event_id: UUID = Field(unique=True)
    topic: str
    message_key: str
    event_type: str
    tenant: str
    correlation_id: UUID
    body: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    published_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    traceparent: str | None = None  # W3C, of the span the row was written in (None: tracing was off)


def event_row(
    topic: TopicSpec,
    key: str,
    payload: EventPayload,
    *,
    tenant: str,
    correlation_id: UUID,
    causation_id: UUID | None = None,
) -> dict[str, Any]:
    """The outbox row of an event, as column values (no ``seq``: the database numbers the rows as they come)."""
    envelope = envelope_for(payload, tenant=tenant, correlation_id=correlation_id, causation_id=causation_id)
    return {
        "event_id": envelope.event_id,
        "topic": topic.name,
        "message_key": key,
        "event_type": envelope.event_type,
        "tenant": tenant,
        "correlation_id": correlation_id,
        "body": encode(envelope),
        "created_at": envelope.occurred_at,
        "traceparent": current_traceparent(),
    }


_ROW_COLUMNS = ("event_id", "topic", "message_key", "event_type", "tenant", "correlation_id", "body", "created_at",
                "traceparent")  # fmt: skip


async def insert_events(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Rows of ``event_row`` in one statement on the driver's connection, an executemany (one prepared
    statement, sent in one round trip); their ``seq`` follows the order given."""
    await insert_rows(session, "outbox", _ROW_COLUMNS, rows)


async def backlog(session: AsyncSession) -> tuple[int, float]:
    """How many events wait to be published, and the age in seconds of the oldest (0 when none): for the metrics.
    Reads the partial index of unpublished rows, takes no row locks."""
    waiting = select(func.count(), func.min(col(OutboxMessage.created_at))).where(
        col(OutboxMessage.published_at).is_(None)
    )
    count, oldest = (await session.exec(waiting)).one()
    return int(count), (datetime.now(UTC) - oldest).total_seconds() if oldest is not None else 0.0


def document_publishers(router: KafkaRouter, *published: tuple[TopicSpec, type[EventPayload]]) -> None:
    """Name in the AsyncAPI document each (topic, event) a service publishes; the relay sends them."""
    for spec, event in published:
        router.publisher(
            spec.name, schema=event, title=f"{spec.name}:{event.EVENT_TYPE}", description=event.__doc__ or ""
        )


# pg_try_advisory_xact_lock's key: one per database (each service has its own), whatever the replicas.
RELAY_LOCK = "plusportal outbox relay"


# A batch of unpublished rows, in order. The relay lock is tried once before any row is read (an uncorrelated
# subquery: PostgreSQL's InitPlan), in the same statement. Not held: another replica's relay is publishing — it
# keeps the order, and it goes on while there are rows — and this one finds none. SKIP LOCKED: a row is never
# taken by two relays at once, even without the lock.
_TAKE_BATCH = (
    "SELECT seq, topic, message_key, event_type, tenant, correlation_id, body, traceparent FROM outbox"
    " WHERE (SELECT pg_try_advisory_xact_lock(hashtext($1))) AND published_at IS NULL"
    " ORDER BY seq LIMIT $2 FOR UPDATE SKIP LOCKED"
)
_MARK_PUBLISHED = "UPDATE outbox SET published_at = $2 WHERE seq = ANY($1::bigint[])"
_TRY_LOCK = "SELECT pg_try_advisory_xact_lock(hashtext($1))"  # true also when this transaction holds it already
LOCK_RETRY_S = 0.01


class OutboxRelay(PollingWorker):
    name = "outbox-relay"

    def __init__(self, db: Database, broker: KafkaBroker, *, batch_size: int = 200, **kwargs: float) -> None:
        super().__init__(**kwargs)
        self._db = db
        self._broker = broker
        self.batch_limit = batch_size

    async def run_once(self) -> int:
        while True:
            async with self._db.driver_transaction() as connection:
                rows = await connection.fetch(_TAKE_BATCH, RELAY_LOCK, self.batch_limit)
                if rows:
                    futures = [await self._publish(row) for row in rows]
                    for future in futures:
                        await future  # raises if Kafka did not take it: the transaction rolls back, rows stay
                    await connection.execute(_MARK_PUBLISHED, [row["seq"] for row in rows], datetime.now(UTC))
                    return len(rows)
                if await connection.fetchval(_TRY_LOCK, RELAY_LOCK):
                    return 0  # nothing to publish
            # Another replica's relay holds the lock: rows this process committed meanwhile may not be in its batch
            # (and it ends after a smaller one), so this relay tries again as soon as that batch is through.
            await asyncio.sleep(LOCK_RETRY_S)

    async def _publish(self, row: Mapping[str, Any]) -> Any:
        headers = {
            HEADER_EVENT_TYPE: row["event_type"],
            HEADER_TENANT: row["tenant"],
            HEADER_CORRELATION_ID: str(row["correlation_id"]),
        }
        traceparent = row["traceparent"]
        if traceparent:
            headers[TRACEPARENT] = traceparent  # with tracing on, the middleware puts its publish span's here
        with continued(traceparent):
            return await self._broker.publish(
                row["body"], row["topic"], key=row["message_key"].encode(), headers=headers, no_confirm=True
            )
