from datetime import UTC, date, datetime, timedelta
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
    defanged,
    match_request,
)
from tests.links import links_in

HOME = PostalAddress(street="Postweg", house_number="1", postcode="12345", city="Musterstadt")
ELSEWHERE = PostalAddress(street="Ring", house_number="2", postcode="54321", city="Anderswo")
TODAY, NOW = date(2026, 11, 25), datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


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
    assert match_request(customer(), None, TODAY).review_reason == "Zählernummer nicht in den Stammdaten"


def test_surname_must_appear_in_the_name_of_record_with_umlauts_and_case_folded() -> None:
    point = record(("4711", PartnerRole.CONSUMPTION, "Jürgen Müller"))
    assert match_request(customer(last="MUELLER"), point, TODAY).grants[0].partner_number == "4711"
    assert match_request(customer(last="Meier"), point, TODAY).review_reason == "Name passt nicht zu den Stammdaten"


def test_postcode_of_postal_or_connection_address_must_fit_the_record() -> None:
    point = record(("4711", PartnerRole.CONSUMPTION, "Jürgen Müller"))
    assert (
        match_request(customer(postal=ELSEWHERE), point, TODAY).review_reason
        == "Postleitzahl passt nicht zu den Stammdaten"
    )
    assert match_request(customer(postal=ELSEWHERE, connection=HOME), point, TODAY).grants


def test_only_partners_with_the_name_get_their_numbers_consumption_first() -> None:
    point = record(
        ("2222", PartnerRole.FEED_IN, "Jürgen Müller"),
        ("1111", PartnerRole.CONSUMPTION, "Jürgen Müller"),
        ("3333", PartnerRole.FEED_IN, "Solar GmbH"),
    )
    grants = match_request(customer(), point, TODAY).grants
    assert [(g.partner_number, g.role) for g in grants] == [
        ("1111", PartnerRole.CONSUMPTION),
        ("2222", PartnerRole.FEED_IN),
    ]


def test_a_partner_who_moved_out_before_today_gets_no_letter_and_the_new_one_does() -> None:
    old = PartnerOfRecord(
        partner_number="1111", role=PartnerRole.CONSUMPTION, name="Jürgen Müller", postal_address=HOME,
        valid_to=TODAY - timedelta(days=1),
    )  # fmt: skip
    new = PartnerOfRecord(
        partner_number="2222", role=PartnerRole.CONSUMPTION, name="Jürgen Müller", postal_address=HOME,
        valid_from=TODAY,
    )  # fmt: skip
    point = MeterPointRecorded(
        meter_number="1EMH0005939068", connection_address=HOME, partners=(old, new), recorded_at=NOW
    )
    assert [g.partner_number for g in match_request(customer(), point, TODAY).grants] == ["2222"]
    assert [g.partner_number for g in match_request(customer(), point, TODAY - timedelta(days=1)).grants] == [
        "1111",
        "2222",
    ]  # the last day is still theirs
    gone = MeterPointRecorded(meter_number="1EMH0005939068", connection_address=HOME, partners=(old,), recorded_at=NOW)
    assert match_request(customer(), gone, TODAY).review_reason == "Name passt nicht zu den Stammdaten"


def _request() -> PartnerNumberRequest:
    return PartnerNumberRequest.submit(uuid4(), "000328", "1EMH0005939068", customer())


def test_submit_records_the_request_event_and_a_match_records_the_grant() -> None:
    request = _request()
    request.decide(match_request(customer(), record(("4711", PartnerRole.CONSUMPTION, "Jürgen Müller")), TODAY))
    assert request.status == RequestStatus.MATCHED
    assert [e.EVENT_TYPE for e in request.events] == ["PartnerNumberRequested", "PartnerNumberRequestMatched"]


def test_only_requests_in_review_can_be_approved_or_rejected() -> None:
    request = _request()
    request.decide(match_request(customer(), None, TODAY))
    assert request.status == RequestStatus.IN_REVIEW
    request.reject("Kein Anschluss bekannt")
    assert request.status == RequestStatus.REJECTED
    with pytest.raises(StatusConflict):
        request.approve("1EMH0005939068", ())
    with pytest.raises(StatusConflict):
        request.reject("noch einmal")


def test_letter_progress_never_steps_back() -> None:
    request = _request()
    request.decide(match_request(customer(), record(("4711", PartnerRole.CONSUMPTION, "Jürgen Müller")), TODAY))
    request.letter_progressed("LetterDispatched")
    request.letter_progressed("LetterQueued")  # arrived late
    assert request.status == RequestStatus.LETTER_DISPATCHED
    request.letter_progressed("LetterReturned", "Empfänger unbekannt")
    assert request.status == RequestStatus.LETTER_RETURNED and request.note == "Empfänger unbekannt"


def test_copy_email_neutralises_what_the_customer_typed_and_never_names_a_partner_number() -> None:
    request = _request()
    request.customer = customer(first="Klick\nhttps://evil.example/login", last="Müller")
    request.decide(
        match_request(request.customer, record(("4711000001", PartnerRole.CONSUMPTION, "Jürgen Müller")), TODAY)
    )
    subject, text = copy_of_message("SWM Netz", "0800 1", request)
    assert "https://evil" not in text and "https[:]//evil" in text
    assert "Klick https[:]//evil" in text  # the line break is gone: no forged paragraph
    assert "4711000001" not in text
    assert "1EMH0005939068" in text and subject.startswith("Ihre Nachricht an SWM Netz")


HOSTILE = [
    "WWW.EVIL.DE",
    "www.evil.de",
    "Www.Evil.De/login",
    "evil.de",
    "EVIL.DE",
    "evil.de/x",
    "Bitte zahlen: evil.de/pay?iban=1",
    "http://evil.example/login",
    "HTTPS://EVIL.EXAMPLE",
    "hTtPs://evil.example",
    "ftp://evil.de",
    "//evil.de/x",
    "http:\\\\evil.de",
    "erika@evil.example",
    "ERIKA@EVIL.EXAMPLE",
    "mailto:erika@evil.example",
    "MAILTO:ERIKA",
    "javascript:alert(1)",
    "data:text/html,x",
    "tel:+4930123",
    "evil.de:8080",
    "localhost:8080",
    "http://192.168.0.1/",
    "1.2.3.4",
    "xn--bcher-kva.de",
    "bücher.de",
    "evil。de",  # ideographic full stop: a dot to IDNA
    "evil｡de",  # half-width ideographic full stop
    "ｗｗｗ．ｅｖｉｌ．ｄｅ",  # full-width letters and dot
    "evil\u2024de",  # one dot leader
    "evil\u200b.de",  # zero-width space
    "evil.\u200bde",
    "evil\u00ad.de",  # soft hyphen
    "erika＠evil.example",  # full-width commercial at
    "\\\\evil\\share",
    "<https://evil.example>",
    "[https://evil.example](https://evil.example)",
]
FIELDS = ["first_name", "last_name", "street", "house_number", "city", "connection_street", "phone"]


def _hostile_request(field: str, value: str) -> PartnerNumberRequest:
    value = value[: {"house_number": 20, "phone": 40}.get(field, 100)]  # the fields' maximum lengths
    address = {"street": "Postweg", "house_number": "1", "postcode": "12345", "city": "Musterstadt"}
    connection = dict(address)
    names = {"first_name": "Jürgen", "last_name": "Müller", "phone": None}
    if field in address:
        address[field] = value
    elif field == "connection_street":
        connection["street"] = value
    else:
        names[field] = value
    hostile = RequestingCustomer(
        first_name=names["first_name"] or "",
        last_name=names["last_name"] or "",
        phone=names["phone"],
        email="erika.mustermann@example.org",
        postal_address=PostalAddress(**address),
        connection_address=PostalAddress(**connection),
    )
    return PartnerNumberRequest.submit(uuid4(), "000328", "1EMH0005939068", hostile)


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("value", HOSTILE)
def test_nothing_the_customer_typed_becomes_a_link_in_the_copy_email(field: str, value: str) -> None:
    _, text = copy_of_message("SWM Netz", "0800 1", _hostile_request(field, value))
    assert links_in(text) == [], text
    harmless = copy_of_message("SWM Netz", "0800 1", _hostile_request(field, "x"))[1]
    assert text.count("\n") == harmless.count("\n")  # nothing typed adds a line


@pytest.mark.parametrize(
    ("typed", "shown"),
    [
        ("WWW.EVIL.DE", "WWW[.]EVIL[.]DE"),
        ("evil.de/x", "evil[.]de/x"),
        ("http://evil.example", "http[:]//evil[.]example"),
        ("erika@evil.example", "erika[at]evil[.]example"),
        ("ｗｗｗ．ｅｖｉｌ．ｄｅ", "www[.]evil[.]de"),
        ("evil。de", "evil[.]de"),
        ("\\\\evil\\share", "[\\][\\]evil[\\]share"),
        ("Dr. Erika", "Dr. Erika"),  # a dot or colon before a space is no link: left as typed
        ("Lindenstr. 4", "Lindenstr. 4"),
        ("St.-Georg-Str.", "St[.]-Georg-Str."),
        ("Müller-Lüdenscheidt", "Müller-Lüdenscheidt"),
    ],
)
def test_defanged_text_stays_readable(typed: str, shown: str) -> None:
    assert defanged(typed) == shown


def test_the_copy_shows_the_customers_own_address_readably_but_not_as_a_mailto_link() -> None:
    _, text = copy_of_message("SWM Netz", "0800 1", _hostile_request("first_name", "Erika"))
    assert "E-Mail:        erika[.]mustermann[at]example[.]org" in text
    assert "@" not in text and "mailto" not in text.casefold()
