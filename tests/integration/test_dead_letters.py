"""Dead letters the operator can work with ([7 of 11] §5), on the real broker and database: each is listed to the
admins of the operator it names (and the platform's own to the platform operator), without its content; once
the cause is fixed, a replay reads the record again from its source topic and the consumer handles it — once,
however often it is replayed — and a record that fails again is dead-lettered again with its reason."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa
from faststream.kafka import KafkaBroker

from contracts.masterdata import MeterPointRecorded
from contracts.staff import PLATFORM_PORTAL, StaffRole
from kit.audit import Actor
from kit.consumer import Delivered, EventConsumer
from kit.db import Database
from kit.deadletter import DeadLetterRow, DeadLetters, DeadLetterView, NotRetained
from kit.masterdata import record_meter_point
from kit.tenants import load_tenants
from kit.uow import UnitOfWork, UnitsOfWork
from stack.credentials import KafkaInstallation
from tests.integration.test_event_batches import _batch_subscriber, _event, _stored_meters, _topic_holding
from tests.journeys import eventually, random_meter_number

pytestmark = pytest.mark.stack
ADMIN = Actor("000328", "staff-1", "Ada Admin", StaffRole.ADMIN.value, "192.0.2.1")
OTHER_ADMIN = Actor("000512", "staff-2", "Otto Admin", StaffRole.ADMIN.value, "192.0.2.2")
PLATFORM = Actor(PLATFORM_PORTAL, "staff-3", "Paula Plattform", StaffRole.PLATFORM.value, "192.0.2.3")


class Consuming:
    """An EventConsumer on a fresh topic whose handler fails while ``broken`` (a bug, fixed later)."""

    def __init__(self, kafka: KafkaInstallation, db: Database) -> None:
        self.kafka, self.db = kafka, db
        self.broken = True
        self.handled: list[str] = []
        self.broker = KafkaBroker(kafka.bootstrap, security=kafka.admin.security())
        self.dead_letters = DeadLetters(db, kafka.admin, load_tenants())

    async def run(self, values: list[bytes]) -> None:
        topic = await _topic_holding(self.kafka, values)

        async def store(event: Delivered[MeterPointRecorded], uow: UnitOfWork[Any]) -> None:
            if self.broken:
                raise ZeroDivisionError("a bug in the handler")
            await record_meter_point(event, uow)
            self.handled.append(event.payload.meter_number)

        units = UnitsOfWork(self.db, lambda session: session)
        consumer = EventConsumer(
            "replay-test",
            units,
            self.broker,
            load_tenants(),
            retry_delay=0.01,
            carried_by={topic.name: (MeterPointRecorded,)},
        )
        consumer.on(MeterPointRecorded, store)
        self.dead_letters.replayable(consumer.name, consumer.replay)
        done, seen = asyncio.Event(), 0

        @_batch_subscriber(self.broker, topic)
        async def on_events(records: Any) -> None:
            nonlocal seen
            await consumer.handle(records)
            seen += len(records)
            if seen >= len(values):
                done.set()

        await self.broker.start()
        await asyncio.wait_for(done.wait(), 30)


@pytest.fixture
async def consuming(kafka: KafkaInstallation, db: Database) -> AsyncIterator[Consuming]:
    running = Consuming(kafka, db)
    yield running
    await running.broker.stop()


async def test_a_dead_letter_is_listed_to_its_operator_and_replayed_once_after_the_fix(consuming: Consuming) -> None:
    meter = random_meter_number()
    value, _ = _event(meter)
    await consuming.run([value])

    [listed] = await eventually(lambda: _listed(consuming.dead_letters, ADMIN), what="the dead letter listed")
    assert (listed.consumer, listed.event_type, listed.failures) == ("replay-test", "MeterPointRecorded", 1)
    assert listed.reason.startswith("replay-test failed 3 times: ZeroDivisionError: a bug in the handler")
    assert meter not in listed.model_dump_json() and "Mustermann" not in listed.model_dump_json()
    assert await consuming.dead_letters.seen_by(OTHER_ADMIN) == []
    assert await consuming.dead_letters.seen_by(PLATFORM) == []  # it names an operator: theirs, not the platform's
    with pytest.raises(LookupError):
        await consuming.dead_letters.replay(listed.id, OTHER_ADMIN)

    again = await consuming.dead_letters.replay(listed.id, ADMIN)  # not fixed yet: fails again, counted
    assert (again.handled, again.reason is not None) == (False, True)
    [still] = await consuming.dead_letters.seen_by(ADMIN)
    assert (still.failures, still.replayed_by) == (2, "Ada Admin")

    consuming.broken = False
    fixed = await consuming.dead_letters.replay(listed.id, ADMIN)
    assert (fixed.handled, fixed.reason) == (True, None)
    await consuming.dead_letters.replay(listed.id, ADMIN)  # a second replay: the inbox has it already
    assert consuming.handled == [meter]
    assert meter in await _stored_meters(consuming.db)


async def test_the_platform_operator_sees_what_names_no_operator(consuming: Consuming) -> None:
    foreign, _ = _event(random_meter_number())
    await consuming.run([foreign.replace(b'"000328"', b'"000999"'), b"not json at all"])

    async def both() -> list[DeadLetterView] | None:
        found = await consuming.dead_letters.seen_by(PLATFORM)
        return found if len(found) == 2 else None

    listed = await eventually(both, what="both dead letters at the platform")
    assert {entry.reason.split(":")[0] for entry in listed} == {"envelope"}
    assert await consuming.dead_letters.seen_by(ADMIN) == []


async def test_a_record_the_source_topic_no_longer_keeps_cannot_be_replayed(consuming: Consuming) -> None:
    value, _ = _event(random_meter_number())
    await consuming.run([value])
    [listed] = await eventually(lambda: _listed(consuming.dead_letters, ADMIN), what="the dead letter listed")
    rows: sa.Table = DeadLetterRow.__table__  # type: ignore[attr-defined]
    async with consuming.db.transaction() as session:  # as if retention had removed it: past the log's end
        await session.exec(sa.update(rows).where(rows.c.id == listed.id).values(source_offset=10_000))
    with pytest.raises(NotRetained):
        await consuming.dead_letters.replay(listed.id, ADMIN)


async def _listed(dead_letters: DeadLetters, actor: Actor) -> list[DeadLetterView] | None:
    return await dead_letters.seen_by(actor) or None
