"""Settings every service shares, from environment variables prefixed ``PLUSPORTAL_``."""

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from kit.tenants import DEFAULT_TENANTS_FILE, PORTAL_URL_TEMPLATE


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PLUSPORTAL_", extra="ignore")

    kafka_bootstrap: str = "127.0.0.1:19092"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 2525
    tenants_file: Path = DEFAULT_TENANTS_FILE
    # Where links in mails and letters point ({portal_host}, {portal_number} of the tenant).
    portal_url_template: str = PORTAL_URL_TEMPLATE
    http_host: str = "127.0.0.1"
    log_json: bool | None = None  # None: JSON unless stderr is a terminal
    # Switched off only to run an API-only replica (or to hold events back in a test of the outbox).
    outbox_relay_enabled: bool = True
