"""Simulate a smart-meter-gateway administrator: 15-minute load profiles and daily register readings of one
meter, as JSON envelopes or as MSCONS files, written to a directory or published to Kafka.

    python -m backoffice.smgw_simulator --tenant 000328 --meter 1EMH0005939068 --role both \\
        --from 2026-01-01 --days 30 --format mscons --out var/mscons --seed 1

Values are realistic rather than real: a household (~3,000 kWh a year: night base load, morning and evening
peaks, more in winter) and a PV system (zero at night, more in summer); a prosumer (``both``) consumes
what the grid delivers beyond its own PV and feeds in the rest. A few substitute values (67, interpolated)
and gaps (Z30, null) appear; registers (1-1:1.8.0 / 2.8.0) count the true energy, so they never run
backwards and match the interval sums on days without substitutes or gaps. The same --seed gives the same
values. Daylight-saving days have 92 and 100 quarter hours.

As a running process it also answers the platform's requests for current values, as a real administrator's system
would (§61(2) MsbG): it takes CurrentValuesRequested from ``plusportal.meterdata.value-requests.v1`` and at once
publishes the meter's readings since the request's ``since`` on the readings topic (the day so far as a
LoadProfileDay, register readings up to the last quarter hour before the request), simulated from ``--origin`` with
``--seed`` (`make up`'s demo readings: the same values).

    python -m backoffice.smgw_simulator answer --origin 2025-01-01 --seed 1
"""

import argparse
import asyncio
import hashlib
import math
import os
import random
import signal
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Literal, get_args
from uuid import uuid4

from aiokafka import AIOKafkaProducer
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from pydantic import ValidationError

from contracts.envelope import HEADER_TENANT, Envelope, EventPayload
from contracts.meterdata import (
    CONSUMPTION_INTERVAL,
    FEED_IN_INTERVAL,
    CurrentValuesRequested,
    LoadProfileDay,
    Quality,
    RegisterReading,
    RegisterReadings,
)
from contracts.topics import METER_MSCONS, METER_READINGS, METER_VALUE_REQUESTS, Principal
from kit.deadletter import dead_letter
from kit.energy_day import BERLIN, QUARTER_HOUR_SECONDS, day_of_epoch, epoch_bounds
from kit.events import encode, envelope_for
from kit.identifiers import malo_check_digit, meter_number_problem, normalise_meter_number
from kit.kafka import KafkaAccess
from kit.logging import configure_logging
from kit.settings import KafkaSettings, load_settings

Role = Literal["consumption", "feed_in", "both"]
CONSUMPTION_REGISTER = "1-1:1.8.0"
FEED_IN_REGISTER = "1-1:2.8.0"
ANNUAL_CONSUMPTION_KWH = 3_000.0
LATITUDE, LONGITUDE = math.radians(51.0), 10.0  # the middle of Germany
SUBSTITUTE_STATUS = "Z32:Z92"  # substitute value, method: interpolation
GAP_STATUS = "Z40:Z75"  # reason: communication fault
SENDER_MP_ID = "9900000000003"  # BDEW code of the metering point operator (example range)
RECEIVER_MP_ID = "9900000000010"


def _bump(hour: float, centre: float, width: float) -> float:
    return math.exp(-0.5 * ((hour - centre) / width) ** 2)


def _household_kw(hour: float) -> float:
    """Average household power at a local clock time: base load, morning, midday and evening peaks."""
    return 0.16 + 0.45 * _bump(hour, 7.25, 0.9) + 0.22 * _bump(hour, 12.5, 1.4) + 0.75 * _bump(hour, 19.25, 1.6)


# Scale the shape so that an average year (seasonal factor averages 1) consumes ANNUAL_CONSUMPTION_KWH.
_SHAPE_KWH_PER_DAY = sum(_household_kw((i + 0.5) / 4) for i in range(96)) / 4
_SCALE = ANNUAL_CONSUMPTION_KWH / 365.25 / _SHAPE_KWH_PER_DAY


def _sun_height(epoch: int, day_of_year: int) -> float:
    """Sine of the sun's elevation in the middle of the quarter hour starting at ``epoch`` (UTC)."""
    declination = math.radians(23.44) * math.sin(2 * math.pi * (284 + day_of_year) / 365)
    solar_hours = ((epoch + QUARTER_HOUR_SECONDS / 2) % 86_400) / 3600 + LONGITUDE / 15
    hour_angle = math.radians(15 * (solar_hours - 12))
    return math.sin(LATITUDE) * math.sin(declination) + math.cos(LATITUDE) * math.cos(declination) * math.cos(
        hour_angle
    )


@dataclass(frozen=True)
class _Channel:
    obis: str
    register: str
    true_wh: list[list[int]]  # per day, per quarter hour: what the meter counted


def _simulate(meter_number: str, role: Role, first_day: date, days: int, seed: int) -> list[_Channel]:
    # One stream of random numbers per meter and seed: reproducible, and meters differ from each other.
    rng = random.Random(f"{seed}/{meter_number}")
    kwp = rng.uniform(6.0, 10.0)
    load: list[list[int]] = []
    pv: list[list[int]] = []
    for offset in range(days):
        day = first_day + timedelta(days=offset)
        start, slots = epoch_bounds(day)
        day_of_year = day.timetuple().tm_yday
        season = 1 + 0.18 * math.cos(2 * math.pi * (day_of_year - 15) / 365.25)  # more in winter
        weekend = 1.08 if day.weekday() >= 5 else 1.0
        mood = rng.gauss(1.0, 0.08)
        clearness = rng.uniform(0.3, 1.0)  # clouds: one draw per day
        regular = slots == 96  # on DST days the clock skips or repeats an hour: ask the time zone
        load_day, pv_day = [], []
        for slot in range(slots):
            epoch = start + slot * QUARTER_HOUR_SECONDS
            if regular:
                hour = (slot + 0.5) / 4
            else:
                local = datetime.fromtimestamp(epoch, BERLIN)
                hour = local.hour + local.minute / 60 + 0.125
            noise = math.exp(rng.gauss(-0.045, 0.3))  # log-normal with mean 1
            kwh = _household_kw(hour) * _SCALE * season * weekend * mood * noise / 4
            load_day.append(max(0, round(kwh * 1000)))
            height = _sun_height(epoch, day_of_year)
            kw = kwp * 0.85 * height**1.1 * clearness * rng.uniform(0.85, 1.0) if height > 0.02 else 0.0
            pv_day.append(round(kw * 1000 / 4))
        load.append(load_day)
        pv.append(pv_day)
    if role == "consumption":
        return [_Channel(CONSUMPTION_INTERVAL, CONSUMPTION_REGISTER, load)]
    if role == "feed_in":
        return [_Channel(FEED_IN_INTERVAL, FEED_IN_REGISTER, pv)]
    # A prosumer's meter sees only the balance: it consumes what its PV does not cover and feeds in the rest.
    imported = [[max(0, a - b) for a, b in zip(ld, pd, strict=True)] for ld, pd in zip(load, pv, strict=True)]
    exported = [[max(0, b - a) for a, b in zip(ld, pd, strict=True)] for ld, pd in zip(load, pv, strict=True)]
    return [
        _Channel(CONSUMPTION_INTERVAL, CONSUMPTION_REGISTER, imported),
        _Channel(FEED_IN_INTERVAL, FEED_IN_REGISTER, exported),
    ]


def _reported(wh: list[int], rng: random.Random) -> tuple[list[float | None], list[Quality], list[str | None]]:
    """What the gateway reports for a day: mostly true values, sometimes an interpolated run or a gap."""
    values: list[float | None] = [w / 1000 for w in wh]
    qualities = [Quality.TRUE_VALUE] * len(wh)
    status: list[str | None] = [None] * len(wh)
    if rng.random() < 0.06:
        length = rng.randint(1, 4)
        first = rng.randint(1, len(wh) - length - 1)
        before, after = wh[first - 1], wh[first + length]
        for i in range(length):
            estimate = before + (after - before) * (i + 1) / (length + 1)
            values[first + i] = round(estimate) / 1000
            qualities[first + i], status[first + i] = Quality.SUBSTITUTE, SUBSTITUTE_STATUS
    if rng.random() < 0.04:
        length = rng.randint(1, 8)
        first = rng.randint(0, len(wh) - length)
        for i in range(first, first + length):
            values[i], qualities[i], status[i] = None, Quality.MISSING, GAP_STATUS
    return values, qualities, status


def generate_days(meter_number: str, role: Role, first_day: date, days: int, seed: int = 1) -> list[LoadProfileDay]:
    """Load-profile days of one meter, ordered by day and channel (consumption before feed-in)."""
    channels = _simulate(meter_number, role, first_day, days, seed)
    rng = random.Random(f"{seed}/{meter_number}/reported")
    result: list[LoadProfileDay] = []
    for offset in range(days):
        for channel in channels:
            values, qualities, status = _reported(channel.true_wh[offset], rng)
            result.append(
                LoadProfileDay(
                    meter_number=meter_number,
                    obis=channel.obis,
                    day=first_day + timedelta(days=offset),
                    values=tuple(values),
                    qualities=tuple(qualities),
                    status=tuple(status) if any(status) else None,
                )
            )
    return result


def generate_registers(
    meter_number: str, role: Role, first_day: date, days: int, seed: int = 1
) -> list[RegisterReadings]:
    """Daily register readings at 00:00 Europe/Berlin (first day's start up to the last day's end): the start
    value plus the true energy counted since, so a reading never runs backwards."""
    channels = _simulate(meter_number, role, first_day, days, seed)
    rng = random.Random(f"{seed}/{meter_number}/registers")
    result: list[RegisterReadings] = []
    for channel in channels:
        # A start value in Wh: an older consumption meter, a younger PV installation.
        counted = (
            rng.randint(5_000_000, 40_000_000)
            if channel.register == CONSUMPTION_REGISTER
            else rng.randint(0, 8_000_000)
        )
        readings = [RegisterReading(read_at=_instant(epoch_bounds(first_day)[0]), value=counted / 1000)]
        for offset in range(days):
            counted += sum(channel.true_wh[offset])
            end = epoch_bounds(first_day + timedelta(days=offset + 1))[0]
            readings.append(RegisterReading(read_at=_instant(end), value=counted / 1000))
        for chunk in range(0, len(readings), 10_000):  # RegisterReadings holds at most 10,000
            result.append(
                RegisterReadings(
                    meter_number=meter_number, obis=channel.register, readings=tuple(readings[chunk : chunk + 10_000])
                )
            )
    return result


def _instant(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


# ---------------------------------------------------------------------------------------------- MSCONS


def _escape(text: str) -> str:
    """Release character first, then the separators and the terminator (UNA:+.? ')."""
    return text.replace("?", "??").replace("+", "?+").replace(":", "?:").replace("'", "?'")


def _segment(*elements: str | Sequence[str]) -> str:
    parts = [e if isinstance(e, str) else ":".join(_escape(c) for c in e) for e in elements]
    return "+".join(parts) + "'"


@lru_cache(maxsize=200_000)
def _time_303(epoch: int) -> tuple[str, str]:
    # Cached: each interval's end is the next one's start, and formatting dominates writing a file.
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y%m%d%H%M") + "+00", "303"


def _number(value: float) -> str:
    """The shortest decimal without exponent that reads back as the same float (EDIFACT has no exponent)."""
    for places in range(3, 18):
        text = f"{value:.{places}f}"
        if float(text) == value:
            return text
    return f"{value:.17f}"


def write_mscons(
    days: Iterable[LoadProfileDay],
    *,
    sender_mp_id: str,
    receiver_mp_id: str,
    malo_id: str,
    created_at: datetime | None = None,
    reference: str | None = None,
    one_line: bool = False,
) -> bytes:
    """An MSCONS interchange (D.04B 2.4c, load profile 13025) with one message per location, meter and energy
    day; each message holds that day's channels. Times in UTC (``?+00``). ``malo_id`` is the location (LOC+172):
    a MaLo or a MeLo. ``created_at`` makes the output reproducible. ``reference`` is the interchange control
    reference (UNB 0020, at most 14 characters), which must be unique per sender: the receiver rejects a
    different file with a reference used before (CONTRL, duplicate); by default the creation time to the second."""
    created = (created_at or datetime.now(UTC)).astimezone(UTC)
    created_epoch = int(created.timestamp()) // 60 * 60
    reference = reference or created.strftime("%y%m%d%H%M%S")
    grouped: dict[tuple[date, str], list[LoadProfileDay]] = defaultdict(list)
    for day in days:
        grouped[(day.day, day.meter_number)].append(day)
    segments = [
        "UNA:+.? '",
        _segment(
            "UNB",
            ["UNOC", "3"],
            [sender_mp_id, "500"],
            [receiver_mp_id, "500"],
            [created.strftime("%y%m%d"), created.strftime("%H%M")],
            _escape(reference),
            "",
            "TL",
        ),
    ]
    messages = 0
    for (energy_day, meter), channels in sorted(grouped.items()):
        messages += 1
        start, slots = epoch_bounds(energy_day)
        body = [
            _segment("UNH", _escape(str(messages)), ["MSCONS", "D", "04B", "UN", "2.4c"]),
            _segment("BGM", "7", _escape(f"{reference}{messages:05d}"), "9"),
            _segment("DTM", ["137", *_time_303(created_epoch)]),
            _segment("RFF", ["Z13", "13025"]),
            _segment("NAD", "MS", [sender_mp_id, "", "293"]),
            _segment("NAD", "MR", [receiver_mp_id, "", "293"]),
            _segment("UNS", "D"),
            _segment("NAD", "DP"),
            _segment("LOC", "172", _escape(malo_id)),
            _segment("DTM", ["163", *_time_303(start)]),
            _segment("DTM", ["164", *_time_303(start + slots * QUARTER_HOUR_SECONDS)]),
            _segment("RFF", ["MG", meter]),
        ]
        for line, channel in enumerate(sorted(channels, key=lambda d: d.obis), start=1):
            if len(channel.values) != slots:
                raise ValueError(f"{energy_day} has {slots} quarter hours, the day holds {len(channel.values)}")
            body.append(_segment("LIN", str(line)))
            body.append(_segment("PIA", "5", [channel.obis, "SRW"]))
            for slot, (value, quality) in enumerate(zip(channel.values, channel.qualities, strict=True)):
                begin = start + slot * QUARTER_HOUR_SECONDS
                # The quantity is mandatory in QTY: a missing value is sent as Z30 with 0.
                body.append(_segment("QTY", [quality.value, "0" if value is None else _number(value)]))
                body.append(_segment("DTM", ["163", *_time_303(begin)]))
                body.append(_segment("DTM", ["164", *_time_303(begin + QUARTER_HOUR_SECONDS)]))
                code = channel.status[slot] if channel.status else None
                for part in code.split(";") if code else ():
                    category, _, reason = part.partition(":")
                    body.append(_segment("STS", _escape(category), "", _escape(reason)))
        body.append(_segment("UNT", str(len(body) + 1), _escape(str(messages))))
        segments.extend(body)
    segments.append(_segment("UNZ", str(messages), _escape(reference)))
    return ("" if one_line else "\n").join(segments).encode("ascii") + (b"" if one_line else b"\n")


def malo_for(meter_number: str) -> str:
    """A made-up but valid MaLo for a meter (check digit per BRIEF §2), when no real one is given."""
    first_ten = "5" + "".join(c for c in meter_number if c.isdigit())[-9:].rjust(9, "0")
    return first_ten + str(malo_check_digit(first_ten))


# ---------------------------------------------------------------------------------------------- output


def _mscons_files(days: list[LoadProfileDay], *, malo_id: str, sender: str, receiver: str) -> list[tuple[str, bytes]]:
    """One file per energy day, the way a gateway administrator sends them; each with a reference of its own (the
    files of all meters of a day are created at the same time)."""
    per_day: dict[date, list[LoadProfileDay]] = defaultdict(list)
    for day in days:
        per_day[day.day].append(day)
    files = []
    for energy_day, channels in sorted(per_day.items()):
        name = f"MSCONS_{channels[0].meter_number}_{energy_day:%Y%m%d}.edi"
        created = datetime.combine(energy_day + timedelta(days=1), datetime.min.time(), UTC) + timedelta(hours=5)
        reference = f"{created:%y%m%d}" + hashlib.sha256(f"{sender}/{name}".encode()).hexdigest()[:8].upper()
        data = write_mscons(channels, sender_mp_id=sender, receiver_mp_id=receiver, malo_id=malo_id,
                            created_at=created, reference=reference)  # fmt: skip
        files.append((name, data))
    return files


async def publish(
    kafka: KafkaAccess, topic: str, messages: Iterable[tuple[bytes, bytes]], headers: list[tuple[str, bytes]]
) -> int:
    # Batching: enqueue without waiting for each acknowledgement, then flush once; errors surface at the end.
    producer = AIOKafkaProducer(
        **kafka.client_options(),
        acks="all",
        enable_idempotence=True,
        linger_ms=20,
        max_batch_size=512 * 1024,
        max_request_size=4 * 1024 * 1024,
    )
    await producer.start()
    try:
        pending = [await producer.send(topic, value, key=key, headers=headers) for key, value in messages]
        await producer.flush()
        await asyncio.gather(*pending)
        return len(pending)
    finally:
        await producer.stop()


# ------------------------------------------------------------------------------------ current values on request

ANSWER_GROUP = f"{Principal.SMGW_ADMINISTRATOR}-value-requests"  # groups of a principal start with its name
ANSWER_READY_LINE = "SMGW-Simulator beantwortet Anfragen nach aktuellen Werten"
MAX_ANSWER_DAYS = 2  # full days before today an answer holds at most (a real administrator: what it has)


def role_of(interval_channels: Sequence[str]) -> Role:
    channels = set(interval_channels)
    if channels >= {CONSUMPTION_INTERVAL, FEED_IN_INTERVAL}:
        return "both"
    return "feed_in" if channels == {FEED_IN_INTERVAL} else "consumption"


def current_values(
    meter_number: str, role: Role, since: datetime, now: datetime, *, origin: date, seed: int
) -> list[EventPayload]:
    """The meter's readings after ``since`` up to ``now``, as the simulation from ``origin`` gives them: register
    readings (midnights and the last quarter hour before ``now``), then the days from ``since``'s (at most
    MAX_ANSWER_DAYS before today) to today, today's quarter hours after ``now`` without a value (Z30)."""
    today = day_of_epoch(int(now.timestamp()))
    first = max(day_of_epoch(int(since.timestamp())), today - timedelta(days=MAX_ANSWER_DAYS))
    origin = min(origin, first)
    count = (today - origin).days + 1
    start, slots = epoch_bounds(today)
    done = max(0, min(slots, int((now.timestamp() - start) // QUARTER_HOUR_SECONDS)))  # quarter hours ended
    channels = {channel.register: channel for channel in _simulate(meter_number, role, origin, count, seed)}
    registers: list[EventPayload] = []
    for series in generate_registers(meter_number, role, origin, count, seed):
        midnight = series.readings[count - 1]  # today's 00:00 (the first reading is origin's)
        counted = midnight.value + sum(channels[series.obis].true_wh[-1][:done]) / 1000
        latest = RegisterReading(read_at=_instant(start + done * QUARTER_HOUR_SECONDS), value=round(counted, 3))
        kept = [r for r in series.readings[:count] if since < r.read_at <= now]
        kept += [latest] if done and since < latest.read_at else []
        if kept:
            registers.append(RegisterReadings(meter_number=meter_number, obis=series.obis, readings=tuple(kept)))
    days: list[EventPayload] = []
    for day in generate_days(meter_number, role, origin, count, seed):
        if day.day < first:
            continue
        if day.day == today:  # what has not been measured yet has no value
            values = day.values[:done] + (None,) * (slots - done)
            qualities = day.qualities[:done] + (Quality.MISSING,) * (slots - done)
            status = None if day.status is None else day.status[:done] + (None,) * (slots - done)
            day = day.model_copy(update={"values": values, "qualities": qualities, "status": status})
        days.append(day)
    return [*registers, *days]


def build_answering_broker(kafka: KafkaAccess, origin: date, seed: int) -> KafkaBroker:
    """A consumer of the request topic (as the SMGW administrator) that answers each request on the readings
    topic; a request redelivered is answered again with the same readings (the request's time is the answer's
    "now"), which the platform stores once."""
    broker = KafkaBroker(kafka.servers, security=kafka.security(), client_id="smgw-simulator", enable_idempotence=True)

    @broker.subscriber(
        METER_VALUE_REQUESTS.name,
        group_id=ANSWER_GROUP,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        title="smgw-simulator",
        description="Answers requests for current values with the meter's readings since the last delivery",
    )
    async def on_request(message: KafkaMessage) -> None:
        record = message.raw_message
        try:
            envelope = Envelope.model_validate_json(record.value)  # type: ignore[union-attr]
            request = CurrentValuesRequested.model_validate(envelope.payload)
        except ValidationError as error:
            await dead_letter(broker, record, f"value request: {error.error_count()} validation errors",
                              ANSWER_GROUP, db=None)  # fmt: skip
            return
        role = role_of(request.interval_channels)
        now = request.requested_at.astimezone(UTC)
        payloads = current_values(request.meter_number, role, request.since, now, origin=origin, seed=seed)
        key = f"{envelope.tenant}/{request.meter_number}".encode()
        for payload in payloads:
            answer = envelope_for(
                payload, tenant=envelope.tenant, correlation_id=envelope.correlation_id, causation_id=envelope.event_id
            )
            await broker.publish(encode(answer), METER_READINGS.name, key=key)
        print(f"Anfrage {request.request_id} beantwortet: {len(payloads)} Nachrichten", flush=True)

    broker.publisher(METER_READINGS.name, schema=LoadProfileDay, title="readings (answers to value requests)")
    return broker


async def _answer(kafka: KafkaAccess, origin: date, seed: int) -> None:
    broker = build_answering_broker(kafka, origin, seed)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await broker.start()
    print(ANSWER_READY_LINE, flush=True)
    await stop.wait()
    await broker.stop()


def answer_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m backoffice.smgw_simulator answer")
    parser.add_argument("--origin", type=date.fromisoformat, default=date(2025, 1, 1), help="first simulated day")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    log_json = os.environ.get("PLUSPORTAL_LOG_JSON")  # same switch as the services
    configure_logging("smgw-simulator", json=None if log_json is None else log_json.lower() in ("1", "true"))
    settings = load_settings(KafkaSettings)
    asyncio.run(_answer(settings.kafka_access(Principal.SMGW_ADMINISTRATOR), args.origin, args.seed))


def main(argv: list[str] | None = None) -> None:
    if argv and argv[0] == "answer":
        answer_main(argv[1:])
        return
    parser = argparse.ArgumentParser(prog="python -m backoffice.smgw_simulator", description=__doc__.split("\n")[0])
    parser.add_argument("--tenant", required=True, help="portal number of the grid operator, e.g. 000328")
    parser.add_argument("--meter", required=True, help="meter number, e.g. 1EMH0005939068")
    parser.add_argument("--role", choices=get_args(Role), default="consumption")
    parser.add_argument("--from", dest="first_day", type=date.fromisoformat, required=True, help="YYYY-MM-DD")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--format", choices=("json", "mscons"), default="json")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--malo", help="location for MSCONS (LOC+172), default: a made-up valid MaLo")
    parser.add_argument("--sender", default=SENDER_MP_ID, help="MSCONS sender market partner id")
    parser.add_argument("--receiver", default=RECEIVER_MP_ID, help="MSCONS receiver market partner id")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--out", type=Path, help="directory for .jsonl / .edi files")
    target.add_argument("--kafka", metavar="BOOTSTRAP", help="publish to Kafka, e.g. 127.0.0.1:19092")
    args = parser.parse_args(argv)
    meter = normalise_meter_number(args.meter)
    if problem := meter_number_problem(meter):
        parser.error(problem)
    if not (args.tenant.isdigit() and len(args.tenant) == 6):
        parser.error("--tenant is the six-digit portal number, e.g. 000328")
    if not 1 <= args.days <= 50_000:
        parser.error("--days between 1 and 50,000")

    kafka = KafkaSettings(kafka_bootstrap=args.kafka or "").kafka_access(Principal.SMGW_ADMINISTRATOR)
    started = time.perf_counter()
    days = generate_days(meter, args.role, args.first_day, args.days, args.seed)
    readings = sum(len(d.values) for d in days)
    if args.format == "json":
        registers = generate_registers(meter, args.role, args.first_day, args.days, args.seed)
        correlation_id = uuid4()  # one simulator run = one correlation id
        payloads: list[EventPayload] = [*days, *registers]
        key = f"{args.tenant}/{meter}".encode()
        lines = [encode(envelope_for(p, tenant=args.tenant, correlation_id=correlation_id)) for p in payloads]
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            path = args.out / f"readings-{args.tenant}-{meter}-{args.first_day}-{args.days}d.jsonl"
            path.write_bytes(b"".join(line + b"\n" for line in lines))
            where = str(path)
        else:
            asyncio.run(publish(kafka, METER_READINGS.name, ((key, line) for line in lines), []))
            where = f"{METER_READINGS.name} @ {args.kafka}"
        count = len(lines)
        readings += sum(len(r.readings) for r in registers)
    else:
        files = _mscons_files(days, malo_id=args.malo or malo_for(meter), sender=args.sender, receiver=args.receiver)
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            for name, data in files:
                (args.out / name).write_bytes(data)
            where = str(args.out)
        else:
            headers = [(HEADER_TENANT, args.tenant.encode())]
            messages = ((name.encode(), data) for name, data in files)
            asyncio.run(publish(kafka, METER_MSCONS.name, messages, headers))
            where = f"{METER_MSCONS.name} @ {args.kafka}"
        count = len(files)
    elapsed = time.perf_counter() - started
    print(
        f"{count} {'messages' if args.format == 'json' else 'files'} with {readings:,} readings "
        f"for {meter} ({args.role}) → {where} in {elapsed:.1f} s ({readings / elapsed:,.0f} readings/s)"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
