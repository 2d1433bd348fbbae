"""kit.tracing on an in-memory exporter: the outbox row keeps the context it was written in, the relay publishes
in that context (the traceparent header names it), a consumer's span is the child of a record's traceparent,
log lines carry the trace id, and the span file keeps no attribute outside the allow-list."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import pytest
import structlog
from faststream.kafka import KafkaBroker, KafkaMessage, TestKafkaBroker
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from contracts.onboarding import PartnerNumberRequestRejected
from contracts.topics import ONBOARDING_REQUESTS
from kit import tracing
from kit.kafka import record_header
from kit.logging import configure_logging
from kit.outbox import OutboxMessage, OutboxRelay, event_row


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """Tracing on for the test, into memory (the process-wide provider stays untouched)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: "test"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "_provider", provider)
    yield exporter
    provider.shutdown()


def parse(traceparent: str) -> tuple[str, str]:
    _, trace_id, span_id, _ = traceparent.split("-")
    return trace_id, span_id


def outbox_row() -> OutboxMessage:
    payload = PartnerNumberRequestRejected(request_id=uuid4(), reason="test")
    return OutboxMessage(**event_row(ONBOARDING_REQUESTS, "key", payload, tenant="000328", correlation_id=uuid4()))


def test_without_tracing_no_context_is_stored() -> None:
    assert tracing.current_traceparent() is None
    assert outbox_row().traceparent is None


def test_the_outbox_row_keeps_the_context_of_the_span_it_was_written_in(spans: InMemorySpanExporter) -> None:
    with tracing.consume_span("handle", None, {}):
        row = outbox_row()
    (span,) = spans.get_finished_spans()
    assert row.traceparent is not None
    assert parse(row.traceparent) == (f"{span.context.trace_id:032x}", f"{span.context.span_id:016x}")


def test_a_consumer_span_is_the_child_of_the_records_traceparent(spans: InMemorySpanExporter) -> None:
    with tracing.consume_span("publisher", None, {}):
        traceparent = tracing.current_traceparent()
    assert traceparent is not None
    with tracing.consume_span("consumer", traceparent, {"plusportal.consumer": "letters"}):
        pass
    publisher, consumer = spans.get_finished_spans()
    assert consumer.context.trace_id == publisher.context.trace_id
    assert consumer.parent is not None and consumer.parent.span_id == publisher.context.span_id


async def test_the_relay_publishes_a_row_in_the_trace_it_was_written_in(spans: InMemorySpanExporter) -> None:
    with tracing.consume_span("use case", None, {}):
        row = outbox_row()
    (use_case,) = spans.get_finished_spans()
    row.created_at = datetime.now(UTC)
    broker = KafkaBroker(middlewares=tracing.kafka_middlewares())
    received: list[str | None] = []

    @broker.subscriber(ONBOARDING_REQUESTS.name)
    async def on_event(message: KafkaMessage) -> None:
        received.append(record_header(message.raw_message, tracing.TRACEPARENT))

    async with TestKafkaBroker(broker):
        await OutboxRelay(None, broker)._publish(row.model_dump())  # type: ignore[arg-type]

    (header,) = received
    assert header is not None
    trace_id, parent_span_id = parse(header)
    assert trace_id == f"{use_case.context.trace_id:032x}"  # the use case's trace goes on
    published_under = {f"{span.context.span_id:016x}": span for span in spans.get_finished_spans()}
    publisher = published_under[parent_span_id]  # the middleware's span, a child of the use case's
    assert publisher.parent is not None and publisher.parent.span_id == use_case.context.span_id


def test_log_lines_carry_the_trace_and_span_id(spans: InMemorySpanExporter, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("test", json=True)  # writes to capsys's stderr, closed after this test: reset below
    try:
        structlog.get_logger("test").info("outside")
        with tracing.consume_span("handle", None, {}):
            structlog.get_logger("test").info("inside")
    finally:
        structlog.reset_defaults()
    (span,) = spans.get_finished_spans()
    outside, inside = (json.loads(line) for line in capsys.readouterr().err.splitlines()[-2:])
    assert "trace_id" not in outside
    assert inside["trace_id"] == f"{span.context.trace_id:032x}"
    assert inside["span_id"] == f"{span.context.span_id:016x}"


def test_the_span_file_keeps_only_attributes_that_hold_no_personal_data(tmp_path: Path) -> None:
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: "letters"}))
    path = tmp_path / "traces" / "letters.jsonl"
    provider.add_span_processor(SimpleSpanProcessor(tracing.JsonLinesExporter(path)))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("POST /requests", attributes={"http.route": "/requests"}):
        attributes = {"http.url": "http://000328.localhost/requests?email=erika@example.org"}
        with tracer.start_as_current_span("child", attributes={**attributes, "messaging.kafka.message.key": "x"}):
            pass
    provider.shutdown()
    child, parent = (json.loads(line) for line in path.read_text().splitlines())
    assert parent["attributes"] == {"http.route": "/requests"}
    assert child["attributes"] == {}
    assert child["parent_span_id"] == parent["span_id"] and child["trace_id"] == parent["trace_id"]
    assert parent["parent_span_id"] is None and parent["service"] == "letters"
