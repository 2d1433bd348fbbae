"""Starting, watching and stopping the whole system on this machine (`make up`).

`Supervisor.start` brings up PostgreSQL and Kafka (with databases and topics), the mail sink, the platform
processes (stack.processes) and the gateway, each waited for by its own signal of readiness: an open port,
`GET /health` with the Kafka connection standing, or the print house's ready line. `watch` notices a part
that died; `stop_all` stops what was started, newest first. `Shutdown` turns Strg+C and SIGTERM into one
orderly stop.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType

from stack import StackError, Stage, port_open, run_sync, say, shown, tail
from stack.acls import provision
from stack.kafka import kafka_for
from stack.postgres import PostgresServer
from stack.processes import (
    DATABASES,
    GATEWAY_PORT,
    KAFKA_CONTROLLER_PORT,
    KAFKA_PORT,
    MAIL_WEB_PORT,
    POSTGRES_PORT,
    SMTP_PORT,
    ProcessSpec,
    Site,
    gateway,
    mail_store,
    mailsink,
    platform_processes,
    prepare_credentials,
    printed_dir,
)
from stack.services import START_MARKER, ServiceProcess

STARTUP_TIMEOUT_S = 90.0
MAILSINK_TIMEOUT_S = 20.0
PRINTHOUSE_TIMEOUT_S = 60.0
STATE_FILE = "up.json"  # <var>/up.json: pid of the running `make up`


def local_site(var: Path, database_url: Callable[[str], str], kafka: str = f"127.0.0.1:{KAFKA_PORT}") -> Site:
    """`make up`'s site: everything on 127.0.0.1 with the fixed ports of stack.processes (`kafka`: the bootstrap
    servers, the cluster's three with `--kafka-nodes 3`)."""
    return Site(var, kafka=kafka, database_url=database_url)


class Supervisor:
    """Starts the system step by step and remembers how to stop each part again."""

    def __init__(
        self,
        var: Path,
        tenants: Sequence[str],
        *,
        fresh: bool,
        report: Callable[[str], None] = say,
        kafka_nodes: int = 1,
    ) -> None:
        if not tenants:
            raise ValueError("at least one tenant (portal number) for the gateway's links")
        self.var = var
        self.tenants = tuple(tenants)  # whose portals the gateway links to and whose letter folders exist
        self.fresh = fresh
        self.report = report
        self.logs = var / "logs"
        self.postgres = PostgresServer(var, POSTGRES_PORT, report=report)
        # Detached: the broker has its own session, so Strg+C reaches only us and we stop it last.
        # One node, or the three-node cluster (stack.kafka.KafkaCluster: ports 19092–19097).
        self.kafka = kafka_for(var, kafka_nodes, KAFKA_PORT, KAFKA_CONTROLLER_PORT, detach=True, report=report)
        self.site = local_site(var, self.postgres.url, self.kafka.bootstrap_servers)
        self.processes: list[ServiceProcess] = []
        self.gateway = gateway(self.site)
        self._gateway_started = False
        self._stops: list[tuple[str, Callable[[], object]]] = []  # in start order; run in reverse
        self._state_file = var / STATE_FILE
        self._adopt_servers = False  # Kafka/PostgreSQL left running by a `make up` that was killed
        self._claimed = False  # we wrote the state file (and remove it at the end)

    def log_of(self, process: str) -> str:
        return shown(self.logs / f"{process}.log")

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
        with Stage(self.report, "Kafka: Benutzer, Rechte (ACLs) und Topics anlegen"):
            result = run_sync(provision(self.kafka.installation))
        self.report(f"Kafka-Topics: {len(result.created)} angelegt, {len(result.existing)} vorhanden.")
        self._start_mailsink()
        self._start_platform()
        self._start_gateway()

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
        """All ports up front: fail before Kafka's slow start, and say what to do."""
        ours = {SMTP_PORT: "Mail-Sink (SMTP)", MAIL_WEB_PORT: "Mail-Sink (Web)"}
        ours |= {port: name.capitalize() for name, port in self.site.http_ports.items()}
        ours[GATEWAY_PORT] = "Gateway (Portal im Browser)"
        if not self.postgres.is_running():
            ours[POSTGRES_PORT] = "PostgreSQL"
        if not self.kafka.is_running():
            ours |= {port: "Kafka" for port in self.kafka.ports}
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
        process = self._spawn(mailsink(self.site))
        with Stage(self.report, f"Mail-Sink: Start (SMTP {SMTP_PORT}, Web {MAIL_WEB_PORT})"):
            self._wait_until(process, lambda: port_open(SMTP_PORT) and port_open(MAIL_WEB_PORT), MAILSINK_TIMEOUT_S)

    def _start_platform(self) -> None:
        prepare_credentials(self.site, self.tenants)
        specs = platform_processes(self.site)
        started = [self._spawn(spec) for spec in specs]  # together: their start-up overlaps
        with Stage(self.report, f"Dienste: Start ({', '.join(spec.name for spec in specs)})"):
            for spec, process in zip(specs, started, strict=True):
                if spec.port is not None:
                    self._wait_healthy(process)
                if spec.ready_line is not None:
                    ready = functools.partial(_logged_since_start, process, spec.ready_line)
                    self._wait_until(process, ready, PRINTHOUSE_TIMEOUT_S)
        for spec in specs:
            where = f"http://127.0.0.1:{spec.port}" if spec.port else "ohne HTTP"
            self.report(f"  {spec.name:<11} bereit ({where}), Log {self.log_of(spec.name)}")

    def _start_gateway(self) -> None:
        for tenant in self.tenants:  # /dev/letters/ lists an empty folder before the first letter, not a 404
            (printed_dir(self.var) / tenant).mkdir(parents=True, exist_ok=True)
        with Stage(self.report, f"Gateway: Start (nginx, Port {GATEWAY_PORT})"):
            # Registered before start(): Strg+C during the start stops it too. Stopped first (newest first).
            self._stops.append(("gateway", self.gateway.stop))
            self.gateway.start()
            self._gateway_started = True
        where = self.gateway.url(self.tenants[0])
        self.report(f"  {'gateway':<11} bereit ({where}), Zugriffe {shown(self.gateway.access_log)}")
        if not (self.site.web_root / "index.html").is_file():
            self.report(f"  Hinweis: {shown(self.site.web_root)}/index.html fehlt – die Portalseiten bleiben leer.")

    def _spawn(self, spec: ProcessSpec) -> ServiceProcess:
        process = spec.process(self.logs, own_session=True)
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
                raise StackError(f"Das Gateway (nginx) ist unerwartet beendet. Log: {shown(self.gateway.error_log)}")
            if not self.kafka.is_running():
                raise StackError(f"Kafka ist unerwartet beendet. Log: {shown(self.kafka.server_log)}")
            if not port_open(POSTGRES_PORT):
                raise StackError(f"PostgreSQL antwortet nicht mehr. Log: {shown(self.postgres.log_file)}")

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


class Shutdown:
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


# --- helpers ------------------------------------------------------------------------------------------


def _process_failure(process: ServiceProcess, headline: str) -> str:
    return (
        f"{headline}.\n--- {shown(process.log_path)} (Ende) ---\n{_log_tail(process, 25)}\n"
        f"Das ganze Log: {shown(process.log_path)}. Nach dem Beheben erneut `make up`."
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
