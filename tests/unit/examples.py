"""Example data the unit tests of several services share: the demo customer's meter and its master data."""

from datetime import UTC, date, datetime

from contracts.common import PartnerRole, PostalAddress
from contracts.masterdata import MeterPointRecorded, PartnerOfRecord

METER = "1EMH0005939068"
# Her partner number in deploy/demo: ten random digits, as partner numbers are (a credential: not counted up).
PARTNER = "3236513735"
HOME = PostalAddress(street="Lindenweg", house_number="4", postcode="12345", city="Musterstadt")


def meter_point(partner_number: str = PARTNER) -> MeterPointRecorded:
    """Erika Mustermann's meter with one consumption partner, as the billing system records it."""
    return MeterPointRecorded(
        meter_number=METER,
        connection_address=HOME,
        recorded_at=datetime(2026, 11, 1, tzinfo=UTC),
        partners=(
            PartnerOfRecord(
                partner_number=partner_number,
                role=PartnerRole.CONSUMPTION,
                name="Erika Mustermann",
                postal_address=HOME,
            ),
        ),
    )


MOVED_OUT, MOVED_IN = date(2026, 6, 14), date(2026, 6, 15)


def moved_point(
    previous: str = PARTNER,
    new: str = "8145032976",
    *,
    meter: str = METER,
    moved_out: date = MOVED_OUT,
    moved_in: date = MOVED_IN,
    recorded_at: datetime = datetime(2026, 11, 1, tzinfo=UTC),
) -> MeterPointRecorded:
    """Erika Mustermann's meter after she moved out (14 June) and Jonas Nachmieter moved in (the 15th)."""
    return MeterPointRecorded(
        meter_number=meter,
        connection_address=HOME,
        recorded_at=recorded_at,
        partners=(
            PartnerOfRecord(
                partner_number=previous,
                role=PartnerRole.CONSUMPTION,
                name="Erika Mustermann",
                postal_address=HOME,
                valid_to=moved_out,
            ),
            PartnerOfRecord(
                partner_number=new,
                role=PartnerRole.CONSUMPTION,
                name="Jonas Nachmieter",
                postal_address=HOME,
                valid_from=moved_in,
            ),
        ),
    )
