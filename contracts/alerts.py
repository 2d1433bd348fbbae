"""Alerts ("Benachrichtigungen", issue [10 of 11] §2): what a customer asks meter data to watch per partner number,
and the event meter data records when one is raised. Identity mails the account linked to the partner number;
meter data has no e-mail addresses.

An alert of a kind has a threshold in the kind's unit (``ALERT_UNITS``); it is raised at most once per alert and
day (or gap of missing data): the ``period`` the occurrence is about. No personal data besides the partner number:
the PV hint names only how many systems of the postcode area fed in (an anonymised group of at least
``ANONYMISED_GROUP`` systems, §52(3) MsbG)."""

from datetime import date
from enum import StrEnum

from pydantic import Field

from contracts.common import PartnerNumber, PartnerRole
from contracts.envelope import EventPayload

ANONYMISED_GROUP = 5  # §52(3) MsbG: aggregates of at least 5 customers count as anonymised


class AlertKind(StrEnum):
    DAILY_CONSUMPTION = "daily_consumption"  # a day's consumption above the threshold (kWh)
    NIGHT_BASE_LOAD = "night_base_load"  # the lowest quarter hour of 00:00–04:00 above the threshold (W)
    PV_WITHOUT_FEED_IN = "pv_without_feed_in"  # a day without feed-in while the area's PV systems fed in
    MISSING_DATA = "missing_data"  # no values for more than the threshold's days


# What customers read for each kind (portal, identity's mails); the threshold follows.
ALERT_LABELS: dict[AlertKind, str] = {
    AlertKind.DAILY_CONSUMPTION: "Tagesverbrauch über",
    AlertKind.NIGHT_BASE_LOAD: "Grundlast in der Nacht (00:00–04:00 Uhr) über",
    AlertKind.PV_WITHOUT_FEED_IN: "Tag ohne Einspeisung der PV-Anlage, während die Anlagen in der Umgebung einspeisten",
    AlertKind.MISSING_DATA: "Keine Messwerte seit mehr als",
}
ALERT_UNITS: dict[AlertKind, str] = {
    AlertKind.DAILY_CONSUMPTION: "kWh",
    AlertKind.NIGHT_BASE_LOAD: "W",
    AlertKind.PV_WITHOUT_FEED_IN: "",
    AlertKind.MISSING_DATA: "Tage",
}
# The role a kind watches: consumption for the consumption kinds, feed-in for the PV hint, either for missing data.
ALERT_ROLES: dict[AlertKind, tuple[PartnerRole, ...]] = {
    AlertKind.DAILY_CONSUMPTION: (PartnerRole.CONSUMPTION,),
    AlertKind.NIGHT_BASE_LOAD: (PartnerRole.CONSUMPTION,),
    AlertKind.PV_WITHOUT_FEED_IN: (PartnerRole.FEED_IN,),
    AlertKind.MISSING_DATA: (PartnerRole.CONSUMPTION, PartnerRole.FEED_IN),
}


class AlertRaised(EventPayload):
    """An alert of a partner number was raised for a day (or for a gap of missing data: its first day without
    values). Once per alert and period: a redelivery or re-evaluation of the same readings raises nothing again.
    Carries the signed link that turns exactly this alert off (meter data signs and checks it)."""

    EVENT_TYPE = "AlertRaised"

    alert_id: str = Field(description="The alert's id (meter data)")
    occurrence_id: str = Field(description="This occurrence's id (meter data)")
    partner_number: PartnerNumber
    role: PartnerRole
    kind: AlertKind
    threshold: float = Field(description="The customer's threshold in the kind's unit (PV hint: 0)")
    period: date = Field(description="The energy day it is about; missing data: the first day without values")
    value: float = Field(description="The figure found: kWh, W, days without values, PV systems that fed in")
    peers: int | None = Field(default=None, description="PV hint: how many other PV systems of the area sent values")
    off_path: str = Field(
        pattern=r"^/api/meterdata/alerts/off\?alert=[0-9a-f-]{36}&sig=[A-Za-z0-9_-]{20,100}$",
        description="Path and query (signed) of the link below the portal's address that turns this alert off",
    )
