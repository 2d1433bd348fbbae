"""Validity periods of partner ↔ meter relations (kit.validity): which days a partner may see."""

from datetime import date

import pytest
from pydantic import ValidationError

from contracts.common import PartnerRole
from contracts.masterdata import PartnerOfRecord
from kit.validity import Relation, current, ended, ranges, relations_of, within
from tests.unit.examples import HOME, METER, MOVED_IN, MOVED_OUT, PARTNER, meter_point, moved_point

JUNE, JULY = date(2026, 6, 1), date(2026, 7, 1)
NEW = "8145032976"


def test_valid_to_is_the_last_day_so_the_relation_ends_the_day_after() -> None:
    point = moved_point(PARTNER, NEW)
    assert relations_of(point, PARTNER, "consumption") == [Relation(METER, None, MOVED_IN)]
    assert relations_of(point, NEW, "consumption") == [Relation(METER, MOVED_IN, None)]
    assert relations_of(point, NEW, "feed_in") == []  # the role is part of the relation


def test_a_record_without_periods_means_always() -> None:
    assert relations_of(meter_point(PARTNER), PARTNER, "consumption") == [Relation(METER, None, None)]
    assert ranges([Relation(METER, None, None)], JUNE, JULY) == [(JUNE, JULY)]


def test_move_out_on_the_14th_and_move_in_on_the_15th_split_the_month_at_that_day() -> None:
    point = moved_point(PARTNER, NEW)
    assert ranges(relations_of(point, PARTNER, "consumption"), JUNE, JULY) == [(JUNE, MOVED_IN)]
    assert ranges(relations_of(point, NEW, "consumption"), JUNE, JULY) == [(MOVED_IN, JULY)]
    # A period entirely on the other side: nothing.
    assert ranges(relations_of(point, NEW, "consumption"), JUNE, MOVED_OUT) == []
    assert ranges(relations_of(point, PARTNER, "consumption"), MOVED_IN, JULY) == []


def test_within_bounds_each_relation_to_the_period_and_drops_those_outside() -> None:
    tenth = date(2026, 6, 10)
    relations = [Relation("A", None, tenth), Relation("B", tenth, None), Relation("C", None, JUNE)]
    assert within(relations, JUNE, JULY) == [Relation("A", JUNE, tenth), Relation("B", tenth, JULY)]


def test_a_meter_change_from_one_day_to_the_next_is_one_range_and_a_gap_stays_a_gap() -> None:
    change = [Relation("B", date(2026, 6, 10), None), Relation("A", None, date(2026, 6, 10))]
    assert ranges(change, JUNE, JULY) == [(JUNE, JULY)]
    back_again = [Relation("A", None, date(2026, 6, 5)), Relation("A", date(2026, 6, 20), date(2026, 6, 25))]
    assert ranges(back_again, JUNE, JULY) == [(JUNE, date(2026, 6, 5)), (date(2026, 6, 20), date(2026, 6, 25))]
    overlapping = [Relation("A", None, date(2026, 6, 20)), Relation("A", date(2026, 6, 5), date(2026, 6, 25))]
    assert ranges(overlapping, JUNE, JULY) == [(JUNE, date(2026, 6, 25))]


def test_a_partner_is_moved_out_once_every_relation_has_ended() -> None:
    point = moved_point(PARTNER, NEW)
    previous = relations_of(point, PARTNER, "consumption")
    assert ended(previous, MOVED_OUT) is None  # still their day
    assert ended(previous, MOVED_IN) == MOVED_OUT
    assert ended(relations_of(point, NEW, "consumption"), date(2027, 1, 1)) is None
    assert ended([*previous, Relation("1EMH0000000001", None, None)], MOVED_IN) is None  # another meter still
    assert ended([], MOVED_IN) is None


def test_a_moved_out_partner_is_no_longer_current() -> None:
    previous, new = moved_point(PARTNER, NEW).partners
    assert current(previous, MOVED_OUT) and not current(previous, MOVED_IN)
    assert current(new, MOVED_OUT) and current(new, MOVED_IN)  # known before moving in


def test_a_period_cannot_end_before_it_begins() -> None:
    with pytest.raises(ValidationError, match="lies before"):
        PartnerOfRecord(
            partner_number=PARTNER,
            role=PartnerRole.CONSUMPTION,
            name="Erika Mustermann",
            postal_address=HOME,
            valid_from=MOVED_IN,
            valid_to=MOVED_OUT,
        )
