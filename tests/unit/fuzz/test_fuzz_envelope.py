"""Fuzzing the event envelope, every event payload of contracts.registry and the consumer's decode step.

Documented errors: ``Envelope.model_validate_json`` and each payload's ``model_validate`` raise pydantic's
``ValidationError``; kit.consumer's decode step raises nothing — a record it cannot use is dead-lettered with a
reason (or skipped, when no handler of the consumer wants its type)."""

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import ValidationError

from contracts.envelope import Envelope, EventPayload
from contracts.registry import ALL_EVENTS, EVENTS_BY_TOPIC
from kit.consumer import EventConsumer
from kit.events import encode
from kit.tenants import load_tenants
from kit.uow import UnitsOfWork
from tests.unit.fuzz.strategies import JSON, dumps, mutated_bytes, mutated_json

EXAMPLES = {path: json.loads(path.read_text()) for path in sorted(Path("contracts/examples").glob("*/v*.json"))}
EXAMPLE_ENVELOPES = list(EXAMPLES.values())
PAYLOAD_TYPES = {event.EVENT_TYPE: event for event in ALL_EVENTS}
TOPIC_OF = {event.EVENT_TYPE: topic for topic, events in EVENTS_BY_TOPIC.items() for event in events}


def envelope_or_none(data: bytes | str) -> Envelope | None:
    try:
        envelope = Envelope.model_validate_json(data)
    except ValidationError:
        return None
    assert Envelope.model_validate_json(encode(envelope)) == envelope  # what kit.events writes reads back alike
    return envelope


@given(st.binary(max_size=500))
def test_arbitrary_bytes_are_an_envelope_or_a_validation_error(data: bytes) -> None:
    envelope_or_none(data)


@given(JSON.map(dumps))
def test_arbitrary_json_is_an_envelope_or_a_validation_error(data: bytes) -> None:
    envelope_or_none(data)


# Found: a payload with NaN, Infinity or 1e400 read back as null (orjson), one with 2**64 made encode raise
# TypeError: the envelope now refuses both.
@example(dumps({**EXAMPLE_ENVELOPES[0], "payload": {"x": float("nan")}}))
@example(dumps({**EXAMPLE_ENVELOPES[0], "payload": {"x": [{"y": float("inf")}]}}))
@example(dumps({**EXAMPLE_ENVELOPES[0], "payload": {"x": 2**64}}))
@given(st.sampled_from(EXAMPLE_ENVELOPES).flatmap(mutated_json).map(dumps))
def test_mutated_envelopes_are_read_or_refused_with_a_validation_error(data: bytes) -> None:
    envelope_or_none(data)


@given(st.sampled_from(EXAMPLE_ENVELOPES).map(dumps).flatmap(mutated_bytes))
def test_byte_mutations_of_envelopes_are_read_or_refused_with_a_validation_error(data: bytes) -> None:
    envelope_or_none(data)


def payload_or_none(payload_type: type[EventPayload], payload: Any) -> EventPayload | None:
    try:
        event = payload_type.model_validate(payload)
    except ValidationError:
        return None
    # What a producer writes (kit.events: model_dump(mode="json"), then orjson) is read back as the same event.
    written = orjson.loads(orjson.dumps(event.model_dump(mode="json")))
    assert payload_type.model_validate(written).model_dump(mode="json") == written
    return event


@given(
    st.sampled_from(EXAMPLE_ENVELOPES).flatmap(
        lambda example: st.tuples(st.just(example), mutated_json(example["payload"]))
    )
)
def test_each_payload_mutated_is_read_or_refused_with_a_validation_error(case: tuple[dict[str, Any], Any]) -> None:
    example, payload = case
    payload_or_none(PAYLOAD_TYPES[example["event_type"]], payload)


@given(st.sampled_from(sorted(PAYLOAD_TYPES)), JSON)
def test_each_payload_type_refuses_arbitrary_json_with_a_validation_error(event_type: str, payload: Any) -> None:
    payload_or_none(PAYLOAD_TYPES[event_type], payload)


# --- kit.consumer's decode step ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    """What the consumer reads of an aiokafka ConsumerRecord."""

    value: bytes
    topic: str
    key: bytes = b"k"
    partition: int = 0
    offset: int = 0
    headers: tuple[tuple[str, bytes], ...] = ()


class DeadLetters:
    """A broker that only takes dead letters (kit.deadletter publishes through it)."""

    def __init__(self) -> None:
        self.reasons: list[str] = []

    async def publish(self, value: bytes, topic: str, *, key: bytes, headers: dict[str, str]) -> None:
        self.reasons.append(headers["dlt-error"])


class NoDatabase:
    """Takes the dead-letter rows (kit.deadletter) and nothing else: decoding reaches no handler's transaction."""

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator["NoDatabase"]:
        yield self

    async def exec(self, statement: Any) -> None:
        assert statement.table.name == "dead_letters", "decoding does not reach the database"


async def _never(*_: Any) -> None:
    raise AssertionError("decoding does not call the handler")


def consumer(broker: DeadLetters) -> EventConsumer:
    units = UnitsOfWork(NoDatabase(), lambda session: session)  # type: ignore[arg-type]
    handling = EventConsumer("fuzz", units, broker, load_tenants())  # type: ignore[arg-type]
    for event in ALL_EVENTS:
        handling.on(event, _never)
    return handling


records = st.one_of(
    st.builds(Record, st.binary(max_size=300), st.sampled_from(sorted(EVENTS_BY_TOPIC))),
    st.sampled_from(EXAMPLE_ENVELOPES).flatmap(
        lambda example: st.builds(
            Record,
            st.one_of(mutated_json(example).map(dumps), mutated_bytes(dumps(example))),
            st.sampled_from([TOPIC_OF[example["event_type"]], *sorted(EVENTS_BY_TOPIC)]),
        )
    ),
)


def known_type(record: Record) -> bool:
    envelope = envelope_or_none(record.value)
    return envelope is not None and envelope.event_type in PAYLOAD_TYPES


@given(records)
async def test_the_consumer_decodes_a_record_or_dead_letters_it_with_a_reason(record: Record) -> None:
    broker = DeadLetters()
    decoded = await consumer(broker)._decode(record)
    if decoded is None:  # dead-lettered with a reason, or skipped: not a type this consumer handles
        assert (len(broker.reasons) == 1 and broker.reasons[0]) or (not broker.reasons and not known_type(record))
    else:
        assert not broker.reasons
        assert decoded.delivered.envelope.event_type == type(decoded.delivered.payload).EVENT_TYPE
        assert decoded.delivered.tenant.portal_number == decoded.delivered.envelope.tenant
        assert TOPIC_OF[decoded.delivered.envelope.event_type] == record.topic
