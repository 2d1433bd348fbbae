"""PLUSPORTAL_ENV=production: every process refuses to start with what `make up` gives it for development, naming
each setting, and starts with settings fit for production (here identity, on the real Kafka and PostgreSQL)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from contracts.topics import Principal
from stack import free_port
from stack.credentials import KafkaInstallation
from stack.fixtures import DatabaseServer
from stack.processes import POSTGRES_PORT, platform_processes
from stack.services import ServiceProcess, service_env
from stack.supervision import local_site

REPO = Path(__file__).resolve().parents[2]
# What each process of `make up` is refused for in production (by the setting's name).
REFUSED = {
    "onboarding": {"PLUSPORTAL_KAFKA_PASSWORD", "PLUSPORTAL_DATABASE_URL"},
    "letters": {
        "PLUSPORTAL_KAFKA_PASSWORD",
        "PLUSPORTAL_PORTAL_URL_TEMPLATE",
        "PLUSPORTAL_DATABASE_URL",
        "PLUSPORTAL_PUBLIC_URL",
        "PLUSPORTAL_PRINTHOUSE_CREDENTIALS_FILE",
        "PLUSPORTAL_REGISTRATION_CODE_KEY",
    },
    "identity": {
        "PLUSPORTAL_KAFKA_PASSWORD",
        "PLUSPORTAL_PORTAL_URL_TEMPLATE",
        "PLUSPORTAL_DATABASE_URL",
        "PLUSPORTAL_SIGNING_KEY_FILE",
        "PLUSPORTAL_STAFF_TOTP_KEY",
    },
    "meterdata": {"PLUSPORTAL_KAFKA_PASSWORD", "PLUSPORTAL_DATABASE_URL", "PLUSPORTAL_ALERT_LINK_KEY"},
    "printhouse": {"PLUSPORTAL_KAFKA_PASSWORD", "PLUSPORTAL_LETTERS_URL", "PLUSPORTAL_PRINTHOUSE_CREDENTIALS_FILE"},
}


def start_in_production(argv: list[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {key: value for key, value in os.environ.items() if not key.startswith("PLUSPORTAL_")}
    return subprocess.run(
        [sys.executable, *argv],
        env={**clean, **env, "PLUSPORTAL_ENV": "production"},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("name", REFUSED)
def test_make_up_settings_are_refused_in_production(name: str, tmp_path: Path) -> None:
    site = local_site(tmp_path, lambda db: f"postgresql+asyncpg://plusportal@127.0.0.1:{POSTGRES_PORT}/{db}")
    spec = next(spec for spec in platform_processes(site) if spec.name == name)
    # Kafka's password comes from the development folder, not from the process's own settings.
    env = {key: value for key, value in spec.env.items() if not key.startswith("PLUSPORTAL_KAFKA_PASSWORD")}
    if spec.name == "identity":
        env.pop("PLUSPORTAL_DEVICE_COOKIE_SECRET_FILE")  # as a newcomer forgets it …
        env.pop("PLUSPORTAL_STAFF_TOTP_KEY_FILE")
        env["PLUSPORTAL_DEVICE_COOKIE_SECRET"] = "dev-only-device-cookie-secret"  # … or copies the old example
        env["PLUSPORTAL_SIGNING_KEY_FILE"] = "var/identity/signing-key.pem"  # inside the repository
    env.pop("PLUSPORTAL_REGISTRATION_CODE_KEY_FILE", None)  # letters then derives codes from the development key
    env.pop("PLUSPORTAL_ALERT_LINK_KEY_FILE", None)  # meter data then signs alert links with the development key
    finished = start_in_production(list(spec.argv), env)
    assert finished.returncode == 2, finished.stderr
    assert finished.stderr.startswith("Plusportal startet nicht.\nPLUSPORTAL_ENV=production"), finished.stderr
    named = {line.split()[1] for line in finished.stderr.splitlines() if line.startswith("- ")}
    expected = REFUSED[spec.name] | ({"PLUSPORTAL_DEVICE_COOKIE_SECRET"} if spec.name == "identity" else set())
    assert named == expected, finished.stderr
    assert "Traceback" not in finished.stderr


def test_gateway_refuses_the_development_tools_in_production(tmp_path: Path) -> None:
    argv = ["-m", "stack.gateway", "--var", str(tmp_path), "--port", str(free_port()), "--web-root", str(REPO / "web")]
    argv += [
        f"--upstream={name}=127.0.0.1:{free_port()}" for name in ("onboarding", "letters", "identity", "meterdata")
    ]
    finished = start_in_production([*argv, "--dev-mail", "127.0.0.1:8025", "--dev-letters", str(tmp_path)], {})
    assert finished.returncode == 2, finished.stderr
    assert "--dev-mail" in finished.stderr and "--dev-letters" in finished.stderr


async def test_identity_starts_in_production_with_its_own_secrets(
    kafka: KafkaInstallation, postgres_server: DatabaseServer, tmp_path: Path
) -> None:
    database = await postgres_server.fresh_database("identity_production")
    cookie_key = tmp_path / "device-cookie-secret"
    cookie_key.write_text(secrets.token_urlsafe(32))
    credential = kafka.environment(Principal.IDENTITY)
    production = {
        "PLUSPORTAL_ENV": "production",
        "PLUSPORTAL_PORTAL_URL_TEMPLATE": "https://{portal_host}",
        "PLUSPORTAL_SIGNING_KEY_FILE": str(tmp_path / "keys" / "signing-key.pem"),
        "PLUSPORTAL_DEVICE_COOKIE_SECRET_FILE": str(cookie_key),
        "PLUSPORTAL_STAFF_TOTP_KEY": secrets.token_urlsafe(32),
        "PLUSPORTAL_DATABASE_URL": database.replace("plusportal@", f"plusportal:{secrets.token_urlsafe(16)}@"),
        "PLUSPORTAL_KAFKA_USERNAME": credential["PLUSPORTAL_KAFKA_USERNAME"],
        "PLUSPORTAL_KAFKA_PASSWORD": kafka.credentials.password(Principal.IDENTITY),
    }
    env = service_env(kafka=kafka.bootstrap, database_url=None, smtp_port=free_port(), extra=production)
    identity = ServiceProcess(
        "identity-production", "-m services.identity.app", env, tmp_path / "log", port=free_port()
    )
    identity.start(wait=False)
    try:
        identity.wait_healthy()
    finally:
        identity.stop()
