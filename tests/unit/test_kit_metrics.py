"""kit.metrics without a stack: the HTTP middleware's labels and the consumer lag from a consumer's offsets."""

from typing import Any

import httpx
from aiokafka import TopicPartition
from fastapi import FastAPI, HTTPException
from prometheus_client.parser import text_string_to_metric_families

from kit import metrics
from kit.http import add_metrics_route

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
    def __init__(self, ends: dict[TopicPartition, int], committed: dict[TopicPartition, int | None]) -> None:
        self._ends, self._committed = ends, committed

    def assignment(self) -> set[TopicPartition]:
        return set(self._ends)

    async def end_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: self._ends[tp] for tp in partitions}

    async def committed(self, partition: TopicPartition) -> int | None:
        return self._committed[partition]

    async def beginning_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        return dict.fromkeys(partitions, 5)


async def test_lag_is_log_end_minus_committed_or_log_start() -> None:
    first, second = TopicPartition("plusportal.letters", 0), TopicPartition("plusportal.letters", 1)
    consumer = _Consumer({first: 42, second: 9}, {first: 40, second: None})

    lags = await metrics._group_lag(consumer, "letters")

    assert sorted(lags) == [("letters", "plusportal.letters", 0, 2), ("letters", "plusportal.letters", 1, 4)]
