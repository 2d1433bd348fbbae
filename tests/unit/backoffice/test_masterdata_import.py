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
