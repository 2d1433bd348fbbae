"""Consuming events: decode, dead-letter what cannot be handled, de-duplicate, handle in one transaction.

A service registers one handler per event type it cares about; event types it does not know are
skipped (other consumers' events share the topic; newer producers may add types). An event type is taken
only from the topic that carries it (contracts.registry): the broker lets only a topic's owner write it, so
an event that turns up elsewhere — a signing key on the master-data topic — was not written by its owner and
goes to the dead-letter topic. Subscribers stay thin: they take the Kafka records — one or a batch, as
``records_of`` hands them over — to ``EventConsumer.handle``.

A batch is handled in one transaction (one commit, and FastStream commits the offsets once after it):
per-message transactions and offset commits capped the letters consumer at ~45 events/s on 2 cores.
If any event of a batch fails, that transaction rolls back and the batch is handled again one event
per transaction, so only the failing event is retried and dead-lettered. Records of one partition
keep their order either way.

An event is dead-lettered only for its own fault. When the database does not answer at all, the consumer
raises instead: FastStream does not commit the offsets and delivers the records again, so an outage delays
events but never sends them to the dead-letter topic.
"""

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from uuid import UUID

from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage, KafkaRouter
from pydantic import ValidationError
from sqlalchemy.exc import StatementError

from contracts.envelope import Envelope, EventPayload
from contracts.registry import EVENTS_BY_TOPIC
from kit import inbox, metrics
from kit.deadletter import dead_letter
from kit.kafka import record_header
from kit.logging import bind_correlation, get_logger
from kit.tenants import Tenant, TenantDirectory, UnknownTenant
from kit.tracing import TRACEPARENT, consume_span

if TYPE_CHECKING:
    from kit.db import Database
    from kit.uow import UnitsOfWork

log = get_logger(__name__)

P = TypeVar("P", bound=EventPayload)


Batch = Sequence[Any]  # Kafka ConsumerRecords


async def records_of(message: KafkaMessage) -> Batch:
    """Every subscriber's decoder: the Kafka records as they came (one, or a batch), handed to the handler as its
    body. FastStream's own decoder JSON-parsed every value for nothing (the consumers read them with the
    contracts), and a handler that asked for FastStream's ``message`` got it from the context in a worker
    thread: a thread hop per delivery (benchmarks/README.md, "Choices in the code")."""
    raw = message.raw_message
    return raw if isinstance(raw, tuple | list) else (raw,)  # a batch: a tuple (aiokafka), a list (TestKafkaBroker)


@dataclass(frozen=True)
class Delivered(Generic[P]):
    """An event as a handler receives it: the envelope's metadata, the typed payload and its tenant."""

    envelope: Envelope
    payload: P
    tenant: Tenant


class DatabaseUnavailable(Exception):
    """Raised to the subscriber so that the records are delivered again once the database is back."""


class RefusedEvent(Exception):
    """A handler's verdict that this event can never be handled (dead-lettered at once, no retries).

    Its message goes into the dead-letter headers: keep personal data out of it.
    """


# A handler gets the event and a unit of work bound to the consumer's transaction (kit.uow).
Handler = Callable[[Delivered[Any], Any], Awaitable[None]]


class EventConsumer:
    MAX_BATCH = 100  # records per batch

    def __init__(
        self,
        name: str,
        units: "UnitsOfWork[Any]",
        broker: KafkaBroker,
        tenants: TenantDirectory,
        *,
        attempts: int = 3,
        retry_delay: float = 0.5,
        carried_by: Mapping[str, tuple[type[EventPayload], ...]] = EVENTS_BY_TOPIC,
    ) -> None:
        self.name = name
        self._db = units.db
        self._units = units
        self._broker = broker
        self._tenants = tenants
        self._attempts = attempts
        self._retry_delay = retry_delay
        self._handlers: dict[str, tuple[type[EventPayload], Handler]] = {}
        self._carried = {topic: {event.EVENT_TYPE for event in events} for topic, events in carried_by.items()}

    def on(self, payload_type: type[P], handler: Callable[[Delivered[P], Any], Awaitable[None]]) -> None:
        """``handler`` handles every event of this type; one handler per type (a second one would silently replace
        the first: refused — write one handler that does both)."""
        if payload_type.EVENT_TYPE in self._handlers:
            raise ValueError(f"{self.name}: {payload_type.EVENT_TYPE} has a handler already")
        self._handlers[payload_type.EVENT_TYPE] = (payload_type, handler)

    def subscribe(self, router: KafkaRouter, *topics: str, group: str, description: str) -> None:
        """The service's event subscriber on ``router``: one consumer group over ``topics``, from the start,
        in batches, offsets committed only after handling (NACK on error: the records come again)."""

        @router.subscriber(
            *topics,
            group_id=group,
            auto_offset_reset="earliest",
            batch=True,
            max_records=self.MAX_BATCH,
            decoder=records_of,
            ack_policy=AckPolicy.NACK_ON_ERROR,
            title=group,
            description=description,
        )
        async def on_event(records: Any) -> None:  # Batch: Any, so FastStream checks nothing of it
            await self.handle(records)

    async def handle(self, records: Batch) -> None:
        """Handle the records of one delivery (one, or a ``batch=True`` subscriber's batch)."""
        work: list[_Work] = []
        for record in records:
            decoded = await self._decode(record)
            if decoded is not None:
                work.append(decoded)
        if len(work) == 1:
            await self._handle_one(work[0])
        elif work and not await self._handle_together(work):
            for item in work:
                await self._handle_one(item)

    async def _decode(self, record: Any) -> "_Work | None":
        """The event with its handler; None when it is not ours or was dead-lettered as malformed."""
        try:
            envelope = Envelope.model_validate_json(record.value)
            tenant = self._tenants.get(envelope.tenant)
        except (ValidationError, UnknownTenant) as error:
            await self._dead_letter(record, f"envelope: {_describe(error)}")
            return None
        registered = self._handlers.get(envelope.event_type)
        if registered is None:
            return None
        if envelope.event_type not in self._carried.get(record.topic, ()):
            await self._dead_letter(record, f"{envelope.event_type}: event type not carried by this topic")
            return None
        payload_type, handler = registered
        try:
            payload = payload_type.model_validate(envelope.payload)
        except ValidationError as error:
            await self._dead_letter(record, f"{envelope.event_type} payload: {_describe(error)}")
            return None
        return _Work(record, Delivered(envelope, payload, tenant), handler)

    async def _handle_together(self, work: list["_Work"]) -> bool:
        """All events in one transaction; False (and nothing stored) if any of them failed."""
        try:
            async with self._units.transaction() as session:
                # The inbox in one statement for the batch, not one per event: each is a round trip.
                fresh = await inbox.first_deliveries(session, self.name, [item.event_id for item in work])
                for item in work:
                    if item.event_id not in fresh:
                        continue  # handled before, or earlier in this batch (the producer's relay sent it twice)
                    fresh.discard(item.event_id)
                    with _bound(self.name, item):
                        await item.handler(item.delivered, self._units.bind(session))
                        # A line in the event's trace; the batch's commit (or rollback) is logged after.
                        log.info("event_handled_in_batch", consumer=self.name)
        except Exception as error:
            log.warning("event_batch_failed", consumer=self.name, events=len(work), error=type(error).__name__)
            return False
        metrics.records_handled(self.name, (item.record for item in work))
        log.info("events_handled", consumer=self.name, events=len(work))
        return True

    async def _handle_one(self, item: "_Work") -> None:
        with _bound(self.name, item):
            await self._handle_with_retries(item.record, item.delivered, item.handler)

    async def _handle_with_retries(self, record: Any, delivered: Delivered[Any], handler: Handler) -> None:
        async def once(_: Batch) -> None:
            try:
                async with self._units.transaction() as session:
                    if not await inbox.first_delivery(session, self.name, delivered.envelope.event_id):
                        log.info("event_already_handled", event_id=str(delivered.envelope.event_id))
                        return
                    await handler(delivered, self._units.bind(session))
            except RefusedEvent as refusal:  # the handler's verdict: dead-lettered at once, no retries
                await self._dead_letter(record, f"handler {self.name} refused: {refusal}")
                return
            log.info("event_handled", consumer=self.name)

        await without_poison(
            self.name,
            (record,),
            once,
            db=self._db,
            broker=self._broker,
            attempts=self._attempts,
            retry_delay=self._retry_delay,
        )

    async def replay(self, record: Any) -> None:
        """Handle one record again, as its delivery was handled (kit.deadletter: a replayed dead letter)."""
        work = await self._decode(record)
        if work is not None:
            await self._handle_one(work)

    async def _dead_letter(self, record: Any, reason: str) -> None:
        await dead_letter(self._broker, record, reason, self.name, db=self._db)


@dataclass(frozen=True)
class _Work:
    record: Any  # the Kafka ConsumerRecord, for dead-lettering
    delivered: Delivered[Any]
    handler: Handler

    @property
    def event_id(self) -> UUID:
        return self.delivered.envelope.event_id


@contextmanager
def _bound(consumer: str, item: _Work) -> Iterator[None]:
    """The event's handling: in its trace (a span whose parent is the record's traceparent) and with its
    correlation id on the log lines."""
    envelope = item.delivered.envelope
    attributes = {
        "plusportal.consumer": consumer,
        "plusportal.event_type": envelope.event_type,
        "plusportal.tenant": envelope.tenant,
    }
    with (
        consume_span(f"{consumer} handle {envelope.event_type}", record_header(item.record, TRACEPARENT), attributes),
        bind_correlation(envelope.correlation_id, tenant=envelope.tenant, event_type=envelope.event_type),
    ):
        yield


def _describe(error: Exception) -> str:
    if isinstance(error, ValidationError):
        # Field locations and messages only: the input values may hold personal data.
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in error.errors())[:1500]
    return f"unknown tenant {error}"


# --- the one mechanism: no record stops a partition (EventConsumer's events, and consumers of their own) -------


async def without_poison(
    name: str,
    records: Batch,
    handle: Callable[[Batch], Awaitable[None]],
    *,
    db: "Database",
    broker: KafkaBroker,
    attempts: int = 3,
    retry_delay: float = 0.5,
) -> None:
    """``handle`` the records together; if it raises anything, each record on its own, up to ``attempts`` times,
    and a record that still fails goes to the dead-letter topic with the error's class and message — the
    consumer commits past it and the next record is handled. Only an unreachable database stops (the records
    come again, DatabaseUnavailable), as in EventConsumer.

    EventConsumer handles each event of a failed batch through it; consumers that handle records without
    EventConsumer (meter data's readings, MSCONS) call it themselves: whatever ``handle`` raises for one record —
    an OverflowError, a database range error — can never hold back the records after it.
    """
    if len(records) > 1:
        try:
            await handle(records)
            metrics.records_handled(name, records)
            return
        except Exception as error:
            log.warning("record_batch_failed", consumer=name, records=len(records), error=type(error).__name__)
    for record in records:
        for attempt in range(1, attempts + 1):
            try:
                await handle((record,))
                metrics.records_handled(name, (record,))
                break
            except Exception as error:
                if attempt == attempts:
                    await _give_up(name, record, error, attempt, db, broker)
                else:
                    await asyncio.sleep(retry_delay * attempt)


async def _give_up(
    name: str, record: Any, error: Exception, attempts: int, db: "Database", broker: KafkaBroker
) -> None:
    if not await db.reachable():
        log.warning("record_kept_database_unavailable", consumer=name)
        raise DatabaseUnavailable(name) from None
    log.error("record_handling_failed", consumer=name, error=type(error).__name__)
    await dead_letter(broker, record, f"{name} failed {attempts} times: {failure(error)}", name, db=db)


def failure(error: Exception) -> str:
    """The error's class and the first line of its message. A database error's message is the driver's own (its
    statement and parameters, which may hold personal data, are left out)."""
    cause = error.orig if isinstance(error, StatementError) and error.orig is not None else error
    first_line = (str(cause).splitlines() or [""])[0][:200]
    return f"{type(cause).__name__}: {first_line}" if first_line else type(cause).__name__
