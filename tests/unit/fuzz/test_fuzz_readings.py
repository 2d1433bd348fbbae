"""Fuzzing meter data's readings fast path (services.meterdata.handlers.ingest: msgspec envelope and day, pydantic
register readings, then the domain's checks). Whatever a record holds, ingest returns: a record it cannot store is
in ``rejected`` with a reason, never an exception — anything else escaping fails the property."""

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from kit.energy_day import quarter_hours_of
from kit.tenants import load_tenants
from services.meterdata import handlers
from services.meterdata.domain import QUALITY_OF_CODE
from tests.unit.fakes import FakeClock, FakeUnits
from tests.unit.fuzz.strategies import dumps, mutated_bytes, mutated_json
from tests.unit.meterdata.fake_store import FakeReadings

DAY = json.loads(Path("contracts/examples/LoadProfileDay/v1.json").read_text())
REGISTERS = json.loads(Path("contracts/examples/RegisterReadings/v1.json").read_text())
TENANTS = load_tenants()


@dataclass(frozen=True)
class Record:
    """What ingest reads of a Kafka record."""

    value: bytes


async def ingested(*values: bytes) -> tuple[handlers.Ingested, FakeReadings]:
    units = FakeUnits(FakeReadings(), FakeClock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC)))
    records = [Record(value) for value in values]
    async with units() as uow:
        outcome = await handlers.ingest(handlers.IngestReadings(records, TENANTS), uow)
    assert len(outcome.rejected) <= len(records)
    assert all(isinstance(reason, str) and reason for _, reason in outcome.rejected)
    assert all(record in records for record, _ in outcome.rejected)
    return outcome, units.store


def assert_stored_within_the_checks(store: FakeReadings) -> None:
    for day in store.days.values():
        assert len(day.values_wh) == len(day.qualities) == quarter_hours_of(day.day)
        assert all(value is None or 0 <= value <= 1_000_000 for value in day.values_wh)  # ≤ 1000 kWh per 15 min
        assert all(code in QUALITY_OF_CODE for code in day.qualities)
        assert 0 <= day.revision <= 2**31 - 1
    for reading in store.registers.values():
        assert 0 <= reading.value_wh < 2**63  # the BigInteger column
        assert reading.read_at.minute % 15 == 0


def mutated_payload(example: dict[str, Any]) -> st.SearchStrategy[bytes]:
    return mutated_json(example["payload"]).map(lambda payload: dumps({**example, "payload": payload}))


@given(st.lists(st.binary(max_size=300), max_size=4))
async def test_arbitrary_bytes_are_rejected_with_a_reason(values: list[bytes]) -> None:
    outcome, store = await ingested(*values)
    assert outcome.days == len(store.days)


@given(mutated_payload(DAY))
async def test_a_mutated_day_is_stored_within_the_checks_or_rejected(value: bytes) -> None:
    outcome, store = await ingested(value)
    assert outcome.days + len(outcome.rejected) <= 1
    assert_stored_within_the_checks(store)


# Found: a register value JSON reads as infinite (1e400, Infinity) passed the contract (ge=0) and made
# round(value * 1000) raise OverflowError; a huge finite one would not fit the BigInteger column.
@example(dumps({**REGISTERS, "payload": {**REGISTERS["payload"], "readings": [
    {"read_at": "2026-06-01T22:00:00Z", "value": float("inf")}]}}))  # fmt: skip
@example(dumps(REGISTERS).replace(b"4711.512", b"1e400"))
@example(dumps(REGISTERS).replace(b"4711.512", b"1e300"))
@given(mutated_payload(REGISTERS))
async def test_mutated_register_readings_are_stored_within_the_checks_or_rejected(value: bytes) -> None:
    outcome, store = await ingested(value)
    assert bool(outcome.registers) != bool(outcome.rejected)
    assert_stored_within_the_checks(store)


# Found: msgspec raises UnicodeDecodeError (not its DecodeError) for a string that is not UTF-8, in the envelope
# and in the day.
@example(dumps(DAY).replace(b"000328", b"00\x80328"))
@example(dumps(DAY).replace(b"1EMH0005939068", b"1EMH\xff005939068"))
@given(st.sampled_from([DAY, REGISTERS]).flatmap(lambda example: mutated_bytes(dumps(example))))
async def test_byte_mutations_of_valid_messages_are_stored_within_the_checks_or_rejected(value: bytes) -> None:
    _, store = await ingested(value)
    assert_stored_within_the_checks(store)


@given(st.lists(st.sampled_from([DAY, REGISTERS]).flatmap(mutated_payload), min_size=2, max_size=5))
async def test_a_batch_keeps_what_passes_and_rejects_the_rest(values: list[bytes]) -> None:
    _, store = await ingested(*values)
    assert_stored_within_the_checks(store)
