"""The answers to received MSCONS interchanges (CONTRL, APERAK), read back with an independent EDIFACT reader
(pydifact), and the use case that writes them: once per file, again only for refusals not answered before."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydifact.segmentcollection import Interchange

from contracts.masterdata import MeterPointRecorded
from contracts.meterdata import InterchangeAnswered
from contracts.topics import METER_MSCONS_ANSWERS
from services.meterdata import edifact_answers, handlers
from services.meterdata.edifact_answers import RefusedMessage, SyntaxFault
from services.meterdata.mscons import InterchangeHeader
from tests.unit.fakes import FakeClock, FakeUnits
from tests.unit.meterdata.fake_store import FakeReadings

TENANT, OPERATOR = "000328", "9900123000002"
SENDER, NAMED_RECEIVER = "9900000000003", "9900000000010"  # as the corpus' UNB names them
CORPUS = Path(__file__).resolve().parents[2] / "data" / "mscons"
ONE_LINE = (CORPUS / "one_line_one_message_refused.edi").read_bytes()  # messages B and D refused
BAD_SEGMENT = (CORPUS / "bad_segment.edi").read_bytes()  # a quantity "0.1O5" in message 1, segment 12 of it
LOCATIONS = (CORPUS / "location_kinds.edi").read_bytes()
MALO, MELO, SECOND_MALO = "41373559241", "DE0071373163400000E000A0014996748", "51238696781"
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def read(edifact: str) -> tuple[Interchange, list[list[tuple[str, list[Any]]]]]:
    """The interchange and, per message, its segments (tag, elements) as pydifact reads them."""
    interchange = Interchange.from_str(edifact)
    messages: list[list[tuple[str, list[Any]]]] = [
        [
            ("UNH", [message.reference_number, list(message.identifier)]),
            *((s.tag, s.elements) for s in message.segments),
        ]
        for message in interchange.get_messages()
    ]
    return interchange, messages


def segment(segments: list[tuple[str, list[Any]]], tag: str, qualifier: str | None = None) -> list[Any]:
    found = [e for t, e in segments if t == tag and (qualifier is None or _first(e) == qualifier)]
    assert len(found) == 1, (tag, qualifier, segments)
    return found[0]


def _first(elements: list[Any]) -> str:
    first = elements[0]
    return first[0] if isinstance(first, list) else first


def unt_counts_right(edifact: str) -> None:
    """UNT counts the segments from UNH to UNT, UNZ the messages (pydifact does not check either)."""
    segments = [s for s in edifact.replace("\n", "").split("'") if s and not s.startswith("UNA")]
    since_unh, messages = 0, 0
    for s in segments:
        since_unh += 1
        if s.startswith("UNH+"):
            since_unh, messages = 1, messages + 1
        elif s.startswith("UNT+"):
            assert s.split("+")[1] == str(since_unh), s
        elif s.startswith("UNZ+"):
            assert s.split("+")[1] == str(messages), s


# --- the builder ------------------------------------------------------------------------------------------------


def test_an_acknowledging_contrl_goes_from_the_operator_to_the_sender_and_names_the_interchange() -> None:
    text = edifact_answers.contrl(InterchangeHeader(SENDER, NAMED_RECEIVER, "R12"), OPERATOR, "C1", NOW)
    interchange, [contrl] = read(text)
    assert (interchange.sender, interchange.recipient) == ([OPERATOR, "500"], [SENDER, "500"])  # UNB swapped
    assert interchange.control_reference == "C1" and tuple(interchange.syntax_identifier) == ("UNOC", 3)
    assert segment(contrl, "UNH")[1][:4] == ["CONTRL", "D", "3", "UN"]
    assert segment(contrl, "UCI") == ["R12", [SENDER, "500"], [NAMED_RECEIVER, "500"], "7"]
    assert not [t for t, _ in contrl if t in ("UCM", "UCS")]
    unt_counts_right(text)


def test_a_rejecting_contrl_inside_a_message_names_message_segment_and_code() -> None:
    fault = SyntaxFault("12", message="1", message_type="MSCONS:D:04B:UN:2.4c", position=12)
    text = edifact_answers.contrl(InterchangeHeader(SENDER, NAMED_RECEIVER, "R12"), OPERATOR, "C2", NOW, fault)
    _, [contrl] = read(text)
    assert segment(contrl, "UCI") == ["R12", [SENDER, "500"], [NAMED_RECEIVER, "500"], "4"]
    assert segment(contrl, "UCM") == ["1", ["MSCONS", "D", "04B", "UN", "2.4c"], "4", "12"]
    assert segment(contrl, "UCS") == ["12", "12"]
    unt_counts_right(text)


def test_a_rejecting_contrl_outside_any_message_carries_the_code_in_uci() -> None:
    text = edifact_answers.contrl(
        InterchangeHeader(SENDER, NAMED_RECEIVER, "R12"), OPERATOR, "C3", NOW, SyntaxFault("13", "UNZ")
    )
    _, [contrl] = read(text)
    assert segment(contrl, "UCI") == ["R12", [SENDER, "500"], [NAMED_RECEIVER, "500"], "4", "13", "UNZ"]


def test_an_aperak_per_refused_message_with_references_parties_and_error_code() -> None:
    refused = [RefusedMessage("B", "DOCB", "interval_format", "DTM", 47), RefusedMessage("D+1", "", "other", "QTY", 90)]
    text = edifact_answers.aperak(InterchangeHeader(SENDER, NAMED_RECEIVER, "L1"), OPERATOR, "A1", NOW, refused)
    interchange, messages = read(text)
    assert (interchange.sender, interchange.recipient) == ([OPERATOR, "500"], [SENDER, "500"])
    assert len(messages) == 2
    first, second = messages
    assert segment(first, "UNH")[1][:5] == ["APERAK", "D", "07B", "UN", "2.1i"]
    assert segment(first, "BGM")[0] == "313"
    assert segment(first, "DTM") == [["137", "202612010900+00", "303"]]  # pydifact reads "?+" as "+"
    assert segment(first, "RFF", "ACE") == [["ACE", "L1"]]  # the received interchange (UNB 0020)
    assert segment(first, "RFF", "AGO") == [["AGO", "DOCB"]]  # the refused message's document number
    assert segment(first, "RFF", "ACW") == [["ACW", "B"]]  # its message reference (UNH 0062)
    assert segment(first, "NAD", "MS") == ["MS", [OPERATOR, "", "293"]]
    assert segment(first, "NAD", "MR") == ["MR", [SENDER, "", "293"]]
    assert segment(first, "ERC") == ["Z35"]
    assert "Format nicht eingehalten" in segment(first, "FTX")[3] and "Segment DTM, Nr. 47" in segment(first, "FTX")[3]
    # A reference with a service character is released, and read back as it was; no BGM number: the UNH's.
    assert segment(second, "RFF", "ACW") == [["ACW", "D+1"]] and segment(second, "RFF", "AGO") == [["AGO", "D+1"]]
    assert segment(second, "ERC") == ["Z31"]
    unt_counts_right(text)


def test_answer_references_fit_unb_and_differ_by_kind_and_round() -> None:
    references = {edifact_answers.answer_reference("abc", kind, n) for kind in ("CONTRL", "APERAK") for n in (0, 1)}
    assert len(references) == 4 and all(len(r) == 14 for r in references)
    assert edifact_answers.answer_reference("abc", "APERAK", 1) == edifact_answers.answer_reference("abc", "APERAK", 1)


# --- the use case -----------------------------------------------------------------------------------------------


@pytest.fixture
def units() -> FakeUnits[FakeReadings]:
    units = FakeUnits(FakeReadings(), FakeClock(NOW))
    for location, meter in {MALO: "1EMH0005939068", MELO: "1ESY1161052714", SECOND_MALO: "1ESY1161052715"}.items():
        units.master_data.points[(TENANT, meter)] = MeterPointRecorded.model_construct(
            meter_number=meter, malo_id=location
        )
    return units


async def receive(units: FakeUnits[FakeReadings], data: bytes) -> handlers.InterchangeProcessed:
    async with units() as uow:
        return await handlers.receive_interchange(handlers.ReceiveInterchange(data, TENANT, OPERATOR), uow)


async def reprocess(units: FakeUnits[FakeReadings], interchange_id: str) -> handlers.InterchangeProcessed:
    async with units() as uow:
        command = handlers.ReprocessInterchange(TENANT, interchange_id, OPERATOR)
        return await handlers.reprocess_interchange(command, uow)


def answers(units: FakeUnits[FakeReadings]) -> list[InterchangeAnswered]:
    assert all(p.topic == METER_MSCONS_ANSWERS.name and p.key == SENDER for p in units.outbox.events)
    return [p.event for p in units.outbox.events]  # type: ignore[misc]


async def test_an_interchange_with_refused_messages_is_acknowledged_and_answered_with_one_aperak(
    units: FakeUnits[FakeReadings],
) -> None:
    processed = await receive(units, ONE_LINE)
    assert processed.interchange is not None and processed.interchange.status == "partly_refused"
    contrl, aperak = answers(units)
    assert (contrl.kind, contrl.accepted, contrl.answered_reference) == ("CONTRL", True, "L1")
    assert (aperak.kind, aperak.accepted, aperak.sender, aperak.receiver) == ("APERAK", False, OPERATOR, SENDER)
    _, [uci_message] = read(contrl.edifact)
    assert segment(uci_message, "UCI")[3] == "7"
    _, messages = read(aperak.edifact)
    assert [segment(m, "RFF", "ACW") for m in messages] == [[["ACW", "B"]], [["ACW", "D"]]]
    assert [segment(m, "RFF", "AGO") for m in messages] == [[["AGO", "DOCB"]], [["AGO", "DOCD"]]]
    assert [segment(m, "ERC") for m in messages] == [["Z35"], ["Z41"]]  # interval format, interval length
    assert processed.interchange.accepted == ("L1/A", "L1/C")


async def test_the_same_file_delivered_twice_is_stored_and_answered_once(units: FakeUnits[FakeReadings]) -> None:
    first = await receive(units, ONE_LINE)
    again = await receive(units, ONE_LINE)
    assert first.interchange is not None and again.interchange is None
    assert [a.kind for a in answers(units)] == ["CONTRL", "APERAK"]
    assert len(units.store.interchanges_received) == 1


async def test_a_syntax_error_is_rejected_by_contrl_naming_message_and_segment_and_nothing_is_stored(
    units: FakeUnits[FakeReadings],
) -> None:
    processed = await receive(units, BAD_SEGMENT)
    [contrl] = answers(units)
    assert not contrl.accepted and not units.store.days
    _, [message] = read(contrl.edifact)
    assert segment(message, "UCI") == ["R12", [SENDER, "500"], [NAMED_RECEIVER, "500"], "4"]
    assert segment(message, "UCM") == ["1", ["MSCONS", "D", "04B", "UN", "2.4c"], "4", "12"]
    assert segment(message, "UCS") == ["12", "12"]  # UNH = 1: the QTY with "0.1O5" is the message's 12th segment
    assert processed.interchange is not None and processed.interchange.status == "rejected"
    assert processed.interchange.syntax_error == "12 QTY (Segment 13)"  # the file's 13th (UNB = 1)


async def test_a_truncated_file_is_rejected_with_missing_and_its_sender_read_from_unb(
    units: FakeUnits[FakeReadings],
) -> None:
    await receive(units, BAD_SEGMENT[: BAD_SEGMENT.index(b"UNT+") - 4])  # ends inside a segment
    [contrl] = answers(units)
    _, [message] = read(contrl.edifact)
    uci = segment(message, "UCI")
    assert uci[:4] == ["R12", [SENDER, "500"], [NAMED_RECEIVER, "500"], "4"] and uci[4] == "13"


async def test_a_refused_message_is_stored_when_reprocessed_after_its_master_data_arrived(
    units: FakeUnits[FakeReadings],
) -> None:
    del units.master_data.points[(TENANT, "1ESY1161052714")]  # the MeLo of message 2 is not known yet
    processed = await receive(units, LOCATIONS)
    assert processed.interchange is not None
    assert [(r.message, r.code) for r in processed.interchange.refused] == [
        ("2", "location_unknown"),
        ("6", "location_unknown"),
        ("7", "location_id"),
    ]
    _, messages = read(answers(units)[1].edifact)
    assert [segment(m, "ERC") for m in messages] == [["Z14"], ["Z14"], ["Z35"]]
    days_before = dict(units.store.days)

    units.master_data.points[(TENANT, "1ESY1161052714")] = MeterPointRecorded.model_construct(
        meter_number="1ESY1161052714", malo_id=MELO
    )
    again = await reprocess(units, processed.interchange.id)
    assert again.interchange is not None and again.days == 1 and again.answers == []  # answered before
    assert [(r.message, r.code) for r in again.interchange.refused] == [("6", "location_unknown"), ("7", "location_id")]
    reference = again.interchange.reference
    assert again.interchange.reprocessed == 1 and f"{reference}/2" in again.interchange.accepted
    assert [key[1] for key in set(units.store.days) - set(days_before)] == ["1ESY1161052714"]  # message 2's meter
    assert len(answers(units)) == 2  # no answer for what was answered before


async def test_what_cannot_be_reprocessed_says_why(units: FakeUnits[FakeReadings]) -> None:
    rejected = await receive(units, BAD_SEGMENT)
    accepted = await receive(units, (CORPUS / "resent_interval.edi").read_bytes())
    assert rejected.interchange is not None and accepted.interchange is not None
    with pytest.raises(handlers.NotReprocessable, match="Syntaxfehler"):
        await reprocess(units, rejected.interchange.id)
    with pytest.raises(handlers.NotReprocessable, match="keine Nachricht abgelehnt"):
        await reprocess(units, accepted.interchange.id)
    with pytest.raises(LookupError):
        await reprocess(units, "00000000-0000-4000-8000-000000000000")


async def test_a_different_file_under_a_reference_used_before_is_rejected_as_a_duplicate(
    units: FakeUnits[FakeReadings],
) -> None:
    first = await receive(units, ONE_LINE)
    days_before = dict(units.store.days)
    other = ONE_LINE.replace(b"QTY+220:0.100", b"QTY+220:0.200")  # another file, the same UNB reference L1
    duplicate = await receive(units, other)
    assert first.interchange is not None and duplicate.interchange is not None
    [contrl] = answers(units)[2:]
    assert (contrl.kind, contrl.accepted, contrl.answered_reference) == ("CONTRL", False, "L1")
    _, [message] = read(contrl.edifact)
    assert segment(message, "UCI") == ["L1", [SENDER, "500"], [NAMED_RECEIVER, "500"], "4", "26", "UNB"]
    assert units.store.days == days_before  # nothing of the duplicate is stored
    assert duplicate.interchange.status == "rejected" and duplicate.interchange.syntax_code == "26"
    assert (duplicate.interchange.sender, duplicate.interchange.reference) == (SENDER, "L1")
    assert edifact_answers.syntax_error_text("26").startswith("Doppelt")
    with pytest.raises(handlers.NotReprocessable, match="Syntaxfehler"):
        await reprocess(units, duplicate.interchange.id)

    assert (await receive(units, other)).interchange is None  # the duplicate delivered again: nothing more
    assert len(answers(units)) == 3
    another_sender = other.replace(SENDER.encode(), b"9900000000004")  # L1 of another sender is its own
    assert (await receive(units, another_sender)).interchange.status == "partly_refused"  # type: ignore[union-attr]
