"""Letters' use cases, each ``handle(command or event, uow) -> view``: one letter per matched request, the
print house's reports, and the back-office's lists.

The dispatch job goes out with the PDF by reference: nothing on the way from a matched request to the print
house waits for the PDF, which the render worker (render_worker.py) makes right after the commit.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID, uuid4

from contracts.envelope import EventPayload
from contracts.letters import DispatchStatusReported, LetterDispatchRequested
from contracts.masterdata import MeterPointRecorded
from contracts.onboarding import PartnerNumberRequestMatched
from contracts.topics import LETTER_QUEUE, LETTERS, TopicSpec
from kit.consumer import Delivered, RefusedEvent
from kit.masterdata import record_meter_point
from kit.tenants import Tenant
from kit.uow import UnitOfWork
from services.letters.domain import (
    ONE_LETTER_PER_METER_WITHIN,
    WITHOUT_JOB,
    Letter,
    LetterStatus,
    LetterSummary,
    NoRecipient,
    PostedLetter,
    StatusReport,
    TaskView,
    letter_content,
)
from services.letters.letter_pdf import validate_content


class Letters(Protocol):
    """What the use cases need of the store (store.LetterStore; a fake in the unit tests)."""

    async def has_letter(self, tenant: str, request_id: UUID) -> bool: ...

    async def for_change(self, tenant: str, letter_id: UUID) -> Letter | None: ...

    async def awaiting_master_data(self, tenant: str, meter_number: str) -> list[Letter]:
        """For a change, oldest first: the letters of this meter that wait for its master-data record."""
        ...

    async def posted_for_meter(self, tenant: str, meter_number: str, since: datetime) -> list[PostedLetter]:
        """The meter's letters whose job went out at ``since`` or later. Holds the meter until the commit, so
        that two requests for one meter decided at the same time see each other's letter."""
        ...

    def add(self, letter: Letter, now: datetime) -> None: ...

    def save(self, letter: Letter, now: datetime) -> None: ...

    def add_report(self, letter_id: UUID, report: DispatchStatusReported) -> None: ...

    async def summaries(
        self, tenant: str, status: LetterStatus | None, limit: int, offset: int
    ) -> list[LetterSummary]: ...

    async def summary(self, tenant: str, letter_id: UUID) -> LetterSummary | None: ...

    async def reports_of(self, letter_id: UUID) -> list[StatusReport]: ...

    async def open_tasks(self, tenant: str) -> list[TaskView]: ...

    async def resolve_task(self, tenant: str, task_id: UUID, now: datetime) -> bool: ...


Uow = UnitOfWork[Letters]


class NotFound(LookupError):
    pass


@dataclass(frozen=True)
class Posting:
    """What posting a letter needs besides the unit of work, bound once by messaging."""

    public_url: str  # this service as the print house reaches it
    code_key: bytes  # derives the registration codes (LettersSettings.registration_code_key)


def pdf_url(public_url: str, tenant: str, job_id: UUID) -> str:
    """Where the print house fetches the job's PDF (api.build_print_api serves it)."""
    return f"{public_url.rstrip('/')}/print/{tenant}/jobs/{job_id}.pdf"


def _save(uow: Uow, letter: Letter, cause: UUID) -> None:
    """Store the letter and publish what it recorded: the job to the print house's queue, its progress to
    onboarding, keyed so that each stays in order."""

    def route(event: EventPayload) -> tuple[TopicSpec, str]:
        if isinstance(event, LetterDispatchRequested):
            return LETTER_QUEUE, str(letter.id)
        return LETTERS, str(letter.request_id)

    uow.store.save(letter, uow.now())
    uow.publish_recorded(letter, route, tenant=letter.tenant, correlation_id=letter.correlation_id, causation_id=cause)


async def _posted_for_meter(uow: Uow, tenant: Tenant, meter_number: str) -> list[PostedLetter]:
    since = uow.now() - ONE_LETTER_PER_METER_WITHIN
    return await uow.store.posted_for_meter(tenant.portal_number, meter_number, since)


def _post(
    uow: Uow, letter: Letter, record: MeterPointRecorded, tenant: Tenant, posting: Posting, posted: list[PostedLetter]
) -> None:
    """The letter's job goes out, or — the meter had a letter within ONE_LETTER_PER_METER_WITHIN — it is recorded as not
    posted again. ``posted`` (the meter's recent letters) learns of the letter if it went out."""
    job_url = pdf_url(posting.public_url, tenant.portal_number, letter.id)
    try:
        letter.post(record, uow.now(), tenant.return_address, job_url, posted, posting.code_key)
    except NoRecipient:
        raise RefusedEvent("granted partner numbers are not in the meter's master data") from None
    if (sent := letter.as_posted()) is not None:
        posted.append(sent)
        # Cheap checks of what the renderer would refuse: a job must not go out for a letter that cannot be made.
        validate_content(letter_content(letter, tenant, posting.code_key))


# --- what other services tell us ------------------------------------------------------------------------


async def queue_letter(event: Delivered[PartnerNumberRequestMatched], uow: Uow, *, posting: Posting) -> None:
    tenant, matched = event.tenant, event.payload
    if await uow.store.has_letter(tenant.portal_number, matched.request_id):
        return  # exactly one letter per request, even if the request is matched again
    letter = Letter(
        id=uuid4(),
        tenant=tenant.portal_number,
        request_id=matched.request_id,
        correlation_id=event.envelope.correlation_id,
        meter_number=matched.meter_number,
        grants=matched.partner_numbers,
    )
    record = await uow.master_data.find(tenant.portal_number, matched.meter_number)
    if record is not None:  # otherwise our master data is behind onboarding's: it follows shortly
        posted = await _posted_for_meter(uow, tenant, matched.meter_number)
        _post(uow, letter, record, tenant, posting, posted)
    # Added after the queries: stored as it is now in one INSERT (added before them, the session's autoflush
    # stored it first as it was, and the commit sent an UPDATE).
    uow.store.add(letter, uow.now())
    _save(uow, letter, event.envelope.event_id)


async def record_master_data(event: Delivered[MeterPointRecorded], uow: Uow, *, posting: Posting) -> None:
    """Keep the read model, and send the letters that were waiting for this meter's record."""
    await record_meter_point(event, uow)
    tenant = event.tenant
    waiting = await uow.store.awaiting_master_data(tenant.portal_number, event.payload.meter_number)
    if not waiting:
        return
    posted = await _posted_for_meter(uow, tenant, event.payload.meter_number)
    for letter in waiting:  # the oldest request gets the letter; the others are recorded as not posted again
        _post(uow, letter, event.payload, tenant, posting, posted)
        _save(uow, letter, event.envelope.event_id)


async def record_dispatch_status(event: Delivered[DispatchStatusReported], uow: Uow) -> None:
    report = event.payload
    letter = await uow.store.for_change(event.tenant.portal_number, report.job_id)
    if letter is None or letter.status in WITHOUT_JOB:
        raise RefusedEvent("status report for a job this tenant does not have")
    uow.store.add_report(letter.id, report)
    letter.report(report)
    _save(uow, letter, event.envelope.event_id)


# --- the back-office ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListLetters:
    tenant: Tenant
    status: LetterStatus | None = None
    limit: int = 100
    offset: int = 0


async def list_letters(query: ListLetters, uow: Uow) -> list[LetterSummary]:
    return await uow.store.summaries(query.tenant.portal_number, query.status, query.limit, query.offset)


@dataclass(frozen=True)
class ShowLetter:
    tenant: Tenant
    letter_id: UUID


async def show_letter(query: ShowLetter, uow: Uow) -> tuple[LetterSummary, list[StatusReport]]:
    summary = await uow.store.summary(query.tenant.portal_number, query.letter_id)
    if summary is None:
        raise NotFound("Brief nicht gefunden.")
    return summary, await uow.store.reports_of(query.letter_id)


@dataclass(frozen=True)
class ListTasks:
    tenant: Tenant


async def list_tasks(query: ListTasks, uow: Uow) -> list[TaskView]:
    return await uow.store.open_tasks(query.tenant.portal_number)


@dataclass(frozen=True)
class ResolveTask:
    tenant: Tenant
    task_id: UUID


async def resolve_task(command: ResolveTask, uow: Uow) -> None:
    if not await uow.store.resolve_task(command.tenant.portal_number, command.task_id, uow.now()):
        raise NotFound("Aufgabe nicht gefunden.")
