"""Prometheus metrics of a service process: the definitions (once, here), the HTTP middleware, the scrape.

Every metric carries the label ``service`` (one service per process: ``identify_process``). Label values are
bounded and hold no personal data: a request is counted by its route's path template
(``/partners/{partner_number}/days``), never by the path it was called with; events by topic and consumer group.

Counters and the latency histogram are updated where the work happens (this middleware, kit.consumer,
kit.deadletter). The backlogs — outbox, mail relay, letters waiting for rendering — and the consumer lag are
read when Prometheus scrapes ``GET /metrics``: database values in one READ ONLY transaction (plain SELECTs:
no row locks) with short statement and lock timeouts, the lag from the service's own Kafka consumers (their last
fetch's highwater, the group's committed offsets), both under ``SCRAPE_TIMEOUT``. A source that does not answer
in time keeps its previous values and reports ``plusportal_metrics_source_up{source=…} 0``: a slow broker or
database never holds a scrape for long.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, generate_latest
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kit.db import Database
from kit.logging import get_logger

log = get_logger(__name__)

SCRAPE_TIMEOUT = 2.0  # seconds a source may take per scrape (Prometheus' own default timeout is 10 s)
UNMATCHED = "unmatched"  # the route label of a request no route took (a 404 of the router)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

HTTP_REQUESTS = Counter(
    "plusportal_http_requests",
    "HTTP requests answered, by route template and status",
    ["service", "method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "plusportal_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer, by route template",
    ["service", "method", "route"],
)
EVENTS_HANDLED = Counter(
    "plusportal_events_handled",
    "Kafka records a consumer group handled without error, by topic (duplicates and refused records included)",
    ["service", "group", "topic"],
)
EVENTS_DEAD_LETTERED = Counter(
    "plusportal_events_dead_lettered",
    "Kafka records a consumer group put on the dead-letter topic, by the topic they came from",
    ["service", "group", "topic"],
)
OUTBOX_BACKLOG = Gauge("plusportal_outbox_backlog", "Events in the outbox not yet published to Kafka", ["service"])
OUTBOX_OLDEST_AGE = Gauge(
    "plusportal_outbox_oldest_age_seconds", "Age of the oldest event not yet published (0 without any)", ["service"]
)
MAIL_BACKLOG = Gauge(
    "plusportal_mail_backlog", "E-mails waiting to be sent by the mail relay (retries included)", ["service"]
)
LETTERS_WAITING_FOR_RENDERING = Gauge(
    "plusportal_letters_waiting_for_rendering", "Letters whose dispatch job is out and whose PDF is not", ["service"]
)
CONSUMER_LAG = Gauge(
    "plusportal_consumer_lag",
    "Records of a partition not yet committed by the consumer group (log end offset - committed offset)",
    ["service", "group", "topic", "partition"],
)
SOURCE_UP = Gauge(
    "plusportal_metrics_source_up",
    "Whether the last scrape could read a source of the gauges (database, kafka): 1 yes, 0 no",
    ["service", "source"],
)

_service = "unknown"


def identify_process(service: str) -> None:
    """Name the service this process runs: the ``service`` label of everything it counts."""
    global _service
    _service = service


def records_handled(group: str, records: Iterable[Any]) -> None:
    """``records``: aiokafka ConsumerRecords that ``group`` is done with."""
    for record in records:
        EVENTS_HANDLED.labels(_service, group, record.topic).inc()


def record_dead_lettered(group: str, topic: str) -> None:
    EVENTS_DEAD_LETTERED.labels(_service, group, topic).inc()


# --- HTTP ----------------------------------------------------------------------------------------------------


class HttpMetrics:
    """ASGI middleware: counts each request by method, route template and status, and times it.

    The route is known only after routing (the router puts it into the scope), so it is read when the answer is
    done; a request no route took is ``unmatched``.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers if the app raises before it starts its answer

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            method = scope["method"] if scope["method"] in _METHODS else "other"
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            HTTP_REQUESTS.labels(_service, method, route, str(status)).inc()
            HTTP_DURATION.labels(_service, method, route).observe(time.perf_counter() - started)


# --- at scrape time ------------------------------------------------------------------------------------------

# A reader gets the scrape's read-only session and returns one value per gauge it was registered with.
Reader = Callable[[AsyncSession], Awaitable[Sequence[float]]]


class ServiceMetrics:
    """The service's gauges read at scrape time, and the text Prometheus scrapes."""

    def __init__(self, service: str, db: Database, broker: Any) -> None:
        identify_process(service)
        self.service = service
        self._db = db
        self._broker = broker  # a FastStream KafkaBroker: its subscribers' consumers know their partitions
        self._readers: list[tuple[Reader, tuple[Gauge, ...]]] = []
        self._log_starts: dict[tuple[str, Any], int] = {}  # (group, TopicPartition) → log start offset, asked once

    def watch(self, read: Reader, *gauges: Gauge) -> None:
        """Set ``gauges`` (labelled with the service) to what ``read`` finds in the database at each scrape."""
        self._readers.append((read, gauges))

    async def exposition(self) -> bytes:
        """The Prometheus text format of every metric of this process, gauges read just now."""
        await asyncio.gather(self._refresh("database", self._read_database), self._refresh("kafka", self._read_lag))
        return generate_latest(REGISTRY)

    async def _refresh(self, source: str, read: Callable[[], Awaitable[None]]) -> None:
        try:
            async with asyncio.timeout(SCRAPE_TIMEOUT):
                await read()
        except Exception as error:
            SOURCE_UP.labels(self.service, source).set(0)
            log.warning("metrics_source_unavailable", source=source, error=type(error).__name__)
            return
        SOURCE_UP.labels(self.service, source).set(1)

    async def _read_database(self) -> None:
        if not self._readers:
            return
        async with self._db.transaction(read_only=True) as session:
            # Never wait behind a migration's table lock, never run long: the next scrape comes soon.
            connection = await session.connection()
            await connection.exec_driver_sql("SET LOCAL statement_timeout = 1000")
            await connection.exec_driver_sql("SET LOCAL lock_timeout = 500")
            read_values = [(await read(session), gauges) for read, gauges in self._readers]
        for values, gauges in read_values:
            for gauge, value in zip(gauges, values, strict=True):
                gauge.labels(self.service).set(value)

    async def _read_lag(self) -> None:
        groups = [
            (subscriber.consumer, subscriber.group_id)
            for subscriber in self._broker.subscribers
            # not started (Kafka not reached yet) or without a group: nothing to report
            if getattr(subscriber, "consumer", None) is not None and getattr(subscriber, "group_id", None)
        ]
        per_group = await asyncio.gather(*(_group_lag(consumer, group, self._log_starts) for consumer, group in groups))
        CONSUMER_LAG.clear()  # partitions this process no longer holds (a rebalance) go with their series
        for group, topic, partition, lag in (lag for found in per_group for lag in found):
            CONSUMER_LAG.labels(self.service, group, topic, str(partition)).set(lag)


async def _group_lag(
    consumer: Any, group: str, log_starts: dict[tuple[str, Any], int]
) -> list[tuple[str, str, int, int]]:
    """(group, topic, partition, lag) of each partition assigned to this aiokafka consumer: the log end offset
    minus the group's committed offset, or the log start where it committed none.

    The log end is the highwater the consumer's last fetch answer brought (no request: a ListOffsets request would
    queue behind the consumer's long-polling fetch on the same connection, ~0.5 s); a partition no fetch has
    answered yet is left out until one has. The committed offsets are one OffsetFetch each, to the coordinator.
    The log start of a partition the group never committed on is asked once (ListOffsets) and kept in
    ``log_starts``: retention moves it rarely, and it only matters until the group's first commit there.
    """
    ends = {tp: consumer.highwater(tp) for tp in sorted(consumer.assignment())}
    partitions = [tp for tp, end in ends.items() if end is not None]
    if not partitions:
        return []
    committed = dict(zip(partitions, await asyncio.gather(*map(consumer.committed, partitions)), strict=True))
    unknown = [tp for tp, offset in committed.items() if offset is None and (group, tp) not in log_starts]
    if unknown:
        log_starts.update(((group, tp), start) for tp, start in (await consumer.beginning_offsets(unknown)).items())
    done = {tp: log_starts[group, tp] if offset is None else offset for tp, offset in committed.items()}
    return [(group, tp.topic, tp.partition, max(0, ends[tp] - done[tp])) for tp in partitions]
