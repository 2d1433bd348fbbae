"""kit.consumer.without_poison: a record whose handling raises anything is dead-lettered after its retries and
the others are handled; only an unreachable database stops (the records come again)."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from faststream.kafka import KafkaBroker
from sqlalchemy.exc import DBAPIError

from contracts.envelope import HEADER_DLT_ERROR
from kit.consumer import Batch, DatabaseUnavailable, failure, without_poison
from kit.db import Database


@dataclass(frozen=True)
class Record:
    value: bytes
    topic: str = "plusportal.meterdata.readings.v1"
    partition: int = 0
    offset: int = 0
    key: bytes | None = None
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass
class Broker:
    published: list[tuple[bytes, str, dict[str, str]]] = field(default_factory=list)

    async def publish(self, value: bytes, topic: str, *, key: bytes | None, headers: dict[str, str]) -> None:
        self.published.append((value, topic, headers))


@dataclass
class Db:
    up: bool = True
    dead_letter_rows: int = 0  # kit.deadletter's rows, what the back-office lists

    async def reachable(self) -> bool:
        return self.up

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator["Db"]:
        yield self

    async def exec(self, statement: Any) -> None:
        assert statement.table.name == "dead_letters"
        self.dead_letter_rows += 1


def consumer(poison: bytes, error: Exception) -> tuple[list[bytes], Any]:
    stored: list[bytes] = []

    async def handle(records: Batch) -> None:
        if any(record.value == poison for record in records):
            raise error
        stored.extend(record.value for record in records)

    return stored, handle


async def test_the_poison_record_is_dead_lettered_and_the_others_stored() -> None:
    records = [Record(b"a", offset=1), Record(b"poison", offset=2), Record(b"c", offset=3)]
    stored, handle = consumer(b"poison", OverflowError("date value out of range"))
    broker = Broker()
    await without_poison("ingest", records, handle, db=cast(Database, Db()), broker=cast(KafkaBroker, broker),
                         retry_delay=0)  # fmt: skip
    assert stored == [b"a", b"c"]
    [(value, _, headers)] = broker.published
    assert value == b"poison"
    assert headers[HEADER_DLT_ERROR] == "ingest failed 3 times: OverflowError: date value out of range"


async def test_an_unreachable_database_stops_instead() -> None:
    _, handle = consumer(b"poison", ConnectionRefusedError("no database"))
    with pytest.raises(DatabaseUnavailable):
        await without_poison("ingest", [Record(b"poison")], handle, db=cast(Database, Db(up=False)),
                             broker=cast(KafkaBroker, Broker()), retry_delay=0)  # fmt: skip


def test_a_database_errors_statement_and_parameters_stay_out_of_the_reason() -> None:
    class RangeError(Exception):
        pass

    error = DBAPIError("INSERT INTO interval_days VALUES ($1, $2)", {"meter": "1EMH0005939068"},
                       RangeError("value out of range for type integer"))  # fmt: skip
    assert failure(error) == "RangeError: value out of range for type integer"
