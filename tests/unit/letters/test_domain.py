from datetime import UTC, datetime, timedelta

import pytest

from contracts.common import PartnerNumberGrant, PartnerRole, PostalAddress
from contracts.letters import DispatchStatus
from contracts.masterdata import MeterPointRecorded, PartnerOfRecord
from services.letters.domain import (
    ONE_LETTER_PER_METER_WITHIN,
    LetterStatus,
    NoRecipient,
    PostedLetter,
    access_link,
    earlier_letter,
    next_status,
    recipient_address,
    recipient_of,
)

HOME = PostalAddress(street="Postweg", house_number="1", postcode="12345", city="Musterstadt")
ABROAD = PostalAddress(
    street="Dorfstrasse", house_number="3", postcode="80000", city="Wien", country="AT", addition="c/o Huber"
)


def point() -> MeterPointRecorded:
    return MeterPointRecorded(
        meter_number="1EMH0005939068",
        connection_address=HOME,
        recorded_at="2026-11-25T08:00:00Z",  # type: ignore[arg-type]
        partners=(
            PartnerOfRecord(partner_number="2222", role=PartnerRole.FEED_IN, name="Solar Erika", postal_address=ABROAD),
            PartnerOfRecord(partner_number="1111", role=PartnerRole.CONSUMPTION, name="Erika", postal_address=HOME),
        ),
    )


@pytest.mark.parametrize(
    ("current", "reported", "expected"),
    [
        (LetterStatus.QUEUED, DispatchStatus.PICKED_UP, LetterStatus.PICKED_UP),
        (LetterStatus.PRINTED, DispatchStatus.PICKED_UP, None),  # stale
        (LetterStatus.PRINTED, DispatchStatus.PRINTED, None),  # repeated
        (LetterStatus.HANDED_TO_CARRIER, DispatchStatus.RETURNED, LetterStatus.RETURNED),
        (LetterStatus.RETURNED, DispatchStatus.DELIVERED, None),  # final
        (LetterStatus.AWAITING_MASTER_DATA, DispatchStatus.PRINTED, None),
    ],
)
def test_dispatch_status_moves_forward_only(
    current: LetterStatus, reported: DispatchStatus, expected: LetterStatus | None
) -> None:
    assert next_status(current, reported) == expected


@pytest.mark.parametrize("reported", list(DispatchStatus))
def test_every_status_the_print_house_reports_moves_a_queued_letter_to_the_same_named_status(
    reported: DispatchStatus,
) -> None:
    """LetterStatus spells the contract's DispatchStatus values again (an enum cannot extend another): they agree."""
    assert next_status(LetterStatus.QUEUED, reported) == LetterStatus(reported.value)


def test_the_letter_goes_to_the_consumption_partners_address_of_record() -> None:
    grants = (
        PartnerNumberGrant(partner_number="2222", role=PartnerRole.FEED_IN),
        PartnerNumberGrant(partner_number="1111", role=PartnerRole.CONSUMPTION),
    )
    assert recipient_of(grants, point()).partner_number == "1111"
    with pytest.raises(NoRecipient):
        recipient_of((PartnerNumberGrant(partner_number="9999", role=PartnerRole.CONSUMPTION),), point())


def test_address_lines_follow_din_5008_with_the_country_last_in_capitals_abroad() -> None:
    partner = point().partners[0]
    assert recipient_address(partner).lines == ("Solar Erika", "c/o Huber", "Dorfstrasse 3", "80000 Wien", "AT")


def test_the_access_link_carries_meter_partner_and_code_only_in_the_fragment() -> None:
    link = access_link("https://000328.plusportal.de", "1EMH0005939068", "1111", "c0de")
    assert link == "https://000328.plusportal.de/zugang#zaehler=1EMH0005939068&partner=1111&code=c0de"


NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("age", "status", "holds"),
    [
        (timedelta(0), LetterStatus.QUEUED, True),
        (timedelta(days=13, hours=23, minutes=59), LetterStatus.HANDED_TO_CARRIER, True),
        (ONE_LETTER_PER_METER_WITHIN, LetterStatus.DELIVERED, False),  # 14 days on: a letter may go again
        (timedelta(days=20), LetterStatus.QUEUED, False),
        (timedelta(days=1), LetterStatus.RETURNED, True),  # posted, came back: a clerk looks at it
        (timedelta(days=1), LetterStatus.FAILED, False),  # the print house never posted it
        (-timedelta(minutes=5), LetterStatus.QUEUED, True),  # another instance's clock a little ahead
    ],
)
def test_one_letter_per_meter_within_14_days(age: timedelta, status: LetterStatus, holds: bool) -> None:
    earlier = PostedLetter("PP-000328-0000AAAA", NOW - age, status)
    assert (earlier_letter([earlier], NOW) == earlier) is holds


def test_the_latest_of_the_meters_recent_letters_is_named() -> None:
    old, new = (PostedLetter(f"PP-{n}", NOW - timedelta(days=n), LetterStatus.PRINTED) for n in (10, 2))
    assert earlier_letter([old, new], NOW) == new
    assert earlier_letter([], NOW) is None
