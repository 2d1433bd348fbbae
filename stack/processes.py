"""What runs: every process of the system with its command, port and environment, described once.

`make up` (stack.up), the `system` test fixture (tests/conftest.py) and docker-compose.yml (checked by
tests/unit/test_compose.py) all run these processes; what differs between them is a `Site`: where the
files live, which ports and hosts are used, and whether the system is being tried out or tested.

    site = Site(var, kafka="127.0.0.1:19092", database_url=postgres.url)
    for spec in platform_processes(site): spec.process(logs).start()

Environment variable names are the services' settings (PLUSPORTAL_*); they must not change here alone.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from types import MappingProxyType

from contracts.topics import Principal
from kit.credentials import ensure_per_tenant
from stack.credentials import (
    alert_link_key_file,
    credential_environment,
    device_cookie_secret_file,
    installation_secret,
    kafka_secrets_dir,
    registration_code_key_file,
    staff_totp_key_file,
)
from stack.gateway import LOOPBACK, Gateway
from stack.paths import REPO_ROOT
from stack.services import ServiceProcess, service_env

# `make up`'s ports; docker-compose.yml publishes the same ones on the host's loopback.
KAFKA_PORT = 19092
KAFKA_CONTROLLER_PORT = 19093
POSTGRES_PORT = 55432
SMTP_PORT = 2525
MAIL_WEB_PORT = 8025
GATEWAY_PORT = 8080
HTTP_PORTS: Mapping[str, int] = MappingProxyType(
    {"onboarding": 8101, "letters": 8102, "identity": 8103, "meterdata": 8104}
)
DATABASES = ("onboarding", "letters", "identity", "meterdata")  # one per service, named after it
WEB_ROOT = REPO_ROOT / "web"  # the web UI the gateway serves at /
# Without an HTTP port the print house is ready once its log shows this line.
PRINTHOUSE_READY_LINE = "Druckerei läuft"
SMGW_SIMULATOR_READY_LINE = "SMGW-Simulator beantwortet Anfragen"  # backoffice.smgw_simulator.ANSWER_READY_LINE
# Tests send many requests from one address: the limits must stay out of their way.
TEST_RATE_LIMITS: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "onboarding": {"PLUSPORTAL_LIMIT_PER_CLIENT": "1000/minute", "PLUSPORTAL_LIMIT_PER_EMAIL": "1000/minute"},
        "identity": {
            "PLUSPORTAL_LIMIT_LOGIN_PER_CLIENT": "100000/minute",
            "PLUSPORTAL_LIMIT_REQUESTS_PER_CLIENT": "100000/minute",
        },
    }
)
# docker-compose.yml's network: the gateway at a fixed address (the services believe its X-Forwarded-For, no one
# else's), and the host side of the network, where published ports and so the TLS proxy in front arrive from.
COMPOSE_SUBNET = "172.30.0.0/24"
COMPOSE_HOST_SIDE = "172.30.0.1"
COMPOSE_GATEWAY_ADDRESS = "172.30.0.10"
TEST_GATEWAY_AUTH_LIMIT = ("6000r/m", 1000)  # rate and burst of the gateway's per-address limit


class Purpose(Enum):
    TRY_OUT = "try-out"  # make up and docker compose: people read the logs, development secrets
    TEST = "test"  # the system fixture: JSON logs, loose rate limits


@dataclass(frozen=True)
class Site:
    """Where the system runs: the few things that differ between `make up`, the tests and docker compose."""

    var: Path  # mail/, letters/printed/, identity/signing-key.pem, secrets/ (and make up's logs, servers, gateway)
    kafka: str  # bootstrap servers as the processes reach them
    database_url: Callable[[str], str]  # database name → SQLAlchemy URL
    purpose: Purpose = Purpose.TRY_OUT
    smtp_port: int = SMTP_PORT
    mail_web_port: int = MAIL_WEB_PORT
    http_ports: Mapping[str, int] = field(default_factory=lambda: dict(HTTP_PORTS))
    gateway_port: int = GATEWAY_PORT
    # Containers on the compose network reach each other by service name and listen on every interface.
    compose_network: bool = False
    web_root: Path = WEB_ROOT
    kafka_secrets: Path | None = None  # default: <var>/secrets/kafka (the tests' broker keeps its own)

    def host(self, process: str) -> str:
        """The host name other processes reach `process` (a service, `mailsink`) at."""
        return process if self.compose_network else LOOPBACK

    def kafka_password_file(self, principal: Principal) -> Path:
        """The principal's Kafka password as the processes see it (stack.credentials)."""
        return (self.kafka_secrets or kafka_secrets_dir(self.var)) / f"{principal}.password"

    @property
    def portal_url_template(self) -> str:
        """The links in letters and e-mails: the portal in the browser, through the gateway."""
        return f"http://{{portal_number}}.localhost:{self.gateway_port}"


@dataclass(frozen=True)
class ProcessSpec:
    """One process: `python -m <module> <args>` with `env` (on top of the caller's own environment)."""

    name: str
    module: str
    env: Mapping[str, str]
    args: tuple[str, ...] = ()
    port: int | None = None  # HTTP port with /health
    database: str | None = None
    ready_line: str | None = None  # without an HTTP port: ready once the log shows this line

    @property
    def argv(self) -> tuple[str, ...]:
        return ("-m", self.module, *self.args)

    def process(self, logs: Path, *, own_session: bool = False) -> ServiceProcess:
        """The process to start, logging to `<logs>/<name>.log`."""
        return ServiceProcess(
            self.name, self.argv, dict(self.env), logs / f"{self.name}.log", port=self.port, own_session=own_session
        )


def mail_store(var: Path) -> Path:
    return var / "mail"


def printed_dir(var: Path) -> Path:
    """Where the print house leaves the letters: one folder per portal number."""
    return var / "letters" / "printed"


def signing_key_file(var: Path) -> Path:
    """Identity's ES256 key (created by identity on its first start)."""
    return var / "identity" / "signing-key.pem"


def printhouse_credentials_file(var: Path) -> Path:
    """The print house's credential per operator, which letters checks (kit.credentials; generated, never committed)."""
    return var / "printhouse" / "credentials.json"


def prepare_credentials(site: Site, tenants: Iterable[str]) -> dict[str, str]:
    """Before the processes start, generated once per installation: the device-cookie, staff-TOTP and
    registration-code keys and a print-house credential per operator (returned: the tests act as the print house)."""
    installation_secret(device_cookie_secret_file(site.var))
    installation_secret(staff_totp_key_file(site.var))
    installation_secret(registration_code_key_file(site.var))
    installation_secret(alert_link_key_file(site.var))
    return ensure_per_tenant(printhouse_credentials_file(site.var), tenants)


def traces_file(var: Path, process: str) -> Path:
    """Where a process writes its spans (kit.tracing) in the tests: one JSON object a line."""
    return var / "traces" / f"{process}.jsonl"


def mailsink(site: Site) -> ProcessSpec:
    """The SMTP sink with its web UI (the tests run it in their own process instead: stack.mailsink.MailSink)."""
    args = ["--store", str(mail_store(site.var)), "--smtp-port", str(site.smtp_port)]
    args += ["--web-port", str(site.mail_web_port)]
    if site.compose_network:
        args += ["--host", "0.0.0.0"]  # reachable from the other containers
    return ProcessSpec("mailsink", "stack.mailsink", {"PYTHONUNBUFFERED": "1"}, tuple(args))


def platform_processes(site: Site) -> tuple[ProcessSpec, ...]:
    """The services, the reference print house and the SMGW simulator answering value requests, in start order."""
    testing = site.purpose is Purpose.TEST
    letters_port = site.http_ports["letters"]
    letters_url = f"http://{site.host('letters')}:{letters_port}"
    credentials = {"PLUSPORTAL_PRINTHOUSE_CREDENTIALS_FILE": str(printhouse_credentials_file(site.var))}
    letters_env = {
        "PLUSPORTAL_PORTAL_URL_TEMPLATE": site.portal_url_template,
        # Dispatch jobs name their PDF under this address; the print house fetches it from there.
        "PLUSPORTAL_PUBLIC_URL": letters_url,
        "PLUSPORTAL_REGISTRATION_CODE_KEY_FILE": str(registration_code_key_file(site.var)),
        **credentials,
    }
    identity_env = {
        "PLUSPORTAL_PORTAL_URL_TEMPLATE": site.portal_url_template,
        "PLUSPORTAL_SIGNING_KEY_FILE": str(signing_key_file(site.var)),
        "PLUSPORTAL_DEVICE_COOKIE_SECRET_FILE": str(device_cookie_secret_file(site.var)),
        "PLUSPORTAL_STAFF_TOTP_KEY_FILE": str(staff_totp_key_file(site.var)),
    }
    meterdata_env = {"PLUSPORTAL_ALERT_LINK_KEY_FILE": str(alert_link_key_file(site.var))}
    extra: dict[str, Mapping[str, str]] = {"letters": letters_env, "identity": identity_env, "meterdata": meterdata_env}
    if testing:
        for name, limits in TEST_RATE_LIMITS.items():
            extra[name] = {**extra.get(name, {}), **limits}
    services = tuple(
        ProcessSpec(
            name,
            f"services.{name}.app",
            _service_environment(site, name, extra.get(name, {})),
            port=site.http_ports[name],
            database=name,
        )
        for name in DATABASES
    )
    printhouse = ProcessSpec(
        "printhouse",
        "backoffice.printhouse",
        # The print house sends its credential only to this letters service (backoffice.printhouse).
        _platform_environment(
            site, Principal.PRINT_HOUSE, None, {**credentials, "PLUSPORTAL_LETTERS_URL": letters_url}
        ),
        ("run", "--out", str(printed_dir(site.var))),
        ready_line=PRINTHOUSE_READY_LINE,
    )
    # The SMGW administrator's side of "current values on request": answers at once with simulated readings
    # (from the demo readings' origin and seed, its defaults: the same values as stack.demo publishes).
    smgw = ProcessSpec(
        "smgw-simulator",
        "backoffice.smgw_simulator",
        _platform_environment(site, Principal.SMGW_ADMINISTRATOR, None, {}),
        ("answer",),
        ready_line=SMGW_SIMULATOR_READY_LINE,
    )
    return (*services, printhouse, smgw)


def gateway(site: Site) -> Gateway:
    """nginx in front of the services, with the web UI, the dev mailbox and the printed letters."""
    gateway = functools.partial(
        Gateway,
        site.var,
        site.gateway_port,
        dict(site.http_ports),
        site.web_root,
        dev_mail_port=site.mail_web_port,
        dev_letters_dir=printed_dir(site.var),
        upstream_hosts={name: site.host(name) for name in site.http_ports},
        dev_mail_host=site.host("mailsink"),
        listen_host="0.0.0.0" if site.compose_network else LOOPBACK,
        trusted_proxies=(COMPOSE_HOST_SIDE,) if site.compose_network else (LOOPBACK,),
    )
    if site.purpose is Purpose.TEST:
        rate, burst = TEST_GATEWAY_AUTH_LIMIT
        return gateway(auth_rate=rate, auth_burst=burst)
    return gateway()


def _service_environment(site: Site, name: str, extra: Mapping[str, str]) -> dict[str, str]:
    env = _platform_environment(site, Principal(name), name, extra)
    env["PLUSPORTAL_HTTP_PORT"] = str(site.http_ports[name])
    if site.compose_network:
        env["PLUSPORTAL_HTTP_HOST"] = "0.0.0.0"  # inside the container; published on the host's loopback only
        env["PLUSPORTAL_TRUSTED_PROXIES"] = COMPOSE_GATEWAY_ADDRESS  # only the gateway names the browser
    return env


def _platform_environment(
    site: Site, principal: Principal, database: str | None, extra: Mapping[str, str]
) -> dict[str, str]:
    """What every platform process gets: Kafka with its own credential only, SMTP, logging, its database."""
    return service_env(
        kafka=site.kafka,
        database_url=site.database_url(database) if database else None,
        smtp_port=site.smtp_port,
        extra={
            **credential_environment(principal, site.kafka_password_file(principal)),
            "PLUSPORTAL_SMTP_HOST": site.host("mailsink"),
            # Human-readable logs where people read them (var/logs/*.log, `docker compose logs`).
            "PLUSPORTAL_LOG_JSON": "true" if site.purpose is Purpose.TEST else "false",
            **_tracing_environment(site, principal),
            **extra,
        },
    )


def _tracing_environment(site: Site, principal: Principal) -> dict[str, str]:
    """The tests trace every process into a file of its own, to check one journey's trace across them."""
    if site.purpose is not Purpose.TEST:
        return {}
    return {"PLUSPORTAL_TRACES_FILE": str(traces_file(site.var, str(principal)))}
