"""The letter queue (dispatch jobs for print/mail houses), their status reports, and letter events."""

from enum import StrEnum
from typing import Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from contracts.common import MeterNumber, PartnerNumber, RegistrationCodeHash
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
    """A dispatch job on the letter queue: print this PDF and post it.

    The PDF travels inline (``pdf_base64``, v1) or by reference (``pdf_url``, since v2): a job by reference
    goes out as soon as the letter is decided and the PDF is rendered right after, off the critical path
    (as Lob or Pingen accept a job at once and render later). The print house then fetches ``pdf_url``
    with its Bearer token and checks the body against the ``X-Content-SHA256`` response header.
    """

    EVENT_TYPE = "LetterDispatchRequested"
    # v2: pdf_url added; pdf_base64, pdf_sha256 and pages optional (None when the PDF is by reference).
    SCHEMA_VERSION = 2

    job_id: UUID
    idempotency_key: str = Field(description="Same key = same job; print houses must not print twice")
    reference: str = Field(description="Printed on the letter; quoted in returns")
    recipient: RecipientAddress
    sender: str = Field(description="Return address line")
    pdf_base64: str | None = Field(
        default=None, description="Print-ready A4 PDF, fonts embedded; None when the PDF is by reference"
    )
    pdf_sha256: str | None = Field(
        default=None,
        description="SHA-256 (hex) of the inline PDF; by reference it comes as the X-Content-SHA256 header",
    )
    pdf_url: str | None = Field(
        default=None,
        description="Where the print house fetches the print-ready PDF (GET, Bearer token); None when inline",
    )
    pages: int | None = Field(
        default=None, ge=1, description="Pages of the inline PDF; by reference the fetched PDF tells"
    )
    postal_product: Literal["standard", "registered"] = "standard"
    color: bool = False
    duplex: bool = False
    envelope: Literal["DL", "C5", "C4"] = "DL"
    window: Literal["left", "right"] = "left"

    @model_validator(mode="after")
    def _one_pdf(self) -> "LetterDispatchRequested":
        # Exactly one way to the PDF, and an inline one with its checksum: a print house must never guess.
        if (self.pdf_base64 is None) == (self.pdf_url is None):
            raise ValueError("a dispatch job carries either pdf_base64 or pdf_url")
        if self.pdf_base64 is not None and self.pdf_sha256 is None:
            raise ValueError("an inline PDF comes with its pdf_sha256")
        return self


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


class RegistrationCodeIssued(EventPayload):
    """The letter for this meter and partner number carries a one-time registration code in its link; identity
    keeps its hash and admits one access request with it until it expires (the code itself is only on paper)."""

    EVENT_TYPE = "RegistrationCodeIssued"

    request_id: UUID
    meter_number: MeterNumber
    partner_number: PartnerNumber
    code_hash: RegistrationCodeHash
    expires_at: AwareDatetime


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
