"""The shared event consumer on batches, against the real broker and database: a batch is one transaction,
and one bad event in it costs neither the others nor their order; duplicates inside a batch count once;
a database outage delays events but dead-letters none."""

import asyncio
from typing import Any
from uuid import uuid4

import pytest
from aiokafka import AIOKafkaProducer
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from sqlalchemy.engine import make_url
from sqlmodel import select

from contracts.envelope import HEADER_DLT_CONSUMER, HEADER_DLT_ERROR, HEADER_DLT_SOURCE_TOPIC
from contracts.masterdata import MeterPointRecorded
from contracts.topics import DAY_MS, DEAD_LETTER, TopicSpec
from kit.consumer import DatabaseUnavailable, Delivered, EventConsumer, RefusedEvent, records_of
from kit.db import Database
from kit.events import encode, envelope_for
from kit.masterdata import MeterPointRow, record_meter_point
from kit.tenants import load_tenants
from kit.uow import UnitOfWork, UnitsOfWork, Written
from stack.credentials import KafkaInstallation
from stack.topics import create_topics
from tests.conftest import free_port
from tests.journeys import address, eventually, meter_point, random_meter_number, read_topic

pytestmark = pytest.mark.stack
TENANT = "000328"
REFUSED = "refuse me"  # a name the test's handler refuses, standing in for an event that can never be handled
BREAKS = "break me"  # a name that makes the handler raise what nobody expected (as a date out of range once did)


async def _run_batch(kafka: KafkaInstallation, db: Database, values: list[bytes]) -> tuple[str, list[str], int]:
    """Puts ``values`` on a fresh one-partition topic, then lets a batch subscriber take them all at once.

    Returns the topic, the meter numbers in the order the handler stored them, and how many transactions
    were committed (the consumer's after-commit hook).
    """
    topic = await _topic_holding(kafka, values)
    broker = KafkaBroker(kafka.bootstrap, security=kafka.admin.security())
    commits = 0

    def committed(_: Written) -> None:
        nonlocal commits
        commits += 1

    stored: list[str] = []

    async def store_unless_refused(event: Delivered[MeterPointRecorded], uow: UnitOfWork[Any]) -> None:
        if event.payload.partners[0].name == REFUSED:
            raise RefusedEvent("this test refuses it")
        if event.payload.partners[0].name == BREAKS:
            raise OverflowError("date value out of range")
        await record_meter_point(event, uow)
        stored.append(event.payload.meter_number)

    units = UnitsOfWork(db, lambda session: session, after_commit=committed)
    consumer = EventConsumer(
        "batch-test", units, broker, load_tenants(), carried_by={topic.name: (MeterPointRecorded,)}
    )
    consumer.on(MeterPointRecorded, store_unless_refused)
    done = asyncio.Event()
    seen = 0

    @_batch_subscriber(broker, topic)
    async def on_events(records: Any) -> None:
        nonlocal seen
        await consumer.handle(records)
        seen += len(records)
        if seen >= len(values):
            done.set()

    async with broker:
        await broker.start()
        await asyncio.wait_for(done.wait(), 30)
    return topic.name, stored, commits


async def _topic_holding(kafka: KafkaInstallation, values: list[bytes]) -> TopicSpec:
    """A fresh one-partition topic with ``values`` on it, in order."""
    topic = TopicSpec(f"plusportal.test.batch-{uuid4().hex[:8]}.v1", 1, DAY_MS, "none", "test", None)
    await create_topics(kafka.admin, [topic, DEAD_LETTER])
    producer = AIOKafkaProducer(**kafka.admin.client_options())
    await producer.start()
    try:
        for value in values:
            await producer.send(topic.name, value, key=b"one-key")
        await producer.flush()
    finally:
        await producer.stop()
    return topic


def _batch_subscriber(broker: KafkaBroker, topic: TopicSpec) -> Any:
    """Subscribes as the services do (batches, offsets committed after handling) in a group of its own."""
    return broker.subscriber(
        topic.name,
        group_id=f"batch-test-{uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        batch=True,
        max_records=EventConsumer.MAX_BATCH,
        decoder=records_of,
        ack_policy=AckPolicy.NACK_ON_ERROR,
    )


def _event(meter_number: str, name: str = "Erika Mustermann") -> tuple[bytes, MeterPointRecorded]:
    home = address("Hauptstraße", "1", "12345", "Musterstadt")
    point = meter_point(meter_number, name, home, home)
    return encode(envelope_for(point, tenant=TENANT, correlation_id=uuid4())), point


async def _stored_meters(db: Database) -> set[str]:
    async with db.transaction() as session:
        return {row.meter_number for row in await session.exec(select(MeterPointRow))}


async def test_a_batch_of_good_events_is_one_transaction_and_duplicates_count_once(
    kafka: KafkaInstallation, db: Database
) -> None:
    meters = [random_meter_number() for _ in range(5)]
    values = [_event(m)[0] for m in meters]
    values.insert(3, values[1])  # the same event (same event id) twice in one batch
    _, stored, commits = await _run_batch(kafka, db, values)
    assert stored == meters  # in order, the duplicate handled once
    assert commits == 1
    assert await _stored_meters(db) == set(meters)


async def test_one_refused_and_one_malformed_event_cost_the_others_nothing(
    kafka: KafkaInstallation, db: Database
) -> None:
    good = [random_meter_number() for _ in range(4)]
    refused_value, _ = _event(random_meter_number(), name=REFUSED)
    values = [_event(good[0])[0], b"{not json", _event(good[1])[0], refused_value]
    values += [_event(m)[0] for m in good[2:]]
    topic, stored, commits = await _run_batch(kafka, db, values)

    assert await _stored_meters(db) == set(good)  # the failed batch transaction left nothing behind
    assert stored[-len(good) :] == good  # handled again one by one, in their order
    assert commits == len(good)  # one transaction each once the batch had failed

    async def dead_letters() -> list[Any] | None:
        mine = [r for r in await read_topic(kafka, DEAD_LETTER.name) if _header(r, HEADER_DLT_SOURCE_TOPIC) == topic]
        return mine if len(mine) == 2 else None

    malformed, refused = await eventually(dead_letters, what="both bad events on the dead-letter topic")
    assert malformed.value == b"{not json" and "envelope" in _header(malformed, HEADER_DLT_ERROR)
    assert refused.value == refused_value
    assert "refused: this test refuses it" in _header(refused, HEADER_DLT_ERROR)
    assert _header(refused, HEADER_DLT_CONSUMER) == "batch-test"


async def test_an_event_whose_handler_raises_the_unexpected_is_dead_lettered_and_the_next_one_stored(
    kafka: KafkaInstallation, db: Database
) -> None:
    before, after = random_meter_number(), random_meter_number()
    poison, _ = _event(random_meter_number(), name=BREAKS)
    topic, stored, _ = await _run_batch(kafka, db, [_event(before)[0], poison, _event(after)[0]])
    assert await _stored_meters(db) == {before, after}  # the consumer went on past it
    assert stored[-2:] == [before, after]

    async def dead_letter() -> Any | None:
        mine = [r for r in await read_topic(kafka, DEAD_LETTER.name) if _header(r, HEADER_DLT_SOURCE_TOPIC) == topic]
        return mine[0] if mine else None

    record = await eventually(dead_letter, what="the event on the dead-letter topic")
    assert record.value == poison
    assert _header(record, HEADER_DLT_ERROR) == "batch-test failed 3 times: OverflowError: date value out of range"


def _header(record: Any, name: str) -> str:
    return next((value.decode() for key, value in record.headers if key == name), "")


class TcpProxy:
    """Forwards a local port to PostgreSQL while it runs: stopped, the database is unreachable for its clients."""

    def __init__(self, port: int, target_host: str, target_port: int) -> None:
        self.port, self._target = port, (target_host, target_port)
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._connect, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self._target)
        await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def test_a_database_outage_delays_events_and_dead_letters_none(kafka: KafkaInstallation, db: Database) -> None:
    real = make_url(db.url)
    proxy = TcpProxy(free_port(), real.host or "127.0.0.1", real.port or 5432)
    # The consumer reaches the database only through the proxy: down until the proxy starts.
    proxied = Database(real.set(port=proxy.port).render_as_string(hide_password=False))
    meters = [random_meter_number() for _ in range(3)]
    topic = await _topic_holding(kafka, [_event(meter)[0] for meter in meters])
    broker = KafkaBroker(kafka.bootstrap, security=kafka.admin.security())
    units = UnitsOfWork(proxied, lambda session: session)
    consumer = EventConsumer(
        "outage-test", units, broker, load_tenants(), retry_delay=0.05, carried_by={topic.name: (MeterPointRecorded,)}
    )
    consumer.on(MeterPointRecorded, record_meter_point)
    outages = 0

    @_batch_subscriber(broker, topic)
    async def on_events(records: Any) -> None:
        nonlocal outages
        try:
            await consumer.handle(records)
        except DatabaseUnavailable:
            outages += 1
            raise  # FastStream does not commit and delivers the records again

    try:
        async with broker:
            await broker.start()

            async def redelivered() -> bool | None:
                return outages >= 2 or None

            await eventually(redelivered, timeout=30, what="the batch refused twice while the database is down")
            await proxy.start()
            stored = await eventually(
                lambda: _stored_when(db, set(meters)), timeout=30, what="the events stored once the database is back"
            )
            assert stored == set(meters)
        dead = [
            r for r in await read_topic(kafka, DEAD_LETTER.name) if _header(r, HEADER_DLT_SOURCE_TOPIC) == topic.name
        ]
        assert dead == []
    finally:
        await proxy.stop()
        await proxied.dispose()


async def _stored_when(db: Database, expected: set[str]) -> set[str] | None:
    stored = await _stored_meters(db)
    return stored if stored == expected else None
