"""Onboarding's use cases: small functions that take a command or event and what they need."""

from dataclasses import dataclass
from uuid import UUID, uuid4

from sqlmodel.ext.asyncio.session import AsyncSession

from contracts.common import PartnerNumberGrant
from contracts.identity import PartnerLinked
from contracts.letters import LetterFailed, LetterReturned
from contracts.onboarding import PartnerNumberRequested, RequestingCustomer
from contracts.topics import ONBOARDING_REQUESTS
from kit.consumer import Delivered
from kit.mail import Mail, enqueue_mail
from kit.masterdata import find_meter_point
from kit.outbox import add_event
from kit.tenants import Tenant, TenantDirectory
from services.onboarding import store
from services.onboarding.domain import PartnerNumberRequest, copy_of_message, match_request


@dataclass(frozen=True)
class SubmitRequest:
    submission_id: UUID
    meter_number: str  # normalised and validated
    customer: RequestingCustomer


@dataclass(frozen=True)
class Submitted:
    request_id: UUID
    first_time: bool


class NotFound(LookupError):
    pass


def _save_events(session: AsyncSession, request: PartnerNumberRequest, correlation_id: UUID) -> None:
    for event in request.events:
        add_event(
            session,
            ONBOARDING_REQUESTS,
            str(request.id),
            event,
            tenant=request.tenant,
            correlation_id=correlation_id,
        )
    request.events.clear()


async def submit_request(command: SubmitRequest, tenant: Tenant, session: AsyncSession) -> Submitted:
    existing = await store.find_by_submission(session, tenant.portal_number, command.submission_id)
    if existing:  # a double submit (reload, double click) gets the same request back
        return Submitted(existing.id, first_time=False)
    request = PartnerNumberRequest.submit(uuid4(), tenant.portal_number, command.meter_number, command.customer)
    record = await find_meter_point(session, tenant.portal_number, command.meter_number)
    request.decide(match_request(command.customer, record))
    correlation_id = uuid4()  # the customer journey starts here
    session.add(store.new_row(request, command.submission_id, correlation_id))
    _save_events(session, request, correlation_id)
    return Submitted(request.id, first_time=True)


async def send_copy_of_message(
    event: Delivered[PartnerNumberRequested], session: AsyncSession, tenants: TenantDirectory
) -> None:
    tenant = tenants.get(event.envelope.tenant)
    payload = event.payload
    request = PartnerNumberRequest(payload.request_id, tenant.portal_number, payload.meter_number, payload.customer)
    subject, text = copy_of_message(tenant.name, tenant.service_phone, request)
    mail = Mail(tenant.sender_name, tenant.sender_email, str(payload.customer.email), subject, text, "request-copy")
    enqueue_mail(session, mail, tenant=tenant.portal_number, correlation_id=event.envelope.correlation_id)


async def approve_request(
    tenant: Tenant,
    request_id: UUID,
    meter_number: str,
    partner_numbers: list[str] | None,
    session: AsyncSession,
) -> None:
    """A clerk approves a request in review with a master-data record; the letter path follows."""
    row = await store.get_for_update(session, tenant.portal_number, request_id)
    if row is None:
        raise NotFound("Antrag nicht gefunden.")
    record = await find_meter_point(session, tenant.portal_number, meter_number)
    if record is None:
        raise NotFound("Zählernummer nicht in den Stammdaten dieses Netzbetreibers.")
    chosen = [p for p in record.partners if partner_numbers is None or p.partner_number in partner_numbers]
    if partner_numbers is not None and len(chosen) != len(set(partner_numbers)):
        raise NotFound("Geschäftspartner-Nr. gehört nicht zu dieser Zählernummer.")
    request = store.to_domain(row)
    request.approve(
        meter_number, tuple(PartnerNumberGrant(partner_number=p.partner_number, role=p.role) for p in chosen)
    )
    store.apply(request, row)
    _save_events(session, request, row.correlation_id)


async def reject_request(tenant: Tenant, request_id: UUID, reason: str, session: AsyncSession) -> None:
    row = await store.get_for_update(session, tenant.portal_number, request_id)
    if row is None:
        raise NotFound("Antrag nicht gefunden.")
    request = store.to_domain(row)
    request.reject(reason)
    store.apply(request, row)
    _save_events(session, request, row.correlation_id)


async def record_registration(event: Delivered[PartnerLinked], session: AsyncSession) -> None:
    """Identity linked the partner number to a login: the requests that granted it are done."""
    for row in await store.requests_granting(session, event.envelope.tenant, event.payload.partner_number):
        request = store.to_domain(row)
        request.partner_registered()
        store.apply(request, row)


async def record_letter_progress(event: Delivered, session: AsyncSession) -> None:
    """Letters tells us what happened to the request's letter: the back-office sees it as status."""
    row = await store.get_for_update(session, event.envelope.tenant, event.payload.request_id)
    if row is None:
        return  # not ours (another onboarding installation shares the topic)
    request = store.to_domain(row)
    reason = event.payload.reason if isinstance(event.payload, LetterReturned | LetterFailed) else None
    request.letter_progressed(event.envelope.event_type, reason)
    store.apply(request, row)
