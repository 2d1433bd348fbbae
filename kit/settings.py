"""Settings every service shares, from environment variables prefixed ``PLUSPORTAL_``.

A secret can also come from a file: ``PLUSPORTAL_<NAME>_FILE`` names the file that holds
``PLUSPORTAL_<NAME>`` (as Docker and Kubernetes secrets are mounted).

``PLUSPORTAL_ENV=production`` makes every process refuse to start while a setting is still fit only for
development (a default or published secret, plain HTTP where cookies or credentials travel): each settings
class names its own in ``production_problems``, and ``load_settings`` turns them into one plain message.
"""

import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Any, Self, TypeVar
from urllib.parse import urlsplit

from pydantic import SecretStr, ValidationError, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from kit.kafka import KafkaAccess
from kit.tenants import DEFAULT_TENANTS_FILE, PORTAL_URL_TEMPLATE

ENV_PREFIX = "PLUSPORTAL_"
# Where `make up` and the test fixtures put each Kafka principal's password (<principal>.password).
DEFAULT_KAFKA_SECRETS_DIR = Path(__file__).resolve().parent.parent / "var" / "secrets" / "kafka"


class FileSecrets(PydanticBaseSettingsSource):
    """``PLUSPORTAL_<NAME>_FILE`` → the file's content (without the final newline) as the field's value."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        path = os.environ.get(f"{ENV_PREFIX}{field_name.upper()}_FILE")
        if not path:
            return None, field_name, False
        try:
            return Path(path).read_text().rstrip("\n"), field_name, False
        except OSError as error:
            raise ValueError(f"{ENV_PREFIX}{field_name.upper()}_FILE: {path} ist nicht lesbar ({error})") from None

    def __call__(self) -> dict[str, Any]:
        values = {}
        for name, field in self.settings_cls.model_fields.items():
            value, _, _ = self.get_field_value(field, name)
            if value is not None:
                values[name] = value
        return values


REPO_ROOT = Path(__file__).resolve().parent.parent
# Secrets that stand (or stood) in this repository, or are everyone's default: never good enough for production.
PUBLISHED_PASSWORDS = frozenset(
    {
        "",
        "plusportal",
        "postgres",
        "password",
        "secret",
        "changeme",
        "dev-only-device-cookie-secret",
        "dev-device-cookie-secret-change-me",
    }
)
MIN_SECRET_LENGTH = 32


class Environment(StrEnum):
    DEVELOPMENT = "development"  # make up, docker compose, the tests
    PRODUCTION = "production"


def setting(field_name: str) -> str:
    """The environment variable that sets a field (as people configure it)."""
    return f"{ENV_PREFIX}{field_name.upper()}"


def plain_http(url: str) -> bool:
    return urlsplit(url).scheme != "https"


def weak_secret(value: SecretStr | None) -> bool:
    """Missing, short, or one that anyone can read (in this repository or a manual)."""
    if value is None:
        return True
    secret = value.get_secret_value()
    return len(secret) < MIN_SECRET_LENGTH or secret.lower() in PUBLISHED_PASSWORDS


def in_repository(path: Path) -> bool:
    return path.resolve().is_relative_to(REPO_ROOT)


class PlusportalSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    env: Environment = Environment.DEVELOPMENT

    def production_problems(self) -> list[str]:
        """What this process must not run with in production, one sentence per setting (German: operators
        read it). Subclasses add theirs to their parent's."""
        return []

    @model_validator(mode="after")
    def _refuse_development_settings_in_production(self) -> Self:
        if self.env is Environment.PRODUCTION and (problems := self.production_problems()):
            raise ValueError(PRODUCTION_REFUSAL + "\n".join(f"- {problem}" for problem in problems))
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, FileSecrets(settings_cls), dotenv_settings, file_secret_settings


PRODUCTION_REFUSAL = f"{setting('env')}=production, aber diese Einstellungen taugen nur zur Entwicklung:\n"


SettingsT = TypeVar("SettingsT", bound=PlusportalSettings)


def load_settings(settings_class: type[SettingsT]) -> SettingsT:
    """The process's settings; a setting that is wrong or unfit for production ends the process with a message
    that names it (instead of a traceback)."""
    try:
        return settings_class()
    except ValidationError as error:
        messages = [str(detail["msg"]).removeprefix("Value error, ") for detail in error.errors()]
        print("Plusportal startet nicht.", *messages, sep="\n", file=sys.stderr)
        raise SystemExit(2) from None


class KafkaSettings(PlusportalSettings):
    """What a Kafka client of the platform needs: the services, the print house, the import tools."""

    kafka_bootstrap: str = "127.0.0.1:19092"
    # The principal to authenticate as (default: the process's own, e.g. "letters") and its password; without
    # one, the password in kafka_secrets_dir (written by `make up`) is used when it is there.
    kafka_username: str | None = None
    kafka_password: SecretStr | None = None
    kafka_secrets_dir: Path = DEFAULT_KAFKA_SECRETS_DIR
    traces_file: Path | None = None  # kit.tracing: this process's spans as JSON lines; None: tracing off

    def kafka_access(self, principal: str) -> KafkaAccess:
        username = self.kafka_username or principal
        if self.kafka_password is not None:
            return KafkaAccess(self.kafka_bootstrap, username, self.kafka_password.get_secret_value())
        try:
            password = (self.kafka_secrets_dir / f"{username}.password").read_text().strip()
        except OSError:
            return KafkaAccess(self.kafka_bootstrap)  # the broker will refuse: the log says so
        return KafkaAccess(self.kafka_bootstrap, username, password)

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        if self.kafka_password is None:
            problems.append(
                f"{setting('kafka_password')} (oder {setting('kafka_password')}_FILE) fehlt: in Produktion nennt "
                "jeder Prozess sein Kafka-Passwort selbst, statt es aus dem Entwicklungsordner zu lesen."
            )
        return problems


class ServiceSettings(KafkaSettings):
    database_url: str  # each service's own database (its default: the development server of `make up`)
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 2525
    tenants_file: Path = DEFAULT_TENANTS_FILE
    # Where links in mails and letters point ({portal_host}, {portal_number} of the tenant).
    portal_url_template: str = PORTAL_URL_TEMPLATE
    http_host: str = "127.0.0.1"
    # Whose X-Forwarded-For is believed (kit.http.serve): the gateway's address(es) or network, comma-separated.
    trusted_proxies: str = "127.0.0.1,::1"
    log_json: bool | None = None  # None: JSON unless stderr is a terminal
    # Switched off only to run an API-only replica (or to hold events back in a test of the outbox).
    outbox_relay_enabled: bool = True

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        if plain_http(self.portal_url_template):
            problems.append(
                f"{setting('portal_url_template')} beginnt nicht mit https://: Links in Briefen und E-Mails und "
                "die Sitzungs-Cookies der Kundinnen und Kunden gingen unverschlüsselt."
            )
        database_password = urlsplit(self.database_url).password
        if database_password is None or database_password.lower() in PUBLISHED_PASSWORDS:
            problems.append(
                f"{setting('database_url')} meldet sich ohne eigenes Passwort an (der Entwicklungszugang): "
                "ein Passwort je Dienst setzen, am besten über "
                f"{setting('database_url')}_FILE."
            )
        return problems
