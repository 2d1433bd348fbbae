"""Import a grid operator's master data from CSV and publish it on the master-data topic.

One row per partner of a meter (a meter with consumption and feed-in has two rows). Columns:
meter_number, malo_id, connection_street, connection_house_number, connection_postcode,
connection_city, partner_number, role (consumption|feed_in), name, street, house_number, postcode, city, and
optionally valid_from, valid_to: the first and the last day (inclusive, YYYY-MM-DD, Europe/Berlin energy days) of
that partner's relation to the meter, empty for "since always" and "open" (kit.validity). After a move-out the
previous partner keeps their row with valid_to, and the new one gets a row with valid_from: both see their own
days only. Optionally abrechnungszeitraeume: the partner's billing periods, each ``first..last`` (days inclusive,
YYYY-MM-DD), separated by ``;`` — e.g. ``2024-03-01..2025-02-28;2025-03-01..2026-02-28``; empty: calendar years
(kit.billing). Optionally modul3: ``ja`` where the partner chose the time-variable grid fee (§14a EnWG, Modul 3)
for this consumption, empty or ``nein`` where not. Files without these columns import as before (every relation
open, calendar years, no Modul 3).

    plusportal-masterdata --tenant 000328 deploy/demo/masterdata-000328.csv

Every row is checked before anything is published: errors name the line and column.
"""

import argparse
import asyncio
import csv
import os
import sys
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

from aiokafka import AIOKafkaProducer
from pydantic import ValidationError

from contracts.masterdata import MeterPointRecorded
from contracts.topics import MASTER_DATA, Principal
from kit.events import encode, envelope_for
from kit.kafka import KafkaAccess
from kit.settings import KafkaSettings


class ImportProblem(Exception):
    """The file cannot be imported; each line of the message names a line of the file (read_meter_points raises
    only this)."""


COLUMNS = (
    "meter_number", "malo_id", "connection_street", "connection_house_number", "connection_postcode", "connection_city",
    "partner_number", "role", "name", "street", "house_number", "postcode", "city",
)  # fmt: skip
PERIOD_COLUMNS = ("valid_from", "valid_to")  # optional
BILLING_COLUMN = "abrechnungszeitraeume"  # optional
MODUL3_COLUMN = "modul3"  # optional
_YES_NO = {"ja": True, "nein": False, "": False}


def _yes_no(cell: str | None) -> bool | str:
    """``ja``/``nein``/empty → a bool; anything else as it is, for the model to refuse with the line."""
    text = (cell or "").strip()
    return _YES_NO.get(text.lower(), text)


def _billing_periods(cell: str | None) -> list[dict[str, str]]:
    """``2024-03-01..2025-02-28;2025-03-01..2026-02-28`` → the contract's BillingPeriod fields (the model checks
    them; an entry without ``..`` lacks its last day)."""
    periods = []
    for entry in (cell or "").split(";"):
        if entry.strip():
            first, _, last = entry.strip().partition("..")
            periods.append({"first_day": first.strip(), **({"last_day": last.strip()} if last.strip() else {})})
    return periods


def _address(row: dict[str, str], prefix: str = "") -> dict[str, str]:
    return {
        "street": row[f"{prefix}street"],
        "house_number": row[f"{prefix}house_number"],
        "postcode": row[f"{prefix}postcode"],
        "city": row[f"{prefix}city"],
    }


def read_meter_points(path: Path) -> list[MeterPointRecorded]:
    """Group the CSV rows by meter and validate each meter point; collect every problem first."""
    rows_by_meter: dict[str, list[tuple[int, dict[str, str]]]] = defaultdict(list)
    line = 1
    try:
        with path.open(encoding="utf-8-sig", newline="") as file:
            reader = csv.DictReader(file)
            missing = [column for column in COLUMNS if column not in (reader.fieldnames or ())]
            if missing:
                raise ImportProblem(f"Zeile 1: Spalte {', '.join(missing)} fehlt")
            for line, row in enumerate(reader, start=2):
                # A short row has None in its last columns: the model refuses them below, with the line.
                rows_by_meter[(row["meter_number"] or "").replace(" ", "").upper()].append((line, row))
    except UnicodeDecodeError as error:
        raise ImportProblem(
            f"Zeile {line + 1}: die Datei ist nicht in UTF-8 gespeichert (Byte {error.start})"
        ) from None
    except csv.Error as error:
        raise ImportProblem(f"Zeile {line + 1}: {error}") from None
    now = datetime.now(UTC)
    points, problems = [], []
    for meter_number, rows in rows_by_meter.items():
        first_line, first = rows[0]
        try:
            points.append(
                MeterPointRecorded(
                    meter_number=meter_number,
                    malo_id=first.get("malo_id") or None,
                    connection_address=_address(first, "connection_"),  # type: ignore[arg-type]
                    partners=tuple(
                        {
                            "partner_number": r["partner_number"],
                            "role": r["role"],
                            "name": r["name"],  # type: ignore[misc]
                            "postal_address": _address(r),
                            **{column: r.get(column) or None for column in PERIOD_COLUMNS},
                            "billing_periods": _billing_periods(r.get(BILLING_COLUMN)),
                            "time_variable_grid_fee": _yes_no(r.get(MODUL3_COLUMN)),
                        }
                        for _, r in rows
                    ),
                    recorded_at=now,
                )
            )
        except (ValidationError, KeyError) as error:
            if isinstance(error, KeyError):
                problems.append(f"Zeile {first_line}: Spalte {error} fehlt")
                continue
            for item in error.errors():
                where = ".".join(str(part) for part in item["loc"])
                problems.append(f"Zeile {first_line} (Zähler {meter_number}): {where}: {item['msg']}")
    if problems:
        raise ImportProblem("\n".join(problems))
    return points


async def publish_meter_points(kafka: KafkaAccess, tenant: str, points: list[MeterPointRecorded]) -> None:
    producer = AIOKafkaProducer(**kafka.client_options(), enable_idempotence=True, acks="all")
    await producer.start()
    try:
        correlation_id = uuid4()  # one import = one correlation id
        for point in points:
            envelope = envelope_for(point, tenant=tenant, correlation_id=correlation_id)
            await producer.send(MASTER_DATA.name, encode(envelope), key=f"{tenant}/{point.meter_number}".encode())
        await producer.flush()
    finally:
        await producer.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="plusportal-masterdata", description=__doc__.split("\n")[0])
    parser.add_argument("--tenant", required=True, help="portal number of the grid operator, e.g. 000328")
    parser.add_argument("csv", type=Path)
    parser.add_argument("--kafka", default=os.environ.get("PLUSPORTAL_KAFKA_BOOTSTRAP", "127.0.0.1:19092"))
    args = parser.parse_args(argv)
    try:
        points = read_meter_points(args.csv)
    except ImportProblem as problem:
        sys.exit(f"Nichts veröffentlicht – bitte die CSV-Datei korrigieren:\n{problem}")
    kafka = KafkaSettings(kafka_bootstrap=args.kafka).kafka_access(Principal.BILLING_IMPORT)
    asyncio.run(publish_meter_points(kafka, args.tenant, points))
    print(f"{len(points)} Zähler für Netzbetreiber {args.tenant} veröffentlicht.")


if __name__ == "__main__":
    main()
