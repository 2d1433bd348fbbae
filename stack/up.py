"""`make up` (`python -m stack.up`): the whole Plusportal system on this machine, for trying it out.

Starts PostgreSQL and Kafka (stack.postgres, stack.kafka), creates the databases and topics, starts the
mail sink, onboarding, letters, identity, meter data and the reference print house as processes, then the
gateway (stack.gateway: nginx on :8080 with the web UI, the APIs below /api/ and the dev mailbox and letters),
seeds the demo master data and simulated readings of the demo meters and prints where to click. Strg+C (or
SIGTERM) stops everything it started, in reverse order (the gateway first).

    python -m stack.up [--fresh] [--no-seed]

Everything lives below the var dir (`$PLUSPORTAL_VAR`, default <repo>/var): kafka/, postgres/, mail/,
letters/printed/, identity/signing-key.pem, logs/<process>.log, gateway/ (nginx.conf, access.log).
docker-compose.yml runs the same processes in containers; tests/unit/test_compose.py keeps the two in step,
using the specs defined here.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import shutil
import signal
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from types import FrameType
from uuid import uuid4
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import select

from backoffice.masterdata_import import ImportProblem, publish_meter_points, read_meter_points
from backoffice.smgw_simulator import Role, _publish, generate_days, generate_registers
from contracts.common import PartnerRole
from contracts.envelope import EventPayload
from contracts.masterdata import MeterPointRecorded
from contracts.meterdata import LoadProfileDay, RegisterReadings
from contracts.topics import METER_READINGS
from kit.db import Database
from kit.events import encode, envelope_for
from kit.masterdata import MeterPointRow
from kit.settings import ServiceSettings
from stack import StackError, Stage, port_open, run_sync, say, tail
from stack.gateway import Gateway
from stack.kafka import KafkaServer
from stack.paths import DEPLOY_DIR, REPO_ROOT, var_dir
from stack.postgres import PostgresServer
from stack.services import START_MARKER, ServiceProcess, service_env
from stack.topics import create_topics

# --- what runs where (docker-compose.yml mirrors this; tests/unit/test_compose.py compares) ------------

KAFKA_PORT = 19092
KAFKA_CONTROLLER_PORT = 19093
POSTGRES_PORT = 55432
SMTP_PORT = 2525
MAIL_WEB_PORT = 8025
ONBOARDING_PORT = 8101
LETTERS_PORT = 8102
IDENTITY_PORT = 8103
METERDATA_PORT = 8104
GATEWAY_PORT = 8080
DATABASES = ("onboarding", "letters", "identity", "meterdata")
# The links in letters and e-mails point at the gateway: the portal in the browser.
PORTAL_URL_TEMPLATE = f"http://{{portal_number}}.localhost:{GATEWAY_PORT}"
WEB_ROOT = REPO_ROOT / "web"  # the web UI the gateway serves at /
# Development only (also in docker-compose.yml): a production installation sets its own secret.
DEV_DEVICE_COOKIE_SECRET = "dev-only-device-cookie-secret"
DEMO_DIR = DEPLOY_DIR / "demo"
DEMO_TENANT = "000328"
DEMO_OPERATORS = {"000328": "Stadtwerke Musterstadt", "000512": "NG Beispieltal"}  # deploy/tenants.toml
# Erika Mustermann in deploy/demo/masterdata-000328.csv (her partner number is printed in her letter).
DEMO_METER = "1EMH0005939068"
DEMO_PARTNER = "4711000001"
DEMO_EMAIL = "erika.mustermann@example.org"
DEMO_PASSWORD = "Sommerwiese am Lindenweg"  # passes identity's password rules
# Max Solar (same file): one meter, two partner numbers (consumption and feed-in) — for switching partners.
DEMO_SOLAR_METER = "1ESY1161052714"
DEMO_SOLAR_PARTNERS = ("4711000002", "4711000003")
DEMO_SOLAR_EMAIL = "max.solar@example.org"
# Simulated readings of every demo meter (backoffice.smgw_simulator): the last DEMO_READINGS_DAYS days up to
# yesterday. Always simulated from DEMO_READINGS_ORIGIN on with one seed, so a day has the same values whatever
# day `make up` runs (the simulator's random stream starts at its first day) and registers never jump; the
# revision stays 0, so publishing again (every `make up`) changes nothing. docker-compose.yml's seed-readings
# job runs the simulator from the same origin with the same seed.
DEMO_READINGS_DAYS = 400
DEMO_READINGS_ORIGIN = date(2025, 1, 1)
DEMO_READINGS_SEED = 1
BERLIN = ZoneInfo("Europe/Berlin")  # energy days
STARTUP_TIMEOUT_S = 90.0
PRINTHOUSE_READY_LINE = "Druckerei läuft"

STATE_FILE = "up.json"  # <var>/up.json: pid of the running `make up`


@dataclass(frozen=True)
class ProcessSpec:
    """One process of the system: `python -m <module> <args>`, in `make up` and in docker-compose.yml."""

    name: str
    module: str
    args: tuple[str, ...] = ()
    port: int | None = None  # HTTP port with /health (sets PLUSPORTAL_HTTP_PORT)
    database: str | None = None  # sets PLUSPORTAL_DATABASE_URL
    env: Mapping[str, str] = field(default_factory=dict)
    platform_env: bool = True  # gets Kafka/SMTP/logging settings (PLUSPORTAL_*)
    ready_line: str | None = None  # without an HTTP port: ready once the log shows this line

    @property
    def argv(self) -> tuple[str, ...]:
        return ("-m", self.module, *self.args)


def mail_store(var: Path) -> Path:
    return var / "mail"


def printed_dir(var: Path) -> Path:
    return var / "letters" / "printed"


def signing_key_file(var: Path) -> Path:
    """Identity's ES256 key (created by identity on its first start)."""
    return var / "identity" / "signing-key.pem"


def mailsink_spec(var: Path) -> ProcessSpec:
    args = ("--store", str(mail_store(var)), "--smtp-port", str(SMTP_PORT), "--web-port", str(MAIL_WEB_PORT))
    return ProcessSpec("mailsink", "stack.mailsink", args, env={"PYTHONUNBUFFERED": "1"}, platform_env=False)


def service_specs(var: Path) -> tuple[ProcessSpec, ...]:
    """The platform's processes, in start order."""
    return (
        ProcessSpec("onboarding", "services.onboarding.app", port=ONBOARDING_PORT, database="onboarding"),
        ProcessSpec(
            "letters",
            "services.letters.app",
            port=LETTERS_PORT,
            database="letters",
            env={"PLUSPORTAL_PORTAL_URL_TEMPLATE": PORTAL_URL_TEMPLATE},
        ),
        ProcessSpec(
            "identity",
            "services.identity.app",
            port=IDENTITY_PORT,
            database="identity",
            env={
                "PLUSPORTAL_PORTAL_URL_TEMPLATE": PORTAL_URL_TEMPLATE,
                "PLUSPORTAL_SIGNING_KEY_FILE": str(signing_key_file(var)),
                "PLUSPORTAL_DEVICE_COOKIE_SECRET": DEV_DEVICE_COOKIE_SECRET,
            },
        ),
        ProcessSpec("meterdata", "services.meterdata.app", port=METERDATA_PORT, database="meterdata"),
        ProcessSpec(
            "printhouse",
            "backoffice.printhouse",
            ("run", "--out", str(printed_dir(var))),
            ready_line=PRINTHOUSE_READY_LINE,
        ),
    )


def process_environment(
    spec: ProcessSpec, *, kafka: str, smtp_host: str, database_url: Callable[[str], str]
) -> dict[str, str]:
    """The environment `spec`'s process gets (besides the caller's own environment)."""
    if not spec.platform_env:
        return dict(spec.env)
    env = service_env(
        kafka=kafka,
        database_url=database_url(spec.database) if spec.database else None,
        smtp_port=SMTP_PORT,
        # Human-readable logs: people read var/logs/*.log (and `docker compose logs`) directly.
        extra={"PLUSPORTAL_SMTP_HOST": smtp_host, "PLUSPORTAL_LOG_JSON": "false", **spec.env},
    )
    if spec.port is not None:
        env["PLUSPORTAL_HTTP_PORT"] = str(spec.port)
    return env


def gateway_for(var: Path) -> Gateway:
    """`make up`'s gateway: the four services, the web UI, and in dev mode the mailbox and printed letters.
    docker-compose.yml's `gateway` runs the same one on the compose network (tests/unit/test_compose.py)."""
    ports = {spec.name: spec.port for spec in service_specs(var) if spec.port is not None}
    return Gateway(var, GATEWAY_PORT, ports, WEB_ROOT, dev_mail_port=MAIL_WEB_PORT, dev_letters_dir=printed_dir(var))


def demo_files() -> list[tuple[str, Path]]:
    """(tenant, CSV) of every demo master-data file: deploy/demo/masterdata-<portal number>.csv."""
    return [(path.stem.removeprefix("masterdata-"), path) for path in sorted(DEMO_DIR.glob("masterdata-*.csv"))]


_ROLES: dict[PartnerRole, Role] = {PartnerRole.CONSUMPTION: "consumption", PartnerRole.FEED_IN: "feed_in"}
_ROLE_TEXT = {"consumption": "Bezug", "feed_in": "Einspeisung", "both": "Bezug und Einspeisung"}
Channel = tuple[str, str, str]  # tenant, meter number, OBIS


@dataclass(frozen=True)
class DemoMeter:
    tenant: str
    meter_number: str
    role: Role  # consumption, feed_in or both (a meter with a consumption and a feed-in partner)


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


# --- processes ----------------------------------------------------------------------------------------


@dataclass
class Up:
    """Starts the system step by step and remembers how to stop each part again."""

    def __init__(self, var: Path, *, fresh: bool, seed: bool, report: Callable[[str], None] = say) -> None:
        self.var = var
        self.fresh = fresh
        self.seed = seed
        self.report = report
        self.logs = var / "logs"
        self.postgres = PostgresServer(var, POSTGRES_PORT, report=report)
        # Detached: the broker has its own session, so Strg+C reaches only us and we stop it last.
        self.kafka = KafkaServer(var, KAFKA_PORT, KAFKA_CONTROLLER_PORT, detach=True, report=report)
        self.processes: list[ServiceProcess] = []
        self.gateway = gateway_for(var)
        self._gateway_started = False
        self._stops: list[tuple[str, Callable[[], object]]] = []  # in start order; run in reverse
        self._state_file = var / STATE_FILE
        self._adopt_servers = False  # Kafka/PostgreSQL left running by a `make up` that was killed
        self._claimed = False  # we wrote the state file (and remove it at the end)
        self.started_at = time.monotonic()

    # --- start ----------------------------------------------------------------------------------------

    def start(self) -> None:
        self.var.mkdir(parents=True, exist_ok=True)
        self._claim()
        if self.fresh:
            self._wipe()
        self._check_ports()
        self._start_server("PostgreSQL", self.postgres.is_running, self.postgres.start, self.postgres.stop)
        with Stage(self.report, f"PostgreSQL: Datenbanken {', '.join(DATABASES)}"):
            for name in DATABASES:
                run_sync(self.postgres.create_database(name))
        self._start_server("Kafka", self.kafka.is_running, self.kafka.start, self.kafka.stop)
        with Stage(self.report, "Kafka: Topics anlegen"):
            result = run_sync(create_topics(self.kafka.bootstrap_servers))
        self.report(f"Kafka-Topics: {len(result.created)} angelegt, {len(result.existing)} vorhanden.")
        self._start_mailsink()
        self._start_services()
        self._start_gateway()
        if self.seed:
            self._seed()

    def _claim(self) -> None:
        """Refuses a second `make up` on the same var dir; notices one that was killed."""
        previous = _read_state(self._state_file)
        if previous is not None:
            pid = previous.get("pid")
            if isinstance(pid, int) and pid != os.getpid() and _is_up_process(pid):
                raise StackError(
                    f"`make up` läuft schon (pid {pid}) – in einem anderen Terminal? Dort mit Strg+C beenden "
                    f"oder `kill {pid}`, dann erneut starten."
                )
            # A previous run was killed outright: its Kafka/PostgreSQL may still run; we take them over.
            self._adopt_servers = True
            self.report("Hinweis: Der letzte `make up` wurde nicht sauber beendet; übrig Gebliebenes wird übernommen.")
        self._state_file.write_text(json.dumps({"pid": os.getpid(), "var": str(self.var)}) + "\n")
        self._claimed = True

    def _wipe(self) -> None:
        with Stage(self.report, "--fresh: Daten löschen (Kafka, PostgreSQL, Mails, Briefe, Logs)"):
            self.kafka.wipe()  # the jars stay
            self.postgres.wipe()
            for folder in (mail_store(self.var), self.var / "letters", self.logs, self.gateway.prefix):
                shutil.rmtree(folder, ignore_errors=True)

    def _check_ports(self) -> None:
        """All ports up front: fail before Kafka took its 10 s, and say what to do."""
        ours = {
            SMTP_PORT: "Mail-Sink (SMTP)",
            MAIL_WEB_PORT: "Mail-Sink (Web)",
            ONBOARDING_PORT: "Onboarding",
            LETTERS_PORT: "Letters",
            IDENTITY_PORT: "Identity",
            METERDATA_PORT: "Meterdata",
            GATEWAY_PORT: "Gateway (Portal im Browser)",
        }
        if not self.postgres.is_running():
            ours[POSTGRES_PORT] = "PostgreSQL"
        if not self.kafka.is_running():
            ours[KAFKA_PORT] = "Kafka"
            ours[KAFKA_CONTROLLER_PORT] = "Kafka-Controller"
        for port, what in ours.items():
            if port_open(port):
                raise StackError(
                    f"Port {port} ({what}) ist belegt – läuft `make up` schon in einem anderen Terminal? "
                    f"Sonst zeigt `ss -ltnp 'sport = :{port}'`, welcher Prozess ihn hat; den beenden, "
                    "dann erneut `make up`."
                )

    def _start_server(
        self, label: str, running: Callable[[], bool], start: Callable[[], None], stop: Callable[[], object]
    ) -> None:
        was_running = running()
        if was_running and not self._adopt_servers:
            # Started by hand (plusportal-stack): used, and left running afterwards.
            start()
            self.report(f"{label} lief schon vor `make up` und läuft danach weiter.")
            return
        # Registered before start(): a start that fails halfway (or Strg+C during it) is cleaned up too.
        self._stops.append((label, stop))
        start()

    def _start_mailsink(self) -> None:
        spec = mailsink_spec(self.var)
        process = self._spawn(spec)
        with Stage(self.report, f"Mail-Sink: Start (SMTP {SMTP_PORT}, Web {MAIL_WEB_PORT})"):
            self._wait_until(process, lambda: port_open(SMTP_PORT) and port_open(MAIL_WEB_PORT), 20)

    def _start_services(self) -> None:
        specs = service_specs(self.var)
        started = [self._spawn(spec) for spec in specs]  # together: their start-up overlaps
        with Stage(self.report, f"Dienste: Start ({', '.join(spec.name for spec in specs)})"):
            for spec, process in zip(specs, started, strict=True):
                if spec.port is not None:
                    self._wait_healthy(process)
                if spec.ready_line is not None:
                    self._wait_until(process, functools.partial(_logged_since_start, process, spec.ready_line), 60)
        for spec in specs:
            where = f"http://127.0.0.1:{spec.port}" if spec.port else "ohne HTTP"
            self.report(f"  {spec.name:<11} bereit ({where}), Log {_show(self.logs / f'{spec.name}.log')}")

    def _start_gateway(self) -> None:
        for tenant, _ in demo_files():  # /dev/letters/ lists an empty folder before the first letter, not a 404
            (printed_dir(self.var) / tenant).mkdir(parents=True, exist_ok=True)
        with Stage(self.report, f"Gateway: Start (nginx, Port {GATEWAY_PORT})"):
            # Registered before start(): Strg+C during the start stops it too. Stopped first (newest first).
            self._stops.append(("gateway", self.gateway.stop))
            self.gateway.start()
            self._gateway_started = True
        log = _show(self.gateway.access_log)
        self.report(f"  {'gateway':<11} bereit ({self.gateway.url(DEMO_TENANT)}), Zugriffe {log}")
        if not (WEB_ROOT / "index.html").is_file():
            self.report(f"  Hinweis: {_show(WEB_ROOT)}/index.html fehlt – die Portalseiten bleiben leer.")

    def _spawn(self, spec: ProcessSpec) -> ServiceProcess:
        env = process_environment(
            spec, kafka=self.kafka.bootstrap_servers, smtp_host="127.0.0.1", database_url=self.postgres.url
        )
        process = ServiceProcess(
            spec.name, tuple(spec.argv), env, self.logs / f"{spec.name}.log", port=spec.port, own_session=True
        )
        self._stops.append((spec.name, process.stop))
        process.start(wait=False)
        self.processes.append(process)
        return process

    def _wait_healthy(self, process: ServiceProcess) -> None:
        try:
            process.wait_healthy(STARTUP_TIMEOUT_S)
        except RuntimeError:  # exited
            code = process.process.returncode if process.process else None
            headline = f"{process.name} ist beim Start beendet ({_exit_text(code)})"
            raise StackError(_process_failure(process, headline)) from None
        except TimeoutError:
            headline = f"{process.name} war nach {STARTUP_TIMEOUT_S:.0f} s nicht bereit ({process.url}/health)"
            raise StackError(_process_failure(process, headline)) from None

    def _wait_until(self, process: ServiceProcess, ready: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if process.process is not None and process.process.poll() is not None:
                raise StackError(_process_failure(process, f"{process.name} ist beim Start beendet"))
            if time.monotonic() >= deadline:
                raise StackError(_process_failure(process, f"{process.name} war nach {timeout:.0f} s nicht bereit"))
            time.sleep(0.2)

    # --- demo data ------------------------------------------------------------------------------------

    def _seed(self) -> None:
        meters: list[DemoMeter] = []
        with Stage(self.report, "Demo-Stammdaten veröffentlichen"):
            for tenant, path in demo_files():
                try:
                    points = read_meter_points(path)
                except ImportProblem as problem:
                    raise StackError(f"Demo-Stammdaten {_show(path)} sind fehlerhaft:\n{problem}") from None
                run_sync(publish_meter_points(self.kafka.bootstrap_servers, tenant, points))
                meters += meters_of(tenant, points)
                self.report(f"  Netzbetreiber {tenant}: {len(points)} Zähler aus {_show(path)}")
        period, expected = self._seed_readings(meters)
        with Stage(self.report, "Demo-Stammdaten kommen bei Onboarding, Identity und Meterdata an"):
            self._wait_for_master_data([(meter.tenant, meter.meter_number) for meter in meters], timeout=60)
        with Stage(self.report, "Demo-Messwerte kommen bei Meterdata an"):
            self._wait_for_readings(period, expected, timeout=120)

    def _seed_readings(self, meters: list[DemoMeter]) -> tuple[tuple[date, date], Mapping[Channel, int]]:
        """Simulated readings of every demo meter, published in one go (batched, one flush). Returns the
        period and how many days of each channel meter data should then hold in it."""
        first, last = demo_readings_period(datetime.now(BERLIN).date())
        expected: dict[Channel, int] = {}
        messages: list[tuple[bytes, bytes]] = []
        correlation_id = uuid4()  # one seeding = one correlation id
        label = f"Demo-Messwerte simulieren ({DEMO_READINGS_DAYS} Tage, {first:%d.%m.%Y}–{last:%d.%m.%Y})"
        with Stage(self.report, label):
            for meter in meters:
                payloads = demo_readings(meter, first, last)
                key = f"{meter.tenant}/{meter.meter_number}".encode()
                for payload in payloads:
                    envelope = envelope_for(payload, tenant=meter.tenant, correlation_id=correlation_id)
                    messages.append((key, encode(envelope)))
                    if isinstance(payload, LoadProfileDay):
                        channel = (meter.tenant, meter.meter_number, payload.obis)
                        expected[channel] = expected.get(channel, 0) + 1
                registers = sum(len(p.readings) for p in payloads if isinstance(p, RegisterReadings))
                days = sum(isinstance(p, LoadProfileDay) for p in payloads)
                self.report(
                    f"  {meter.tenant}/{meter.meter_number} ({_ROLE_TEXT[meter.role]}): "
                    f"{days} Tageskurven, {registers} Zählerstände"
                )
        with Stage(self.report, f"Demo-Messwerte an Kafka ({len(messages)} Nachrichten, {METER_READINGS.name})"):
            run_sync(_publish(self.kafka.bootstrap_servers, METER_READINGS.name, messages, []))
        return (first, last), expected

    def _wait_for_readings(self, period: tuple[date, date], expected: Mapping[Channel, int], timeout: float) -> None:
        """Meter data holds every simulated day (registers come first on each meter's partition)."""
        deadline = time.monotonic() + timeout
        while True:
            stored = run_sync(_days_in(self.postgres.url("meterdata"), *period))
            late = sorted(channel for channel, days in expected.items() if stored.get(channel, 0) < days)
            if not late:
                return
            if time.monotonic() >= deadline:
                names = ", ".join(f"{tenant}/{meter} {obis}" for tenant, meter, obis in late)
                raise StackError(
                    f"Meterdata hat nach {timeout:.0f} s nicht alle Demo-Messwerte: {names}. "
                    f"Siehe {_show(self.logs / 'meterdata.log')}."
                )
            time.sleep(0.5)

    def _wait_for_master_data(self, expected: list[tuple[str, str]], timeout: float) -> None:
        """Onboarding (asked over HTTP), identity and meter data (their read models, in their databases) know
        every demo meter."""
        token = ServiceSettings().backoffice_token
        deadline = time.monotonic() + timeout
        missing = {"onboarding": list(expected), "identity": list(expected), "meterdata": list(expected)}
        with httpx.Client(base_url=f"http://127.0.0.1:{ONBOARDING_PORT}", timeout=5) as client:
            while True:
                missing["onboarding"] = [pair for pair in missing["onboarding"] if not _known(client, token, *pair)]
                for name in ("identity", "meterdata"):
                    if missing[name]:
                        known = run_sync(_meter_points_in(self.postgres.url(name)))
                        missing[name] = [pair for pair in missing[name] if pair not in known]
                late = [(name, pairs) for name, pairs in missing.items() if pairs]
                if not late:
                    return
                if time.monotonic() >= deadline:
                    name, pairs = late[0]
                    names = ", ".join(f"{tenant}/{meter}" for tenant, meter in pairs)
                    raise StackError(
                        f"{name.capitalize()} kennt nach {timeout:.0f} s diese Demo-Zähler noch nicht: {names}. "
                        f"Siehe {_show(self.logs / f'{name}.log')}."
                    )
                time.sleep(0.3)

    # --- running and stopping -------------------------------------------------------------------------

    def watch(self) -> None:
        """Returns only by exception: Strg+C/SIGTERM (KeyboardInterrupt) or a part that died (StackError)."""
        while True:
            time.sleep(1)
            for process in self.processes:
                code = process.process.poll() if process.process is not None else None
                if code is not None:
                    headline = f"{process.name} ist unerwartet beendet ({_exit_text(code)})"
                    raise StackError(_process_failure(process, headline))
            if self._gateway_started and self.gateway.pid is None:
                raise StackError(f"Das Gateway (nginx) ist unerwartet beendet. Log: {_show(self.gateway.error_log)}")
            if not self.kafka.is_running():
                raise StackError(f"Kafka ist unerwartet beendet. Log: {_show(self.kafka.server_log)}")
            if not port_open(POSTGRES_PORT):
                raise StackError(f"PostgreSQL antwortet nicht mehr. Log: {_show(self.postgres.log_file)}")

    def stop_all(self) -> None:
        """Stops what we started, newest first; goes on past failures."""
        if self._stops:
            self._stop_started()
        if self._claimed:
            self._state_file.unlink(missing_ok=True)
            self._claimed = False

    def _stop_started(self) -> None:
        self.report("Alles wird beendet …")
        while self._stops:
            label, stop = self._stops.pop()
            try:
                if label == "gateway" or label in {p.name for p in self.processes}:
                    with Stage(self.report, f"{label}: Stopp"):
                        stop()
                else:
                    stop()  # Kafka and PostgreSQL report their own stop
            except Exception as exc:
                self.report(f"{label}: Stopp fehlgeschlagen ({exc}); bitte von Hand prüfen.")
        self.report("Alles beendet.")

    # --- summary --------------------------------------------------------------------------------------

    def summary(self) -> str:
        token = ServiceSettings().backoffice_token
        tenants = [tenant for tenant, _ in demo_files()] or [DEMO_TENANT]
        portal = self.gateway.url(DEMO_TENANT)
        names = ", ".join(spec.name for spec in (mailsink_spec(self.var), *service_specs(self.var)))
        rule = "═" * 96
        opened = [f"{self.gateway.url(tenant)} ({DEMO_OPERATORS.get(tenant, tenant)})" for tenant in tenants]
        docs = [
            ("Antrag (Onboarding)", ONBOARDING_PORT),
            ("Zugang (Identity)", IDENTITY_PORT),
            ("Messwerte (Meterdata)", METERDATA_PORT),
            ("Briefe (Back-Office)", LETTERS_PORT),
        ]
        solar_first, solar_second = DEMO_SOLAR_PARTNERS
        lines = [
            rule,
            f"  Plusportal läuft (bereit nach {time.monotonic() - self.started_at:.0f} s)",
            rule,
            f"  Portal öffnen: {' und '.join(opened)}",
            "",
            f"  Einmal durchspielen als Erika Mustermann ({DEMO_OPERATORS[DEMO_TENANT]}):",
            f"   1. Antrag         {portal}/antrag",
            f"                     Erika Mustermann, Lindenweg 4, 12345 Musterstadt, Zähler {DEMO_METER},",
            f"                     E-Mail {DEMO_EMAIL}",
            f"   2. Kopie          im Postfach {portal}/dev/mail/",
            f"   3. Brief          nach wenigen Sekunden unter {portal}/dev/letters/ (PDF)",
            f"                     mit Geschäftspartner-Nr. {DEMO_PARTNER} und QR-Link zum Portal",
            f"   4. Zugang         {portal}/zugang – Zähler, Geschäftspartner-Nr. und E-Mail von oben",
            "   5. Bestätigung    im Postfach die Mail „Bitte bestätigen Sie Ihre E-Mail-Adresse“, Link öffnen",
            f"   6. Passwort       setzen, z. B. „{DEMO_PASSWORD}“",
            f"   7. Anmelden       {portal}/anmelden",
            f"   8. Verbrauch      {portal}/verbrauch (simuliert, {DEMO_READINGS_DAYS} Tage bis gestern)",
            "",
            f"  Partner wechseln: Max Solar, Zähler {DEMO_SOLAR_METER}, hat zwei Geschäftspartner-Nr.:",
            f"     {solar_first} (Bezug) und {solar_second} (Einspeisung). Zugang mit {solar_first} beantragen und",
            f"     Passwort setzen, dann mit {solar_second} und derselben E-Mail ({DEMO_SOLAR_EMAIL}) noch einmal",
            "     (Link bestätigen, Passwort eingeben) – nach dem Anmelden zwischen beiden wechseln.",
            "",
            f"  Postfach und Briefe verlinkt auch {portal}/entwicklung (nur in der Entwicklung).",
            "",
            "  APIs (Swagger UI):",
            *[f"     {label:<23}http://{DEMO_TENANT}.localhost:{port}/docs" for label, port in docs],
            f"     Back-Office-Token:     {token}",
            "     über das Gateway, z. B. Anträge im Back-Office:",
            f"     curl -s {portal}/api/onboarding/backoffice/requests -H 'Authorization: Bearer {token}'",
            "",
            f"  Mails    {_show(mail_store(self.var))}/*.eml",
            f"  Briefe   {_show(printed_dir(self.var))}/<Portalnummer>/*.pdf",
            f"  Logs     {_show(self.logs)}/<Dienst>.log ({names})",
            f"           Gateway: {_show(self.gateway.access_log)}",
            "",
            "  Strg+C beendet alles.",
            rule,
        ]
        return "\n".join(lines)


# --- helpers ------------------------------------------------------------------------------------------


def _known(client: httpx.Client, token: str, tenant: str, meter: str) -> bool:
    """Onboarding's read model has the meter of `tenant` (it is fed from the master-data topic)."""
    headers = {"Host": f"{tenant}.localhost", "Authorization": f"Bearer {token}"}
    try:
        return client.get(f"/backoffice/meter-points/{meter}", headers=headers).status_code == 200
    except httpx.HTTPError:
        return False


async def _meter_points_in(database_url: str) -> set[tuple[str, str]]:
    """(tenant, meter) of every meter point in a service's read model of the master data (kit.masterdata)."""
    db = Database(database_url, pool_size=1)
    try:
        async with db.transaction() as session:
            rows = await session.exec(select(MeterPointRow.tenant, MeterPointRow.meter_number))
            return {(tenant, meter) for tenant, meter in rows}
    except (OSError, SQLAlchemyError):  # not reachable or not migrated yet: ask again
        return set()
    finally:
        await db.dispose()


async def _days_in(database_url: str, first: date, last: date) -> dict[Channel, int]:
    """Days stored per (tenant, meter, OBIS) in meter data between `first` and `last` (inclusive)."""
    db = Database(database_url, pool_size=1)
    query = text(
        "SELECT tenant, meter_number, obis, count(*) FROM interval_days"
        " WHERE day BETWEEN :first AND :last GROUP BY tenant, meter_number, obis"
    )
    try:
        async with db.transaction() as session:
            connection = await session.connection()
            rows = await connection.execute(query, {"first": first, "last": last})
            return {(tenant, meter, obis): count for tenant, meter, obis, count in rows}
    except (OSError, SQLAlchemyError):  # not reachable or not migrated yet: ask again
        return {}
    finally:
        await db.dispose()


def _show(path: Path) -> str:
    """`path` relative to the working directory when below it (shorter, and what people type)."""
    with contextlib.suppress(ValueError):
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    return str(path)


def _process_failure(process: ServiceProcess, headline: str) -> str:
    return (
        f"{headline}.\n--- {_show(process.log_path)} (Ende) ---\n{_log_tail(process, 25)}\n"
        f"Das ganze Log: {_show(process.log_path)}. Nach dem Beheben erneut `make up`."
    )


def _exit_text(code: int | None) -> str:
    if code is not None and code < 0:
        with contextlib.suppress(ValueError):
            return f"Signal {signal.Signals(-code).name}"
    return f"Exit {code}"


def _log_since_start(process: ServiceProcess) -> str:
    """What the process logged since our last start marker (the log file is appended to across runs)."""
    try:
        text = process.log_path.read_text(errors="replace")
    except OSError:
        return ""
    return text.rsplit(START_MARKER, 1)[-1].split("\n", 1)[-1]


def _log_tail(process: ServiceProcess, lines: int) -> str:
    return tail(_log_since_start(process), lines) or "(noch nichts geloggt)"


def _logged_since_start(process: ServiceProcess, needle: str) -> bool:
    """True once `needle` appears in the log after our last start marker."""
    return needle in _log_since_start(process)


def _read_state(path: Path) -> dict[str, object] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _is_up_process(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return "stack.up" in cmdline


class _Shutdown:
    """Signal handling: the first Strg+C/SIGTERM interrupts, later ones only ask for patience."""

    def __init__(self) -> None:
        self.stopping = False

    def install(self) -> None:
        signal.signal(signal.SIGINT, self._handle)
        signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.stopping:
            say("Wird schon beendet – bitte kurz warten …")
            return
        self.stopping = True
        name = "Strg+C" if signum == signal.SIGINT else signal.Signals(signum).name
        say(f"\n{name}: Plusportal wird beendet.")
        raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="make up", description="Startet das ganze Plusportal lokal (Kafka, PostgreSQL, Mail-Sink, Dienste)."
    )
    parser.add_argument(
        "--fresh", action="store_true", help="vorher alle Daten löschen (Kafka, PostgreSQL, Mails, Briefe, Logs)"
    )
    parser.add_argument("--no-seed", action="store_true", help="keine Demo-Stammdaten veröffentlichen")
    args = parser.parse_args(argv)

    shutdown = _Shutdown()
    shutdown.install()
    up = Up(var_dir(), fresh=args.fresh, seed=not args.no_seed)
    exit_code = 0
    try:
        up.start()
        say(up.summary())
        up.watch()
    except KeyboardInterrupt:
        pass
    except (StackError, ImportProblem) as exc:
        say(f"\nFehler: {exc}")
        exit_code = 1
    except Exception as exc:  # unexpected: the traceback helps whoever fixes it
        traceback.print_exc()
        say(f"\nFehler: {type(exc).__name__}: {exc}\nDie Logs liegen in {_show(up.logs)}/.")
        exit_code = 1
    finally:
        shutdown.stopping = True  # from here on, signals must not interrupt the clean-up
        up.stop_all()
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
