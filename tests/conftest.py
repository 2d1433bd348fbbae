"""Root fixtures: the real stack (Kafka, PostgreSQL, SMTP sink) and the services as real processes."""

import asyncio
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pydantic import SecretStr

from contracts.staff import PLATFORM_PORTAL, StaffRole
from services.identity.settings import IdentitySettings
from services.identity.staff_cli import create_ready
from services.identity.staff_crypto import new_totp_secret
from stack import free_port, run_sync
from stack.acls import provision
from stack.credentials import KafkaInstallation, staff_totp_key_file
from stack.fixtures import DatabaseServer
from stack.gateway import Gateway
from stack.kafka import KafkaServer
from stack.mailsink import MailSink
from stack.paths import kafka_libs_dir
from stack.processes import (
    DATABASES,
    Purpose,
    Site,
    gateway,
    mail_store,
    platform_processes,
    prepare_credentials,
    printed_dir,
    signing_key_file,
)
from stack.services import ServiceProcess
from tests.journeys import CLERKS, StaffAccount, StaffSignIn

pytest_plugins = ["stack.fixtures"]

TENANTS = ("000328", "000512")


@dataclass
class System:
    kafka: KafkaInstallation
    mail: MailSink
    printed: Path
    onboarding: ServiceProcess
    letters: ServiceProcess
    printhouse: ServiceProcess
    identity: ServiceProcess
    meterdata: ServiceProcess
    onboarding_db: str
    letters_db: str
    identity_db: str
    meterdata_db: str
    signing_key: Path
    gateway: Gateway
    # An admin and a clerk per operator (role → account), signed in through identity's API; clerks in CLERKS.
    staff: dict[str, dict[str, StaffAccount]] = field(default_factory=dict)
    printhouse_credentials: dict[str, str] = field(default_factory=dict)
    staff_totp_key: str = ""  # identity's key for the staff's TOTP secrets (to make staff as identity does)

    async def platform_operator(self, email: str = "betrieb@plusportal.example.org") -> StaffAccount:
        """A staff member of the platform operator (created once per e-mail), made as `make up` makes one."""
        account = StaffAccount(PLATFORM_PORTAL, email, "Paul Plattform", StaffRole.PLATFORM.value, new_totp_secret())
        if (self.identity_db, email) in _PLATFORM_OPERATORS:
            return _PLATFORM_OPERATORS[(self.identity_db, email)]
        settings = IdentitySettings(database_url=self.identity_db, staff_totp_key=SecretStr(self.staff_totp_key))
        await create_ready(
            settings, account.tenant, email, account.name, StaffRole.PLATFORM, account.password, account.totp_secret
        )
        _PLATFORM_OPERATORS[(self.identity_db, email)] = account
        return account


_PLATFORM_OPERATORS: dict[tuple[str, str], StaffAccount] = {}  # (identity's database, e-mail) → account


@pytest.fixture(scope="session")
def system(
    kafka: KafkaInstallation, postgres_server: DatabaseServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[System]:
    """The services and the reference print house as processes on fresh databases, with the gateway in front:
    the processes of `make up` (stack.processes), on free ports, with the tests' settings. Shared by the tests of
    the session; its clerks are signed in for them (tests.journeys.CLERKS)."""
    with running_system(kafka, postgres_server, tmp_path_factory.mktemp("system")) as running:
        CLERKS.update(_clerks(running))
        yield running


@pytest.fixture(scope="module")
def disposable_system(postgres_server: DatabaseServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    """A system of the module's own, for tests that change what others rely on (random sequences of writes):
    its own Kafka (the services' consumer groups and topics are platform-wide: a second set of services on the
    shared broker would take the shared system's events, and its own would reach the shared system's services),
    its own fresh databases (on the shared PostgreSQL server: databases share nothing), mail sink, services and
    gateway. Stopped when the module is done; till then the journeys' clerks (tests.journeys.CLERKS) are its own."""
    root = tmp_path_factory.mktemp("disposable")
    server = KafkaServer(root / "kafka", free_port(), free_port(), libs_dir=kafka_libs_dir(), detach=False)
    try:
        server.start()
        run_sync(provision(server.installation))
        with running_system(server.installation, postgres_server, root) as running, clerks_of(running):
            yield running
    finally:
        server.stop()


@contextmanager
def clerks_of(system: System) -> Iterator[None]:
    """While inside: the journeys' clerks (tests.journeys.CLERKS) are ``system``'s own; the shared system's after."""
    shared_clerks = dict(CLERKS)
    CLERKS.update(_clerks(system))
    try:
        yield
    finally:
        CLERKS.clear()
        CLERKS.update(shared_clerks)


def _clerks(system: System) -> dict[str, StaffSignIn]:
    """The clerk of each operator, signed in through identity's API (password + TOTP) for back-office calls."""
    return {tenant: StaffSignIn(system.identity.url, system.staff[tenant]["clerk"]) for tenant in TENANTS}


@contextmanager
def running_system(kafka: KafkaInstallation, postgres_server: DatabaseServer, root: Path) -> Iterator[System]:
    """Every process of the system on ``kafka`` and fresh databases of ``postgres_server``, its files in ``root``;
    stopped on leaving."""
    databases = {name: asyncio.run(postgres_server.fresh_database(name)) for name in DATABASES}
    with MailSink(mail_store(root), web_port=free_port()) as mail:
        site = Site(
            root,
            kafka=kafka.bootstrap,
            kafka_secrets=kafka.credentials.folder,
            database_url=databases.__getitem__,
            purpose=Purpose.TEST,
            smtp_port=mail.smtp_port,
            mail_web_port=int((mail.web_url or ":0").rsplit(":", 1)[1]),
            http_ports={name: free_port() for name in DATABASES},
            gateway_port=free_port(),
        )
        credentials = prepare_credentials(site, TENANTS)
        processes = {spec.name: spec.process(root / "logs") for spec in platform_processes(site)}
        stack = ExitStack()
        try:
            for process in processes.values():
                process.start(wait=False)
            for process in processes.values():
                if process.port is not None:
                    process.wait_healthy()
            totp_key = staff_totp_key_file(root).read_text().strip()
            staff = _staff_accounts(databases["identity"], totp_key)
            yield System(
                kafka,
                mail,
                printed_dir(root),
                processes["onboarding"],
                processes["letters"],
                processes["printhouse"],
                processes["identity"],
                processes["meterdata"],
                databases["onboarding"],
                databases["letters"],
                databases["identity"],
                databases["meterdata"],
                signing_key_file(root),
                stack.enter_context(gateway(site)),
                staff,
                credentials,
                totp_key,
            )
        finally:
            stack.close()
            for process in processes.values():
                process.stop()


def _staff_accounts(identity_db: str, totp_key: str) -> dict[str, dict[str, StaffAccount]]:
    """An admin and a clerk per operator, created by identity's staff use case (as `make up`'s demo staff)."""
    settings = IdentitySettings(database_url=identity_db, staff_totp_key=SecretStr(totp_key))
    accounts: dict[str, dict[str, StaffAccount]] = {}
    for tenant in TENANTS:
        for role, name in ((StaffRole.ADMIN, f"Ada Admin {tenant}"), (StaffRole.CLERK, f"Klara Clerk {tenant}")):
            account = StaffAccount(tenant, f"{role.value}@{tenant}.example.org", name, role.value, new_totp_secret())
            asyncio.run(
                create_ready(settings, tenant, account.email, name, role, account.password, account.totp_secret)
            )
            accounts.setdefault(tenant, {})[role.value] = account
    return accounts
