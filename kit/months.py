"""Calendar-month arithmetic on dates (a month is named by its first day), for rules and for partitions."""

from collections.abc import Iterator
from datetime import date


def month_of(day: date) -> date:
    return day.replace(day=1)


def add_months(month: date, count: int) -> date:
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def months_between(first: date, last: date) -> Iterator[date]:
    """Every month from ``first``'s to ``last``'s, both included."""
    month, end = month_of(first), month_of(last)
    while month <= end:
        yield month
        month = add_months(month, 1)
