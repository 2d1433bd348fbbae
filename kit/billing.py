"""Billing periods (Abrechnungszeiträume): which ones a partner has, as master data gives them.

Master data (``contracts.masterdata.PartnerOfRecord.billing_periods``, version 3) lists a partner's billing periods
on Europe/Berlin energy days, first and last day inclusive. A partner without any (and every version 1 and 2 record)
is billed per calendar year. Here a period is also read as the half-open range of days [first_day, last_day + 1),
as every period of meter data is. Plain Python, no I/O: ``kit.masterdata`` reads the periods of a partner from the
read model with ``periods_of``, a service's domain decides which of them it shows (``shown``).
"""

from collections.abc import Iterable
from datetime import date, timedelta

from contracts.masterdata import BillingPeriod, MeterPointRecorded

ONE_DAY = timedelta(days=1)


def periods_of(point: MeterPointRecorded, partner_number: str, role: str) -> list[BillingPeriod]:
    """The billing periods a meter's record gives this partner number in this role."""
    return [
        period
        for partner in point.partners
        if partner.partner_number == partner_number and partner.role == role
        for period in partner.billing_periods
    ]


def chose_time_variable_fee(point: MeterPointRecorded, partner_number: str, role: str) -> bool:
    """Whether a meter's record says this partner number chose the time-variable grid fee (Modul 3, version 4)."""
    return any(
        partner.time_variable_grid_fee
        for partner in point.partners
        if partner.partner_number == partner_number and partner.role == role
    )


def end_of(period: BillingPeriod) -> date:
    """The day after the period's last day (exclusive end)."""
    return period.last_day + ONE_DAY


def calendar_years(first: date, end: date) -> list[BillingPeriod]:
    """The calendar years that have a day in [first, end): the billing periods of a partner master data names none
    for."""
    if end <= first:
        return []
    years = range(first.year, (end - ONE_DAY).year + 1)
    return [BillingPeriod(first_day=date(year, 1, 1), last_day=date(year, 12, 31)) for year in years]


def shown(given: Iterable[BillingPeriod], first: date, end: date) -> list[BillingPeriod]:
    """The billing periods with a day in [first, end), oldest first, each once (a partner with two meters has their
    periods in both records): those master data gives, or calendar years when it gives none."""
    periods = sorted(set(given), key=lambda period: (period.first_day, period.last_day)) or calendar_years(first, end)
    return [period for period in periods if period.first_day < end and end_of(period) > first]
