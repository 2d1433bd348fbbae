"""Letters' use cases without a database: a fake store, master data and outbox in one unit of work."""

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from contracts.common import PartnerNumberGrant, PartnerRole
from contracts.envelope import EventPayload
from contracts.letters import (
    DispatchStatus,
    DispatchStatusReported,
    LetterDispatched,
    LetterDispatchRequested,
    LetterQueued,
    LetterReturned,
)
from contracts.onboarding import PartnerNumberRequestMatched
from kit.consumer import Delivered, RefusedEvent
from kit.events import envelope_for
from kit.tenants import Tenant, load_tenants
from services.letters import handlers
from services.letters.domain import ONE_LETTER_PER_METER_WITHIN, LetterStatus
from tests.unit.examples import METER, PARTNER, meter_point
from tests.unit.fakes import FakeClock, FakeUnits
from tests.unit.letters.fake_store import FakeLetters

TENANT = load_tenants(portal_url_template="http://{portal_number}.localhost:8080").get("000328")
OTHER = load_tenants().get("000512")
PUBLIC_URL = "http://letters.internal:8102/"
CODE_KEY = b"unit tests' registration code key"
POSTING = handlers.Posting(PUBLIC_URL, CODE_KEY)


def delivered(payload: EventPayload, tenant: Tenant = TENANT) -> Delivered[Any]:
    return Delivered(envelope_for(payload, tenant=tenant.portal_number, correlation_id=uuid4()), payload, tenant)


def matched(partner_number: str = PARTNER) -> PartnerNumberRequestMatched:
    return PartnerNumberRequestMatched(
        request_id=uuid4(),
        meter_number=METER,
        partner_numbers=(PartnerNumberGrant(partner_number=partner_number, role=PartnerRole.CONSUMPTION),),
        decided_by="automatic",
    )


@pytest.fixture
def clock() -> FakeClock:
    # 23:30 UTC on 30 November is already 1 December in Germany: the letter is dated as a German reads it.
    return FakeClock(datetime(2026, 11, 30, 23, 30, tzinfo=UTC))


@pytest.fixture
def units(clock: FakeClock) -> FakeUnits[FakeLetters]:
    units = FakeUnits(FakeLetters(), clock)
    units.master_data.points[(TENANT.portal_number, METER)] = meter_point()
    return units


async def queue(units: FakeUnits[FakeLetters], event: PartnerNumberRequestMatched | None = None) -> Delivered[Any]:
    message = delivered(event or matched())
    async with units() as uow:
        await handlers.queue_letter(message, uow, posting=POSTING)
    return message


async def test_a_matched_request_queues_one_letter_with_its_job_and_progress(units: FakeUnits[FakeLetters]) -> None:
    message = await queue(units)
    [letter] = units.store.letters.values()
    assert letter.status == LetterStatus.QUEUED
    assert letter.letter_date == datetime(2026, 12, 1).date()
    [job] = units.outbox.of_type(LetterDispatchRequested)
    assert job.job_id == letter.id and job.reference == letter.reference
    assert job.recipient.lines == ("Erika Mustermann", "Lindenweg 4", "12345 Musterstadt")
    assert job.pdf_url == f"http://letters.internal:8102/print/000328/jobs/{letter.id}.pdf"
    assert units.outbox.of_type(LetterQueued) == [LetterQueued(request_id=message.payload.request_id, job_id=letter.id)]
    topics = {(p.topic, p.key) for p in units.outbox.events}
    assert topics == {
        ("plusportal.letters.queue.v1", str(letter.id)),
        ("plusportal.letters.events.v1", str(message.payload.request_id)),
    }
    assert {p.correlation_id for p in units.outbox.events} == {message.envelope.correlation_id}
    assert {p.causation_id for p in units.outbox.events} == {message.envelope.event_id}


async def test_the_same_request_matched_again_gets_no_second_letter(units: FakeUnits[FakeLetters]) -> None:
    event = matched()
    await queue(units, event)
    await queue(units, event)
    assert len(units.store.letters) == 1
    assert len(units.outbox.of_type(LetterDispatchRequested)) == 1


async def test_a_letter_waits_for_master_data_and_goes_out_when_it_arrives(units: FakeUnits[FakeLetters]) -> None:
    units.master_data.points.clear()
    await queue(units)
    [letter] = units.store.letters.values()
    assert letter.status == LetterStatus.AWAITING_MASTER_DATA
    assert units.outbox.events == []
    async with units() as uow:
        await handlers.record_master_data(delivered(meter_point()), uow, posting=POSTING)
    assert units.store.letters[letter.id].status == LetterStatus.QUEUED
    assert len(units.outbox.of_type(LetterDispatchRequested)) == 1
    assert units.master_data.points[(TENANT.portal_number, METER)] == meter_point()


async def test_granted_numbers_missing_from_the_master_data_refuse_the_event(units: FakeUnits[FakeLetters]) -> None:
    with pytest.raises(RefusedEvent):
        await queue(units, matched("9999999999"))
    assert units.outbox.of_type(LetterDispatchRequested) == []


def report(job_id: UUID, status: DispatchStatus, reason: str | None = None) -> DispatchStatusReported:
    return DispatchStatusReported(
        job_id=job_id,
        status=status,
        reason=reason,
        reported_by="druckhaus",
        happened_at=datetime(2026, 12, 2, tzinfo=UTC),
    )


async def test_handover_to_the_carrier_deletes_the_pdf_and_tells_onboarding(units: FakeUnits[FakeLetters]) -> None:
    await queue(units)
    [letter] = units.store.letters.values()
    units.store.pdfs[letter.id] = b"%PDF-"
    for status in (DispatchStatus.PICKED_UP, DispatchStatus.PRINTED, DispatchStatus.HANDED_TO_CARRIER):
        async with units() as uow:
            await handlers.record_dispatch_status(delivered(report(letter.id, status)), uow)
    assert units.store.letters[letter.id].status == LetterStatus.HANDED_TO_CARRIER
    assert letter.id not in units.store.pdfs
    [dispatched] = units.outbox.of_type(LetterDispatched)
    assert dispatched.job_id == letter.id
    assert [r.status for r in units.store.reports[letter.id]] == ["picked_up", "printed", "handed_to_carrier"]


async def test_a_returned_letter_becomes_one_task_and_a_stale_report_changes_nothing(
    units: FakeUnits[FakeLetters], clock: FakeClock
) -> None:
    await queue(units)
    [letter] = units.store.letters.values()
    for status in (DispatchStatus.HANDED_TO_CARRIER, DispatchStatus.RETURNED, DispatchStatus.PRINTED):
        clock.advance(timedelta(hours=1))
        async with units() as uow:
            await handlers.record_dispatch_status(delivered(report(letter.id, status, "Empfänger unbekannt")), uow)
    assert units.store.letters[letter.id].status == LetterStatus.RETURNED
    [returned] = units.outbox.of_type(LetterReturned)
    assert returned.reason == "Empfänger unbekannt"
    async with units.read() as uow:
        [task] = await handlers.list_tasks(handlers.ListTasks(TENANT), uow)
    assert (task.letter_id, task.kind, task.reason) == (letter.id, "returned", "Empfänger unbekannt")
    async with units() as uow:
        await handlers.resolve_task(handlers.ResolveTask(TENANT, task.task_id), uow)
        assert await handlers.list_tasks(handlers.ListTasks(TENANT), uow) == []


async def test_another_tenants_letters_and_reports_are_not_found(units: FakeUnits[FakeLetters]) -> None:
    await queue(units)
    [letter] = units.store.letters.values()
    with pytest.raises(RefusedEvent):
        async with units() as uow:
            await handlers.record_dispatch_status(delivered(report(letter.id, DispatchStatus.PRINTED), OTHER), uow)
    async with units.read() as uow:
        assert await handlers.list_letters(handlers.ListLetters(OTHER), uow) == []
        with pytest.raises(handlers.NotFound):
            await handlers.show_letter(handlers.ShowLetter(OTHER, letter.id), uow)
        [listed] = await handlers.list_letters(handlers.ListLetters(TENANT), uow)
    assert listed.letter_id == letter.id and listed.pdf_available  # renderable on a fetch


# --- at most one letter per meter in 14 days ([6 of 11] §2: guessing the partner number must not pay) -------


def letter_of(units: FakeUnits[FakeLetters], event: PartnerNumberRequestMatched) -> Any:
    return next(x for x in units.store.letters.values() if x.request_id == event.request_id)


async def test_a_second_request_for_the_meter_within_14_days_is_recorded_but_not_posted_again(
    units: FakeUnits[FakeLetters], clock: FakeClock
) -> None:
    first, second = matched(), matched()
    await queue(units, first)
    clock.advance(ONE_LETTER_PER_METER_WITHIN - timedelta(seconds=1))
    await queue(units, second)
    posted, held = letter_of(units, first), letter_of(units, second)
    assert posted.status == LetterStatus.QUEUED
    assert held.status == LetterStatus.NOT_POSTED_AGAIN  # the request is kept …
    assert held.status_reason == (
        f"Nicht erneut verschickt: Für diesen Zähler ging am 01.12.2026 schon ein Brief hinaus ({posted.reference}). "
        "Je Zähler geht höchstens ein Brief in 14 Tagen hinaus."
    )
    [job] = units.outbox.of_type(LetterDispatchRequested)  # … but there is no second job
    assert job.job_id == posted.id
    assert [q.request_id for q in units.outbox.of_type(LetterQueued)] == [first.request_id]
    async with units.read() as uow:  # the back-office sees it, with the reason
        listed = await handlers.list_letters(handlers.ListLetters(TENANT, LetterStatus.NOT_POSTED_AGAIN), uow)
    assert [(s.request_id, s.status_reason, s.pdf_available) for s in listed] == [
        (second.request_id, held.status_reason, False)
    ]


async def test_after_14_days_the_meter_gets_a_letter_again(units: FakeUnits[FakeLetters], clock: FakeClock) -> None:
    assert timedelta(days=14) == ONE_LETTER_PER_METER_WITHIN
    await queue(units)
    clock.advance(ONE_LETTER_PER_METER_WITHIN)
    again = matched()
    await queue(units, again)
    assert letter_of(units, again).status == LetterStatus.QUEUED
    assert len(units.outbox.of_type(LetterDispatchRequested)) == 2


async def test_requests_held_within_the_14_days_do_not_extend_them(
    units: FakeUnits[FakeLetters], clock: FakeClock
) -> None:
    await queue(units)
    for _ in range(13):  # one request a day: each is held, and the 14 days still count from the letter
        clock.advance(timedelta(days=1))
        await queue(units)
    clock.advance(timedelta(days=1))
    last = matched()
    await queue(units, last)
    assert letter_of(units, last).status == LetterStatus.QUEUED
    assert len(units.outbox.of_type(LetterDispatchRequested)) == 2
    assert sum(x.status == LetterStatus.NOT_POSTED_AGAIN for x in units.store.letters.values()) == 13


async def test_a_returned_letter_counts_but_a_failed_print_job_posted_nothing(
    units: FakeUnits[FakeLetters], clock: FakeClock
) -> None:
    returned, after_return = matched(), matched()
    await queue(units, returned)
    async with units() as uow:
        report_returned = report(letter_of(units, returned).id, DispatchStatus.RETURNED, "Empfänger unbekannt")
        await handlers.record_dispatch_status(delivered(report_returned), uow)
    await queue(units, after_return)  # it was posted: the master data's address may be wrong, a clerk looks at it
    assert letter_of(units, after_return).status == LetterStatus.NOT_POSTED_AGAIN

    units.store.letters.clear()
    await queue(units, first := matched())
    async with units() as uow:
        await handlers.record_dispatch_status(delivered(report(letter_of(units, first).id, DispatchStatus.FAILED)), uow)
    clock.advance(timedelta(hours=1))
    await queue(units, retry := matched())
    assert letter_of(units, retry).status == LetterStatus.QUEUED


async def test_the_rule_is_per_meter_and_per_operator(units: FakeUnits[FakeLetters]) -> None:
    units.master_data.points[(OTHER.portal_number, METER)] = meter_point()
    other_meter = METER[:-1] + ("0" if METER[-1] != "0" else "1")
    units.master_data.points[(TENANT.portal_number, other_meter)] = meter_point().model_copy(
        update={"meter_number": other_meter}
    )
    await queue(units)
    async with units() as uow:  # the same meter number at another operator is another meter
        await handlers.queue_letter(delivered(matched(), OTHER), uow, posting=POSTING)
    await queue(units, matched().model_copy(update={"meter_number": other_meter}))
    assert {x.status for x in units.store.letters.values()} == {LetterStatus.QUEUED}
    assert len(units.outbox.of_type(LetterDispatchRequested)) == 3


async def test_of_requests_waiting_for_master_data_only_the_oldest_gets_the_letter(
    units: FakeUnits[FakeLetters], clock: FakeClock
) -> None:
    units.master_data.points.clear()
    first, second = matched(), matched()
    await queue(units, first)
    clock.advance(timedelta(minutes=1))
    await queue(units, second)
    async with units() as uow:
        await handlers.record_master_data(delivered(meter_point()), uow, posting=POSTING)
    assert letter_of(units, first).status == LetterStatus.QUEUED
    assert letter_of(units, second).status == LetterStatus.NOT_POSTED_AGAIN
    assert [job.job_id for job in units.outbox.of_type(LetterDispatchRequested)] == [letter_of(units, first).id]


async def test_a_status_report_for_a_letter_that_was_not_posted_is_refused(
    units: FakeUnits[FakeLetters], clock: FakeClock
) -> None:
    await queue(units)
    await queue(units, second := matched())
    with pytest.raises(RefusedEvent):
        async with units() as uow:
            await handlers.record_dispatch_status(
                delivered(report(letter_of(units, second).id, DispatchStatus.PRINTED)), uow
            )
    assert letter_of(units, second).status == LetterStatus.NOT_POSTED_AGAIN
