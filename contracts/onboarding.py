"""Events of a customer's request for their partner number (topic: onboarding requests)."""

from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from contracts.common import MeterNumber, PartnerNumberGrant, PostalAddress
from contracts.envelope import EventPayload


class RequestingCustomer(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    first_name: str = Field(min_length=1, max_length=100)
    last_name: str = Field(min_length=1, max_length=100)
    email: EmailStr
    phone: str | None = Field(default=None, max_length=40)
    postal_address: PostalAddress = Field(description="As typed into the form; letters never go there")
    connection_address: PostalAddress | None = Field(default=None, description="Anschlussobjekt, if different")


class PartnerNumberRequested(EventPayload):
    """A customer submitted the request form."""

    EVENT_TYPE = "PartnerNumberRequested"

    request_id: UUID
    meter_number: MeterNumber
    customer: RequestingCustomer


class PartnerNumberRequestMatched(EventPayload):
    """The request fits the operator's master data: the letter with these numbers may go out."""

    EVENT_TYPE = "PartnerNumberRequestMatched"

    request_id: UUID
    meter_number: MeterNumber
    partner_numbers: tuple[PartnerNumberGrant, ...] = Field(min_length=1, max_length=4)
    decided_by: Literal["automatic", "clerk"]


class PartnerNumberRequestSentToReview(EventPayload):
    """No automatic match: a back-office clerk decides."""

    EVENT_TYPE = "PartnerNumberRequestSentToReview"

    request_id: UUID
    reason: str = Field(max_length=500)


class PartnerNumberRequestRejected(EventPayload):
    EVENT_TYPE = "PartnerNumberRequestRejected"

    request_id: UUID
    reason: str = Field(max_length=500)
