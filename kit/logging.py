"""structlog set-up, once per process: JSON lines in production, a console renderer on a terminal.

The correlation id is bound per message/request with ``bind_correlation`` (contextvars) and cleared
after; the current span's trace id and span id (kit.tracing) go on each line. A last processor masks keys
that would carry personal data, as a safety net: code must not log such values in the first place.
"""

import logging
import sys
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

import structlog
from opentelemetry import trace

_PII_KEYS = frozenset(
    {
        "email",
        "e_mail",
        "name",
        "first_name",
        "last_name",
        "address",
        "postal_address",
        "phone",
        "partner_number",
        "partner_numbers",
        "password",
        "token",
        "pdf",
        "body",
        "text",
    }
)


def _mask_personal_data(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in event_dict.keys() & _PII_KEYS:
        event_dict[key] = "[masked]"
    return event_dict


def _add_trace_ids(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """The current span's trace and span id (kit.tracing), to find a line's trace and a trace's lines."""
    span_context = trace.get_current_span().get_span_context()
    if span_context.is_valid:
        event_dict["trace_id"] = f"{span_context.trace_id:032x}"
        event_dict["span_id"] = f"{span_context.span_id:016x}"
    return event_dict


def configure_logging(service: str, *, json: bool | None = None, level: int = logging.INFO) -> None:
    use_json = (not sys.stderr.isatty()) if json is None else json
    renderer: Any = (
        structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            _add_trace_ids,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _mask_personal_data,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)
    # Libraries log through stdlib logging; keep them at warning so they do not drown our lines.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")


@contextmanager
def bind_correlation(correlation_id: object, **more: object) -> Iterator[None]:
    """Bind the journey's correlation id (and e.g. tenant) for the lines logged inside the block."""
    with structlog.contextvars.bound_contextvars(correlation_id=str(correlation_id), **more):
        yield


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)
