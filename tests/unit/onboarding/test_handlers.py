"""Onboarding's use cases without a database: a fake store, master data and outbox in one unit of work."""

from typing import Any
from uuid import uuid4

import pytest

from contracts.common import PartnerRole
from contracts.envelope import EventPayload
from contracts.identity import PartnerLinked
from contracts.letters import LetterQueued, LetterReturned
from contracts.onboarding import (
    PartnerNumberRequested,
    PartnerNumberRequestMatched,
    PartnerNumberRequestSentToReview,
    RequestingCustomer,
)
from kit.consumer import Delivered
from kit.events import envelope_for
from kit.tenants import Tenant, load_tenants
from services.onboarding import handlers
from services.onboarding.domain import RequestStatus, StatusConflict
from tests.unit.examples import HOME, METER, PARTNER, meter_point
from tests.unit.fakes import FakeUnits
from tests.unit.onboarding.fake_store import FakeRequests

TENANT = load_tenants().get("000328")
OTHER = load_tenants().get("000512")
ERIKA = RequestingCustomer(first_name="Erika", last_name="Mustermann", email="erika@example.org", postal_address=HOME)


def delivered(payload: EventPayload, tenant: Tenant = TENANT) -> Delivered[Any]:
    return Delivered(envelope_for(payload, tenant=tenant.portal_number, correlation_id=uuid4()), payload, tenant)


@pytest.fixture
def units() -> FakeUnits[FakeRequests]:
    units = FakeUnits(FakeRequests())
    units.master_data.points[(TENANT.portal_number, METER)] = meter_point()
    return units


async def submit(units: FakeUnits[FakeRequests], **changes: Any) -> handlers.Submitted:
    command = handlers.SubmitRequest(
        **{"tenant": TENANT, "submission_id": uuid4(), "meter_number": METER, "customer": ERIKA, **changes}
    )
    async with units() as uow:
        return await handlers.submit_request(command, uow)


async def test_a_matching_form_is_requested_and_matched_under_one_correlation(units: FakeUnits[FakeRequests]) -> None:
    submitted = await submit(units)
    assert submitted.first_time
    [requested] = units.outbox.of_type(PartnerNumberRequested)
    [matched] = units.outbox.of_type(PartnerNumberRequestMatched)
    assert requested.request_id == matched.request_id == submitted.request_id
    assert [g.partner_number for g in matched.partner_numbers] == [PARTNER]
    assert {(p.topic, p.key) for p in units.outbox.events} == {
        ("plusportal.onboarding.requests.v1", str(submitted.request_id))
    }
    assert len({p.correlation_id for p in units.outbox.events}) == 1


async def test_a_repeated_submit_gets_the_same_request_and_publishes_nothing_again(
    units: FakeUnits[FakeRequests],
) -> None:
    submission = uuid4()
    first = await submit(units, submission_id=submission)
    again = await submit(units, submission_id=submission)
    assert (again.request_id, again.first_time) == (first.request_id, False)
    assert len(units.store.rows) == 1
    assert len(units.outbox.of_type(PartnerNumberRequested)) == 1


async def test_an_unknown_meter_goes_to_review_and_a_clerk_approves_the_corrected_one(
    units: FakeUnits[FakeRequests],
) -> None:
    submitted = await submit(units, meter_number="1EMH0000000001")
    [review] = units.outbox.of_type(PartnerNumberRequestSentToReview)
    assert review.reason == "Zählernummer nicht in den Stammdaten"
    approval = handlers.ApproveRequest(TENANT, submitted.request_id, METER, [PARTNER])
    async with units() as uow:
        await handlers.approve_request(approval, uow)
    [matched] = units.outbox.of_type(PartnerNumberRequestMatched)
    assert (matched.meter_number, matched.decided_by) == (METER, "clerk")
    with pytest.raises(StatusConflict):  # approved once: no second letter
        async with units() as uow:
            await handlers.approve_request(approval, uow)


async def test_approving_with_a_partner_of_another_meter_is_refused(units: FakeUnits[FakeRequests]) -> None:
    submitted = await submit(units, meter_number="1EMH0000000001")
    with pytest.raises(handlers.NotFound):
        async with units() as uow:
            await handlers.approve_request(handlers.ApproveRequest(TENANT, submitted.request_id, METER, ["9999"]), uow)
    assert units.outbox.of_type(PartnerNumberRequestMatched) == []


async def test_another_tenant_does_not_find_the_request(units: FakeUnits[FakeRequests]) -> None:
    submitted = await submit(units, meter_number="1EMH0000000001")
    async with units.read() as uow:
        with pytest.raises(handlers.NotFound):
            await handlers.show_request(handlers.ShowRequest(OTHER, submitted.request_id), uow)
        assert await handlers.list_requests(handlers.ListRequests(OTHER), uow) == []
    with pytest.raises(handlers.NotFound):
        async with units() as uow:
            await handlers.reject_request(handlers.RejectRequest(OTHER, submitted.request_id, "Keine Angabe"), uow)


async def test_the_copy_mail_goes_to_the_form_address_and_letter_news_move_the_status(
    units: FakeUnits[FakeRequests],
) -> None:
    form = uuid4()
    submitted = await submit(units, submission_id=form)
    [mail] = units.outbox.mails  # written with the request, in its transaction
    assert mail.recipient == "erika@example.org" and mail.purpose == "request-copy"
    assert not (await submit(units, submission_id=form)).first_time
    assert len(units.outbox.mails) == 1  # a double submit sends no second copy
    job = uuid4()
    for news in (
        LetterQueued(request_id=submitted.request_id, job_id=job),
        LetterReturned(request_id=submitted.request_id, job_id=job, reason="Empfänger unbekannt"),
    ):
        async with units() as uow:
            await handlers.record_letter_progress(delivered(news), uow)
    async with units.read() as uow:
        shown = await handlers.show_request(handlers.ShowRequest(TENANT, submitted.request_id), uow)
    assert (shown.request.status, shown.request.note) == (RequestStatus.LETTER_RETURNED, "Empfänger unbekannt")
    linked = PartnerLinked(
        account_id=str(uuid4()), meter_number=METER, partner_number=PARTNER, role=PartnerRole.CONSUMPTION
    )
    async with units() as uow:
        await handlers.record_registration(delivered(linked), uow)
    async with units.read() as uow:
        shown = await handlers.show_request(handlers.ShowRequest(TENANT, submitted.request_id), uow)
    assert shown.request.status == RequestStatus.REGISTERED
