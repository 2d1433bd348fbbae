"""kit.metrics without a stack: the HTTP middleware's labels, the event counters and the consumer lag."""

from typing import Any, cast

import httpx
from aiokafka import TopicPartition
from fastapi import FastAPI, HTTPException
from faststream.kafka import KafkaBroker
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from kit import metrics
from kit.consumer import without_poison
from kit.db import Database
from kit.http import add_metrics_route
from tests.unit.test_kit_poison import Broker, Db, Record, consumer

PARTNER = "3236513735"


class _Broker:
    """Kafka not reached yet: no subscriber has a consumer."""

    subscribers: tuple[Any, ...] = ()


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/partners/{partner_number}/days")
    async def days(partner_number: str) -> dict[str, str]:
        if partner_number == "0":
            raise HTTPException(404, "nicht gefunden")
        return {"partner": partner_number}

    add_metrics_route(app, metrics.ServiceMetrics("unit", _NoDatabase(), _Broker()))  # type: ignore[arg-type]
    return app


class _NoDatabase:
    """No reader is registered, so the scrape never opens a transaction."""


def _samples(text: str, name: str) -> list[Any]:
    families = text_string_to_metric_families(text)
    return [sample for family in families for sample in family.samples if sample.name == name]


async def test_requests_are_counted_by_route_template_never_by_path() -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=_app()), base_url="http://test") as client:
        assert (await client.get(f"/partners/{PARTNER}/days")).status_code == 200
        assert (await client.get("/partners/0/days")).status_code == 404
        assert (await client.get(f"/nowhere/{PARTNER}")).status_code == 404
        assert (await client.request("BREW", "/partners/1/days")).status_code == 405
        scraped = (await client.get("/metrics")).text

    requests = {
        (s.labels["method"], s.labels["route"], s.labels["status"]): s.value
        for s in _samples(scraped, "plusportal_http_requests_total")
        if s.labels["service"] == "unit"
    }
    assert requests[("GET", "/partners/{partner_number}/days", "200")] == 1
    assert requests[("GET", "/partners/{partner_number}/days", "404")] == 1
    assert requests[("GET", metrics.UNMATCHED, "404")] == 1
    assert requests[("other", "/partners/{partner_number}/days", "405")] == 1
    durations = _samples(scraped, "plusportal_http_request_duration_seconds_count")
    assert any(s.labels["route"] == "/partners/{partner_number}/days" and s.value == 2 for s in durations)
    assert PARTNER not in scraped


class _Consumer:
    def __init__(
        self,
        assigned: set[TopicPartition],
        ends: dict[TopicPartition, int],
        committed: dict[TopicPartition, int | None],
    ) -> None:
        self._assigned, self._ends, self._committed = assigned, ends, committed
        self.asked_for_log_starts = 0

    def assignment(self) -> set[TopicPartition]:
        return self._assigned

    def highwater(self, partition: TopicPartition) -> int | None:
        return self._ends.get(partition)

    async def committed(self, partition: TopicPartition) -> int | None:
        return self._committed[partition]

    async def beginning_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        self.asked_for_log_starts += 1
        return dict.fromkeys(partitions, 5)


async def test_lag_is_highwater_minus_committed_or_log_start_for_fetched_partitions() -> None:
    first, second, unfetched = (TopicPartition("plusportal.letters", partition) for partition in (0, 1, 2))
    consumer = _Consumer({first, second, unfetched}, {first: 42, second: 9}, {first: 40, second: None})

    log_starts: dict[tuple[str, Any], int] = {}

    lags = [await metrics._group_lag(consumer, "letters", log_starts) for _ in range(2)]

    assert [sorted(found) for found in lags] == 2 * [
        [("letters", "plusportal.letters", 0, 2), ("letters", "plusportal.letters", 1, 4)]
    ]
    assert consumer.asked_for_log_starts == 1  # kept after the first scrape


def _count(name: str, group: str, topic: str) -> float | None:
    return REGISTRY.get_sample_value(name, {"service": metrics._service, "group": group, "topic": topic})


async def test_records_handled_and_dead_lettered_are_counted_per_group_and_topic() -> None:
    topic = "plusportal.metrics-unit.v1"
    records = [Record(b"a", topic=topic, offset=1), Record(b"poison", topic=topic, offset=2), Record(b"c", topic=topic)]
    _, handle = consumer(b"poison", OverflowError("out of range"))

    await without_poison("unit-group", records, handle, db=cast(Database, Db()), broker=cast(KafkaBroker, Broker()),
                         retry_delay=0)  # fmt: skip

    assert _count("plusportal_events_handled_total", "unit-group", topic) == 2
    assert _count("plusportal_events_dead_lettered_total", "unit-group", topic) == 1
