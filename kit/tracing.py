"""OpenTelemetry traces across HTTP and Kafka: one form submission is one trace, from the POST through the
consumers and the print house to the status event back at onboarding.

Each process sets up its tracer once (``configure_tracing``, from the setting ``PLUSPORTAL_TRACES_FILE``);
without that setting tracing is off and costs next to nothing (no exporter, no middleware, no-op spans).
HTTP requests get their server span from the FastAPI instrumentation (``instrument``). An event's trace
context is captured when its outbox row is written (``current_traceparent``, W3C traceparent) and stored
with the row; the relay publishes the row inside that context (``continued``), and FastStream's telemetry
middleware (``kafka_middlewares``) writes it into the Kafka header ``traceparent``. A consumer handles
each event in a span whose parent is that header's context (``consume_span``): FastStream's own consume
span does this for single-record subscribers, but a batch subscriber's span only links the batch's traces.

The exporter writes one JSON object per span to the file (``JsonLinesExporter``): ids, name, service and
those attributes that cannot carry personal data (an allow-list: no URLs, message keys or client addresses).
Production would export by OTLP instead (opentelemetry-exporter-otlp is not installed). ``make up`` leaves
tracing off unless the variable is set (a few ms of CPU per request, benchmarks/letters_latency.py); the tests'
processes each write a file of their own (stack.processes.traces_file).
"""

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from opentelemetry import context, trace
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

TRACEPARENT = "traceparent"  # the W3C header, in HTTP and in Kafka records
_PROPAGATOR = TraceContextTextMapPropagator()
# Span attributes worth keeping that never hold personal data; everything else is left out of the file.
SAFE_ATTRIBUTES = frozenset(
    {
        "http.method",
        "http.request.method",
        "http.route",
        "http.status_code",
        "http.response.status_code",
        "messaging.system",
        "messaging.operation",
        "messaging.destination.name",
        "messaging.destination_publish.name",
        "messaging.kafka.destination.partition",
        "messaging.kafka.message.offset",
        "messaging.batch.message_count",
        "plusportal.consumer",
        "plusportal.event_type",
        "plusportal.tenant",
    }
)
_provider: TracerProvider | None = None


class JsonLinesExporter(SpanExporter):
    """One JSON object a line per finished span, appended to ``path``. Each batch is one write to a file opened
    for appending, so that several processes may share one file without mixing their lines."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = "".join(json.dumps(span_record(span), ensure_ascii=False) + "\n" for span in spans)
        os.write(self._fd, lines.encode("utf-8"))
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        os.close(self._fd)


def span_record(span: ReadableSpan) -> dict[str, Any]:
    span_context = span.get_span_context()
    assert span_context is not None
    attributes = span.attributes or {}
    return {
        "trace_id": f"{span_context.trace_id:032x}",
        "span_id": f"{span_context.span_id:016x}",
        "parent_span_id": f"{span.parent.span_id:016x}" if span.parent else None,
        "name": span.name,
        "kind": span.kind.name,
        "service": span.resource.attributes.get(SERVICE_NAME),
        "start_ns": span.start_time,
        "end_ns": span.end_time,
        "status": span.status.status_code.name,
        "attributes": {key: value for key, value in attributes.items() if key in SAFE_ATTRIBUTES},
    }


def configure_tracing(service: str, traces_file: Path | None) -> None:
    """Once per process: spans of ``service`` to ``traces_file``; None leaves tracing off."""
    global _provider
    if traces_file is None or _provider is not None:
        return
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service}))
    # Exported off the request path, in a background thread, twice a second.
    provider.add_span_processor(BatchSpanProcessor(JsonLinesExporter(traces_file), schedule_delay_millis=500))
    trace.set_tracer_provider(provider)
    _provider = provider


def tracing_enabled() -> bool:
    return _provider is not None


def instrument(app: FastAPI) -> None:
    """A server span for each request (but the health and metrics probes), when tracing is on."""
    if _provider is not None:
        FastAPIInstrumentor.instrument_app(
            app, tracer_provider=_provider, excluded_urls="/health$,/metrics$", exclude_spans=["receive", "send"]
        )


def kafka_middlewares() -> tuple[KafkaTelemetryMiddleware, ...]:
    """For a KafkaBroker: trace context into the headers of what it publishes, out of those it consumes."""
    if _provider is None:
        return ()
    return (KafkaTelemetryMiddleware(tracer_provider=_provider, include_messages_counters=False),)


def current_traceparent() -> str | None:
    """The current span's context as a W3C traceparent, to be stored with an outbox row (None: no span)."""
    if _provider is None:
        return None
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get(TRACEPARENT)


def _extracted(traceparent: str | None) -> context.Context | None:
    return _PROPAGATOR.extract({TRACEPARENT: traceparent}) if traceparent else None


@contextmanager
def continued(traceparent: str | None) -> Iterator[None]:
    """Inside the block the stored context is current (what the relay publishes goes out in its trace)."""
    extracted = _extracted(traceparent) if _provider is not None else None
    if extracted is None:
        yield
        return
    token = context.attach(extracted)
    try:
        yield
    finally:
        context.detach(token)


@contextmanager
def consume_span(name: str, traceparent: str | None, attributes: Mapping[str, str]) -> Iterator[None]:
    """The handling of one event, as a child of the context its record carried (else of the current span)."""
    if _provider is None:
        yield
        return
    tracer = _provider.get_tracer("plusportal")
    with tracer.start_as_current_span(
        name, context=_extracted(traceparent), kind=trace.SpanKind.CONSUMER, attributes=dict(attributes)
    ):
        yield
