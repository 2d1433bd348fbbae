"""The envelope every event travels in, whatever its topic.

Schemas evolve additively: a new field gets a default, nothing is renamed or removed, and readers
ignore fields they do not know (``extra="ignore"``). A breaking change gets a new event type.
"""

import math
from datetime import datetime
from typing import Annotated, Any, ClassVar
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

PortalNumber = Annotated[str, Field(pattern=r"^\d{6}$", description="The grid operator's portal number")]


class EventPayload(BaseModel):
    """Base of every event body. Subclasses name their type and the newest schema version."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    EVENT_TYPE: ClassVar[str]
    SCHEMA_VERSION: ClassVar[int] = 1


# Reading an envelope (Envelope.model_validate_json) raises pydantic's ValidationError for anything it cannot
# read, and only that: kit.consumer dead-letters the record with it. (A comment: the docstring is the schema's.)
class Envelope(BaseModel):
    """Metadata around one event; ``payload`` is the body named by ``event_type``."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    event_id: UUID
    event_type: str = Field(min_length=1, max_length=100)
    schema_version: int = Field(ge=1)
    tenant: PortalNumber
    occurred_at: AwareDatetime
    correlation_id: UUID = Field(description="One id per customer journey, passed on by every consumer")
    causation_id: UUID | None = Field(default=None, description="The event that caused this one")
    payload: dict[str, Any]

    @field_validator("payload")
    @classmethod
    def _plain_json(cls, payload: dict[str, Any]) -> dict[str, Any]:
        """Only what JSON carries between any two parsers (RFC 7493): NaN, Infinity (1e400) and integers beyond
        64 bits are refused (a ValidationError), as kit.events.encode could not write them again."""
        pending: list[Any] = [payload]
        while pending:
            value = pending.pop()
            if isinstance(value, dict):
                pending.extend(value.values())
            elif isinstance(value, list):
                pending.extend(value)
            elif isinstance(value, float) and not math.isfinite(value):
                raise ValueError("a number is not finite (NaN or Infinity)")
            elif isinstance(value, int) and not -(2**63) <= value < 2**64:
                raise ValueError("an integer exceeds 64 bits")
        return payload


HEADER_EVENT_TYPE = "event-type"
HEADER_TENANT = "tenant"
HEADER_CORRELATION_ID = "correlation-id"

# Headers a dead-lettered message carries beside its original bytes.
HEADER_DLT_ERROR = "dlt-error"
HEADER_DLT_SOURCE_TOPIC = "dlt-source-topic"
HEADER_DLT_SOURCE_PARTITION = "dlt-source-partition"
HEADER_DLT_SOURCE_OFFSET = "dlt-source-offset"
HEADER_DLT_CONSUMER = "dlt-consumer"

__all__ = ["Envelope", "EventPayload", "PortalNumber", "datetime"]
