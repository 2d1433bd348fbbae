"""Settings every service shares, from environment variables prefixed ``PLUSPORTAL_``.

A secret can also come from a file: ``PLUSPORTAL_<NAME>_FILE`` names the file that holds
``PLUSPORTAL_<NAME>`` (as Docker and Kubernetes secrets are mounted).
"""

import os
from pathlib import Path
from typing import Any

from pydantic import SecretStr
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


class PlusportalSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

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


class KafkaSettings(PlusportalSettings):
    """What a Kafka client of the platform needs: the services, the print house, the import tools."""

    kafka_bootstrap: str = "127.0.0.1:19092"
    # The principal to authenticate as (default: the process's own, e.g. "letters") and its password; without
    # one, the password in kafka_secrets_dir (written by `make up`) is used when it is there.
    kafka_username: str | None = None
    kafka_password: SecretStr | None = None
    kafka_secrets_dir: Path = DEFAULT_KAFKA_SECRETS_DIR

    def kafka_access(self, principal: str) -> KafkaAccess:
        username = self.kafka_username or principal
        if self.kafka_password is not None:
            return KafkaAccess(self.kafka_bootstrap, username, self.kafka_password.get_secret_value())
        try:
            password = (self.kafka_secrets_dir / f"{username}.password").read_text().strip()
        except OSError:
            return KafkaAccess(self.kafka_bootstrap)  # the broker will refuse: the log says so
        return KafkaAccess(self.kafka_bootstrap, username, password)


class ServiceSettings(KafkaSettings):
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 2525
    tenants_file: Path = DEFAULT_TENANTS_FILE
    # Where links in mails and letters point ({portal_host}, {portal_number} of the tenant).
    portal_url_template: str = PORTAL_URL_TEMPLATE
    http_host: str = "127.0.0.1"
    log_json: bool | None = None  # None: JSON unless stderr is a terminal
    # Switched off only to run an API-only replica (or to hold events back in a test of the outbox).
    outbox_relay_enabled: bool = True
