from uuid import uuid4

import pytest

from contracts.common import PartnerRole, PostalAddress
from contracts.masterdata import MeterPointRecorded, PartnerOfRecord
from contracts.onboarding import RequestingCustomer
from kit.identifiers import meter_number_problem, normalise_meter_number
from services.onboarding.domain import (
    PartnerNumberRequest,
    RequestStatus,
    StatusConflict,
    copy_of_message,
    match_request,
)

HOME = PostalAddress(street="Postweg", house_number="1", postcode="12345", city="Musterstadt")
ELSEWHERE = PostalAddress(street="Ring", house_number="2", postcode="54321", city="Anderswo")


def customer(
    last: str = "Müller", postal: PostalAddress = HOME, connection: PostalAddress | None = None, first: str = "Jürgen"
) -> RequestingCustomer:
    return RequestingCustomer(
        first_name=first, last_name=last, email="j@example.org", postal_address=postal, connection_address=connection
    )


def record(*partners: tuple[str, PartnerRole, str], connection: PostalAddress = HOME) -> MeterPointRecorded:
    return MeterPointRecorded(
        meter_number="1EMH0005939068",
        connection_address=connection,
        recorded_at="2026-11-25T08:00:00Z",  # type: ignore[arg-type]
        partners=tuple(
            PartnerOfRecord(partner_number=n, role=r, name=name, postal_address=HOME) for n, r, name in partners
        ),
    )


@pytest.mark.parametrize("typed", ["1emh0005939068", " 1 EMH 0005 9390 68 ", "1-EMH-00.0593.9068"])
def test_meter_numbers_are_normalised_before_validation(typed: str) -> None:
    normalised = normalise_meter_number(typed)
    assert normalised == "1EMH0005939068"
    assert meter_number_problem(normalised) is None


@pytest.mark.parametrize("typed", ["1EMH000593906", "EMH00059390681", "1EM00005939068", "1EMH00059390A8"])
def test_meter_numbers_off_din_43863_5_are_refused_with_a_plain_reason(typed: str) -> None:
    problem = meter_number_problem(normalise_meter_number(typed))
    assert problem and "1EMH0005939068" in problem


def test_no_record_goes_to_review() -> None:
    assert match_request(customer(), None).review_reason == "Zählernummer nicht in den Stammdaten"


def test_surname_must_appear_in_the_name_of_record_with_umlauts_and_case_folded() -> None:
    point = record(("4711", PartnerRole.CONSUMPTION, "Jürgen Müller"))
    assert match_request(customer(last="MUELLER"), point).grants[0].partner_number == "4711"
    assert match_request(customer(last="Meier"), point).review_reason == "Name passt nicht zu den Stammdaten"


def test_postcode_of_postal_or_connection_address_must_fit_the_record() -> None:
    point = record(("4711", PartnerRole.CONSUMPTION, "Jürgen Müller"))
    assert (
        match_request(customer(postal=ELSEWHERE), point).review_reason == "Postleitzahl passt nicht zu den Stammdaten"
    )
    assert match_request(customer(postal=ELSEWHERE, connection=HOME), point).grants


def test_only_partners_with_the_name_get_their_numbers_consumption_first() -> None:
    point = record(
        ("2222", PartnerRole.FEED_IN, "Jürgen Müller"),
        ("1111", PartnerRole.CONSUMPTION, "Jürgen Müller"),
        ("3333", PartnerRole.FEED_IN, "Solar GmbH"),
    )
    grants = match_request(customer(), point).grants
    assert [(g.partner_number, g.role) for g in grants] == [
        ("1111", PartnerRole.CONSUMPTION),
        ("2222", PartnerRole.FEED_IN),
    ]


def _request() -> PartnerNumberRequest:
    return PartnerNumberRequest.submit(uuid4(), "000328", "1EMH0005939068", customer())


def test_submit_records_the_request_event_and_a_match_records_the_grant() -> None:
    request = _request()
    request.decide(match_request(customer(), record(("4711", PartnerRole.CONSUMPTION, "Jürgen Müller"))))
    assert request.status == RequestStatus.MATCHED
    assert [e.EVENT_TYPE for e in request.events] == ["PartnerNumberRequested", "PartnerNumberRequestMatched"]


def test_only_requests_in_review_can_be_approved_or_rejected() -> None:
    request = _request()
    request.decide(match_request(customer(), None))
    assert request.status == RequestStatus.IN_REVIEW
    request.reject("Kein Anschluss bekannt")
    assert request.status == RequestStatus.REJECTED
    with pytest.raises(StatusConflict):
        request.approve("1EMH0005939068", ())
    with pytest.raises(StatusConflict):
        request.reject("noch einmal")


def test_letter_progress_never_steps_back() -> None:
    request = _request()
    request.decide(match_request(customer(), record(("4711", PartnerRole.CONSUMPTION, "Jürgen Müller"))))
    request.letter_progressed("LetterDispatched")
    request.letter_progressed("LetterQueued")  # arrived late
    assert request.status == RequestStatus.LETTER_DISPATCHED
    request.letter_progressed("LetterReturned", "Empfänger unbekannt")
    assert request.status == RequestStatus.LETTER_RETURNED and request.note == "Empfänger unbekannt"


def test_copy_email_neutralises_what_the_customer_typed_and_never_names_a_partner_number() -> None:
    request = _request()
    request.customer = customer(first="Klick\nhttps://evil.example/login", last="Müller")
    request.decide(match_request(request.customer, record(("4711000001", PartnerRole.CONSUMPTION, "Jürgen Müller"))))
    subject, text = copy_of_message("SWM Netz", "0800 1", request)
    assert "https://evil" not in text and "https[:]//evil" in text
    assert "Klick https[:]//evil" in text  # the line break is gone: no forged paragraph
    assert "4711000001" not in text
    assert "1EMH0005939068" in text and subject.startswith("Ihre Nachricht an SWM Netz")
