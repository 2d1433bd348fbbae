"""Root fixtures: the real stack (Kafka, PostgreSQL, SMTP sink) and the services as real processes."""

import asyncio
import socket
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from stack.fixtures import DatabaseServer
from stack.gateway import Gateway
from stack.mailsink import MailSink
from stack.paths import REPO_ROOT
from stack.services import ServiceProcess, service_env

pytest_plugins = ["stack.fixtures"]

STAFF = {"Authorization": "Bearer dev-backoffice-token"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class System:
    kafka: str
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


@pytest.fixture(scope="session")
def system(
    kafka_bootstrap: str, postgres_server: DatabaseServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[System]:
    """Onboarding, letters and the reference print house as processes, on fresh databases."""
    root = tmp_path_factory.mktemp("system")
    onboarding_db = asyncio.run(postgres_server.fresh_database("onboarding"))
    letters_db = asyncio.run(postgres_server.fresh_database("letters"))
    identity_db = asyncio.run(postgres_server.fresh_database("identity"))
    meterdata_db = asyncio.run(postgres_server.fresh_database("meterdata"))
    gateway_port = free_port()
    portal_template = f"http://{{portal_number}}.localhost:{gateway_port}"  # links in mails and letters
    with MailSink(root / "mail", web_port=free_port()) as mail:
        env = service_env(kafka=kafka_bootstrap, database_url=None, smtp_port=mail.smtp_port)
        onboarding = ServiceProcess(
            "onboarding",
            "-m services.onboarding.app",
            {
                **env,
                "PLUSPORTAL_DATABASE_URL": onboarding_db,
                "PLUSPORTAL_LIMIT_PER_CLIENT": "1000/minute",
                "PLUSPORTAL_LIMIT_PER_EMAIL": "1000/minute",
            },
            root / "logs" / "onboarding.log",
            port=free_port(),
        )
        letters_port = free_port()
        letters = ServiceProcess(
            "letters",
            "-m services.letters.app",
            {
                **env,
                "PLUSPORTAL_DATABASE_URL": letters_db,
                # Dispatch jobs name their PDF under this address; the print house fetches it with the token.
                "PLUSPORTAL_PUBLIC_URL": f"http://127.0.0.1:{letters_port}",
                "PLUSPORTAL_PRINTHOUSE_TOKEN": "test-printhouse-token",  # not the default: both sides read it
                "PLUSPORTAL_PORTAL_URL_TEMPLATE": portal_template,
            },
            root / "logs" / "letters.log",
            port=letters_port,
        )
        printhouse = ServiceProcess(
            "printhouse",
            ("-m", "backoffice.printhouse", "run", "--out", str(root / "printed")),
            {**env, "PLUSPORTAL_PRINTHOUSE_TOKEN": "test-printhouse-token"},
            root / "logs" / "printhouse.log",
        )
        identity = ServiceProcess(
            "identity",
            "-m services.identity.app",
            {
                **env,
                "PLUSPORTAL_DATABASE_URL": identity_db,
                "PLUSPORTAL_SIGNING_KEY_FILE": str(root / "identity-signing-key.pem"),
                "PLUSPORTAL_PORTAL_URL_TEMPLATE": portal_template,
                "PLUSPORTAL_LIMIT_LOGIN_PER_CLIENT": "100000/minute",
                "PLUSPORTAL_LIMIT_REQUESTS_PER_CLIENT": "100000/minute",
            },
            root / "logs" / "identity.log",
            port=free_port(),
        )
        meterdata = ServiceProcess(
            "meterdata",
            "-m services.meterdata.app",
            {**env, "PLUSPORTAL_DATABASE_URL": meterdata_db},
            root / "logs" / "meterdata.log",
            port=free_port(),
        )
        processes = (onboarding, letters, printhouse, identity, meterdata)
        stack = ExitStack()
        try:
            for process in processes:
                process.start(wait=False)
            onboarding.wait_healthy()
            letters.wait_healthy()
            identity.wait_healthy()
            meterdata.wait_healthy()
            gateway = Gateway(
                root / "gateway-var",
                gateway_port,
                {process.name: process.port or 0 for process in (onboarding, letters, identity, meterdata)},
                REPO_ROOT / "web",
                dev_mail_port=int((mail.web_url or ":0").rsplit(":", 1)[1]),
                dev_letters_dir=root / "printed",
                auth_rate="6000r/m",
                auth_burst=1000,
            )
            stack.enter_context(gateway)
            yield System(
                kafka_bootstrap,
                mail,
                root / "printed",
                onboarding,
                letters,
                printhouse,
                identity,
                meterdata,
                onboarding_db,
                letters_db,
                identity_db,
                meterdata_db,
                root / "identity-signing-key.pem",
                gateway,
            )
        finally:
            stack.close()
            for process in processes:
                process.stop()
