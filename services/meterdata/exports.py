"""Export files of a period (CSV, German CSV, XLSX), built from what was read of it.

``build`` runs in a worker process (kit.cpu.ProcessPool, see api.build_api): three years of 15-minute values
are 105,000 rows, about a second of CPU as CSV and several as XLSX (benchmarks/README.md, "Exports"), which
on the serving loop would stall every other request of the process. It takes plain data
(``domain.StoredPeriod``) and returns the file's bytes.
"""

import csv
import io
from collections.abc import Iterable
from typing import Any

import xlsxwriter

from kit import energy_day
from services.meterdata import domain

FORMATS = ("csv", "csv-de", "xlsx")
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "csv-de": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
EXTENSIONS = {"csv": "csv", "csv-de": "csv", "xlsx": "xlsx"}


def build(period: domain.StoredPeriod, format: str) -> bytes:
    """The export file of ``period`` in ``format`` (one of FORMATS)."""
    table = _table(domain.period_buckets(period), german=format != "csv")
    if format == "xlsx":
        return _xlsx(table)
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";" if format == "csv-de" else ",")
    for row in table:
        writer.writerow([_de(v) if format == "csv-de" else v for v in row])
    return buffer.getvalue().encode("utf-8-sig" if format == "csv-de" else "utf-8")


def _table(buckets: Iterable[domain.Bucket], german: bool) -> list[list[Any]]:
    header = (
        ["Beginn", "Ende", "Energie (kWh)", "Qualität", "Werte vorhanden", "Werte erwartet"]
        if german
        else ["start", "end", "kwh", "quality", "present", "expected"]
    )
    rows: list[list[Any]] = [header]
    for b in buckets:
        start, stop = (
            (b.start.astimezone(energy_day.BERLIN), b.end.astimezone(energy_day.BERLIN)) if german else (b.start, b.end)
        )
        quality = domain.QUALITY_OF_CODE[b.quality] if b.quality is not None else None
        rows.append(
            [
                start.isoformat(),
                stop.isoformat(),
                domain.kwh_of(b.wh, b.present),
                (domain.QUALITY_NAMES[quality] if german else quality.value) if quality else "",
                b.present,
                b.expected,
            ]
        )
    return rows


def _de(value: Any) -> Any:
    return f"{value:.3f}".replace(".", ",") if isinstance(value, float) else value


def _xlsx(table: list[list[Any]]) -> bytes:
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = book.add_worksheet("Messwerte")
    number = book.add_format({"num_format": "0.000"})
    for r, row in enumerate(table):
        for c, value in enumerate(row):
            sheet.write(r, c, value, number if isinstance(value, float) else None)
    sheet.set_column(0, 1, 26)
    book.close()
    return buffer.getvalue()
