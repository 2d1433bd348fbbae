"""Root fixtures: the real stack (Kafka, PostgreSQL, SMTP sink) and the services as real processes."""

import asyncio
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from stack.fixtures import DatabaseServer
from stack.mailsink import MailSink
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
    onboarding_db: str
    letters_db: str
    identity_db: str


@pytest.fixture(scope="session")
def system(
    kafka_bootstrap: str, postgres_server: DatabaseServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[System]:
    """Onboarding, letters and the reference print house as processes, on fresh databases."""
    root = tmp_path_factory.mktemp("system")
    onboarding_db = asyncio.run(postgres_server.fresh_database("onboarding"))
    letters_db = asyncio.run(postgres_server.fresh_database("letters"))
    identity_db = asyncio.run(postgres_server.fresh_database("identity"))
    with MailSink(root / "mail") as mail:
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
        letters = ServiceProcess(
            "letters",
            "-m services.letters.app",
            {**env, "PLUSPORTAL_DATABASE_URL": letters_db},
            root / "logs" / "letters.log",
            port=free_port(),
        )
        printhouse = ServiceProcess(
            "printhouse",
            ("-m", "backoffice.printhouse", "run", "--out", str(root / "printed")),
            env,
            root / "logs" / "printhouse.log",
        )
        identity = ServiceProcess(
            "identity",
            "-m services.identity.app",
            {
                **env,
                "PLUSPORTAL_DATABASE_URL": identity_db,
                "PLUSPORTAL_SIGNING_KEY_FILE": str(root / "identity-signing-key.pem"),
                "PLUSPORTAL_PORTAL_URL_TEMPLATE": "http://{portal_number}.localhost:8080",
                "PLUSPORTAL_LIMIT_LOGIN_PER_CLIENT": "100000/minute",
                "PLUSPORTAL_LIMIT_REQUESTS_PER_CLIENT": "100000/minute",
            },
            root / "logs" / "identity.log",
            port=free_port(),
        )
        processes = (onboarding, letters, printhouse, identity)
        try:
            for process in processes:
                process.start(wait=False)
            onboarding.wait_healthy()
            letters.wait_healthy()
            identity.wait_healthy()
            yield System(
                kafka_bootstrap,
                mail,
                root / "printed",
                onboarding,
                letters,
                printhouse,
                identity,
                onboarding_db,
                letters_db,
                identity_db,
            )
        finally:
            for process in processes:
                process.stop()
