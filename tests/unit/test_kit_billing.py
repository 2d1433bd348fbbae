"""Billing periods as master data gives them (kit.billing): a partner's own, or calendar years."""

from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from contracts.common import PartnerRole
from contracts.masterdata import BillingPeriod, MeterPointRecorded, PartnerOfRecord
from kit.billing import calendar_years, periods_of, shown
from tests.unit.examples import HOME, METER


def period(first: str, last: str) -> BillingPeriod:
    return BillingPeriod(first_day=date.fromisoformat(first), last_day=date.fromisoformat(last))


MARCH_TO_FEBRUARY = [period("2023-03-01", "2024-02-29"), period("2024-03-01", "2025-02-28")]


def test_without_billing_periods_they_are_the_calendar_years_with_a_day_in_the_range() -> None:
    assert shown([], date(2023, 1, 1), date(2026, 12, 7)) == [
        period(f"{year}-01-01", f"{year}-12-31") for year in (2023, 2024, 2025, 2026)
    ]
    assert calendar_years(date(2023, 1, 1), date(2024, 1, 1)) == [period("2023-01-01", "2023-12-31")]
    assert calendar_years(date(2024, 1, 1), date(2024, 1, 1)) == []


def test_given_periods_are_shown_when_they_have_a_day_in_the_range_oldest_first_and_once() -> None:
    later, earlier = MARCH_TO_FEBRUARY[1], MARCH_TO_FEBRUARY[0]
    assert shown([later, earlier, later], date(2023, 1, 1), date(2026, 1, 1)) == [earlier, later]
    # The first period ended on the day before the range begins; the second begins on the day it ends.
    assert shown(MARCH_TO_FEBRUARY, date(2024, 3, 1), date(2025, 3, 1)) == [later]
    assert shown(MARCH_TO_FEBRUARY, date(2022, 1, 1), date(2023, 3, 1)) == []


def test_a_partners_periods_are_read_from_their_own_entry_of_the_record() -> None:
    def partner(number: str, periods: list[BillingPeriod]) -> PartnerOfRecord:
        return PartnerOfRecord(
            partner_number=number,
            role=PartnerRole.CONSUMPTION,
            name="N",
            postal_address=HOME,
            billing_periods=tuple(periods),
        )

    point = MeterPointRecorded(
        meter_number=METER,
        connection_address=HOME,
        recorded_at=datetime(2026, 3, 1, tzinfo=UTC),
        partners=(partner("4711000001", MARCH_TO_FEBRUARY), partner("4711000002", [])),
    )
    assert periods_of(point, "4711000001", "consumption") == MARCH_TO_FEBRUARY
    assert periods_of(point, "4711000001", "feed_in") == []
    assert periods_of(point, "4711000002", "consumption") == []


def test_overlapping_or_reversed_periods_are_refused_by_the_contract() -> None:
    with pytest.raises(ValidationError, match="ends before it begins"):
        period("2024-03-01", "2024-02-29")
    with pytest.raises(ValidationError, match="overlap"):
        PartnerOfRecord(
            partner_number="4711000001",
            role=PartnerRole.CONSUMPTION,
            name="N",
            postal_address=HOME,
            billing_periods=(period("2024-03-01", "2025-02-28"), period("2025-02-28", "2026-02-27")),
        )
