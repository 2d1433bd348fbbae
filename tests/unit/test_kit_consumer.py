"""The event consumer's wiring on FastStream's in-memory TestKafkaBroker: bad messages are dead-lettered
before any database work, with the reason and the source as headers."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
import pytest
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage, KafkaRouter, TestKafkaBroker

from contracts import envelope as headers
from contracts.identity import SigningKeyPublished
from contracts.masterdata import MeterPointRecorded
from contracts.topics import DEAD_LETTER, MASTER_DATA
from kit.consumer import EventConsumer, records_of
from kit.tenants import load_tenants
from kit.uow import UnitsOfWork
from stack.paths import REPO_ROOT


class NoDatabase:
    """Takes the dead-letter rows (kit.deadletter) and nothing else: a malformed message reaches no handler's
    transaction."""

    def __init__(self) -> None:
        self.dead_letter_rows = 0

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Any]:
        yield self

    async def exec(self, statement: Any) -> None:
        if getattr(statement, "table", None) is None or statement.table.name != "dead_letters":
            raise AssertionError("a malformed message must not reach the database")
        self.dead_letter_rows += 1


async def test_malformed_and_invalid_messages_are_dead_lettered_with_reason_and_source() -> None:
    broker = KafkaBroker()
    database = NoDatabase()
    units = UnitsOfWork(database, lambda session: session)  # type: ignore[arg-type]
    consumer = EventConsumer("test", units, broker, load_tenants())

    async def never(*_: Any) -> None:
        raise AssertionError("handler must not run")

    consumer.on(MeterPointRecorded, never)
    dead: list[KafkaMessage] = []

    @broker.subscriber(MASTER_DATA.name, group_id="test", decoder=records_of, ack_policy=AckPolicy.NACK_ON_ERROR)
    async def on_event(records: Any) -> None:
        await consumer.handle(records)

    @broker.subscriber(DEAD_LETTER.name)
    async def on_dead(message: KafkaMessage) -> None:
        dead.append(message)

    unknown_tenant = (
        b'{"event_id":"5b0f1f9e-58a4-4bd6-9a0e-8e1b6f3f2a10","event_type":"MeterPointRecorded",'
        b'"schema_version":1,"tenant":"999999","occurred_at":"2026-11-25T08:00:00Z",'
        b'"correlation_id":"5b0f1f9e-58a4-4bd6-9a0e-8e1b6f3f2a11","payload":{}}'
    )
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(b"{not json", MASTER_DATA.name, key=b"k1")
        await test_broker.publish(unknown_tenant, MASTER_DATA.name, key=b"k2")

    assert len(dead) == 2
    first = dead[0].headers
    assert first[headers.HEADER_DLT_SOURCE_TOPIC] == MASTER_DATA.name
    assert first[headers.HEADER_DLT_CONSUMER] == "test"
    assert "envelope" in first[headers.HEADER_DLT_ERROR]
    assert "unknown tenant" in dead[1].headers[headers.HEADER_DLT_ERROR]
    assert dead[0].body == b"{not json"
    assert database.dead_letter_rows == 2  # what the back-office lists (kit.deadletter)


async def test_an_event_type_is_taken_only_from_the_topic_that_carries_it() -> None:
    """A signing key on the master-data topic was not written by identity (only identity may write the keys
    topic): it goes to the dead-letter topic instead of reaching the handler."""
    broker = KafkaBroker()
    units = UnitsOfWork(NoDatabase(), lambda session: session)  # type: ignore[arg-type]
    consumer = EventConsumer("test", units, broker, load_tenants())

    async def never(*_: Any) -> None:
        raise AssertionError("handler must not run")

    consumer.on(SigningKeyPublished, never)
    dead: list[KafkaMessage] = []

    @broker.subscriber(MASTER_DATA.name, group_id="test", decoder=records_of, ack_policy=AckPolicy.NACK_ON_ERROR)
    async def on_event(records: Any) -> None:
        await consumer.handle(records)

    @broker.subscriber(DEAD_LETTER.name)
    async def on_dead(message: KafkaMessage) -> None:
        dead.append(message)

    key_event = (REPO_ROOT / "contracts" / "examples" / "SigningKeyPublished" / "v1.json").read_bytes()
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(key_event, MASTER_DATA.name, key=b"forged")

    [refused] = dead
    assert refused.headers[headers.HEADER_DLT_ERROR] == "SigningKeyPublished: event type not carried by this topic"
    assert refused.headers[headers.HEADER_DLT_SOURCE_TOPIC] == MASTER_DATA.name


def test_a_second_handler_for_one_event_type_is_refused_not_silently_swapped() -> None:
    units = UnitsOfWork(NoDatabase(), lambda session: session)  # type: ignore[arg-type]
    consumer = EventConsumer("test", units, KafkaBroker(), load_tenants())

    async def first(*_: Any) -> None: ...

    consumer.on(SigningKeyPublished, first)
    with pytest.raises(ValueError, match="SigningKeyPublished has a handler already"):
        consumer.on(SigningKeyPublished, first)


async def test_the_subscriber_hands_the_records_over_on_the_loop_as_they_came(monkeypatch: pytest.MonkeyPatch) -> None:
    """kit.consumer.records_of: the handler gets the Kafka records themselves. FastStream's own way — a handler
    parameter ``message`` — is resolved from its context in a worker thread (one thread hop per delivery), and its
    decoder parsed every value as JSON for nothing."""
    hops: list[Any] = []
    run_in_thread = anyio.to_thread.run_sync

    async def counted(func: Any, *args: Any, **kwargs: Any) -> Any:
        hops.append(func)
        return await run_in_thread(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    broker, router = KafkaBroker(), KafkaRouter()
    consumer = EventConsumer("test", UnitsOfWork(NoDatabase(), lambda session: session), broker, load_tenants())  # type: ignore[arg-type]
    delivered: list[list[bytes]] = []

    async def handle(records: Any) -> None:
        delivered.append([record.value for record in records])

    monkeypatch.setattr(consumer, "handle", handle)
    consumer.subscribe(router, MASTER_DATA.name, group="test", description="")
    broker.include_router(router)
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(b"{not json", MASTER_DATA.name, key=b"k1")
    assert delivered == [[b"{not json"]]
    assert hops == []
