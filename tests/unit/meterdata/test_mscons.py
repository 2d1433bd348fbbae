"""The MSCONS parser: round trip with the simulator's writer, the real-world deviations it accepts (samples in
tests/data/mscons) and what it refuses, naming the segment."""

import re
import time
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from backoffice.smgw_simulator import generate_days, write_mscons
from contracts.meterdata import LoadProfileDay, Quality
from kit.identifiers import LocationKind, is_valid_malo, location_kind, location_problem
from services.meterdata.mscons import MsconsError, ParsedInterchange, parse_mscons

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "mscons"
MALO = "41373559241"
MELO = "DE0071373163400000E000A0014996748"
METER = "1EMH0005939068"
MASTER_DATA = {MALO: METER, MELO: "1ESY1161052714"}


def parse(data: bytes | str) -> ParsedInterchange:
    raw = data.encode("latin-1") if isinstance(data, str) else data
    return parse_mscons(raw, meter_for_location=MASTER_DATA.get)


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def present(day: LoadProfileDay) -> dict[int, tuple[float | None, Quality]]:
    """The delivered slots of a day (everything but the Z30 filler)."""
    return {i: (v, q) for i, (v, q) in enumerate(zip(day.values, day.qualities, strict=True)) if q != Quality.MISSING}


# A minimal valid interchange to derive broken variants from.
HEAD = (
    "UNA:+.? 'UNB+UNOC:3+9900000000003:500+9900000000010:500+260102:0600+R1++TL'"
    "UNH+1+MSCONS:D:04B:UN:2.4c'BGM+7+DOC1+9'DTM+137:202601020600?+00:303'RFF+Z13:13025'"
    "NAD+MS+9900000000003::293'NAD+MR+9900000000010::293'UNS+D'NAD+DP'"
)
LOCATION = f"LOC+172+{MALO}'"
SERIES = "LIN+1'PIA+5+1-1?:1.29.0:SRW'"
VALUE = "QTY+220:0.100'DTM+163:202512312300?+00:303'DTM+164:202512312315?+00:303'"
TAIL = "UNT+15+1'UNZ+1+R1'"
VALID = HEAD + LOCATION + SERIES + VALUE + TAIL


def test_the_base_interchange_of_the_refusal_cases_is_valid() -> None:
    parsed = parse(VALID)
    assert [present(d) for d in parsed.days] == [{0: (0.1, Quality.TRUE_VALUE)}]
    assert parsed.unmapped == []
    assert not any("UNT" in w for w in parsed.warnings)


# ------------------------------------------------------------------------------------------ identifiers


def test_the_malo_check_digit_follows_the_brief_not_luhn() -> None:
    assert is_valid_malo("41373559241")
    assert is_valid_malo("51238696781")
    assert not is_valid_malo("41373559242")
    assert not is_valid_malo("01373559241")  # a MaLo never starts with 0
    assert not is_valid_malo("4137355924")


@pytest.mark.parametrize(
    ("location_id", "kind"),
    [
        ("41373559241", LocationKind.MALO),
        ("65432109870", LocationKind.MALO),  # a Tranche: same shape and check digit
        ("DE0071373163400000E000A0014996748", LocationKind.MELO),
        ("AT0071373163400000E000A0014996748", LocationKind.MELO),  # another country's metering point
        ("E1A2B3C4D57", LocationKind.NELO),
        ("C9X8Y7Z6W54", LocationKind.SR),
        ("D1234ABCD09", LocationKind.TR),
        ("41373559242", None),  # wrong check digit
        ("01373559241", None),
        ("DE0071X73163400000E000A0014996748", None),
        ("F1A2B3C4D57", None),
        ("E1A2B3C4D5X", None),  # the last character is a digit
        ("e1a2b3c4d57", None),
        ("", None),
    ],
)
def test_every_location_id_kind_of_current_market_communication(location_id: str, kind: LocationKind | None) -> None:
    assert location_kind(location_id) == kind
    assert kind is not None or location_problem(location_id)


# ------------------------------------------------------------------------------------------ round trip


@pytest.mark.parametrize("one_line", [False, True])
def test_simulator_days_survive_writer_and_parser_exactly(one_line: bool) -> None:
    spring = generate_days(METER, "both", date(2026, 3, 28), 3, seed=7)
    autumn = generate_days(METER, "both", date(2026, 10, 24), 3, seed=7)
    days = spring + autumn
    assert {len(d.values) for d in days} == {92, 96, 100}
    data = write_mscons(
        days,
        sender_mp_id="9900000000003",
        receiver_mp_id="9900000000010",
        malo_id=MALO,
        created_at=datetime(2026, 11, 1, 5, tzinfo=UTC),
        one_line=one_line,
    )
    assert (b"\n" in data.rstrip()) is not one_line
    parsed = parse(data)
    assert parsed.unmapped == []
    assert parsed.warnings == []  # UTC, right counts, whole days
    key = lambda d: (d.meter_number, d.obis, d.day)  # noqa: E731
    assert [d.model_dump() for d in parsed.days] == [d.model_dump() for d in sorted(days, key=key)]


def test_a_year_with_substitutes_and_gaps_round_trips() -> None:
    days = generate_days(METER, "consumption", date(2026, 1, 1), 365, seed=3)
    qualities = {q for d in days for q in d.qualities}
    assert {Quality.TRUE_VALUE, Quality.SUBSTITUTE, Quality.MISSING} <= qualities
    data = write_mscons(days, sender_mp_id="9900000000003", receiver_mp_id="9900000000010", malo_id=MALO)
    parsed = parse(data)
    assert [(d.day, d.values, d.qualities, d.status) for d in parsed.days] == [
        (d.day, d.values, d.qualities, d.status) for d in days
    ]


def test_a_file_of_13_mb_parses_well_under_one_and_a_half_seconds() -> None:
    days = generate_days(METER, "both", date(2026, 1, 1), 90, seed=1)
    data = write_mscons(days, sender_mp_id="9900000000003", receiver_mp_id="9900000000010", malo_id=MALO)
    assert len(data) > 1_300_000
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        parsed = parse(data)
        timings.append(time.perf_counter() - started)
    assert len(parsed.days) == 180
    assert min(timings) < 1.5  # typically 0.2–0.4 s on a busy 2-core machine


# ------------------------------------------------------------------------------------------ samples


def test_local_offsets_on_the_autumn_day_give_100_distinct_intervals() -> None:
    parsed = parse(sample("autumn_local_offsets.edi"))  # 2.4a, ?+02 until the clock goes back, then ?+01
    (day,) = parsed.days
    assert (day.day, len(day.values)) == (date(2026, 10, 25), 100)
    assert day.values == tuple((i + 1) / 1000 for i in range(100))  # every clock time 02:xx twice, in order
    assert set(day.qualities) == {Quality.TRUE_VALUE}
    assert any("+01:00, +02:00" in w and "converted to UTC" in w for w in parsed.warnings)


def test_the_autumn_day_in_format_304_gives_the_same_intervals_as_in_303() -> None:
    in_304 = re.sub(rb"(\d{12})(\?[+-]\d{2}):303", rb"\g<1>00\2:304", sample("autumn_local_offsets.edi"))
    assert b":303" not in in_304
    assert parse(in_304).days == parse(sample("autumn_local_offsets.edi")).days


def test_a_register_reading_at_a_time_in_format_304() -> None:
    register = LOCATION + "LIN+1'PIA+5+1-1?:1.8.0:SRW'QTY+220:17.5'DTM+7:20260101010000?+01:304'"
    (readings,) = parse(VALID.replace(LOCATION + SERIES + VALUE, register)).registers
    assert readings.readings[0].read_at == datetime(2026, 1, 1, tzinfo=UTC)


def test_the_spring_forward_day_has_92_values_and_channel_1_0_maps_to_1_1() -> None:
    parsed = parse(sample("spring_forward_92.edi"))  # one line, 2.4b, PIA 1-0?:2.29.0*255, unit KWH
    (day,) = parsed.days
    assert (day.day, day.obis, len(day.values)) == (date(2026, 3, 29), "1-1:2.29.0", 92)
    assert day.values == tuple(i / 1000 for i in range(92))
    assert parsed.warnings == [] and parsed.unmapped == []


def test_a_decimal_comma_declared_in_una() -> None:
    (day,) = parse(sample("decimal_comma.edi")).days
    assert day.values[:3] == (0.123, 1.5, 2.0)


def test_the_other_decimal_mark_is_read_too_with_a_warning() -> None:
    parsed = parse(VALID.replace("QTY+220:0.100", "QTY+220:0,5"))  # UNA declares the point
    assert parsed.days[0].values[0] == 0.5
    assert "1 value(s) use another decimal mark than UNA declares" in parsed.warnings


def test_two_interchanges_in_one_file() -> None:
    second = VALID[len("UNA:+.? '") :].replace("QTY+220:0.100", "QTY+220:0.200").replace("R1", "R2")
    parsed = parse(VALID + "\n" + second)
    assert [present(d) for d in parsed.days] == [{0: (0.2, Quality.TRUE_VALUE)}]
    assert any("sent again" in w for w in parsed.warnings)


def test_an_older_version_without_una_with_crlf_and_header_formats_102_and_203() -> None:
    parsed = parse(sample("no_una_older_version.edi"))  # 2.2h
    (day,) = parsed.days
    # 00:00+01 on 3 February 2014 is the first quarter hour of that energy day.
    assert (day.day, day.values[:3]) == (date(2014, 2, 3), (0.25, 0.375, None))
    assert any("no UNA" in w for w in parsed.warnings)
    assert any("+01:00" in w for w in parsed.warnings)


def test_a_resent_interval_the_later_message_wins() -> None:
    parsed = parse(sample("resent_interval.edi"))  # substitute first, true value in a later message
    (day,) = parsed.days
    assert present(day) == {0: (0.512, Quality.TRUE_VALUE), 1: (0.25, Quality.TRUE_VALUE)}
    assert day.status is None  # the substitute's STS went with it
    assert any("sent again; the later value wins" in w for w in parsed.warnings)
    assert any("94 of 96 intervals missing (a partial day)" in w for w in parsed.warnings)


def test_several_messages_locations_and_series() -> None:
    parsed = parse(sample("several_messages.edi"))
    days = {(d.meter_number, d.obis): d for d in parsed.days}
    assert set(days) == {
        (METER, "1-1:1.29.0"),  # MaLo via master data
        ("1ESY1161052714", "1-1:2.29.0"),  # MeLo via master data
        ("1EMH0012345678", "1-1:1.29.0"),  # empty LOC+172, meter number from RFF+MG
    }
    household = days[(METER, "1-1:1.29.0")]
    assert household.day == date(2026, 6, 1)
    assert household.values[:4] == (0.125, 0.13, None, None)
    assert household.qualities[:3] == (Quality.TRUE_VALUE, Quality.SUBSTITUTE, Quality.MISSING)
    assert household.status is not None and household.status[:3] == (None, "Z32:Z92;Z40:Z74", "Z40:Z75")
    pv = days[("1ESY1161052714", "1-1:2.29.0")]
    assert present(pv) == {48: (1.5, Quality.TRUE_VALUE), 49: (1.6, Quality.FORECAST)}
    assert present(days[("1EMH0012345678", "1-1:1.29.0")]) == {0: (0.2, Quality.PROPOSED)}

    registers = {(r.meter_number, r.obis): r.readings for r in parsed.registers}
    (consumption,) = registers[(METER, "1-1:1.8.0")]
    assert (consumption.value, consumption.read_at) == (12345.678, datetime(2026, 5, 31, 22, tzinfo=UTC))  # DTM+7
    (feed_in,) = registers[(METER, "1-1:2.8.0")]
    assert (feed_in.value, feed_in.quality) == (100.5, Quality.SUBSTITUTE)

    unmapped = "\n".join(parsed.unmapped)
    assert f"location {MALO}, 1-1:3.29.0: reactive energy (kvarh) is not mapped — 1 value(s)" in unmapped
    assert f"location {MALO}, 1-1:4.29.0: reactive energy (kvarh) is not mapped — 2 value(s)" in unmapped
    assert "unit 'KWT' is not mapped" in unmapped
    assert "no meter known for location 71234567893" in unmapped
    assert "no location id and no meter number" in unmapped
    assert "LOC+Z04 H0: a profile" in unmapped
    assert not any("UNT" in w for w in parsed.warnings)
    assert any("although the message declares the whole day" in w for w in parsed.warnings)


def test_a_wrong_unt_count_is_accepted_with_a_warning() -> None:
    parsed = parse(sample("wrong_unt_count.edi"))
    assert len(parsed.days) == 1
    assert "UNT of message 1 counts '99' segments, it has 12" in parsed.warnings


def test_a_bad_segment_is_named_with_its_position_and_nothing_is_returned() -> None:
    data = sample("bad_segment.edi")
    with pytest.raises(MsconsError) as raised:
        parse(data)
    error = raised.value
    assert (error.tag, error.index) == ("QTY", 13)
    assert error.offset is not None and data[error.offset : error.offset + 12] == b"QTY+220:0.1O"
    assert str(error) == f"QTY at segment 13, byte {error.offset}: the quantity is not a decimal number"
    assert "0.1O5" not in str(error)  # values are not repeated


# ------------------------------------------------------------------------------------------ syntax


def test_other_separators_from_una_and_the_release_character() -> None:
    profile = "LOC+Z04+A?+B?:C?'D??E'LIN+1'PIA+5+1-1?:1.29.0:SRW'" + VALUE
    parsed = parse(VALID.replace(LOCATION, profile + LOCATION))
    assert "LOC+Z04 A+B:C'D?E: a profile, not a meter's readings (1-1:1.29.0) — 1 value(s)" in parsed.unmapped
    assert len(parsed.days) == 1
    # The same with component |, element *, release /, terminator !: the old service characters are plain
    # data now, the new ones are escaped with /.
    escaped = {"?+": "\x01", "?:": "\x02", "?'": "\x03", "??": "\x04"}
    text = VALID.replace(LOCATION, profile.replace("D??E", "D??E/*/!") + LOCATION)[len("UNA:+.? ") :]
    for pair, placeholder in escaped.items():
        text = text.replace(pair, placeholder)
    table: dict[str, str | int | None] = {":": "|", "+": "*", "'": "!", "\x01": "+", "\x02": ":", "\x03": "'"}
    text = text.translate(str.maketrans({**table, "\x04": "?"}))
    text = text.replace("/|/|", "/*/!")  # undo the translation inside the new-syntax escapes
    parsed = parse("UNA|*./ " + text)
    assert "LOC+Z04 A+B:C'D?E*!: a profile, not a meter's readings (1-1:1.29.0) — 1 value(s)" in parsed.unmapped
    assert [present(d) for d in parsed.days] == [{0: (0.1, Quality.TRUE_VALUE)}]


def test_a_byte_order_mark_and_line_breaks_inside_segments() -> None:
    data = "\ufeff".encode() + b"\n" + VALID.replace("QTY+220:0.100", "QTY+220:\n0.100").encode()
    parsed = parse(data)
    assert present(parsed.days[0]) == {0: (0.1, Quality.TRUE_VALUE)}
    assert any("line breaks inside 1 segment" in w for w in parsed.warnings)


def test_a_cancelled_message_is_reported_not_applied() -> None:
    parsed = parse(VALID.replace("BGM+7+DOC1+9'", "BGM+7+DOC1+1'"))
    assert parsed.days == []
    assert parsed.unmapped == ["message 1 is a cancellation (BGM function 1): not applied — 1 value(s)"]


def test_a_meter_number_in_rff_mg_is_the_fallback_for_a_location_unknown_to_master_data() -> None:
    data = VALID.replace(LOCATION, "LOC+172+71234567893'RFF+MG:1EMH0012345678'")
    parsed = parse(data)
    assert [d.meter_number for d in parsed.days] == ["1EMH0012345678"]
    assert any("no meter in master data" in w for w in parsed.warnings)
    without = parse_mscons(VALID.encode())  # default mapping: no meter known for anything
    assert without.days == []
    assert without.unmapped == [f"no meter known for location {MALO} (1-1:1.29.0) — 1 value(s)"]


def test_a_register_reading_without_time_of_day_is_reported() -> None:
    data = VALID.replace(
        LOCATION + SERIES + VALUE,
        LOCATION + "DTM+9:20131231:102'RFF+MG:1EMH0005939068'LIN+1'PIA+5+1-1?:1.8.0:SRW'QTY+220:7000'",
    )
    parsed = parse(data)
    assert parsed.registers == []
    assert parsed.unmapped == [
        f"location {MALO}, 1-1:1.8.0: a register reading without a time of day (format 303) is not mapped — 1 value(s)"
    ]


@pytest.mark.parametrize(
    ("change", "tag", "what"),
    [
        (("D:04B:UN:2.4c", "D:04B:UN:1.0b"), "UNH", "MSCONS D:04B:UN:1.0b is not read"),
        (("D:04B:UN:2.4c", "D:04B:UN:2.0"), "UNH", "MSCONS D:04B:UN:2.0 is not read"),
        (("D:04B:UN:2.4c", "D:96A:UN:EAN008"), "UNH", "MSCONS D:96A:UN:EAN008 is not read"),
        (("D:04B:UN:2.4c", "D:04B:UN:EAN005"), "UNH", "MSCONS D:04B:UN:EAN005 is not read"),
        (("MSCONS:D:04B", "APERAK:D:04B"), "UNH", "'APERAK' is not MSCONS"),
        (("DTM+137:202601020600?+00:303", "DTM+137:202601020600:999"), "DTM", "DTM format '999' is not read"),
        (("DTM+137:202601020600?+00:303", "DTM+137:2026010206?+00:304"), "DTM", "not a format 304 time"),
        (("DTM+137:202601020600?+00:303", "DTM+137:202613:610"), "DTM", "'202613' is not a date in format 610"),
        (("DTM+137:202601020600?+00:303", "DTM+137:20260102060061?+00:304"), "DTM", "is not a time of day"),
        (("DTM+164:202512312315?+00", "DTM+164:202513312315?+00"), "DTM", "is not a calendar date"),
        (("DTM+164:202512312315?+00", "DTM+164:202512312375?+00"), "DTM", "is not a time of day"),
        (("DTM+164:202512312315?+00", "DTM+164:2025123123?+00"), "DTM", "not a format 303 time"),
        ((SERIES, "LIN+1'"), "QTY", "QTY before its location"),
        ((LOCATION, ""), "LIN", "LIN before a location"),
        (("UNT+15+1'", ""), "UNZ", "UNZ before UNT closed message 1"),
        (("UNZ+1+R1'", ""), "UNT", "ends without UNZ"),
        (("BGM+7+DOC1+9'", "BGM+7+DOC1+9'Q#Y+1'"), None, "'Q#Y+1' does not start with a segment tag"),
        (("UNT+15+1'", "UNT+15+1'QTY+220:1'"), "QTY", "stands outside a message"),
        (("BGM+7+DOC1+9'", "BGM+7+DOC1+9'BGM:1+7'"), None, "'BGM:1+7' does not start with a segment tag"),
        (("BGM+7+DOC1+9'", "BGM+7+DOC1+9''"), None, "an empty segment"),
        (("UNA:+.? 'UNB", "UNA:+.? 'UNG+X'UNB"), "UNG", "an interchange starts with UNB"),
        (("UNB+UNOC:3", "UNB+XYZ:3"), "UNB", "not an EDIFACT UNOx character set"),
    ],
)
def test_what_cannot_be_read_is_refused_naming_the_segment(change: tuple[str, str], tag: str | None, what: str) -> None:
    old, new = change
    assert old in VALID
    with pytest.raises(MsconsError) as raised:
        parse(VALID.replace(old, new, 1))
    assert raised.value.tag == tag
    assert what in str(raised.value)
    assert raised.value.index is not None and raised.value.offset is not None


@pytest.mark.parametrize(
    ("change", "code", "tag", "reason"),
    [
        ((LOCATION, "LOC+172+41373559242'"), "location_id", "LOC", "41373559242 has a wrong check digit"),
        ((LOCATION, "LOC+172+1234'"), "location_id", "LOC", "'1234' is no location id of any kind"),
        ((LOCATION, "LOC+172+DE0071X73163400000E000A0014996748'"), "location_id", "LOC", "not a German MeLo"),
        (("DTM+164:202512312315", "DTM+164:202512312330"), "interval_length", "QTY", "interval of 30 minutes"),
        (
            ("DTM+163:202512312300?+00:303'DTM+164:202512312315", "DTM+163:202512312305?+00:303'DTM+164:202512312320"),
            "interval_start",
            "QTY",
            "quarter hour",
        ),
        (("DTM+164:202512312315?+00:303'", ""), "interval_missing", "QTY", "needs DTM+163 and DTM+164"),
        (("DTM+164:202512312315?+00:303", "DTM+164:202512312315:203"), "interval_format", "DTM", "303 or 304"),
    ],
)
def test_an_application_error_refuses_the_message_not_the_interchange(
    change: tuple[str, str], code: str, tag: str, reason: str
) -> None:
    old, new = change
    assert old in VALID
    parsed = parse(VALID.replace(old, new, 1))
    assert parsed.days == [] and parsed.unmapped == []
    (refusal,) = parsed.refusals
    assert (refusal.interchange, refusal.message, refusal.document, refusal.code, refusal.tag) == (
        "R1", "1", "DOC1", code, tag
    )  # fmt: skip
    assert reason in refusal.reason
    (message,) = parsed.messages
    assert (message.accepted, message.version, message.pruefidentifikator) == (False, "2.4c", "13025")


def test_a_truncated_file_is_refused() -> None:
    with pytest.raises(MsconsError, match="does not end with the segment terminator"):
        parse(VALID[:-5])
    with pytest.raises(MsconsError, match="holds no segment"):
        parse(b"  \n")


def test_register_readings_must_be_on_the_quarter_hour_and_not_negative() -> None:
    register = LOCATION + "RFF+MG:1EMH0005939068'LIN+1'PIA+5+1-1?:1.8.0:SRW'QTY+220:{value}'DTM+7:{at}?+00:303'"
    good = VALID.replace(LOCATION + SERIES + VALUE, register.format(value="17.5", at="202601010000"))
    (readings,) = parse(good).registers
    assert readings.readings[0].read_at == datetime(2026, 1, 1, tzinfo=UTC)
    for value, at, code in (("17.5", "202601010007", "reading_time"), ("-1", "202601010000", "reading_negative")):
        refused = parse(VALID.replace(LOCATION + SERIES + VALUE, register.format(value=value, at=at)))
        assert refused.registers == []
        assert [(r.code, r.tag) for r in refused.refusals] == [(code, "QTY")]


# ------------------------------------------------------------------------ the corpus: formats, versions, id kinds

SECOND_MALO = "51238696781"


def test_a_2_4b_interchange_with_two_malos_on_the_spring_day_and_dates_in_304_and_610() -> None:
    # Header dates in every format of code list 2379 the AHB versions use (102, 106, 203, 204, 304, 602, 610, 616,
    # 718, 719, 802); the values' intervals in 304 with seconds and offset.
    parsed = parse_mscons(
        sample("spring_2_4b_formats_304_610.edi"), meter_for_location={**MASTER_DATA, SECOND_MALO: "1ESY1161052715"}.get
    )
    days = {d.meter_number: d for d in parsed.days}
    assert set(days) == {METER, "1ESY1161052715"}
    assert {(d.day, len(d.values)) for d in days.values()} == {(date(2026, 3, 29), 92)}
    assert all(q == Quality.TRUE_VALUE for d in days.values() for q in d.qualities)
    assert (days[METER].values[0], days[METER].values[91]) == (0.1, 0.191)
    assert [(m.message, m.version, m.pruefidentifikator, m.accepted) for m in parsed.messages] == [
        ("1", "2.4b", "13025", True),
        ("2", "2.4b", "13025", True),
    ]
    assert parsed.refusals == [] and parsed.unmapped == [] and parsed.warnings == []


def test_every_kind_of_location_id_customer_points_stored_others_reported_a_wrong_check_digit_refused() -> None:
    parsed = parse(sample("location_kinds.edi"))
    assert {d.meter_number for d in parsed.days} == {METER, "1ESY1161052714"}  # MaLo and MeLo
    assert sorted(parsed.unmapped) == [
        "location C9X8Y7Z6W54 is a Steuerbare Ressource: not a customer's metering point (1-1:1.29.0) — 2 value(s)",
        "location D1234ABCD09 is a Technische Ressource: not a customer's metering point (1-1:1.29.0) — 2 value(s)",
        "location E1A2B3C4D57 is a Netzlokation: not a customer's metering point (1-1:1.29.0) — 2 value(s)",
        # A Tranche has the shape and check digit of a MaLo: only master data could tell; it knows no meter for it.
        "no meter known for location 65432109870 (1-1:1.29.0) — 2 value(s)",
    ]
    (refusal,) = parsed.refusals
    assert (refusal.interchange, refusal.message, refusal.code, refusal.tag) == ("K1", "7", "location_id", "LOC")
    assert refusal.reason == "41373559242 has a wrong check digit for a MaLo or Tranche"
    assert [m.accepted for m in parsed.messages] == [True] * 6 + [False]


def test_the_d04b_versions_in_circulation_are_read_with_their_pruefidentifikator() -> None:
    parsed = parse(sample("versions_2_1a_to_2_5a.edi"))
    assert [(m.version, m.pruefidentifikator) for m in parsed.messages] == [
        ("2.1a", "13025"), ("2.2h", "13017"), ("2.3c", "13025"), ("2.4", "13017"),
        ("2.4a", "13025"), ("2.4b", "13017"), ("2.4c", "13025"), ("2.5a", "13017"),
    ]  # fmt: skip
    (day,) = parsed.days
    assert sorted(present(day)) == list(range(1, 9))  # one value from each message


def test_another_directory_is_refused_whole_naming_what_was_found() -> None:
    with pytest.raises(MsconsError) as raised:
        parse(sample("other_directory_d96a.edi"))
    assert raised.value.tag == "UNH"
    assert "MSCONS D:96A:UN:EAN008 is not read" in str(raised.value)


def test_in_a_one_line_interchange_only_the_messages_with_application_errors_are_refused() -> None:
    parsed = parse_mscons(
        sample("one_line_one_message_refused.edi"),
        meter_for_location={**MASTER_DATA, SECOND_MALO: "1ESY1161052715"}.get,
    )
    days = {d.meter_number: d for d in parsed.days}
    assert sorted(present(days[METER])) == [0, 1, 2, 3]  # message A (303)
    assert sorted(present(days["1ESY1161052714"])) == [4, 5]  # message C (304); B's values at 0, 1 are not used
    assert "1ESY1161052715" not in days  # message D
    assert [(r.message, r.code, r.tag) for r in parsed.refusals] == [
        ("B", "interval_format", "DTM"),  # a value's interval in format 203: no offset
        ("D", "interval_length", "QTY"),  # 22:00:00 to 22:15:30
    ]
    assert parsed.refusals[1].reason == "interval of 15.5 minutes: load profiles have 15"
    assert [m.accepted for m in parsed.messages] == [True, False, True, False]
