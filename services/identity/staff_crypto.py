"""The staff second factor: TOTP (RFC 6238 with pyotp: 30 s steps, 6 digits, ±1 step) and recovery codes
(random, only their SHA-256 kept). Passwords and one-time links are identity's own (services.identity.crypto)."""

import base64
import hashlib
import hmac
import secrets
from datetime import datetime

import pyotp
from cryptography.fernet import Fernet

from services.identity import crypto
from services.identity.staff_domain import RECOVERY_CODES, TOTP_ISSUER

STEP_SECONDS = 30
DIGITS = 6


def new_totp_secret() -> str:
    """160 random bits, base32 (RFC 4226's recommended length)."""
    return pyotp.random_base32(32)


def totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)


def provisioning_uri(secret: str, email: str, operator: str) -> str:
    return totp(secret).provisioning_uri(name=email, issuer_name=f"{TOTP_ISSUER} {operator}")


def matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step (now −1, now, now +1) whose code this is, or None."""
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not code.isdigit():
        return None
    generator = totp(secret)
    current = generator.timecode(now)
    found = None
    for offset in (-1, 0, 1):  # compare all three: the time taken does not tell which one matched
        if hmac.compare_digest(generator.generate_otp(current + offset), code):
            found = current + offset
    return found


class TotpSecrets:
    """Seals the staff's TOTP secrets for the database (Fernet: AES-128-CBC with HMAC-SHA256) with the
    installation's key (settings ``staff_totp_key``): a copy of the table alone yields no second factor."""

    PREFIX = "fernet:"

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(base64.urlsafe_b64encode(hashlib.sha256(key).digest()))

    def seal(self, secret: str) -> str:
        return self.PREFIX + self._fernet.encrypt(secret.encode()).decode()

    def open(self, stored: str) -> str:
        """The secret; one stored before sealing (plain base32) is returned as it is and sealed on its next save."""
        if not stored.startswith(self.PREFIX):
            return stored
        return self._fernet.decrypt(stored.removeprefix(self.PREFIX).encode()).decode()


def new_recovery_codes() -> list[str]:
    """Ten codes of 50 random bits each, written in groups (xxxxx-xxxxx); only their hashes are stored."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(alphabet) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes


def recovery_hash(code: str) -> str:
    return crypto.token_hash(code.strip().lower().replace(" ", ""))
