"""Two outbox relays on one database (two replicas of a service): every row is published exactly once, and
a key's rows reach Kafka in the order they were written."""

from collections import defaultdict
from datetime import UTC, datetime
from uuid import uuid4

import pytest
from faststream.kafka import KafkaBroker
from sqlmodel import col, func, select

from contracts.topics import DAY_MS, TopicSpec
from kit.db import Database
from kit.outbox import OutboxMessage, OutboxRelay
from stack.credentials import KafkaInstallation
from stack.topics import create_topics
from tests.journeys import eventually, read_topic

pytestmark = pytest.mark.stack
ROWS = 600
KEYS = 12
BATCH = 25  # small batches: the relays take turns many times while the rows go out


async def _write_rows(db: Database, topic: str, run: str) -> None:
    """``ROWS`` rows in the outbox, keys taking turns; the body names the key and the row's place."""
    now = datetime.now(UTC)
    async with db.transaction() as session:
        for i in range(ROWS):
            key = f"{run}/{i % KEYS}"
            session.add(
                OutboxMessage(
                    event_id=uuid4(),
                    topic=topic,
                    message_key=key,
                    event_type="TestEvent",
                    tenant="000328",
                    correlation_id=uuid4(),
                    body=f"{key}#{i}".encode(),
                    created_at=now,
                )
            )


async def _unpublished(db: Database) -> int:
    async with db.transaction() as session:
        query = select(func.count()).where(col(OutboxMessage.published_at).is_(None))
        return int((await session.exec(query)).one())


async def test_two_relays_on_one_database_publish_each_row_once_and_in_order(
    kafka: KafkaInstallation, db: Database
) -> None:
    topic = TopicSpec(f"plusportal.test.relays-{uuid4().hex[:8]}.v1", 3, DAY_MS, "key", "test", None)
    await create_topics(kafka.admin, [topic])
    run = uuid4().hex[:6]
    second = Database(db.url)  # the other replica: a connection pool of its own
    brokers = [KafkaBroker(kafka.bootstrap, security=kafka.admin.security()) for _ in range(2)]
    relays = [
        OutboxRelay(database, broker, batch_size=BATCH, poll_interval=0.05)
        for database, broker in zip((db, second), brokers, strict=True)
    ]
    try:
        for broker in brokers:
            await broker.start()
        for relay in relays:
            relay.start()
        await _write_rows(db, topic.name, run)
        for relay in relays:
            relay.wake()

        async def all_published() -> bool:
            return await _unpublished(db) == 0

        await eventually(all_published, timeout=60, what="every row published")
    finally:
        for relay in relays:
            await relay.stop()
        for broker in brokers:
            await broker.stop()
        await second.dispose()

    records = await read_topic(kafka, topic.name)
    bodies = [record.value.decode() for record in records]
    assert len(bodies) == ROWS, f"{len(bodies)} records on the topic for {ROWS} rows"
    assert len(set(bodies)) == ROWS, "a row was published twice"
    places: dict[str, list[int]] = defaultdict(list)
    for body in bodies:  # read_topic returns each partition's records in offset order
        key, _, place = body.partition("#")
        places[key].append(int(place))
    assert all(found == sorted(found) for found in places.values()), "a key's rows reached Kafka out of order"
