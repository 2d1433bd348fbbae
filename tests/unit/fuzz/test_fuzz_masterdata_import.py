"""Fuzzing the master-data import (backoffice.masterdata_import.read_meter_points): any file, and the demo CSV
with cells, lines and bytes changed. Documented error: ImportProblem, whose lines name the row and column for the
operator's clerk — nothing else may escape (the command then prints that and publishes nothing)."""

import re
from pathlib import Path
from tempfile import TemporaryDirectory

from hypothesis import example, given
from hypothesis import strategies as st

from backoffice.masterdata_import import ImportProblem, read_meter_points
from contracts.common import METER_NUMBER_PATTERN
from tests.unit.fuzz.strategies import ODD_TEXT, mutated_bytes

DEMO = Path("deploy/demo/masterdata-000328.csv").read_bytes()
HEADER, *ROWS = DEMO.decode("utf-8-sig").splitlines()


def read(data: bytes) -> None:
    with TemporaryDirectory() as folder:
        path = Path(folder) / "import.csv"
        path.write_bytes(data)
        try:
            points = read_meter_points(path)
        except ImportProblem as problem:
            assert str(problem).startswith("Zeile ")  # the first problem names its line (cells may hold breaks)
            return
    assert all(re.match(METER_NUMBER_PATTERN, point.meter_number) and point.partners for point in points)


@st.composite
def edited_csv(draw: st.DrawFn) -> bytes:
    """The demo file with a few rows, and a cell in one of them, changed."""
    rows = [row.split(",") for row in draw(st.lists(st.sampled_from(ROWS), min_size=1, max_size=4))]
    row = draw(st.sampled_from(rows))
    at = draw(st.integers(0, len(row)))
    edit = draw(st.sampled_from(["replace", "drop", "add"]))
    text = draw(ODD_TEXT).replace("\x00", "")
    if edit == "replace" and at < len(row):
        row[at] = text
    elif edit == "drop":
        del row[at:]
    else:
        row.insert(at, text)
    header = draw(st.sampled_from([HEADER, HEADER.replace("meter_number", "zaehler"), HEADER.replace(",role", "")]))
    return "\n".join([header, *(",".join(r) for r in rows)]).encode()


# Found: a row shorter than the header has None as its meter number (AttributeError on .replace), a file without
# the meter_number column raised KeyError, and a file that is not UTF-8 UnicodeDecodeError — all outside the
# collecting of problems.
@example(f"{HEADER.removeprefix('meter_number,')},meter_number\nLindenweg".encode())
@example(b"zaehler,name\n1,2\n")
@example(DEMO.replace(b"Musterstadt", b"M\xfcnster"))
@given(edited_csv())
def test_an_edited_import_is_read_or_refused_with_import_problem(data: bytes) -> None:
    read(data)


@given(st.one_of(st.binary(max_size=300), mutated_bytes(DEMO)))
def test_any_file_is_read_or_refused_with_import_problem(data: bytes) -> None:
    read(data)
