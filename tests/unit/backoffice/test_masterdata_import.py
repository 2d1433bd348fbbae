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


def test_billing_periods_are_read_from_their_column(tmp_path: Path) -> None:
    csv = tmp_path / "billing.csv"
    csv.write_text(
        HEADER.rstrip("\n")
        + ",abrechnungszeitraeume\n"
        + "1EMH0005939068,,Weg,1,12345,Ort,4711000001,consumption,Erika,Weg,1,12345,Ort,"
        + "2024-03-01..2025-02-28; 2025-03-01..2026-02-28\n"
        + "1ESY1161052714,,Weg,2,12345,Ort,4711000002,consumption,Max,Weg,2,12345,Ort,\n",
        encoding="utf-8",
    )
    erika, max_ = read_meter_points(csv)
    assert [(p.first_day, p.last_day) for p in erika.partners[0].billing_periods] == [
        (date(2024, 3, 1), date(2025, 2, 28)),
        (date(2025, 3, 1), date(2026, 2, 28)),
    ]
    assert max_.partners[0].billing_periods == ()  # empty: calendar years


@pytest.mark.parametrize(
    ("cell", "reason"),
    [
        ("2024-03-01", r"billing_periods\.0\.last_day"),
        ("2025-03-01..2025-02-28", "ends before it begins"),
        ("2024-03-01..2025-02-28;2025-02-01..2026-01-31", "overlap"),
        ("2024-03-01..2025-02-30", r"billing_periods\.0\.last_day"),
    ],
)
def test_a_wrong_billing_period_is_named(tmp_path: Path, cell: str, reason: str) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text(
        HEADER.rstrip("\n")
        + ",abrechnungszeitraeume\n"
        + f"1EMH0005939068,,Weg,1,12345,Ort,4711000001,consumption,Erika,Weg,1,12345,Ort,{cell}\n",
        encoding="utf-8",
    )
    with pytest.raises(ImportProblem, match=rf"Zeile 2 \(Zähler 1EMH0005939068\): .*{reason}"):
        read_meter_points(csv)


def test_files_without_billing_periods_mean_calendar_years() -> None:
    points = read_meter_points(Path("deploy/demo/masterdata-000328.csv"))
    assert all(p.billing_periods == () for point in points for p in point.partners)


def test_the_modul3_column_says_who_chose_the_time_variable_grid_fee(tmp_path: Path) -> None:
    csv = tmp_path / "modul3.csv"
    csv.write_text(
        HEADER.rstrip("\n")
        + ",modul3\n"
        + "1EMH0005939068,,Weg,1,12345,Ort,4711,consumption,Erika,Weg,1,12345,Ort,ja\n"
        + "1EMH0005939069,,Weg,1,12345,Ort,4712,consumption,Hans,Weg,1,12345,Ort,\n"
        + "1EMH0005939070,,Weg,1,12345,Ort,4713,consumption,Anna,Weg,1,12345,Ort,Nein\n",
        encoding="utf-8",
    )
    chosen = {p.partners[0].partner_number: p.partners[0].time_variable_grid_fee for p in read_meter_points(csv)}
    assert chosen == {"4711": True, "4712": False, "4713": False}


def test_a_modul3_cell_that_is_neither_ja_nor_nein_is_named(tmp_path: Path) -> None:
    csv = tmp_path / "modul3.csv"
    csv.write_text(
        HEADER.rstrip("\n")
        + ",modul3\n"
        + "1EMH0005939068,,Weg,1,12345,Ort,4711,consumption,Erika,Weg,1,12345,Ort,vielleicht\n",
        encoding="utf-8",
    )
    with pytest.raises(ImportProblem, match=r"Zeile 2 \(Zähler 1EMH0005939068\): partners.0.time_variable_grid_fee"):
        read_meter_points(csv)
