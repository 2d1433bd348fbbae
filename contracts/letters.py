"""The letter queue (dispatch jobs for print/mail houses), their status reports, and letter events."""

from enum import StrEnum
from typing import Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contracts.envelope import EventPayload


class RecipientAddress(BaseModel):
    """The address as data; it matches the printed address block line by line."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    lines: tuple[str, ...] = Field(min_length=2, max_length=6)
    name: str
    street: str
    postcode: str
    city: str
    country: str = "DE"


class LetterDispatchRequested(EventPayload):
    """A dispatch job on the letter queue: print this PDF and post it."""

    EVENT_TYPE = "LetterDispatchRequested"

    job_id: UUID
    idempotency_key: str = Field(description="Same key = same job; print houses must not print twice")
    reference: str = Field(description="Printed on the letter; quoted in returns")
    recipient: RecipientAddress
    sender: str = Field(description="Return address line")
    pdf_base64: str = Field(description="Print-ready A4 PDF, fonts embedded")
    pdf_sha256: str
    pages: int = Field(ge=1)
    postal_product: Literal["standard", "registered"] = "standard"
    color: bool = False
    duplex: bool = False
    envelope: Literal["DL", "C5", "C4"] = "DL"
    window: Literal["left", "right"] = "left"


class DispatchStatus(StrEnum):
    PICKED_UP = "picked_up"
    PRINTED = "printed"
    HANDED_TO_CARRIER = "handed_to_carrier"
    DELIVERED = "delivered"
    RETURNED = "returned"
    FAILED = "failed"
    CANCELLED = "cancelled"


class DispatchStatusReported(EventPayload):
    """A print/mail house reports what happened to a job."""

    EVENT_TYPE = "DispatchStatusReported"

    job_id: UUID
    status: DispatchStatus
    reason: str | None = Field(default=None, max_length=500, description="For returned / failed")
    reported_by: str = Field(max_length=100)
    happened_at: AwareDatetime


class LetterQueued(EventPayload):
    EVENT_TYPE = "LetterQueued"

    request_id: UUID
    job_id: UUID


class LetterDispatched(EventPayload):
    """The letter is with the postal carrier."""

    EVENT_TYPE = "LetterDispatched"

    request_id: UUID
    job_id: UUID
    handed_over_at: AwareDatetime


class LetterReturned(EventPayload):
    EVENT_TYPE = "LetterReturned"

    request_id: UUID
    job_id: UUID
    reason: str


class LetterFailed(EventPayload):
    EVENT_TYPE = "LetterFailed"

    request_id: UUID
    job_id: UUID
    reason: str
