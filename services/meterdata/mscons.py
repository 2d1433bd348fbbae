"""Read EDIFACT MSCONS interchanges (load profiles and meter readings) into the meter-data contract.

Pure: bytes in, model objects out. No I/O and no logging: readings are personal data, so neither errors
nor reports repeat a reading's value.

Two kinds of error, as CONTRL and APERAK tell them apart:
- a syntax error (the file cannot be split into interchange, messages, segments and elements, or an element does
  not fit its format) raises ``MsconsError`` naming the segment tag, its index (1-based, UNA not counted) and its
  byte offset; nothing of the file is returned;
- an application error (a location that is no valid id of any kind, a load-profile value without a 15-minute
  interval in format 303/304 on the quarter hour, a register reading off the quarter hour or below zero) refuses
  that message only: it is listed in ``refusals`` (message reference, code, reason, segment) and none of its
  values is used; the interchange's other messages are read.
What is readable but not mappable (reactive energy, another unit, a synthetic ``LOC+Z04`` profile, a Netzlokation
or resource instead of a metering point, a location without a known meter, a cancelled message …) is listed in
``unmapped``; accepted deviations from the book (missing UNA, wrong UNT/UNZ counts, local-time offsets, resent
intervals, incomplete days …) in ``warnings``; every message, accepted or not, in ``messages``.

Accepted:
- separators from ``UNA``, the defaults ``:+.? '`` without it; the release character escapes ``+ : ' ?``;
  a decimal point or comma (whichever UNA declares, the other one too: EDIFACT has no thousands mark);
- one-line and multi-line files (line breaks between segments; inside a segment they are dropped with a
  warning); a UTF-8 byte-order mark; several interchanges (UNB…UNZ) and messages (UNH…UNT) per file;
- ``MSCONS:D:04B:UN:<version>`` with the EDI@Energy versions 2.1a … 2.4c and later ones (the D.04B segment
  structure); the Prüfidentifikator from ``RFF+Z13`` is kept per message;
- DTM formats (code list 2379) 102, 106, 203, 204, 303, 304, 602, 610, 616, 718, 719 and 802 wherever they
  appear, each checked as its format says; 303/304 with any offset (``?+00``, ``?+01``, ``?+02``, ``?+0100``)
  are converted to UTC: the autumn day's repeated clock times become 100 distinct intervals;
- ``LOC+172`` with a MaLo or Tranche (11 digits, check digit verified), a 33-character MeLo, a Netzlokation
  (``E…``), a Steuerbare (``C…``) or Technische Ressource (``D…``) — the last three reported as not a
  customer's metering point — or nothing; ``RFF+MG`` (meter number) as a fallback when the caller's master data
  knows no meter for the location;
- OBIS ``1-1:1.29.0``/``2.29.0`` (channel ``1-0`` too, suffix ``*255`` too) → ``LoadProfileDay``;
  ``1.8.0-2``/``2.8.0-2`` → ``RegisterReadings`` (read at DTM+7, else DTM+9, else DTM+164);
- the same interval sent twice (also in a later message): the later one wins.
- STS segments of a value become its status, ``"<category>:<reason>"`` (``STS+Z32++Z92`` → ``"Z32:Z92"``),
  several joined with ``";"``.

Refused whole (``MsconsError``, the only error it raises): no UNB, a truncated file, a message or segment outside
UNB…UNZ/UNH…UNT, another message type or directory (D.96A, EAN00x, other countries' 1.0x, versions before 2.1a),
a malformed segment tag, a date that does not fit its format or a format outside the list above, a date outside
the years 1900 … 2999, a quantity that is not a decimal number (or has too many digits for one), a QTY before
LOC/LIN/PIA.
"""

import itertools
import math
import re
from collections import defaultdict
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from contracts.common import METER_NUMBER_PATTERN
from contracts.meterdata import (
    INTERVAL_CHANNELS,
    REGISTER_CHANNELS,
    LoadProfileDay,
    Quality,
    RegisterReading,
    RegisterReadings,
)
from kit.energy_day import QUARTER_HOUR_SECONDS, day_of_epoch, epoch_bounds
from kit.identifiers import CUSTOMER_LOCATION_KINDS, LocationKind, location_kind, location_problem

MAX_READINGS_PER_MESSAGE = 10_000  # RegisterReadings.readings max_length

# EDI@Energy versions of the D.04B segment structure: 2.1a … 2.4c and the releases after them.
_VERSION = re.compile(r"^(\d+)\.(\d+)([a-z]?)$")
_FIRST_VERSION = (2, 1)
_QUALITIES = {quality.value: quality for quality in Quality}
_TAG = re.compile(r"^[A-Z][A-Z0-9]{2}$")
_NUMBER = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)$")
_F303 = re.compile(r"^(\d{12})([+-])(\d{2})(\d{2})?$")
_F304 = re.compile(r"^(\d{14})([+-])(\d{2})(\d{2})?$")
# Code list 2379 formats without an offset, as the MSCONS AHB versions use them: checked, never an instant.
_PLAIN_FORMATS = {
    "102": re.compile(r"^\d{8}$"),  # CCYYMMDD
    "106": re.compile(r"^\d{4}$"),  # MMDD
    "203": re.compile(r"^\d{12}$"),  # CCYYMMDDHHMM
    "204": re.compile(r"^\d{14}$"),  # CCYYMMDDHHMMSS
    "602": re.compile(r"^\d{4}$"),  # CCYY
    "610": re.compile(r"^\d{6}$"),  # CCYYMM
    "616": re.compile(r"^\d{6}$"),  # CCYYWW
    "718": re.compile(r"^\d{8}-\d{8}$"),  # CCYYMMDD-CCYYMMDD
    "719": re.compile(r"^\d{12}-\d{12}$"),  # CCYYMMDDHHMM-CCYYMMDDHHMM
    "802": re.compile(r"^\d{1,3}$"),  # a number of months
}
_OFFSET_FORMATS = ("303", "304")
_OBIS = re.compile(r"^(\d{1,3})-(\d{1,3}):(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:\*(\d{1,3}))?$")
_METER = re.compile(METER_NUMBER_PATTERN)
_WHITESPACE = " \t\r\n"
# Escaped characters are swapped for a private-use character plus a filler so that offsets stay exact;
# latin-1 text never contains these code points.
_FILLER = "\ue100"
_PLACEHOLDERS = ("\ue000", "\ue001", "\ue002", "\ue003")


@dataclass(frozen=True)
class MessageRefusal:
    """An application error: this message is refused, the interchange's other messages are read.

    ``code`` is stable and free of personal data (for logs and, later, the APERAK error code); ``reason`` says
    what was found and may name a location id."""

    interchange: str  # UNB interchange reference (0020)
    message: str  # UNH message reference (0062): what an APERAK's RFF+ACE answers
    document: str  # BGM document number (1004)
    code: str
    reason: str
    tag: str
    index: int
    offset: int


@dataclass(frozen=True)
class MessageRead:
    """One message of the interchange, accepted or refused: what CONTRL and APERAK answer from."""

    interchange: str
    sender: str  # UNB sender id (market partner id)
    receiver: str
    message: str
    document: str
    version: str  # UNH association-assigned code, e.g. "2.4c"
    pruefidentifikator: str  # RFF+Z13, "" when absent
    accepted: bool


@dataclass(frozen=True)
class ParsedInterchange:
    days: list[LoadProfileDay]  # per (meter, OBIS, Europe/Berlin day); a resent interval: the later one wins
    registers: list[RegisterReadings]  # per (meter, register OBIS), ordered by read_at
    unmapped: list[str]  # what was not mapped and why — reported, not guessed
    warnings: list[str]  # accepted deviations from the book
    messages: list[MessageRead] = field(default_factory=list)
    refusals: list[MessageRefusal] = field(default_factory=list)  # of the refused messages, nothing is used


# Syntax error codes (UN/EDIFACT service code list 0085) that a CONTRL names for the errors this reader finds.
INVALID_VALUE = "12"  # an element's value does not fit its format or is not supported (dates, numbers, versions)
MISSING = "13"  # something the syntax requires is absent (a truncated file, no UNZ, no UNT)
NOT_IN_THIS_POSITION = "15"  # a segment where the structure does not allow it


@dataclass(frozen=True)
class InterchangeHeader:
    """What UNB says: whom a CONTRL or APERAK answers (the sender) and which interchange it refers to."""

    sender: str  # S002 0004, the sender's market partner id
    receiver: str  # S003 0010
    reference: str  # 0020, the interchange control reference


class MsconsError(ValueError):
    """A syntax error: the file cannot be read; nothing of it is used.

    Besides the position (``tag``, ``index`` in the file, byte ``offset``) it carries what a CONTRL needs: the
    syntax error ``code`` (0085), the ``header`` of the interchange it occurred in (None before UNB was read),
    and, inside a message, its reference, its type (``MSCONS:D:04B:UN:2.4c``) and the segment's position in it
    (UNH = 1)."""

    def __init__(
        self,
        what: str,
        *,
        tag: str | None = None,
        index: int | None = None,
        offset: int | None = None,
        code: str = INVALID_VALUE,
    ):
        self.what, self.tag, self.index, self.offset, self.code = what, tag, index, offset, code
        self.header: InterchangeHeader | None = None
        self.message: str | None = None
        self.message_type: str | None = None
        self.position: int | None = None
        where = f"{tag + ' at ' if tag else ''}segment {index}, byte {offset}: " if index is not None else ""
        super().__init__(where + what)


class _MessageRefused(Exception):
    """An application error inside a message (never leaves the reader: it becomes a MessageRefusal)."""

    def __init__(self, segment: "_Segment", code: str, reason: str) -> None:
        super().__init__(reason)
        self.segment, self.code, self.reason = segment, code, reason


@dataclass(slots=True)
class _Segment:
    tag: str
    elements: list[list[str]]  # elements[0] == [tag]; escaped characters still as placeholders
    index: int
    offset: int
    restore: dict[int, str | None]  # placeholder → character, resolved when a component is read

    def get(self, element: int, component: int = 0) -> str:
        """A component, or "" where the segment leaves it out (EDIFACT omits trailing empty parts)."""
        if element < len(self.elements):
            parts = self.elements[element]
            if component < len(parts):
                part = parts[component]
                return part.translate(self.restore) if _FILLER in part else part
        return ""

    def error(self, what: str, code: str = INVALID_VALUE) -> MsconsError:
        return MsconsError(what, tag=self.tag, index=self.index, offset=self.offset, code=code)

    def refuse(self, code: str, reason: str) -> _MessageRefused:
        return _MessageRefused(self, code, reason)


@dataclass(frozen=True)
class _Syntax:
    component: str = ":"
    element: str = "+"
    decimal: str = "."
    release: str = "?"
    terminator: str = "'"


def _tokenize(data: bytes, warnings: dict[str, int]) -> tuple[_Syntax, Iterator[_Segment]]:
    """Service string and terminator are checked at once; segments are split as they are read, so that they
    die young (a list of all of them would make the garbage collector scan them again and again)."""
    # latin-1 maps every byte to one character: string offsets are byte offsets, and decoding never fails.
    text = data.decode("latin-1")
    pos = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    while pos < len(text) and text[pos] in _WHITESPACE:
        pos += 1
    if text.startswith("UNA", pos):
        if len(text) < pos + 9:
            raise MsconsError("the UNA service string needs six characters", tag="UNA", index=0, offset=pos)
        comp, elem, dec, rel, term = (text[pos + i] for i in (3, 4, 5, 6, 8))  # 7 is reserved
        release = "" if rel == " " else rel
        declared = [c for c in (comp, elem, term, release) if c]
        if len(set(declared)) != len(declared) or dec not in ".,":
            raise MsconsError("UNA declares a separator twice or a decimal mark other than . or ,", tag="UNA",
                              index=0, offset=pos)  # fmt: skip
        syntax = _Syntax(comp, elem, dec, release, term)
        pos += 9
    else:
        syntax = _Syntax()
        warnings["no UNA service string: the default separators :+.? ' apply"] = 1
    body = text[pos:]
    restore: dict[int, str | None] = {}
    if syntax.release:
        rel = syntax.release
        for placeholder, char in zip(_PLACEHOLDERS, (rel, syntax.element, syntax.component, syntax.terminator),
                                     strict=True):  # fmt: skip
            # "??" first: a run of release characters pairs up from the left, as a sequential scan would.
            body = body.replace(rel + char, placeholder + _FILLER)
            restore[ord(placeholder)] = char
        if rel in body:
            # A release character before an ordinary character: the next character is taken as it is.
            body = re.sub(re.escape(rel) + "(.)", _FILLER + r"\1", body, flags=re.DOTALL)
            if body.endswith(rel):
                raise MsconsError(
                    "the file ends with a release character: it is truncated", offset=len(text) - 1, code=MISSING
                )
        restore[ord(_FILLER)] = None
    parts = body.split(syntax.terminator)
    if parts[-1].strip(_WHITESPACE):
        tail = parts[-1].lstrip(_WHITESPACE)
        raise MsconsError(
            f"{tail[:3]!r} does not end with the segment terminator {syntax.terminator!r}: the file is truncated",
            index=len(parts),
            offset=len(text) - len(tail),
            code=MISSING,
        )
    return syntax, _segments(parts, pos, syntax, restore, warnings)


def _segments(
    parts: list[str], pos: int, syntax: _Syntax, restore: dict[int, str | None], warnings: dict[str, int]
) -> Iterator[_Segment]:
    elem, comp = syntax.element, syntax.component
    broken_lines = 0
    tags: set[str] = set()  # checked once per distinct tag
    for number, part in enumerate(parts[:-1], start=1):
        raw = part.lstrip(_WHITESPACE)
        offset = pos + len(part) - len(raw)
        pos += len(part) + 1
        if "\n" in raw or "\r" in raw:
            raw = raw.replace("\r", "").replace("\n", "")
            broken_lines += 1
        elements = [e.split(comp) for e in raw.split(elem)]
        tag = elements[0][0]
        if tag not in tags or len(elements[0]) != 1:
            if not _TAG.match(tag) or len(elements[0]) != 1:
                shown = elem.join(comp.join(e) for e in elements).translate(restore)[:12]
                what = f"{shown!r} does not start with a segment tag" if shown else "an empty segment"
                raise MsconsError(what, index=number, offset=offset)
            tags.add(tag)
        yield _Segment(tag, elements, number, offset, restore)
    if broken_lines:
        warnings[f"line breaks inside {broken_lines} segment(s) were dropped"] = 1


@dataclass(slots=True)
class _Qty:
    segment: _Segment
    qualifier: str
    value: float | None
    unit: str
    start: int | None = None
    end: int | None = None
    used_at: int | None = None  # DTM+7 Nutzungszeitpunkt
    read_on: int | None = None  # DTM+9 Ablesedatum
    status: list[str] = field(default_factory=list)
    untimed: _Segment | None = None  # a DTM+163/164 in a format without offset (refused for a load profile)


@dataclass(slots=True)
class _Series:
    obis: str  # as given (for reports) until classified
    kind: str | None = None  # "profile", "register" or None (unmapped)
    reason: str | None = None
    unit: str = ""  # from MEA, if any


@dataclass(slots=True)
class _Location:
    qualifier: str
    id: str | None
    kind: LocationKind | None = None
    meter_ref: str | None = None  # RFF+MG
    period: tuple[int, int] | None = None  # DTM+163/164 in format 303
    read_at: int | None = None  # DTM+7/9 in format 303
    resolved: bool = False
    meter: str | None = None
    reason: str | None = None
    segment: _Segment | None = None  # the LOC segment: where an APERAK points for an unknown location

    def label(self) -> str:
        return f"location {self.id}" if self.id else f"LOC+{self.qualifier} without id"


class _Reader:
    def __init__(
        self,
        syntax: _Syntax,
        meter_for_location: Callable[[str], str | None],
        warnings: dict[str, int],
        refuse_unknown_locations: bool = False,
        skip_messages: Collection[tuple[str, str]] = (),
    ) -> None:
        self.syntax = syntax
        self.meter_for_location = meter_for_location
        self.refuse_unknown_locations = refuse_unknown_locations
        self.skip_messages = skip_messages
        self.warnings = warnings
        self.unmapped: dict[str, int] = {}
        # (meter, obis) → interval start (UTC epoch) → (value, quality, status); dict order = arrival
        self.profiles: dict[tuple[str, str], dict[int, tuple[float | None, Quality, str | None]]] = defaultdict(dict)
        self.coverage: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
        self.resent: dict[tuple[str, str], int] = defaultdict(int)
        self.registers: dict[tuple[str, str], dict[int, tuple[float, Quality]]] = defaultdict(dict)
        self.times: dict[str, tuple[int, int]] = {}  # 303 text → (epoch, offset minutes): ends repeat as starts
        self.times_304: dict[str, tuple[int, int]] = {}
        self.day_epochs: dict[str, int] = {}
        self.offsets: set[int] = set()
        self.other_decimal = 0
        self.in_interchange = False
        self.interchange_ref = self.sender = self.receiver = ""
        self.messages = 0
        self.message: str | None = None  # UNH reference while a message is open
        self.unh_index = 0  # the open message's UNH, as an index in the file
        self.message_segments = 0
        self.cancelled = False
        self.document = self.version = self.pruefidentifikator = ""
        self.refused: _MessageRefused | None = None  # the open message's application error: the rest is skipped
        # A message's values wait here until its UNT: a refused message leaves nothing behind.
        self.pending_profiles: list[tuple[tuple[str, str], int, tuple[float | None, Quality, str | None]]] = []
        self.pending_coverage: list[tuple[tuple[str, str], tuple[int, int]]] = []
        self.pending_registers: list[tuple[tuple[str, str], int, tuple[float, Quality]]] = []
        self.pending_unmapped: dict[str, int] = {}
        self.read_messages: list[MessageRead] = []
        self.refusals: list[MessageRefusal] = []
        self.location: _Location | None = None
        self.series: _Series | None = None
        self.qty: _Qty | None = None

    # ---------------------------------------------------------------- segments

    def read(self, segments: Iterator[_Segment]) -> None:
        try:
            self.read_segments(segments)
        except MsconsError as error:
            # What a CONTRL answers: the interchange (once UNB is read) and, inside a message, where in it.
            if self.sender or self.interchange_ref:
                error.header = InterchangeHeader(self.sender, self.receiver, self.interchange_ref)
            if self.message is not None and error.index is not None:
                error.message, error.message_type = self.message, f"MSCONS:D:04B:UN:{self.version}"
                error.position = error.index - self.unh_index + 1
            raise

    def read_segments(self, segments: Iterator[_Segment]) -> None:
        first = next(segments, None)
        if first is None:
            raise MsconsError("the file holds no segment", code=MISSING)
        if first.tag != "UNB":
            raise first.error("an interchange starts with UNB", MISSING)
        last = first
        for seg in itertools.chain((first,), segments):
            last = seg
            tag = seg.tag
            if self.message is not None and tag not in ("UNH", "UNT", "UNZ", "UNB"):
                self.message_segments += 1
                if self.refused is not None:
                    continue
                try:
                    # The value group (SG10: QTY, DTM, STS) is the hot path: most segments of a file are here.
                    if tag == "DTM":
                        self.dtm(seg)
                    elif tag == "QTY":
                        self.close_qty()
                        self.open_qty(seg)
                    elif tag == "STS":
                        if self.qty is not None:
                            self.qty.status.append(f"{seg.get(1)}:{seg.get(3)}")
                    else:
                        self.close_qty()
                        self.body_segment(seg)
                except _MessageRefused as refused:
                    self.refused = refused
            elif tag == "UNB":
                self.unb(seg)
            elif tag == "UNZ":
                self.unz(seg)
            elif tag == "UNH":
                self.unh(seg)
            elif tag == "UNT":
                self.unt(seg)
            elif tag in ("UNG", "UNE") and self.in_interchange:
                continue  # functional groups carry nothing we use
            else:
                where = "a message (UNH … UNT)" if self.in_interchange else "an interchange (UNB … UNZ)"
                raise seg.error(f"stands outside {where}", NOT_IN_THIS_POSITION)
        if self.in_interchange:
            raise MsconsError("the file ends without UNZ: it is truncated", tag=last.tag, index=last.index,
                              offset=last.offset, code=MISSING)  # fmt: skip

    def unb(self, seg: _Segment) -> None:
        if self.in_interchange:
            raise seg.error("a new interchange starts before UNZ closed the previous one", MISSING)
        if not seg.get(1).startswith("UNO"):
            raise seg.error(f"syntax identifier {seg.get(1)!r} is not an EDIFACT UNOx character set")
        self.in_interchange, self.interchange_ref, self.messages = True, seg.get(5), 0
        self.sender, self.receiver = seg.get(2), seg.get(3)

    def unz(self, seg: _Segment) -> None:
        if self.message is not None:
            raise seg.error(f"UNZ before UNT closed message {self.message}: the message is truncated", MISSING)
        if not self.in_interchange:
            raise seg.error("UNZ without UNB", NOT_IN_THIS_POSITION)
        if seg.get(1) != str(self.messages):
            self.warn(f"UNZ counts {seg.get(1)!r} messages, the interchange holds {self.messages}")
        if seg.get(2) != self.interchange_ref:
            self.warn("UNZ names another interchange reference than UNB")
        self.in_interchange = False

    def unh(self, seg: _Segment) -> None:
        if self.message is not None:
            raise seg.error(f"UNH before UNT closed message {self.message}: the message is truncated", MISSING)
        if not self.in_interchange:
            raise seg.error("UNH outside an interchange (UNB … UNZ)", NOT_IN_THIS_POSITION)
        kind, version, release, agency, association = (seg.get(2, i) for i in range(5))
        if kind != "MSCONS":
            raise seg.error(f"message type {kind!r} is not MSCONS")
        numbered = _VERSION.match(association)
        if (version, release, agency) != ("D", "04B", "UN") or not (
            numbered and (int(numbered.group(1)), int(numbered.group(2))) >= _FIRST_VERSION
        ):
            raise seg.error(
                f"MSCONS {version}:{release}:{agency}:{association} is not read "
                "(read: directory D:04B:UN, EDI@Energy versions 2.1a … 2.4c and later)"
            )
        self.message, self.message_segments, self.cancelled, self.unh_index = seg.get(1), 1, False, seg.index
        self.version, self.document, self.pruefidentifikator, self.refused = association, "", "", None
        self.location = self.series = self.qty = None

    def unt(self, seg: _Segment) -> None:
        if self.message is None:
            raise seg.error("UNT without UNH", NOT_IN_THIS_POSITION)
        if self.refused is None:
            try:
                self.close_qty()
            except _MessageRefused as refused:
                self.refused = refused
        self.message_segments += 1
        if seg.get(1) != str(self.message_segments):
            self.warn(f"UNT of message {self.message} counts {seg.get(1)!r} segments, it has {self.message_segments}")
        if seg.get(2) != self.message:
            self.warn(f"UNT names message {seg.get(2)!r}, UNH {self.message!r}")
        self.end_message()
        self.message = None
        self.messages += 1
        self.location = self.series = None

    def end_message(self) -> None:
        """The message's values are kept if it was read without an application error, else dropped whole."""
        assert self.message is not None
        refused = self.refused
        if refused is None and (self.interchange_ref, self.message) in self.skip_messages:
            pass  # stored before (a reprocessed interchange): its values are not applied again
        elif refused is None:
            for key, start, value in self.pending_profiles:
                intervals = self.profiles[key]
                if start in intervals:
                    self.resent[key] += 1
                    del intervals[start]  # re-insert: arrival order stays the order of winning values
                intervals[start] = value
            for key, period in self.pending_coverage:
                self.coverage[key].append(period)
            for key, read_at, reading in self.pending_registers:
                self.registers[key][read_at] = reading
            for text, count in self.pending_unmapped.items():
                self.unmapped[text] = self.unmapped.get(text, 0) + count
        else:
            where = refused.segment
            self.refusals.append(
                MessageRefusal(
                    self.interchange_ref,
                    self.message,
                    self.document,
                    refused.code,
                    refused.reason,
                    where.tag,
                    where.index,
                    where.offset,
                )
            )
        self.read_messages.append(
            MessageRead(
                self.interchange_ref,
                self.sender,
                self.receiver,
                self.message,
                self.document,
                self.version,
                self.pruefidentifikator,
                accepted=refused is None,
            )
        )
        self.pending_profiles, self.pending_coverage, self.pending_registers = [], [], []
        self.pending_unmapped = {}
        self.refused = self.qty = None

    def body_segment(self, seg: _Segment) -> None:
        tag = seg.tag
        if tag == "LIN":
            if self.location is None:
                raise seg.error("LIN before a location (LOC)", NOT_IN_THIS_POSITION)
            self.series = _Series(obis="")
        elif tag == "PIA":
            if seg.get(1) == "5" and self.series is not None:
                self.classify(seg)
        elif tag == "MEA":
            if self.series is not None:
                self.series.unit = seg.get(3)
        elif tag == "LOC":
            self.loc(seg)
        elif tag == "NAD":
            if seg.get(1) == "DP":
                self.location = self.series = None
        elif tag == "RFF":
            qualifier = seg.get(1)
            if qualifier == "MG" and self.location is not None and self.series is None:
                self.location.meter_ref = seg.get(1, 1)
            elif qualifier == "Z13" and self.location is None:
                self.pruefidentifikator = seg.get(1, 1)
        elif tag == "BGM":
            # Message function 1 is a cancellation (Storno): its values must not be applied.
            self.cancelled = seg.get(3) == "1"
            self.document = seg.get(2)
        # UNS, CTA, COM, CCI, CAV, IMD, PRI, MOA, SEQ …: nothing that changes a value.

    def loc(self, seg: _Segment) -> None:
        qualifier, location_id = seg.get(1), seg.get(2)
        kind = None
        if qualifier == "172" and location_id:
            kind = location_kind(location_id)
            if kind is None:
                raise seg.refuse("location_id", location_problem(location_id))
        self.location = _Location(qualifier, location_id or None, kind, segment=seg)
        self.series = None

    def classify(self, seg: _Segment) -> None:
        assert self.series is not None
        raw = seg.get(2)
        series = self.series
        series.obis = raw
        match = _OBIS.match(raw)
        if match is None:
            series.reason = "the OBIS code is not understood"
            return
        medium, channel, quantity, kind, tariff, history = match.groups()
        normalised = f"1-1:{int(quantity)}.{int(kind)}.{int(tariff)}"
        if int(medium) != 1:
            series.reason = f"medium {medium} is not electricity"
        elif int(channel) not in (0, 1):
            series.reason = f"channel {channel} is not mapped (only 1-0 and 1-1)"
        elif history not in (None, "255"):
            series.reason = f"historical values (*{history}) are not mapped"
        elif normalised in INTERVAL_CHANNELS:
            series.obis, series.kind = normalised, "profile"
        elif normalised in REGISTER_CHANNELS:
            series.obis, series.kind = normalised, "register"
        elif int(quantity) in (3, 4):
            series.reason = "reactive energy (kvarh) is not mapped"
        else:
            series.reason = "this OBIS code is not mapped"

    # ---------------------------------------------------------------- values

    def open_qty(self, seg: _Segment) -> None:
        if self.location is None or self.series is None or not self.series.obis:
            raise seg.error(
                "QTY before its location (LOC) and series (LIN, PIA+5 with an OBIS code)", NOT_IN_THIS_POSITION
            )
        qualifier, text, unit = seg.get(1), seg.get(1, 1), seg.get(1, 2)
        if not _NUMBER.match(text) and not (qualifier == Quality.MISSING and not text):
            raise seg.error("the quantity is not a decimal number")
        if self.syntax.decimal not in text and ("," in text or "." in text):
            self.other_decimal += 1
        value = float(text.replace(",", ".")) if qualifier != Quality.MISSING else None
        if value is not None and not math.isfinite(value):  # 400 digits are a float's infinity
            raise seg.error("the quantity has too many digits")
        self.qty = _Qty(seg, qualifier, value, unit)

    def dtm(self, seg: _Segment) -> None:
        qualifier, text, fmt = seg.get(1), seg.get(1, 1), seg.get(1, 2)
        qty = self.qty
        if qty is not None:
            if qualifier not in ("163", "164", "7", "9"):
                return
            if fmt == "303":
                epoch = self.epoch_303(seg, text)
            elif fmt == "304":
                epoch = self.epoch_304(seg, text)
            else:
                self.plain_date(seg, text, fmt)
                qty.untimed = seg
                return
            if qualifier == "163":
                qty.start = epoch
            elif qualifier == "164":
                qty.end = epoch
            elif qualifier == "7":
                qty.used_at = epoch
            else:
                qty.read_on = epoch
            return
        # Header (137, 293 …) or location level (163/164 period, 7/9 reading date): every format appears here.
        instant: int | None = None  # formats without an offset are checked, but not usable as an instant
        if fmt == "303":
            instant = self.epoch_303(seg, text)
        elif fmt == "304":
            instant = self.epoch_304(seg, text)
        else:
            self.plain_date(seg, text, fmt)
        location = self.location
        if location is None or self.series is not None or instant is None:
            return
        if qualifier == "163":
            location.period = (instant, location.period[1] if location.period else instant)
        elif qualifier == "164":
            location.period = (location.period[0] if location.period else instant, instant)
        elif qualifier in ("7", "9") and (location.read_at is None or qualifier == "7"):
            location.read_at = instant

    def close_qty(self) -> None:
        qty = self.qty
        if qty is None:
            return
        self.qty = None
        location, series = self.location, self.series
        assert location is not None and series is not None
        where = f"{location.label()}, {series.obis}"
        seg = qty.segment
        if series.kind == "profile" and location.qualifier == "172":
            # An application error even where the location is not mapped: the sender must hear of it.
            if qty.untimed is not None:
                raise qty.untimed.refuse(
                    "interval_format", "a load-profile value's interval needs format 303 or 304 (with offset)"
                )
            if qty.start is None or qty.end is None:
                raise seg.refuse("interval_missing", "a load-profile value needs DTM+163 and DTM+164")
            if qty.end - qty.start != QUARTER_HOUR_SECONDS:
                raise seg.refuse(
                    "interval_length", f"interval of {(qty.end - qty.start) / 60:g} minutes: load profiles have 15"
                )
            if qty.start % QUARTER_HOUR_SECONDS:
                raise seg.refuse("interval_start", "the interval does not start on the quarter hour")
        if self.cancelled:
            self.report(f"message {self.message} is a cancellation (BGM function 1): not applied")
            return
        if series.kind is None:
            self.report(f"{where}: {series.reason}")
            return
        meter = self.meter(location)
        if meter is None:
            self.report(f"{location.reason} ({series.obis})")
            return
        unit = qty.unit or series.unit
        if unit and unit.upper() != "KWH":
            self.report(f"{where}: unit {unit!r} is not mapped (only KWH)")
            return
        quality = _QUALITIES.get(qty.qualifier)
        if quality is None:
            self.report(f"{where}: value qualifier {qty.qualifier!r} is not mapped")
            return
        if series.kind == "profile":
            assert qty.start is not None
            key = (meter, series.obis)
            status = ";".join(qty.status) if qty.status else None
            self.pending_profiles.append((key, qty.start, (qty.value, quality, status)))
            if location.period is not None and location.period[1] > location.period[0]:
                self.pending_coverage.append((key, location.period))
            return
        read_at = next((t for t in (qty.used_at, qty.read_on, qty.end, location.read_at) if t is not None), None)
        if read_at is None:
            self.report(f"{where}: a register reading without a time of day (format 303) is not mapped")
            return
        if read_at % QUARTER_HOUR_SECONDS:
            raise seg.refuse("reading_time", "a register reading must be taken on the quarter hour")
        if quality is Quality.MISSING or qty.value is None:
            self.report(f"{where}: a missing register reading (Z30) has no value to map")
            return
        if qty.value < 0:
            raise seg.refuse("reading_negative", "a register reading cannot be negative")
        self.pending_registers.append(((meter, series.obis), read_at, (qty.value, quality)))

    def meter(self, location: _Location) -> str | None:
        if location.resolved:
            return location.meter
        location.resolved = True
        if location.qualifier == "Z04":
            location.reason = f"LOC+Z04 {location.id or ''}: a profile, not a meter's readings"
            return None
        if location.qualifier != "172":
            location.reason = f"LOC+{location.qualifier}: only LOC+172 locations are mapped"
            return None
        if location.kind is not None and location.kind not in CUSTOMER_LOCATION_KINDS:
            location.reason = f"{location.label()} is a {location.kind}: not a customer's metering point"
            return None
        meter = self.meter_for_location(location.id) if location.id else None
        reference = (location.meter_ref or "").replace(" ", "").upper()
        if meter is not None:
            meter = meter.replace(" ", "").upper()
            if not _METER.match(meter):
                location.reason = f"the meter number master data gives for {location.label()} is not valid"
                return None
            if reference and reference != meter:
                self.warn(f"{location.label()}: RFF+MG names another meter than master data; master data wins")
        elif _METER.match(reference):
            meter = reference
            if location.id:
                self.warn(f"{location.label()}: no meter in master data, the meter number from RFF+MG is used")
        else:
            location.reason = (
                f"no meter known for {location.label()}" if location.id else "no location id and no meter number"
            )
            if self.refuse_unknown_locations and location.id and location.segment is not None:
                # A metering point the operator's master data does not know: the sender hears of it (APERAK), and
                # the message can be processed again once master data arrives.
                raise location.segment.refuse("location_unknown", location.reason)
            return None
        location.meter = meter
        return meter

    # ---------------------------------------------------------------- times

    def epoch_303(self, seg: _Segment, text: str) -> int:
        known = self.times.get(text)
        if known is None:
            known = self.times[text] = self.with_offset(seg, text, _F303, "303 time (CCYYMMDDHHMM")
        if known[1]:
            self.offsets.add(known[1])
        return known[0]

    def epoch_304(self, seg: _Segment, text: str) -> int:
        known = self.times_304.get(text)
        if known is None:
            known = self.times_304[text] = self.with_offset(seg, text, _F304, "304 time (CCYYMMDDHHMMSS")
        if known[1]:
            self.offsets.add(known[1])
        return known[0]

    def with_offset(self, seg: _Segment, text: str, pattern: re.Pattern[str], shape: str) -> tuple[int, int]:
        """(UTC epoch, offset minutes) of a format 303/304 time; a wrong shape is a syntax error."""
        match = pattern.match(text)
        if match is None:
            raise seg.error(f"{text!r} is not a format {shape} with offset ?+HH)")
        clock, sign, hours, minutes = match.groups()
        offset = (int(hours) * 60 + int(minutes or 0)) * (-1 if sign == "-" else 1)
        if abs(offset) > 14 * 60:
            raise seg.error(f"offset {sign}{hours}{minutes or ''} is out of range")
        base = self.day_epoch(seg, clock[:8]) + self.check_clock(seg, clock)
        return base - offset * 60, offset

    def plain_date(self, seg: _Segment, text: str, fmt: str) -> None:
        """A date in a format without offset: checked as its format says (a syntax error if it does not fit)."""
        pattern = _PLAIN_FORMATS.get(fmt)
        if pattern is None:
            raise seg.error(f"DTM format {fmt!r} is not read (code list 2379: 102, 106, 203, 204, 303, 304, 602, "
                            "610, 616, 718, 719, 802)")  # fmt: skip
        if not pattern.match(text):
            raise seg.error(f"{text!r} is not a date in format {fmt}")
        if fmt in ("102", "203", "204"):
            self.day_epoch(seg, text[:8])
            if fmt != "102":
                self.check_clock(seg, text)
        elif fmt in ("718", "719"):
            for part in text.split("-"):
                self.day_epoch(seg, part[:8])
                if fmt == "719":
                    self.check_clock(seg, part)
        elif fmt in ("602", "610", "616"):
            if not _YEARS[0] <= int(text[:4]) <= _YEARS[1]:
                raise seg.error(f"{text!r} lies outside the years {_YEARS[0]} … {_YEARS[1]}")
            if (fmt == "610" and not 1 <= int(text[4:]) <= 12) or (fmt == "616" and not 1 <= int(text[4:]) <= 53):
                raise seg.error(f"{text!r} is not a date in format {fmt}")
        elif fmt == "106":
            try:
                date(2000, int(text[:2]), int(text[2:]))  # a leap year: 0229 is a valid MMDD
            except ValueError:
                raise seg.error(f"{text!r} is not a date in format 106 (MMDD)") from None

    def day_epoch(self, seg: _Segment, text: str) -> int:
        known = self.day_epochs.get(text)
        if known is None:
            try:
                day = date(int(text[:4]), int(text[4:6]), int(text[6:8]))
            except ValueError:
                raise seg.error(f"{text!r} is not a calendar date") from None
            if not _YEARS[0] <= day.year <= _YEARS[1]:
                # At the calendar's ends, an offset or 24:00 would leave the years datetime can hold.
                raise seg.error(f"{text!r} lies outside the years {_YEARS[0]} … {_YEARS[1]}")
            known = (day.toordinal() - _EPOCH_ORDINAL) * 86_400
            self.day_epochs[text] = known
        return known

    @staticmethod
    def check_clock(seg: _Segment, text: str) -> int:
        """Seconds since midnight of CCYYMMDDHHMM[SS]."""
        hour, minute, second = int(text[8:10]), int(text[10:12]), int(text[12:14] or 0)
        # 24:00 is how some senders write the end of a day.
        if minute > 59 or second > 59 or hour > 24 or (hour == 24 and (minute or second)):
            raise seg.error(f"{text!r} is not a time of day")
        return hour * 3600 + minute * 60 + second

    # ---------------------------------------------------------------- reports

    def warn(self, text: str) -> None:
        self.warnings[text] = self.warnings.get(text, 0) + 1

    def report(self, text: str) -> None:
        self.pending_unmapped[text] = self.pending_unmapped.get(text, 0) + 1


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_YEARS = (1900, 2999)  # what a meter's readings can carry, and far inside datetime's 1 … 9999


def _build_days(reader: _Reader, warnings: list[str]) -> list[LoadProfileDay]:
    days: list[LoadProfileDay] = []
    for (meter, obis), intervals in sorted(reader.profiles.items()):
        by_day: dict[date, list[int]] = defaultdict(list)
        for start in intervals:
            by_day[day_of_epoch(start)].append(start)
        coverage = reader.coverage.get((meter, obis), [])
        for day in sorted(by_day):
            first, slots = epoch_bounds(day)
            values: list[float | None] = [None] * slots
            qualities = [Quality.MISSING] * slots
            status: list[str | None] = [None] * slots
            for start in by_day[day]:
                slot = (start - first) // QUARTER_HOUR_SECONDS
                values[slot], qualities[slot], status[slot] = intervals[start]
            missing = slots - len(by_day[day])
            if missing:
                declared = any(a <= first and first + slots * QUARTER_HOUR_SECONDS <= b for a, b in coverage)
                what = "although the message declares the whole day" if declared else "(a partial day)"
                warnings.append(f"meter {meter}, {obis}, {day}: {missing} of {slots} intervals missing {what}: Z30")
            days.append(
                LoadProfileDay(
                    meter_number=meter,
                    obis=obis,
                    day=day,
                    values=tuple(values),
                    qualities=tuple(qualities),
                    status=tuple(status) if any(s is not None for s in status) else None,
                )
            )
        if reader.resent.get((meter, obis)):
            warnings.append(
                f"meter {meter}, {obis}: {reader.resent[(meter, obis)]} interval(s) sent again; the later value wins"
            )
    return days


def _build_registers(reader: _Reader) -> list[RegisterReadings]:
    result: list[RegisterReadings] = []
    for (meter, obis), readings in sorted(reader.registers.items()):
        ordered = [
            RegisterReading(read_at=datetime.fromtimestamp(at, UTC), value=value, quality=quality)
            for at, (value, quality) in sorted(readings.items())
        ]
        for chunk in range(0, len(ordered), MAX_READINGS_PER_MESSAGE):
            result.append(
                RegisterReadings(
                    meter_number=meter, obis=obis, readings=tuple(ordered[chunk : chunk + MAX_READINGS_PER_MESSAGE])
                )
            )
    return result


def _offset_text(minutes: int) -> str:
    return f"{'-' if minutes < 0 else '+'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def parse_mscons(
    data: bytes,
    *,
    meter_for_location: Callable[[str], str | None] = lambda location: None,
    refuse_unknown_locations: bool = False,
    skip_messages: Collection[tuple[str, str]] = (),
) -> ParsedInterchange:
    """Read one MSCONS file. ``meter_for_location`` maps a MaLo/MeLo to its meter number (master data).

    ``refuse_unknown_locations``: a MaLo/MeLo that ``meter_for_location`` does not know (and no RFF+MG names a
    meter for) refuses its message (code ``location_unknown``) instead of being reported as not mapped — what
    the service does with the operator's master data; the import command, without it, only reports it.
    ``skip_messages``: (interchange reference, message reference) of messages stored before: read and listed,
    but their values are not returned again.

    Raises ``MsconsError`` for anything it cannot read; then nothing of the file is returned."""
    counted_warnings: dict[str, int] = {}
    syntax, segments = _tokenize(data, counted_warnings)
    reader = _Reader(syntax, meter_for_location, counted_warnings, refuse_unknown_locations, skip_messages)
    reader.read(segments)
    warnings = [text if count == 1 else f"{text} ({count}×)" for text, count in reader.warnings.items()]
    if reader.offsets:
        shown = ", ".join(_offset_text(minutes) for minutes in sorted(reader.offsets))
        warnings.append(f"times with offset {shown} (local time) converted to UTC")
    if reader.other_decimal:
        warnings.append(f"{reader.other_decimal} value(s) use another decimal mark than UNA declares")
    days = _build_days(reader, warnings)
    registers = _build_registers(reader)
    unmapped = [f"{text} — {count} value(s)" for text, count in reader.unmapped.items()]
    return ParsedInterchange(
        days=days,
        registers=registers,
        unmapped=unmapped,
        warnings=warnings,
        messages=reader.read_messages,
        refusals=reader.refusals,
    )


def read_header(data: bytes) -> InterchangeHeader | None:
    """The first UNB of a file that may not be readable as a whole (to answer a syntax error to its sender): None
    when there is no UNB with a sender and a reference before the first segment terminator."""
    text = data.decode("latin-1")
    pos = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    while pos < len(text) and text[pos] in _WHITESPACE:
        pos += 1
    syntax = _Syntax()
    if text.startswith("UNA", pos) and len(text) >= pos + 9:
        comp, elem, rel, term = (text[pos + i] for i in (3, 4, 6, 8))
        syntax = _Syntax(comp, elem, ".", "" if rel == " " else rel, term)
        pos += 9
    elements: list[list[str]] = [[""]]
    index = pos
    while index < len(text):
        char = text[index]
        if syntax.release and char == syntax.release and index + 1 < len(text):
            index += 1
            elements[-1][-1] += text[index]
        elif char == syntax.terminator:
            break
        elif char == syntax.element:
            elements.append([""])
        elif char == syntax.component:
            elements[-1].append("")
        elif char not in "\r\n":
            elements[-1][-1] += char
        index += 1
    else:
        return None  # no terminator: not even UNB is whole

    def part(element: int) -> str:
        return elements[element][0].strip() if element < len(elements) else ""

    if part(0) != "UNB" or not part(2) or not part(5):
        return None
    return InterchangeHeader(part(2), part(3), part(5))
