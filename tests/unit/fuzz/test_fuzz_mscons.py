"""Fuzzing the MSCONS reader (services.meterdata.mscons.parse_mscons) and meter data's MSCONS use case: any bytes,
and valid interchanges (tests/data/mscons) with bytes flipped, cut off, segments deleted, duplicated or swapped and
element values replaced. The reader either returns readings that pass the contract's and the reader's own rules,
or raises MsconsError — anything else fails the property."""

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pydifact.segmentcollection import Interchange

from contracts.common import METER_NUMBER_PATTERN
from contracts.masterdata import MeterPointRecorded
from contracts.meterdata import InterchangeAnswered
from kit.energy_day import quarter_hours_of
from services.meterdata import handlers
from services.meterdata.mscons import MsconsError, ParsedInterchange, parse_mscons
from tests.unit.fakes import FakeClock, FakeUnits
from tests.unit.fuzz.strategies import mutated_bytes
from tests.unit.meterdata.fake_store import FakeReadings

SAMPLES = {path.name: path.read_bytes() for path in sorted((Path("tests/data/mscons")).glob("*.edi"))}
MASTER_DATA = {"41373559241": "1EMH0005939068", "DE0071373163400000E000A0014996748": "1ESY1161052714"}
# Element values that have broken readers: dates at the calendar's ends, huge and odd numbers, other separators.
ODD_VALUES = [
    "999912312400?+00:303", "999912312345?-14:303", "000101010000?+01:303", "000101010015?+14:303",
    "202602300000?+00:303", "202606012460?+00:303", "20261301:102", "999912312400:203", "00010101:102",
    "220:" + "9" * 400, "220:1e5", "220:-0", "220:,5", "220:.", "Z30:", "220:0.1:KWH", "220:0.1:MWH",
    "172+" + "9" * 11, "172+41373559240", "172+DE" + "0" * 31, "5+1-1?:1.8.0", "5+1-1?:1.29.0*255",
    "5+999-999?:999.999.999*999", "", "?", "??", "?'", ":", "+", "UNH", "\x00", "\xff" * 3,
]  # fmt: skip


# Digit runs (dates, offsets, quantities, OBIS codes) swapped for these: the calendar's ends and huge numbers.
ODD_DIGITS = ["9999", "0000", "0001", "99991231", "00010101", "999912312400", "000101010000", "24", "60", "14", "15",
              "9" * 400, "0" * 20, "1", "99999999999", "2027"]  # fmt: skip


ODD_DAYS = ["99991231", "99991230", "00010101", "00010102", "19000101", "29991231", "20001231", "20260229"]


def segments_of(data: bytes) -> list[bytes]:
    return [part + b"'" for part in data.split(b"'") if part.strip()]


@st.composite
def mutated_interchange(draw: st.DrawFn) -> bytes:
    """A sample with segments deleted, duplicated or swapped, or one element's value replaced."""
    segments = segments_of(draw(st.sampled_from(list(SAMPLES.values()))))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(segments) - 1))
        action = draw(st.sampled_from(["delete", "duplicate", "swap", "replace", "digits", "digits", "dates"]))
        if action == "delete" and len(segments) > 1:
            del segments[at]
        elif action == "duplicate":
            segments.insert(at, segments[at])
        elif action == "swap":
            other = draw(st.integers(0, len(segments) - 1))
            segments[at], segments[other] = segments[other], segments[at]
        elif action == "dates":
            # Every time on one day moved to another at once: the intervals stay 15 minutes long.
            days = sorted({m.group(1) for m in re.finditer(rb"(\d{8})\d{4}\?[+-]", b"".join(segments))})
            if days:
                day, moved = draw(st.sampled_from(days)), draw(st.sampled_from(ODD_DAYS)).encode()
                segments = [re.sub(rb"(?<!\d)" + day + rb"(?=\d{4}\?[+-])", moved, segment) for segment in segments]
        elif action == "digits" and (runs := list(re.finditer(rb"\d+", segments[at]))):
            run = draw(st.sampled_from(runs))
            digits = draw(st.one_of(st.sampled_from(ODD_DIGITS), st.text("0123456789", min_size=1, max_size=14)))
            segments[at] = segments[at][: run.start()] + digits.encode() + segments[at][run.end() :]
        else:
            elements = segments[at].rstrip(b"'").split(b"+")
            which = draw(st.integers(0, len(elements)))
            value = draw(st.one_of(st.sampled_from(ODD_VALUES), st.text(st.characters(max_codepoint=255), max_size=20)))
            elements[which:which + 1] = [value.encode("latin-1")]  # fmt: skip
            segments[at] = b"+".join(elements) + b"'"
    return b"".join(segments)


def parsed(data: bytes) -> ParsedInterchange | None:
    """The reader's result, None when it raised MsconsError; the property fails on any other exception."""
    try:
        result = parse_mscons(data, meter_for_location=MASTER_DATA.get)
    except MsconsError as error:
        assert str(error)  # a reason for the dead-letter header
        return None
    for day in result.days:
        assert len(day.values) == len(day.qualities) == quarter_hours_of(day.day)
        assert all(value is None or value >= 0 or value < 0 for value in day.values)  # a number, never NaN
    for readings in result.registers:
        moments = [reading.read_at for reading in readings.readings]
        assert moments == sorted(moments)
        assert all(reading.value >= 0 and moment.minute % 15 == 0 for reading, moment in zip(readings.readings,
                   moments, strict=True))  # fmt: skip
    meters = [day.meter_number for day in result.days] + [readings.meter_number for readings in result.registers]
    assert all(re.match(METER_NUMBER_PATTERN, meter) for meter in meters)
    # Each refusal answers one message the result lists as not accepted, with a code and the segment at fault.
    refused = [(m.interchange, m.message) for m in result.messages if not m.accepted]
    assert refused == [(r.interchange, r.message) for r in result.refusals]
    assert all(r.code and r.reason and r.tag and r.index > 0 for r in result.refusals)
    return result


@pytest.mark.parametrize("name", sorted(set(SAMPLES) - {"bad_segment.edi", "other_directory_d96a.edi"}))
def test_the_samples_the_mutations_start_from_are_read(name: str) -> None:
    assert parsed(SAMPLES[name]) is not None


@given(st.binary(max_size=400))
def test_arbitrary_bytes_are_read_or_refused_with_mscons_error(data: bytes) -> None:
    parsed(data)


@given(st.sampled_from(list(SAMPLES.values())).flatmap(mutated_bytes))
def test_byte_mutations_of_valid_interchanges_are_read_or_refused(data: bytes) -> None:
    parsed(data)


REGISTERS = SAMPLES["several_messages.edi"]
PROFILE = SAMPLES["resent_interval.edi"]
FIRST_INTERVAL = (b"DTM+163:202605312200?+00:303", b"DTM+164:202605312215?+00:303")


def first_interval(start: bytes, end: bytes) -> bytes:
    return PROFILE.replace(FIRST_INTERVAL[0], b"DTM+163:" + start, 1).replace(FIRST_INTERVAL[1], b"DTM+164:" + end, 1)


# Found: a time whose offset or 24:00 carries it past 9999-12-31 or before 0001-01-01 raised ValueError or
# OverflowError from datetime (now: years 1900 … 2999); 400 digits are an infinite float (now refused).
@example(first_interval(b"999912312345?+00:303", b"999912312400?+00:303"))
@example(first_interval(b"000101010000?+01:303", b"000101010015?+01:303"))
@example(REGISTERS.replace(b"DTM+7:202605312200?+00:303", b"DTM+7:999912312400?-01:303"))
@example(REGISTERS.replace(b"DTM+7:202605312200?+00:303", b"DTM+7:000101010000?+01:303"))
@example(PROFILE.replace(b"QTY+220:0.250", b"QTY+220:" + b"9" * 400))
@given(mutated_interchange())
def test_segment_mutations_of_valid_interchanges_are_read_or_refused(data: bytes) -> None:
    parsed(data)


async def ingest(data: bytes) -> tuple[handlers.InterchangeProcessed, FakeUnits[FakeReadings]]:
    units = FakeUnits(FakeReadings(), FakeClock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC)))
    for location, meter in MASTER_DATA.items():
        units.master_data.points[("000328", meter)] = MeterPointRecorded.model_construct(
            meter_number=meter, malo_id=location
        )
    async with units() as uow:
        command = handlers.ReceiveInterchange(data, "000328", "9900123000002")
        return await handlers.receive_interchange(command, uow), units


# Found: register readings the domain refuses (a day after tomorrow, a value above 1e9 kWh) raised handlers.Refused,
# which the MSCONS subscriber does not catch: retried three times instead of dead-lettered at once with the reason.
# Now such readings refuse their interchange's messages (APERAK), like any application error.
@example(REGISTERS.replace(b"DTM+7:202605312200", b"DTM+7:202705312200"))
@example(REGISTERS.replace(b"QTY+220:12345.678", b"QTY+220:99999999999"))
@given(mutated_interchange())
async def test_the_mscons_use_case_stores_and_answers_or_finds_no_one_to_answer(data: bytes) -> None:
    try:
        processed, units = await ingest(data)
    except handlers.Unanswerable as error:
        assert str(error)
        return
    store = units.store
    assert processed.days == len(store.days)
    assert processed.registers == len(store.registers)
    assert all(0 <= reading.value_wh <= 10**12 for reading in store.registers.values())  # ≤ 1e9 kWh
    assert all(value is None or 0 <= value <= 1_000_000 for day in store.days.values() for value in day.values_wh)
    # Every interchange read is answered by a CONTRL, and one APERAK goes out per interchange with refusals.
    answers = units.outbox.of_type(InterchangeAnswered)
    assert [a.kind for a in answers].count("CONTRL") >= 1
    assert all(Interchange.from_str(a.edifact).sender[0] == "9900123000002" for a in answers)
    assert bool(processed.refusals) == any(a.kind == "APERAK" for a in answers)
