"""Current values on request (§61(2) MsbG: consumption information on request within 15 minutes), in plain Python.

A customer asks for the meter's values since the last delivery; the request goes to the SMGW administrator as an
event (contracts.meterdata.CurrentValuesRequested) and is answered when readings of that meter arrive after it was
made. The rules: one open request per meter, at most ``PER_PARTNER_PER_DAY`` per partner number and Europe/Berlin
day, and a request not answered within ``TIMEOUT`` is over (timed out) with a plain message. No I/O: the clock is
the caller's ``now``."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from uuid import UUID

from contracts.envelope import EventPayload
from contracts.meterdata import CurrentValuesRequested
from kit.energy_day import day_of, day_start
from kit.validity import Relation

TIMEOUT = timedelta(minutes=3)  # the simulator answers at once; a real administrator within a minute or two
PER_PARTNER_PER_DAY = 5
KEPT = timedelta(days=90)  # a partner's requests are forgotten after this (with their next request)

ALREADY_OPEN = "Die aktuellen Werte sind schon angefordert. Bitte warten Sie, bis sie da sind."
TOO_MANY_TODAY = (
    f"Sie haben heute schon {PER_PARTNER_PER_DAY}-mal aktuelle Werte abgerufen. Morgen können Sie es wieder tun."
)
NO_METER = "Zu dieser Geschäftspartner-Nr. gehört heute kein Zähler. Aktuelle Werte gibt es daher nicht."
TIMED_OUT = (
    "Der Messstellenbetreiber hat die aktuellen Werte nicht rechtzeitig geschickt. "
    "Bitte versuchen Sie es später noch einmal."
)


class RequestState(StrEnum):
    OPEN = "open"  # asked, no answer yet
    ANSWERED = "answered"  # readings of the meter arrived after it was asked
    TIMED_OUT = "timed_out"  # no answer within TIMEOUT


class Refused(ValueError):
    """A request the rules do not allow now; ``status``: 409 (one is open) or 429 (the day's limit)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


@dataclass
class ValueRequest:
    id: UUID
    tenant: str
    partner_number: str
    role: str
    meter_number: str
    since: datetime  # the last instant held of the meter when asked (UTC)
    requested_at: datetime
    answered_at: datetime | None = None
    events: list[EventPayload] = field(default_factory=list)

    def state(self, now: datetime) -> RequestState:
        if self.answered_at is not None:
            return RequestState.ANSWERED
        return RequestState.TIMED_OUT if now >= self.deadline else RequestState.OPEN

    @property
    def deadline(self) -> datetime:
        return self.requested_at + TIMEOUT

    def message(self, now: datetime) -> str | None:
        """What the customer reads about a request that is over without values."""
        return TIMED_OUT if self.state(now) is RequestState.TIMED_OUT else None


def meter_today(relations: Sequence[Relation], today: date) -> str | None:
    """The meter the partner's relations give today (the newest where two would)."""
    current = [r for r in relations if (r.first is None or r.first <= today) and (r.end is None or today < r.end)]
    current.sort(key=lambda r: r.first or date.min)
    return current[-1].meter_number if current else None


def since_of(last_delivered: datetime | None, now: datetime) -> datetime:
    """From when values are asked for: the last register reading held; none yet: the start of today (Berlin)."""
    return day_start(day_of(now)) if last_delivered is None else last_delivered


def request_values(
    request_id: UUID,
    tenant: str,
    partner_number: str,
    role: str,
    meter_number: str,
    interval_channel: str,
    since: datetime,
    now: datetime,
    open_of_meter: Sequence[ValueRequest],
    made_today_by_partner: int,
) -> ValueRequest:
    """A new request, with the event for the SMGW administrator recorded; raises Refused.

    ``open_of_meter``: the meter's requests not answered (timed-out ones included: they no longer count);
    ``made_today_by_partner``: the partner's requests since the start of today (Europe/Berlin)."""
    if any(r.state(now) is RequestState.OPEN for r in open_of_meter):
        raise Refused(409, ALREADY_OPEN)
    if made_today_by_partner >= PER_PARTNER_PER_DAY:
        raise Refused(429, TOO_MANY_TODAY)
    request = ValueRequest(request_id, tenant, partner_number, role, meter_number, since, now)
    request.events.append(
        CurrentValuesRequested(
            request_id=request_id,
            meter_number=meter_number,
            since=since,
            requested_at=now,
            interval_channels=(interval_channel,),
        )
    )
    return request


def answerable_since(now: datetime) -> datetime:
    """Readings arriving ``now`` answer the open requests of their meter asked after this instant (an older one has
    timed out and stays so)."""
    return now - TIMEOUT


def next_reset(now: datetime) -> datetime:
    """When the partner's daily limit starts again: the next Europe/Berlin midnight."""
    return day_start(day_of(now) + timedelta(days=1))
