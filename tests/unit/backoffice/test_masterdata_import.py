from datetime import date
from pathlib import Path

import pytest

from backoffice.masterdata_import import ImportProblem, read_meter_points
from contracts.common import PartnerRole

HEADER = (
    "meter_number,malo_id,connection_street,connection_house_number,connection_postcode,connection_city,"
    "partner_number,role,name,street,house_number,postcode,city\n"
)


def test_the_demo_files_group_partners_by_meter() -> None:
    points = read_meter_points(Path("deploy/demo/masterdata-000328.csv"))
    solar = next(p for p in points if p.meter_number == "1ESY1161052714")
    assert [p.role for p in solar.partners] == [PartnerRole.CONSUMPTION, PartnerRole.FEED_IN]


def test_every_bad_row_is_named_and_nothing_is_returned(tmp_path: Path) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text(
        HEADER
        + "1EMH0005939068,,Weg,1,12345,Ort,4711,consumption,Erika,Weg,1,12345,Ort\n"
        + "1 emh 0005939069,,Weg,1,1234,Ort,4712,consumption,Hans,Weg,1,12345,Ort\n"
        + "1EMH0005939070,,Weg,1,12345,Ort,4713,heating,Anna,Weg,1,12345,Ort\n",
        encoding="utf-8",
    )
    with pytest.raises(ImportProblem) as problem:
        read_meter_points(csv)
    message = str(problem.value)
    assert "Zeile 3 (Zähler 1EMH0005939069): connection_address.postcode" in message
    assert "Zeile 4 (Zähler 1EMH0005939070): partners.0.role" in message
    assert "Zeile 2" not in message


def test_validity_columns_are_read_and_may_stay_empty(tmp_path: Path) -> None:
    csv = tmp_path / "moved.csv"
    csv.write_text(
        HEADER.rstrip("\n")
        + ",valid_from,valid_to\n"
        + "1EMH0005939068,,Weg,1,12345,Ort,4711000001,consumption,Erika Alt,Weg,1,12345,Ort,,2026-06-14\n"
        + "1EMH0005939068,,Weg,1,12345,Ort,4711000002,consumption,Jonas Neu,Weg,1,12345,Ort,2026-06-15,\n",
        encoding="utf-8",
    )
    [point] = read_meter_points(csv)
    assert [(p.valid_from, p.valid_to) for p in point.partners] == [
        (None, date(2026, 6, 14)),
        (date(2026, 6, 15), None),
    ]


def test_a_period_that_ends_before_it_begins_is_named(tmp_path: Path) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text(
        HEADER.rstrip("\n")
        + ",valid_from,valid_to\n"
        + "1EMH0005939068,,Weg,1,12345,Ort,4711000001,consumption,Erika Alt,Weg,1,12345,Ort,2026-06-15,2026-06-14\n",
        encoding="utf-8",
    )
    with pytest.raises(ImportProblem, match=r"Zeile 2 .*lies before"):
        read_meter_points(csv)


def test_files_without_validity_columns_mean_always() -> None:
    points = read_meter_points(Path("deploy/demo/masterdata-000328.csv"))
    assert all(p.valid_from is None and p.valid_to is None for point in points for p in point.partners)
