"""Who may see which days: the validity periods of partners' relations to meters.

Master data (``contracts.masterdata.PartnerOfRecord``, version 2) dates each relation on Europe/Berlin energy days:
``valid_from`` is its first day and ``valid_to`` its last day, both inclusive, either absent (since always, open).
A move-out on the 14th and a move-in on the 15th: the previous partner has ``valid_to`` = 14th, the new one
``valid_from`` = 15th, and both stay in the meter's record. Here a relation is a half-open range of days
[first, end) with ``end`` = ``valid_to`` + 1 day, as every period of meter data is (``from`` inclusive, ``to``
exclusive).

A partner sees a meter's readings only on the days of their relation to it; what completeness expects are the
days of all their relations together. Plain Python, no I/O: the services' domains use it, and
``kit.masterdata`` reads the relations from the read model (its one-statement SQL mirrors ``relation``).
"""

from collections.abc import Iterable
from datetime import date, timedelta
from typing import NamedTuple

from contracts.masterdata import MeterPointRecorded, PartnerOfRecord

ONE_DAY = timedelta(days=1)


class Relation(NamedTuple):
    """A partner's relation to one meter: the days [first, end); None where master data sets no bound."""

    meter_number: str
    first: date | None  # the first day (inclusive); None: since always
    end: date | None  # the day after the last one (exclusive); None: open


def relation(meter_number: str, partner: PartnerOfRecord) -> Relation:
    end = partner.valid_to + ONE_DAY if partner.valid_to is not None else None
    return Relation(meter_number, partner.valid_from, end)


def relations_of(point: MeterPointRecorded, partner_number: str, role: str) -> list[Relation]:
    """The relations a meter's record gives this partner number in this role (several: moved out and back in)."""
    return [
        relation(point.meter_number, p) for p in point.partners if p.partner_number == partner_number and p.role == role
    ]


def within(relations: Iterable[Relation], first: date, end: date) -> list[Relation]:
    """Each relation's days inside [first, end), both bounds set; relations without a day there are left out."""
    found = []
    for r in relations:
        start = first if r.first is None else max(first, r.first)
        stop = end if r.end is None else min(end, r.end)
        if start < stop:
            found.append(Relation(r.meter_number, start, stop))
    return found


def ranges(relations: Iterable[Relation], first: date, end: date) -> list[tuple[date, date]]:
    """The days inside [first, end) on which any of the relations holds, as sorted half-open ranges that neither
    overlap nor touch (a meter change from one day to the next is one range)."""
    merged: list[tuple[date, date]] = []
    for _, start, stop in sorted(within(relations, first, end), key=lambda r: r.first or first):
        assert start is not None and stop is not None  # within() sets both
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], stop))
        else:
            merged.append((start, stop))
    return merged


def ended(relations: Iterable[Relation], today: date) -> date | None:
    """The last day of a partner whose relations have all ended before ``today`` ("ausgezogen"), else None."""
    ends = [r.end for r in relations]
    if not ends or None in ends:
        return None
    last_end = max(end for end in ends if end is not None)
    return last_end - ONE_DAY if last_end <= today else None


def current(partner: PartnerOfRecord, today: date) -> bool:
    """Whether the partner's relation has not ended before ``today`` (a moved-out partner gets no new letter)."""
    return partner.valid_to is None or partner.valid_to >= today
