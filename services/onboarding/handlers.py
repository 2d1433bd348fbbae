"""Onboarding's use cases, each ``handle(command or event, uow) -> view``.

A use case loads the request from the unit of work's store, lets the domain decide, saves the request
and publishes the events it recorded — all in the unit of work's one transaction.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID, uuid4

from contracts.common import PartnerNumberGrant
from contracts.envelope import EventPayload
from contracts.identity import PartnerLinked
from contracts.letters import LetterFailed, LetterReturned
from contracts.masterdata import MeterPointRecorded
from contracts.onboarding import RequestingCustomer
from contracts.topics import ONBOARDING_REQUESTS, TopicSpec
from kit import energy_day, validity
from kit.consumer import Delivered
from kit.mail import Mail
from kit.tenants import Tenant
from kit.uow import UnitOfWork
from services.onboarding.domain import (
    PartnerNumberRequest,
    RequestStatus,
    RequestSummary,
    copy_of_message,
    match_request,
)


class Requests(Protocol):
    """What the use cases need of the store (store.RequestStore; a fake in the unit tests)."""

    async def for_change(self, tenant: str, request_id: UUID) -> PartnerNumberRequest | None: ...

    async def granting(self, tenant: str, partner_number: str) -> list[PartnerNumberRequest]: ...

    async def add_unless_submitted(self, request: PartnerNumberRequest, now: datetime) -> UUID | None:
        """Stores the request, or returns the id of the request its form made before (storing nothing)."""
        ...

    async def save(self, request: PartnerNumberRequest, now: datetime) -> None: ...

    async def summary(self, tenant: str, request_id: UUID) -> RequestSummary | None: ...

    async def summaries(
        self, tenant: str, status: RequestStatus | None, limit: int, offset: int
    ) -> list[RequestSummary]: ...


Uow = UnitOfWork[Requests]


class NotFound(LookupError):
    pass


def _publish(uow: Uow, request: PartnerNumberRequest) -> None:
    """The events the request recorded, keyed by the request: one partition keeps them in order."""

    def route(_: EventPayload) -> tuple[TopicSpec, str]:
        return ONBOARDING_REQUESTS, str(request.id)

    uow.publish_recorded(request, route, tenant=request.tenant, correlation_id=request.correlation_id)


# --- the customer's form --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SubmitRequest:
    tenant: Tenant
    submission_id: UUID
    meter_number: str  # normalised and validated
    customer: RequestingCustomer


@dataclass(frozen=True)
class Submitted:
    request_id: UUID
    first_time: bool


async def submit_request(command: SubmitRequest, uow: Uow) -> Submitted:
    tenant = command.tenant.portal_number
    request = PartnerNumberRequest.submit(
        uuid4(), tenant, command.meter_number, command.customer, submission_id=command.submission_id
    )
    record = await uow.master_data.find(tenant, command.meter_number)
    request.decide(match_request(command.customer, record, energy_day.day_of(uow.now())))
    earlier = await uow.store.add_unless_submitted(request, uow.now())
    if earlier:  # a double submit (reload, double click) gets the same request back, and nothing happens again
        return Submitted(earlier, first_time=False)
    _publish(uow, request)
    # The copy by e-mail, in the same transaction: it goes once the request is stored, and only then.
    subject, text = copy_of_message(command.tenant.name, command.tenant.service_phone, request)
    sender = (command.tenant.sender_name, command.tenant.sender_email)
    mail = Mail(*sender, str(command.customer.email), subject, text, "request-copy")
    uow.send_mail(mail, tenant=tenant, correlation_id=request.correlation_id)
    return Submitted(request.id, first_time=True)


# --- the back-office review -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ListRequests:
    tenant: Tenant
    status: RequestStatus | None = None
    limit: int = 100
    offset: int = 0


async def list_requests(query: ListRequests, uow: Uow) -> list[RequestSummary]:
    return await uow.store.summaries(query.tenant.portal_number, query.status, query.limit, query.offset)


@dataclass(frozen=True)
class ShowRequest:
    tenant: Tenant
    request_id: UUID


async def show_request(query: ShowRequest, uow: Uow) -> RequestSummary:
    summary = await uow.store.summary(query.tenant.portal_number, query.request_id)
    if summary is None:
        raise NotFound("Antrag nicht gefunden.")
    return summary


@dataclass(frozen=True)
class ShowMeterPoint:
    tenant: Tenant
    meter_number: str  # normalised


async def show_meter_point(query: ShowMeterPoint, uow: Uow) -> MeterPointRecorded:
    record = await uow.master_data.find(query.tenant.portal_number, query.meter_number)
    if record is None:
        raise NotFound("Zählernummer nicht in den Stammdaten dieses Netzbetreibers.")
    return record


@dataclass(frozen=True)
class ApproveRequest:
    """A clerk approves a request in review with the master-data record they picked."""

    tenant: Tenant
    request_id: UUID
    meter_number: str  # normalised; may correct what the customer typed
    partner_numbers: list[str] | None  # None: every partner of that meter


async def approve_request(command: ApproveRequest, uow: Uow) -> None:
    tenant = command.tenant.portal_number
    request = await uow.store.for_change(tenant, command.request_id)
    if request is None:
        raise NotFound("Antrag nicht gefunden.")
    record = await uow.master_data.find(tenant, command.meter_number)
    if record is None:
        raise NotFound("Zählernummer nicht in den Stammdaten dieses Netzbetreibers.")
    wanted = command.partner_numbers
    if wanted is None:  # every partner of the meter now: one who moved out only when the clerk names them
        chosen = [p for p in record.partners if validity.current(p, energy_day.day_of(uow.now()))]
    else:
        chosen = [p for p in record.partners if p.partner_number in wanted]
    if wanted is not None and len(chosen) != len(set(wanted)):
        raise NotFound("Geschäftspartner-Nr. gehört nicht zu dieser Zählernummer.")
    request.approve(
        command.meter_number, tuple(PartnerNumberGrant(partner_number=p.partner_number, role=p.role) for p in chosen)
    )
    await uow.store.save(request, uow.now())
    _publish(uow, request)


@dataclass(frozen=True)
class RejectRequest:
    tenant: Tenant
    request_id: UUID
    reason: str


async def reject_request(command: RejectRequest, uow: Uow) -> None:
    request = await uow.store.for_change(command.tenant.portal_number, command.request_id)
    if request is None:
        raise NotFound("Antrag nicht gefunden.")
    request.reject(command.reason)
    await uow.store.save(request, uow.now())
    _publish(uow, request)


# --- what other services tell us ------------------------------------------------------------------------


async def record_registration(event: Delivered[PartnerLinked], uow: Uow) -> None:
    """Identity linked the partner number to a login: the requests that granted it are done."""
    for request in await uow.store.granting(event.tenant.portal_number, event.payload.partner_number):
        request.partner_registered()
        await uow.store.save(request, uow.now())


async def record_letter_progress(event: Delivered, uow: Uow) -> None:
    """Letters tells us what happened to the request's letter: the back-office sees it as status."""
    request = await uow.store.for_change(event.tenant.portal_number, event.payload.request_id)
    if request is None:
        return  # not ours (another onboarding installation shares the topic)
    reason = event.payload.reason if isinstance(event.payload, LetterReturned | LetterFailed) else None
    request.letter_progressed(event.envelope.event_type, reason)
    await uow.store.save(request, uow.now())
