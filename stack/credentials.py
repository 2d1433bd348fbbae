"""The secrets of one installation, generated on first use: a random password per Kafka principal, the
device-cookie key, the staff TOTP key, letters' registration-code key (the print-house credentials: kit.credentials).

They live in `<var>/secrets/kafka/<principal>.password` (mode 0600, never committed): the broker is
formatted with the broker's and the admin's, stack.acls registers the others, and each process is handed
only its own file (PLUSPORTAL_KAFKA_PASSWORD_FILE).
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from contracts.topics import Principal
from kit.kafka import KafkaAccess

BROKER = "broker"  # the broker's own SCRAM user (inter-broker traffic)
CONTROLLER = "controller"  # the controller listener's PLAIN user
ADMIN = "admin"  # creates topics, users and ACLs; reads consumer offsets for readiness
# Every user the broker knows: its own, the admin and the platform's principals.
KAFKA_USERS: tuple[str, ...] = (BROKER, CONTROLLER, ADMIN, *Principal)


def kafka_secrets_dir(var: Path) -> Path:
    return var / "secrets" / "kafka"


def device_cookie_secret_file(var: Path) -> Path:
    """Identity's key for device cookies (PLUSPORTAL_DEVICE_COOKIE_SECRET_FILE)."""
    return var / "secrets" / "identity" / "device-cookie-secret"


def staff_totp_key_file(var: Path) -> Path:
    """Identity's key that seals the staff's TOTP secrets in its database (PLUSPORTAL_STAFF_TOTP_KEY_FILE)."""
    return var / "secrets" / "identity" / "staff-totp-key"


def registration_code_key_file(var: Path) -> Path:
    """Letters' key for the registration codes in letters' links (PLUSPORTAL_REGISTRATION_CODE_KEY_FILE)."""
    return var / "secrets" / "letters" / "registration-code-key"


def alert_link_key_file(var: Path) -> Path:
    """Meter data's key for the off links in alert mails (PLUSPORTAL_ALERT_LINK_KEY_FILE)."""
    return var / "secrets" / "meterdata" / "alert-link-key"


def installation_secret(path: Path) -> Path:
    """`path`, holding 256 random bits (mode 0600) written on first use: a secret of this installation alone."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        descriptor = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(32) + "\n")
        os.replace(path.with_suffix(".tmp"), path)
    return path


def credential_environment(principal: str, password_file: Path) -> dict[str, str]:
    """The settings (kit.settings.KafkaSettings) that make a process authenticate as `principal`."""
    return {"PLUSPORTAL_KAFKA_USERNAME": principal, "PLUSPORTAL_KAFKA_PASSWORD_FILE": str(password_file)}


@dataclass(frozen=True)
class KafkaCredentials:
    folder: Path

    def file(self, user: str) -> Path:
        """The file that holds `user`'s password, written with a new random password if it is missing."""
        return installation_secret(self.folder / f"{user}.password")

    def password(self, user: str) -> str:
        return self.file(user).read_text().strip()


@dataclass(frozen=True)
class KafkaInstallation:
    """A broker as its operator holds it: where it answers and every principal's credential."""

    bootstrap: str
    credentials: KafkaCredentials

    def access(self, user: str = ADMIN) -> KafkaAccess:
        return KafkaAccess(self.bootstrap, user, self.credentials.password(user))

    @property
    def admin(self) -> KafkaAccess:
        return self.access(ADMIN)

    def environment(self, principal: str) -> dict[str, str]:
        """A process's environment for this broker as `principal` (its own password file only)."""
        return credential_environment(principal, self.credentials.file(principal))
