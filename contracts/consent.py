"""Consent for third parties (§49(2)/§50 MsbG): what a customer grants an energy service company through OAuth 2.0,
and the events every service that serves data to third parties enforces grants by (without calling identity).

A grant names one tenant, one partner number, one scope (the finest resolution the third party may read), the first
day it may read ("from when on") and when it ends. Identity is the authorisation server; its access tokens for a
grant carry the grant in the ``grant`` claim, and a revoked or expired grant's tokens are refused like those of an
ended session.
"""

from datetime import date

from pydantic import AwareDatetime, Field

from contracts.common import PartnerNumber, PartnerRole
from contracts.envelope import EventPayload

# The scopes a third party may ask for, each with the resolutions of meter data's /intervals it lets one read:
# a grant for monthly values cannot read days or 15-minute values.
GRANT_SCOPES: dict[str, tuple[str, ...]] = {
    "meterdata:15min": ("15min", "hour", "day", "week", "month", "year"),
    "meterdata:day": ("day", "week", "month", "year"),
    "meterdata:month": ("month", "year"),
}
# What the consent page and the account page say about each scope.
GRANT_SCOPE_LABELS: dict[str, str] = {
    "meterdata:15min": "Viertelstundenwerte (und alles daraus Summierte: Stunden, Tage, Wochen, Monate, Jahre)",
    "meterdata:day": "Tageswerte (und Wochen, Monate, Jahre)",
    "meterdata:month": "Monatswerte (und Jahre)",
}
# The longest a grant may run, and the default when the third party names no duration.
MAX_GRANT_DAYS = 3 * 366
DEFAULT_GRANT_DAYS = 365
# A third party's access tokens live minutes; its refresh tokens rotate on every use (RFC 9700 §4.14.2).
GRANT_ACCESS_TOKEN_SECONDS = 300
# The prefix of a grant's `sid` and `sub` claims: its tokens end with it like a session's (kit.auth).
GRANT_SESSION_PREFIX = "grant:"


class GrantGiven(EventPayload):
    """A customer approved a third party's request: from now on its tokens may read what the grant names."""

    EVENT_TYPE = "GrantGiven"

    grant_id: str
    client_id: str
    client_name: str
    account_id: str
    partner_number: PartnerNumber
    role: PartnerRole
    scope: str = Field(description="One of contracts.consent.GRANT_SCOPES")
    data_from: date = Field(description="The first day the third party may read")
    valid_until: AwareDatetime = Field(description="The grant ends then (expired), unless revoked before")


class GrantRevoked(EventPayload):
    """The grant ended before its time: its access tokens are refused from now on, though not yet expired."""

    EVENT_TYPE = "GrantRevoked"

    grant_id: str
    partner_number: PartnerNumber
    reason: str = Field(
        description="customer | replayed (a code or refresh token presented a second time) | account-deleted | "
        "third-party-disabled"
    )
    tokens_valid_until: AwareDatetime = Field(description="Its last access token expires by then")


class GrantExpired(EventPayload):
    """The grant reached its end (``valid_until``): no token of it is valid any more."""

    EVENT_TYPE = "GrantExpired"

    grant_id: str
    partner_number: PartnerNumber
