"""What is built from a period as read, in a worker process: export files (CSV, German CSV, XLSX) and long
15-minute and hourly answers.

``export_file`` and ``results_page`` run in worker processes (kit.cpu.ProcessPool, see api.build_api): three
years of 15-minute values are 105,000 rows, about a second of CPU as CSV and several as XLSX, three years of
hours 26,000 buckets (benchmarks/README.md, "Exports"), which on the serving loop would stall every other
request of the process. Each reads its period in the worker (kit.cpu.read_in_worker: decoding three years of
arrays is CPU too) and returns bytes; ``build`` makes the file of a period as read.
"""

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
import xlsxwriter

from contracts.meterdata import Quality
from kit import energy_day
from kit.cpu import read_in_worker
from services.meterdata import domain, handlers
from services.meterdata.store import MeterdataStore

FORMATS = ("csv", "csv-de", "xlsx")
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "csv-de": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
EXTENSIONS = {"csv": "csv", "csv-de": "csv", "xlsx": "xlsx"}


def export_file(database_url: str, query: handlers.ShowIntervals, format: str) -> bytes:
    """In a worker: the export file of ``query``'s period in ``format``, read from the database there."""
    return build(_stored(database_url, query), format)


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


def results_page(database_url: str, query: handlers.ShowIntervals, page: int, page_size: int) -> tuple[int, bytes]:
    """In a worker: the number of the period's buckets, and one page of them as the JSON list ``/intervals``
    answers."""
    period = _stored(database_url, query)
    if query.resolution == domain.Resolution.QUARTER_HOUR:
        days = [(day, values, codes, None) for day, values, codes in period.days or []]
        entries = domain.encoded_quarter_hour_entries(days, period.ranges)
        return len(entries), json_list(entries[(page - 1) * page_size : page * page_size])
    rows = interval_rows(domain.period_buckets(period), query.resolution)
    return len(rows), orjson.dumps(rows[(page - 1) * page_size : page * page_size])


def json_list(entries: Sequence[bytes]) -> bytes:
    """Encoded JSON values as one JSON list: what ``orjson.dumps`` makes of the list of the values themselves."""
    return b"[" + b",".join(entries) + b"]"


def interval_rows(buckets: Iterable[domain.Bucket], resolution: domain.Resolution) -> list[dict[str, Any]]:
    """``/intervals``' entries of hours … years (and of 15 minutes, one per value)."""
    fine = resolution == domain.Resolution.QUARTER_HOUR
    return [
        {
            "start": b.start,
            "end": b.end,
            "kwh": domain.kwh_of(b.wh, b.present),
            **(
                {"quality": domain.QUALITY_OF_CODE[b.quality].value if b.quality is not None else Quality.MISSING.value}
                if fine
                else {"present": b.present, "expected": b.expected, "substitutes": b.substitutes}
            ),
        }
        for b in buckets
    ]


def _stored(database_url: str, query: handlers.ShowIntervals) -> domain.StoredPeriod:
    return read_in_worker(database_url, MeterdataStore, lambda uow: handlers.stored_period(query, uow))


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
