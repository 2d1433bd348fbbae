"""`make up`'s demo data: the master data of deploy/demo and simulated readings of every demo meter.

`seed` publishes both to Kafka and returns once the services' consumer groups have handled all of it
(stack.readiness: committed offsets against the end offsets taken after publishing).
docker-compose.yml's `seed` and `seed-readings` jobs publish the same data (tests/unit/test_compose.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from uuid import uuid4

from pydantic import SecretStr

from backoffice.masterdata_import import ImportProblem, publish_meter_points, read_meter_points
from backoffice.smgw_simulator import Role, generate_days, generate_registers
from backoffice.smgw_simulator import publish as smgw_publish
from contracts.common import PartnerRole
from contracts.envelope import EventPayload
from contracts.masterdata import MeterPointRecorded
from contracts.meterdata import LoadProfileDay, RegisterReadings
from contracts.staff import StaffRole
from contracts.topics import MASTER_DATA, METER_READINGS, Principal
from kit.energy_day import BERLIN
from kit.events import encode, envelope_for
from kit.kafka import KafkaAccess
from services.identity.messaging import GROUP as IDENTITY_GROUP
from services.identity.settings import IdentitySettings
from services.identity.staff_cli import create_ready
from services.identity.staff_crypto import new_totp_secret
from services.letters.messaging import GROUP as LETTERS_GROUP
from services.meterdata.messaging import GROUP as METERDATA_GROUP
from services.meterdata.messaging import INGEST_GROUP as METERDATA_INGEST_GROUP
from services.onboarding.messaging import GROUP as ONBOARDING_GROUP
from stack import StackError, Stage, run_sync, shown
from stack.credentials import KafkaInstallation, staff_totp_key_file
from stack.paths import DEPLOY_DIR
from stack.readiness import Offsets, end_offsets, wait_until_consumed

DEMO_DIR = DEPLOY_DIR / "demo"
DEMO_TENANT = "000328"
DEMO_OPERATORS = {"000328": "Stadtwerke Musterstadt", "000512": "NG Beispieltal"}  # deploy/tenants.toml
# Erika Mustermann in deploy/demo/masterdata-000328.csv (her partner number is printed in her letter).
DEMO_METER = "1EMH0005939068"
DEMO_PARTNER = "3236513735"
DEMO_EMAIL = "erika.mustermann@example.org"
DEMO_PASSWORD = "Sommerwiese am Lindenweg"  # passes identity's password rules
# Max Solar (same file): one meter, two partner numbers (consumption and feed-in) — for switching partners.
DEMO_SOLAR_METER = "1ESY1161052714"
DEMO_SOLAR_PARTNERS = ("9115994164", "5344863893")
DEMO_SOLAR_EMAIL = "max.solar@example.org"
# Simulated readings of every demo meter (backoffice.smgw_simulator): the last DEMO_READINGS_DAYS days up to
# yesterday. Always simulated from DEMO_READINGS_ORIGIN on with one seed, so a day has the same values whatever
# day `make up` runs (the simulator's random stream starts at its first day) and registers never jump; the
# revision stays 0, so publishing again (every `make up`) changes nothing. docker-compose.yml's seed-readings
# job runs the simulator from the same origin with the same seed.
DEMO_READINGS_DAYS = 400
DEMO_READINGS_ORIGIN = date(2025, 1, 1)
DEMO_READINGS_SEED = 1
# Who reads what the demo publishes: (service, its consumer group); the service names its log file.
MASTER_DATA_READERS = (
    ("onboarding", ONBOARDING_GROUP),
    ("letters", LETTERS_GROUP),
    ("identity", IDENTITY_GROUP),
    ("meterdata", METERDATA_GROUP),
)
READINGS_READERS = (("meterdata", METERDATA_INGEST_GROUP),)
MASTER_DATA_TIMEOUT_S = 60.0
READINGS_TIMEOUT_S = 120.0

_ROLES: dict[PartnerRole, Role] = {PartnerRole.CONSUMPTION: "consumption", PartnerRole.FEED_IN: "feed_in"}
_ROLE_TEXT = {"consumption": "Bezug", "feed_in": "Einspeisung", "both": "Bezug und Einspeisung"}


@dataclass(frozen=True)
class DemoMeter:
    tenant: str
    meter_number: str
    role: Role  # consumption, feed_in or both (a meter with a consumption and a feed-in partner)


def demo_files() -> list[tuple[str, Path]]:
    """(tenant, CSV) of every demo master-data file: deploy/demo/masterdata-<portal number>.csv."""
    return [(path.stem.removeprefix("masterdata-"), path) for path in sorted(DEMO_DIR.glob("masterdata-*.csv"))]


def demo_tenants() -> list[str]:
    return [tenant for tenant, _ in demo_files()] or [DEMO_TENANT]


def meters_of(tenant: str, points: Sequence[MeterPointRecorded]) -> list[DemoMeter]:
    """The meters of `tenant`'s master data, each with the role its partners give it."""
    meters = []
    for point in points:
        roles = {PartnerRole(partner.role) for partner in point.partners}
        role: Role = "both" if len(roles) > 1 else _ROLES[roles.pop()]
        meters.append(DemoMeter(tenant, point.meter_number, role))
    return meters


def demo_meters() -> list[DemoMeter]:
    """Every meter of the demo master data (deploy/demo), both tenants."""
    return [meter for tenant, path in demo_files() for meter in meters_of(tenant, read_meter_points(path))]


def demo_readings_period(today: date) -> tuple[date, date]:
    """First and last day of the demo readings: DEMO_READINGS_DAYS days up to yesterday."""
    last = today - timedelta(days=1)
    return last - timedelta(days=DEMO_READINGS_DAYS - 1), last


def demo_readings(meter: DemoMeter, first: date, last: date) -> list[EventPayload]:
    """The simulator's register readings (from `first`'s 00:00 on) and load-profile days (`first` … `last`)
    of one meter; the same for every call (see DEMO_READINGS_ORIGIN). Registers first: once the days are
    stored, so are they (same key, same partition)."""
    origin = min(DEMO_READINGS_ORIGIN, first)
    days = (last - origin).days + 1
    since = datetime(first.year, first.month, first.day, tzinfo=BERLIN)
    registers: list[EventPayload] = []
    for series in generate_registers(meter.meter_number, meter.role, origin, days, DEMO_READINGS_SEED):
        kept = tuple(reading for reading in series.readings if reading.read_at >= since)
        if kept:
            registers.append(RegisterReadings(meter_number=series.meter_number, obis=series.obis, readings=kept))
    profile = generate_days(meter.meter_number, meter.role, origin, days, DEMO_READINGS_SEED)
    return [*registers, *(day for day in profile if day.day >= first)]


# --- seeding ---------------------------------------------------------------------------------------------


def seed(kafka: KafkaInstallation, report: Callable[[str], None], log_of: Callable[[str], str]) -> None:
    """Publishes the demo master data and readings; returns once the services have handled them.
    `log_of(service)` names the service's log for error messages."""
    meters: list[DemoMeter] = []
    with Stage(report, "Demo-Stammdaten veröffentlichen"):
        for tenant, path in demo_files():
            try:
                points = read_meter_points(path)
            except ImportProblem as problem:
                raise StackError(f"Demo-Stammdaten {shown(path)} sind fehlerhaft:\n{problem}") from None
            run_sync(publish_meter_points(kafka.access(Principal.BILLING_IMPORT), tenant, points))
            meters += meters_of(tenant, points)
            report(f"  Netzbetreiber {tenant}: {len(points)} Zähler aus {shown(path)}")
    master_data_end = run_sync(end_offsets(kafka.admin, MASTER_DATA.name))
    _publish_readings(kafka.access(Principal.SMGW_ADMINISTRATOR), meters, report)
    readings_end = run_sync(end_offsets(kafka.admin, METER_READINGS.name))
    with Stage(report, "Demo-Stammdaten kommen bei Onboarding, Letters, Identity und Meterdata an"):
        _wait(kafka.admin, MASTER_DATA_READERS, master_data_end, MASTER_DATA_TIMEOUT_S, "Demo-Stammdaten", log_of)
    with Stage(report, "Demo-Messwerte kommen bei Meterdata an"):
        _wait(kafka.admin, READINGS_READERS, readings_end, READINGS_TIMEOUT_S, "Demo-Messwerte", log_of)


def _publish_readings(kafka: KafkaAccess, meters: list[DemoMeter], report: Callable[[str], None]) -> None:
    """Simulated readings of every demo meter, published in one go (batched, one flush)."""
    first, last = demo_readings_period(datetime.now(BERLIN).date())
    messages: list[tuple[bytes, bytes]] = []
    correlation_id = uuid4()  # one seeding = one correlation id
    with Stage(report, f"Demo-Messwerte simulieren ({DEMO_READINGS_DAYS} Tage, {first:%d.%m.%Y}–{last:%d.%m.%Y})"):
        for meter in meters:
            payloads = demo_readings(meter, first, last)
            key = f"{meter.tenant}/{meter.meter_number}".encode()
            for payload in payloads:
                envelope = envelope_for(payload, tenant=meter.tenant, correlation_id=correlation_id)
                messages.append((key, encode(envelope)))
            registers = sum(len(p.readings) for p in payloads if isinstance(p, RegisterReadings))
            days = sum(isinstance(p, LoadProfileDay) for p in payloads)
            report(
                f"  {meter.tenant}/{meter.meter_number} ({_ROLE_TEXT[meter.role]}): "
                f"{days} Tageskurven, {registers} Zählerstände"
            )
    with Stage(report, f"Demo-Messwerte an Kafka ({len(messages)} Nachrichten, {METER_READINGS.name})"):
        run_sync(smgw_publish(kafka, METER_READINGS.name, messages, []))


def publish_yesterday_again(kafka: KafkaAccess, tenant: str, meter_number: str) -> date:
    """The demo meter's readings of yesterday once more, the same as seeded (same values and revision: the stored
    data stays as it is). Alerts ("Benachrichtigungen") are judged as readings arrive, so one defined in the portal
    since then is judged on this day — the walk-through's way to an alert mail. Returns the day."""
    yesterday = datetime.now(BERLIN).date() - timedelta(days=1)
    [meter] = [m for m in demo_meters() if (m.tenant, m.meter_number) == (tenant, meter_number)]
    days = [p for p in demo_readings(meter, yesterday, yesterday) if isinstance(p, LoadProfileDay)]
    key = f"{tenant}/{meter_number}".encode()
    messages = [(key, encode(envelope_for(day, tenant=tenant, correlation_id=uuid4()))) for day in days]
    run_sync(smgw_publish(kafka, METER_READINGS.name, messages, []))
    return yesterday


def _wait(
    kafka: KafkaAccess,
    readers: Sequence[tuple[str, str]],
    targets: Offsets,
    timeout: float,
    what: str,
    log_of: Callable[[str], str],
) -> None:
    service_of = {group: service for service, group in readers}
    late = run_sync(wait_until_consumed(kafka, service_of, targets, timeout))
    if late:
        group, behind = next(iter(late.items()))
        count = "unbekannt viele" if behind < 0 else str(behind)
        service = service_of[group]
        raise StackError(
            f"{service.capitalize()} (Consumer-Gruppe {group}) hat nach {timeout:.0f} s noch nicht alle {what} "
            f"verarbeitet ({count} Nachrichten offen). Siehe {log_of(service)}."
        )


# --- demo staff (development only) ------------------------------------------------------------------------
# An admin and a clerk per demo operator, with a documented development password and a TOTP secret generated
# once per installation into var/identity/demo-staff.json (never committed). Real operators bootstrap their first
# admin with `plusportal-staff create-admin` and never see a fixed password.
DEMO_STAFF_PASSWORD = "Aktenberg hinter dem Schalter"  # passes identity's password rules
DEMO_STAFF_ROLES = {"admin": "Administration", "clerk": "Sachbearbeitung"}


@dataclass(frozen=True)
class DemoStaff:
    tenant: str
    role: str  # contracts.staff.StaffRole value
    email: str
    name: str
    totp_secret: str


def demo_staff_file(var: Path) -> Path:
    return var / "identity" / "demo-staff.json"


def demo_staff(var: Path) -> list[DemoStaff]:
    """The demo staff of every demo operator, with this installation's TOTP secrets (created on first use)."""
    path = demo_staff_file(var)
    secrets: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    staff = []
    for tenant in demo_tenants():
        for role, label in DEMO_STAFF_ROLES.items():
            key = f"{tenant}/{role}"
            secrets.setdefault(key, new_totp_secret())
            email = f"{'admin' if role == 'admin' else 'sachbearbeitung'}@{tenant}.example.org"
            staff.append(DemoStaff(tenant, role, email, f"Demo {label}", secrets[key]))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(secrets, indent=2))
    path.chmod(0o600)
    return staff


def create_demo_staff(var: Path, identity_database_url: str, report: Callable[[str], None]) -> list[DemoStaff]:
    """In identity's database, through its staff use case (idempotent: existing accounts stay as they are)."""
    staff = demo_staff(var)
    # Sealed with the installation's key, as identity itself reads them (prepare_credentials wrote it).
    totp_key = SecretStr(staff_totp_key_file(var).read_text().strip())
    settings = IdentitySettings(database_url=identity_database_url, staff_totp_key=totp_key)
    with Stage(report, f"Demo-Mitarbeitende: {len(staff)} Zugänge"):
        for member in staff:
            run_sync(
                create_ready(
                    settings,
                    member.tenant,
                    member.email,
                    member.name,
                    StaffRole(member.role),
                    DEMO_STAFF_PASSWORD,
                    member.totp_secret,
                )
            )
    return staff
