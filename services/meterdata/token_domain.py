"""Personal access tokens ([11 of 11] §1): a customer's own read-only key to the meter-data API of one partner
number, for a home-automation system or an energy manager.

A token is ``ppt_`` followed by 43 characters of base64url (32 random bytes): the prefix lets secret scanners
find a leaked one, the randomness makes a guess hopeless. It is shown once, when it is made; only its SHA-256
digest is kept (a random secret needs no slow hash: there is nothing to try a dictionary on), and a request is
matched by looking that digest up — no comparison of secrets in Python. Each token is named, expires on a day
the customer picks (at most MAX_VALID_DAYS ahead; valid through that day, Europe/Berlin) and can be revoked at
once. Its last use is kept to the minute (``use_to_record``), not written per request.

Plain Python: the random bytes come from the caller (token_handlers), the clock too.
"""

import base64
import hashlib
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from uuid import UUID

from kit.energy_day import day_of, day_start

PREFIX = "ppt_"
SECRET_BYTES = 32
SHOWN_PREFIX = len(PREFIX) + 8  # what lists show of a token: enough to tell two apart, useless to an attacker
MAX_VALID_DAYS = 366
MAX_LIVE_TOKENS = 20  # per partner number: more is no home automation but a leak waiting to happen
NAME_MAX = 60
USE_RECORDED_EVERY = timedelta(minutes=1)

NAME_MISSING = "Bitte geben Sie dem Zugangsschlüssel einen Namen, z. B. »Heimautomation«."
NAME_TOO_LONG = f"Der Name darf höchstens {NAME_MAX} Zeichen lang sein."
NAME_UNPRINTABLE = "Der Name darf keine Steuerzeichen enthalten."
EXPIRY_PAST = "Das Ablaufdatum muss nach dem heutigen Tag liegen."
EXPIRY_TOO_FAR = f"Ein Zugangsschlüssel gilt höchstens {MAX_VALID_DAYS} Tage. Bitte wählen Sie ein früheres Datum."
TOO_MANY = (
    f"Zu dieser Geschäftspartner-Nr. gibt es bereits {MAX_LIVE_TOKENS} gültige Zugangsschlüssel. "
    "Bitte widerrufen Sie zuerst einen, den Sie nicht mehr brauchen."
)


class TokenRefused(ValueError):
    """A token cannot be made as asked (the message says why, in German)."""


class InvalidPersonalToken(Exception):
    """Unknown (altered, guessed), of another tenant, revoked or expired: the reason is for logs, not clients."""


@dataclass(frozen=True)
class PersonalToken:
    id: UUID
    tenant: str
    partner_number: str
    role: str  # the partner's role (consumption or feed-in), as the session that made the token named it
    account_id: str  # the login that made it
    name: str
    prefix: str  # ``ppt_`` and the first 8 characters of the secret
    secret_hash: str  # SHA-256 of the whole token, hex
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at

    def revoke(self, now: datetime) -> "PersonalToken":
        """Revoked from now on; a token revoked before stays revoked at its first time."""
        return self if self.revoked_at is not None else replace(self, revoked_at=now)

    def use_to_record(self, now: datetime) -> bool:
        """Whether a use at ``now`` is to be written: the first one, and then at most once per minute."""
        return self.last_used_at is None or now - self.last_used_at >= USE_RECORDED_EVERY

    def check_usable(self, tenant: str, now: datetime) -> None:
        """Refuses a token of another tenant, a revoked and an expired one."""
        if self.tenant != tenant:
            raise InvalidPersonalToken("other tenant")
        if self.revoked_at is not None:
            raise InvalidPersonalToken("revoked")
        if self.expired(now):
            raise InvalidPersonalToken("expired")


def is_personal_token(credential: str) -> bool:
    """Whether a bearer credential is meant as a personal token (identity's access tokens are JWTs: ``ey…``)."""
    return credential.startswith(PREFIX)


def secret_of(random_bytes: bytes) -> str:
    if len(random_bytes) < SECRET_BYTES:
        raise ValueError(f"a token needs {SECRET_BYTES} random bytes")
    return PREFIX + base64.urlsafe_b64encode(random_bytes[:SECRET_BYTES]).rstrip(b"=").decode()


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def checked_name(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise TokenRefused(NAME_MISSING)
    if len(name) > NAME_MAX:
        raise TokenRefused(NAME_TOO_LONG)
    if not name.isprintable():
        raise TokenRefused(NAME_UNPRINTABLE)
    return name


def expiry_of(expires_on: date, now: datetime) -> datetime:
    """When a token valid through ``expires_on`` (Europe/Berlin) ends: the start of the day after."""
    today = day_of(now)
    if expires_on <= today:
        raise TokenRefused(EXPIRY_PAST)
    if expires_on > today + timedelta(days=MAX_VALID_DAYS):
        raise TokenRefused(EXPIRY_TOO_FAR)
    return day_start(expires_on + timedelta(days=1))


def issue(
    *,
    token_id: UUID,
    tenant: str,
    partner_number: str,
    role: str,
    account_id: str,
    name: str,
    expires_on: date,
    live_tokens: int,
    random_bytes: bytes,
    now: datetime,
) -> tuple[PersonalToken, str]:
    """A new token and its secret (to be shown once), or TokenRefused. ``live_tokens``: the partner's tokens
    neither revoked nor expired."""
    checked = checked_name(name)
    expires_at = expiry_of(expires_on, now)
    if live_tokens >= MAX_LIVE_TOKENS:
        raise TokenRefused(TOO_MANY)
    secret = secret_of(random_bytes)
    token = PersonalToken(
        id=token_id,
        tenant=tenant,
        partner_number=partner_number,
        role=role,
        account_id=account_id,
        name=checked,
        prefix=secret[:SHOWN_PREFIX],
        secret_hash=secret_hash(secret),
        created_at=now,
        expires_at=expires_at,
    )
    return token, secret
