"""Alerts ("Benachrichtigungen", issue [10 of 11] §2): the rules, plain Python. Each rule looks at what is stored of
a partner's channel and says whether, and for which period, the alert is raised (a ``Finding``); the use case
(handlers.raise_alerts) records it once per alert and period (a unique key) and publishes ``AlertRaised``.

- Daily consumption: the sum of the day's quarter-hour values (kWh) above the threshold. A day still running is
  judged on the values so far (they only add up), so it may be raised before the day ends.
- Night base load: the *lowest* quarter hour of 00:00–04:00 local time, as mean power (W = Wh per 15 min × 4),
  above the threshold; only when every quarter hour of that window has a value. 00:00–04:00 holds 16 quarter hours,
  12 on the last Sunday of March (02:00–03:00 is skipped) and 20 on the last Sunday of October (it comes twice).
- PV day without feed-in: a complete feed-in day with nothing fed in, while at least ``ANONYMISED_GROUP`` other PV
  systems of the same postcode area (the first ``POSTCODE_AREA_DIGITS`` digits of the connection address) fed in
  that day and they are most of those that sent the day. Fewer than that: no hint (anonymised groups only).
- Missing data: no value since the last day with one (or since the alert was made) for more than the threshold's
  days, counted up to the newest day the operator's other meters delivered — judged when readings arrive, never by
  polling. The gap's first day is the period: one gap is raised once, however long it lasts.

Days more than ``LOOKBACK_DAYS`` before today are not judged: a backfill of history or a late correction of an old
day raises nothing.
"""

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from uuid import UUID

from contracts.alerts import ALERT_ROLES, ANONYMISED_GROUP, AlertKind
from kit.energy_day import BERLIN, QUARTER_HOUR, day_of, day_start
from services.meterdata.domain import StoredDay

POSTCODE_AREA_DIGITS = 3
LOOKBACK_DAYS = 7
NIGHT_END = time(4, 0)
MAX_ALERTS_PER_PARTNER = 20
# Thresholds a customer may set, per kind: (smallest, largest).
THRESHOLD_RANGES: dict[AlertKind, tuple[float, float]] = {
    AlertKind.DAILY_CONSUMPTION: (0.1, 100_000.0),  # kWh
    AlertKind.NIGHT_BASE_LOAD: (1.0, 1_000_000.0),  # W
    AlertKind.PV_WITHOUT_FEED_IN: (0.0, 0.0),
    AlertKind.MISSING_DATA: (1.0, 60.0),  # days
}


@dataclass(frozen=True)
class Alert:
    """A customer's alert on a partner number (in the role their access names)."""

    id: UUID
    tenant: str
    partner_number: str
    role: str
    kind: AlertKind
    threshold: float
    created_by: str  # the account id of the access token that made it
    created_at: datetime
    off_at: datetime | None = None  # turned off (the link in a mail); None: on

    @property
    def on(self) -> bool:
        return self.off_at is None


@dataclass(frozen=True)
class Finding:
    """What a rule found: the period it is about, the figure, and (PV hint) how many systems sent the day."""

    period: date
    value: float
    peers: int | None = None


@dataclass(frozen=True)
class Occurrence:
    """A raised alert, once per alert and period."""

    id: UUID
    alert_id: UUID
    tenant: str
    partner_number: str
    role: str
    kind: AlertKind
    threshold: float
    period: date
    value: float
    peers: int | None
    raised_at: datetime


@dataclass(frozen=True)
class PeerGroup:
    """The other PV systems of a postcode area on one day: how many sent the day, how many of them fed in."""

    with_data: int
    fed_in: int


def definition_problem(kind: AlertKind, threshold: float, role: str, existing: int) -> str | None:
    """Why this alert cannot be made (German, for the customer), or None."""
    if role not in ALERT_ROLES[kind]:
        if kind == AlertKind.PV_WITHOUT_FEED_IN:
            return "Diese Benachrichtigung gibt es nur für eine Einspeisung (PV-Anlage)."
        return "Diese Benachrichtigung gibt es nur für einen Bezug (Verbrauch)."
    low, high = THRESHOLD_RANGES[kind]
    if not low <= threshold <= high:
        if kind == AlertKind.PV_WITHOUT_FEED_IN:
            return "Für diese Benachrichtigung gibt es keinen Schwellenwert: bitte 0 angeben."
        return f"Der Schwellenwert muss zwischen {_german(low)} und {_german(high)} liegen."
    if existing >= MAX_ALERTS_PER_PARTNER:
        return f"Höchstens {MAX_ALERTS_PER_PARTNER} Benachrichtigungen je Geschäftspartner-Nr."
    return None


def judged(day: date, today: date) -> bool:
    """Whether a day is recent enough to be judged (``LOOKBACK_DAYS``)."""
    return today - timedelta(days=LOOKBACK_DAYS) <= day <= today


def daily_consumption(alert: Alert, stored: StoredDay) -> Finding | None:
    present = [v for v in stored.values_wh if v is not None]
    if not present:
        return None
    kwh = sum(present) / 1000
    return Finding(stored.day, round(kwh, 3)) if kwh > alert.threshold else None


@lru_cache(maxsize=512)
def night_quarter_hours(day: date) -> int:
    """How many quarter hours 00:00–04:00 local time holds on the day: 16, 12 or 20 on the days of a clock change."""
    end = datetime.combine(day, NIGHT_END, tzinfo=BERLIN).astimezone(UTC)
    return int((end - day_start(day)) / QUARTER_HOUR)


def night_base_load(alert: Alert, stored: StoredDay) -> Finding | None:
    night = stored.values_wh[: night_quarter_hours(stored.day)]
    if len(night) < night_quarter_hours(stored.day) or any(v is None for v in night):
        return None  # not every quarter hour of the night has a value (yet)
    watts = min(v for v in night if v is not None) * 4
    return Finding(stored.day, float(watts)) if watts > alert.threshold else None


def without_feed_in(stored: StoredDay) -> bool:
    """A complete day with nothing fed in (every quarter hour has a value, all of them zero)."""
    return all(v == 0 for v in stored.values_wh)


def pv_without_feed_in(alert: Alert, stored: StoredDay, peers: PeerGroup) -> Finding | None:
    if not without_feed_in(stored):
        return None
    if peers.fed_in < ANONYMISED_GROUP or 2 * peers.fed_in <= peers.with_data:
        return None  # too few to compare with (anonymised groups only), or most did not feed in either
    return Finding(stored.day, float(peers.fed_in), peers.with_data)


def postcode_area(postcode: str) -> str:
    return postcode[:POSTCODE_AREA_DIGITS]


def missing_data(alert: Alert, last_day_with_data: date | None, newest: date) -> Finding | None:
    """No values from the day after ``last_day_with_data`` (none: from the day the alert was made) through
    ``newest`` (the newest day the operator's meters delivered): raised when that is more than the threshold's days;
    the period is the gap's first day."""
    first = last_day_with_data + timedelta(days=1) if last_day_with_data else day_of(alert.created_at)
    days = (newest - first).days + 1
    return Finding(first, float(days)) if days > alert.threshold else None


# --- the link in the mail that turns an alert off -------------------------------------------------------------
# Signed with meter data's key (MeterdataSettings.alert_link_key) over the tenant and the alert: it turns off
# exactly that alert, on that operator's portal only. It carries no personal data.

OFF_PATH = "/api/meterdata/alerts/off"
# Without a key of its own (development, unit tests) the links are signed with this one; production refuses it.
DEVELOPMENT_KEY = b"development only: meter data's alert links"


def off_signature(key: bytes, tenant: str, alert_id: UUID) -> str:
    digest = hmac.new(key, f"alert-off|{tenant}|{alert_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def off_path(key: bytes, tenant: str, alert_id: UUID) -> str:
    """Path and query of the link (below the tenant's portal address)."""
    return f"{OFF_PATH}?alert={alert_id}&sig={off_signature(key, tenant, alert_id)}"


def signed_off(key: bytes, tenant: str, alert_id: UUID, signature: str) -> bool:
    return hmac.compare_digest(off_signature(key, tenant, alert_id).encode(), signature.encode())


def _german(number: float) -> str:
    return f"{number:g}".replace(".", ",")
