import pytest

from contracts.common import PartnerNumberGrant, PartnerRole, PostalAddress
from contracts.letters import DispatchStatus
from contracts.masterdata import MeterPointRecorded, PartnerOfRecord
from services.letters.domain import (
    LetterStatus,
    NoRecipient,
    access_link,
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


def test_the_access_link_carries_meter_and_partner_only_in_the_fragment() -> None:
    link = access_link("https://000328.plusportal.de", "1EMH0005939068", "1111")
    assert link == "https://000328.plusportal.de/zugang#zaehler=1EMH0005939068&partner=1111"
