"""Making, encoding and decoding enveloped events."""

from datetime import UTC, datetime
from uuid import UUID, uuid4

import orjson

from contracts.envelope import Envelope, EventPayload


def envelope_for(
    payload: EventPayload,
    *,
    tenant: str,
    correlation_id: UUID,
    causation_id: UUID | None = None,
    occurred_at: datetime | None = None,
) -> Envelope:
    return Envelope(
        event_id=uuid4(),
        event_type=payload.EVENT_TYPE,
        schema_version=payload.SCHEMA_VERSION,
        tenant=tenant,
        occurred_at=occurred_at or datetime.now(UTC),
        correlation_id=correlation_id,
        causation_id=causation_id,
        payload=payload.model_dump(mode="json"),
    )


def encode(envelope: Envelope) -> bytes:
    return orjson.dumps(envelope.model_dump(mode="json"))
