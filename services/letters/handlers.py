"""Letters' use cases: queue one letter per matched request, follow the print house's reports."""

from datetime import date
from uuid import UUID, uuid4

from sqlmodel.ext.asyncio.session import AsyncSession

from contracts.common import PartnerNumberGrant
from contracts.envelope import EventPayload
from contracts.letters import (
    DispatchStatusReported,
    LetterDispatched,
    LetterDispatchRequested,
    LetterFailed,
    LetterQueued,
    LetterReturned,
    RecipientAddress,
)
from contracts.masterdata import MeterPointRecorded
from contracts.onboarding import PartnerNumberRequestMatched
from contracts.topics import LETTER_QUEUE, LETTERS, TopicSpec
from kit.consumer import Delivered, RefusedEvent
from kit.masterdata import MasterDataTable
from kit.outbox import add_event
from kit.tenants import Tenant, TenantDirectory
from services.letters import store
from services.letters.domain import (
    LetterStatus,
    NoRecipient,
    letter_content,
    next_status,
    recipient_address,
    recipient_of,
)
from services.letters.render import LetterContent, validate_content
from services.letters.settings import LettersSettings


def _emit(
    session: AsyncSession, topic: TopicSpec, key: str, event: EventPayload, row: store.LetterRow, cause: UUID
) -> None:
    add_event(session, topic, key, event, tenant=row.tenant, correlation_id=row.correlation_id, causation_id=cause)


async def queue_letter(
    event: Delivered[PartnerNumberRequestMatched],
    session: AsyncSession,
    tenants: TenantDirectory,
    settings: LettersSettings,
) -> None:
    tenant = tenants.get(event.envelope.tenant)
    matched = event.payload
    if await store.letter_of_request(session, tenant.portal_number, matched.request_id):
        return  # exactly one letter per request, even if the request is matched again
    now = store._now()
    letter_id = uuid4()
    row = store.LetterRow(
        id=letter_id,
        tenant=tenant.portal_number,
        request_id=matched.request_id,
        correlation_id=event.envelope.correlation_id,
        status=LetterStatus.AWAITING_MASTER_DATA,
        meter_number=matched.meter_number,
        grants=[g.model_dump(mode="json") for g in matched.partner_numbers],
        reference=f"PP-{tenant.portal_number}-{letter_id.hex[:8].upper()}",
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    record = await MasterDataTable(session).find(tenant.portal_number, matched.meter_number)
    if record is not None:  # otherwise our master data is behind onboarding's: it follows shortly
        _prepare_and_queue(session, row, record, tenant, settings, event.envelope.event_id)


def pdf_url(settings: LettersSettings, tenant: str, job_id: UUID) -> str:
    """Where the print house fetches the job's PDF (api.build_print_api serves it)."""
    return f"{settings.public_url.rstrip('/')}/print/{tenant}/jobs/{job_id}.pdf"


def content_of(row: store.LetterRow, tenant: Tenant, settings: LettersSettings) -> LetterContent:
    """What the letter says, from what was decided when its job went out: rendering it later gives the same."""
    if row.recipient is None:
        raise ValueError("the letter has no recipient yet")
    grants = tuple(PartnerNumberGrant.model_validate(g) for g in row.grants)
    return letter_content(
        operator_name=tenant.name,
        letterhead=tenant.letterhead,
        return_address=tenant.return_address,
        primary_color=tenant.primary_color,
        service_phone=tenant.service_phone,
        service_email=tenant.service_email,
        service_hours=tenant.service_hours,
        portal_url=tenant.portal_url,
        recipient=RecipientAddress.model_validate(row.recipient),
        meter_number=row.meter_number,
        grants=grants,
        reference=row.reference,
        today=row.letter_date or row.created_at.date(),
    )


def _prepare_and_queue(
    session: AsyncSession,
    row: store.LetterRow,
    record: MeterPointRecorded,
    tenant: Tenant,
    settings: LettersSettings,
    causation_id: UUID,
) -> None:
    """Decide the letter and publish its dispatch job at once, with the PDF by reference.

    Rendering costs ~50 ms of CPU (GIL-bound); done here it capped the consumer at 7-15 letters/s. The
    render worker (services.letters.rendering) renders right after commit, or the print house's fetch does.
    """
    grants = tuple(PartnerNumberGrant.model_validate(g) for g in row.grants)
    try:
        recipient = recipient_address(recipient_of(grants, record))
    except NoRecipient:
        raise RefusedEvent("granted partner numbers are not in the meter's master data") from None
    row.recipient = recipient.model_dump(mode="json")
    row.letter_date = date.today()
    # Cheap checks of what the renderer would refuse: a job must not go out for a letter that cannot be made.
    validate_content(content_of(row, tenant, settings))
    row.status = LetterStatus.QUEUED
    row.updated_at = store._now()
    job = LetterDispatchRequested(
        job_id=row.id,
        idempotency_key=f"letter-{row.id}",
        reference=row.reference,
        recipient=recipient,
        sender=tenant.return_address,
        pdf_url=pdf_url(settings, row.tenant, row.id),
    )
    _emit(session, LETTER_QUEUE, str(row.id), job, row, causation_id)
    _emit(
        session, LETTERS, str(row.request_id), LetterQueued(request_id=row.request_id, job_id=row.id), row, causation_id
    )


async def record_master_data(
    event: Delivered[MeterPointRecorded],
    session: AsyncSession,
    tenants: TenantDirectory,
    settings: LettersSettings,
) -> None:
    """Keep the read model, and send the letters that were waiting for this meter's record."""
    await MasterDataTable(session).record(event.envelope.tenant, event.payload)
    tenant = tenants.get(event.envelope.tenant)
    for row in await store.letters_awaiting(session, tenant.portal_number, event.payload.meter_number):
        _prepare_and_queue(session, row, event.payload, tenant, settings, event.envelope.event_id)


async def record_dispatch_status(event: Delivered[DispatchStatusReported], session: AsyncSession) -> None:
    report = event.payload
    row = await store.letter_for_update(session, event.envelope.tenant, report.job_id)
    if row is None:
        raise RefusedEvent("status report for a job this tenant does not have")
    session.add(
        store.StatusReportRow(
            letter_id=row.id,
            status=report.status,
            reason=report.reason,
            reported_by=report.reported_by,
            happened_at=report.happened_at,
        )
    )
    new = next_status(LetterStatus(row.status), report.status)
    if new is None:
        return
    row.status = new
    row.status_reason = report.reason
    row.updated_at = store._now()
    cause = event.envelope.event_id
    if new == LetterStatus.HANDED_TO_CARRIER:
        row.pdf = None  # the letter carries a credential: keep the PDF only as long as it is needed
        _emit(
            session,
            LETTERS,
            str(row.request_id),
            LetterDispatched(request_id=row.request_id, job_id=row.id, handed_over_at=report.happened_at),
            row,
            cause,
        )
    elif new in (LetterStatus.RETURNED, LetterStatus.FAILED):
        reason = report.reason or ("unzustellbar" if new == LetterStatus.RETURNED else "Fehler beim Druck")
        session.add(
            store.TaskRow(
                id=uuid4(),
                tenant=row.tenant,
                letter_id=row.id,
                kind=new.value,
                reason=reason,
                created_at=store._now(),
            )
        )
        outcome = (LetterReturned if new == LetterStatus.RETURNED else LetterFailed)(
            request_id=row.request_id, job_id=row.id, reason=reason
        )
        _emit(session, LETTERS, str(row.request_id), outcome, row, cause)
