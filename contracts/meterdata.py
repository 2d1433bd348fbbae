"""Readings from the smart-meter-gateway administrator (SMGW, BSI TR-03109): the contract of the readings
topic. One message = one meter, one OBIS channel, one energy day of 15-minute values (load profile), or a
set of register readings. Values in kWh; times in UTC; the energy day runs 00:00–24:00 Europe/Berlin."""

from datetime import date
from enum import StrEnum
from typing import Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contracts.common import MeterNumber
from contracts.envelope import EventPayload


class Quality(StrEnum):
    """MSCONS value qualifiers (QTY): what a value is worth."""

    TRUE_VALUE = "220"  # Wahrer Wert
    SUBSTITUTE = "67"  # Ersatzwert
    PROPOSED = "201"  # Vorschlagswert
    UNUSABLE = "20"  # Nicht verwendbarer Wert
    FORECAST = "187"  # Prognosewert
    PRELIMINARY = "Z18"  # Vorläufiger Wert
    MISSING = "Z30"  # Fehlender Wert (no value)


# OBIS channels Plusportal maps (electricity, channel 1 as delivered by the gateway).
CONSUMPTION_INTERVAL = "1-1:1.29.0"  # energy per interval, consumption (Bezug)
FEED_IN_INTERVAL = "1-1:2.29.0"  # energy per interval, feed-in (Einspeisung)
CONSUMPTION_REGISTERS = ("1-1:1.8.0", "1-1:1.8.1", "1-1:1.8.2")
FEED_IN_REGISTERS = ("1-1:2.8.0", "1-1:2.8.1", "1-1:2.8.2")
INTERVAL_CHANNELS = (CONSUMPTION_INTERVAL, FEED_IN_INTERVAL)
REGISTER_CHANNELS = CONSUMPTION_REGISTERS + FEED_IN_REGISTERS


class LoadProfileDay(EventPayload):
    """A day of 15-minute energy values of one meter and channel: 96 values, 92 on the last Sunday of
    March, 100 on the last Sunday of October; value i covers [day start + 15 min × i, + 15 min) in UTC."""

    EVENT_TYPE = "LoadProfileDay"

    meter_number: MeterNumber
    obis: str = Field(description="1-1:1.29.0 consumption or 1-1:2.29.0 feed-in", examples=[CONSUMPTION_INTERVAL])
    day: date = Field(description="The energy day (Europe/Berlin)")
    unit: str = Field(default="kWh", description="Only kWh is accepted")
    values: tuple[float | None, ...] = Field(min_length=92, max_length=100, description="kWh per 15 min; null = none")
    qualities: tuple[Quality, ...] = Field(min_length=92, max_length=100, description="One qualifier per value")
    status: tuple[str | None, ...] | None = Field(default=None, description="Optional MSCONS STS codes per value")
    revision: int = Field(default=0, ge=0, description="Corrections carry a higher revision; the highest wins")


class RegisterReading(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    read_at: AwareDatetime = Field(description="On the quarter hour (UTC)")
    value: float = Field(ge=0, description="Cumulative register value in kWh")
    quality: Quality = Quality.TRUE_VALUE


class RegisterReadings(EventPayload):
    """Cumulative register readings (Zählerstände) of one meter and register."""

    EVENT_TYPE = "RegisterReadings"

    meter_number: MeterNumber
    obis: str = Field(description="1-1:1.8.0 (1.8.1/1.8.2) consumption or 1-1:2.8.0 (…) feed-in")
    unit: str = "kWh"
    readings: tuple[RegisterReading, ...] = Field(min_length=1, max_length=10_000)
    revision: int = Field(default=0, ge=0)


class InterchangeAnswered(EventPayload):
    """The EDIFACT answer to an MSCONS interchange received on ``plusportal.meterdata.mscons.v1``, for its sender
    (the SMGW administrator or metering point operator): a CONTRL (acknowledged or rejected for syntax) or an
    APERAK (messages refused for application reasons), from the grid operator's market partner id to the
    sender's. Written once per received interchange; a reprocessed interchange answers only refusals not
    answered before."""

    EVENT_TYPE = "InterchangeAnswered"

    kind: Literal["CONTRL", "APERAK"]
    answer_reference: str = Field(max_length=14, description="The answer's interchange control reference (UNB 0020)")
    answered_reference: str = Field(description="The received interchange's reference (UNB 0020)")
    sender: str = Field(description="The grid operator's market partner id: the answer's UNB sender")
    receiver: str = Field(description="The received interchange's sender: the answer's UNB recipient")
    accepted: bool = Field(description="CONTRL: acknowledged (UCI 7) or rejected (4); APERAK: always false")
    edifact: str = Field(description="The answer's interchange as EDIFACT text (UNA … UNZ), UNOC")


class CurrentValuesRequested(EventPayload):
    """A customer asked for the meter's current values (§61(2) MsbG: on request, within 15 minutes): the SMGW
    administrator sends the meter's readings since ``since`` at once, as LoadProfileDay (the day so far) and
    RegisterReadings on the readings topic. Keyed by tenant/meter number; the tenant is the envelope's."""

    EVENT_TYPE = "CurrentValuesRequested"

    request_id: UUID
    meter_number: MeterNumber
    since: AwareDatetime = Field(description="The last instant the platform holds values of the meter for (UTC)")
    requested_at: AwareDatetime
    interval_channels: tuple[str, ...] = Field(
        default=(CONSUMPTION_INTERVAL,), description="The interval channels (OBIS) asked for: 1-1:1.29.0, 1-1:2.29.0"
    )
