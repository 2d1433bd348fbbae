"""Read EDIFACT MSCONS interchanges (load profiles and meter readings) into the meter-data contract.

Pure: bytes in, model objects out. No I/O and no logging: readings are personal data, so neither errors
nor reports repeat a reading's value.

All or nothing per file: the first bad segment raises ``MsconsError`` naming the segment tag, its index
(1-based, UNA not counted) and its byte offset, and nothing of the file is returned. What is readable but
not mappable (reactive energy, another unit, a synthetic ``LOC+Z04`` profile, a location without a known
meter, a cancelled message …) is listed in ``unmapped``; accepted deviations from the book (missing UNA,
wrong UNT/UNZ counts, local-time offsets, resent intervals, incomplete days …) in ``warnings``.

Accepted:
- separators from ``UNA``, the defaults ``:+.? '`` without it; the release character escapes ``+ : ' ?``;
  a decimal point or comma (whichever UNA declares, the other one too: EDIFACT has no thousands mark);
- one-line and multi-line files (line breaks between segments; inside a segment they are dropped with a
  warning); a UTF-8 byte-order mark; several interchanges (UNB…UNZ) and messages (UNH…UNT) per file;
- ``MSCONS:D:04B:UN:<2.2x | 2.3x | 2.4 | 2.4a | 2.4b | 2.4c>`` (the D.04B segment structure);
- times in format 303 with any offset (``?+00``, ``?+01``, ``?+02``, ``?+0100``), converted to UTC: the
  autumn day's repeated clock times become 100 distinct intervals; headers may use 102/203;
- ``LOC+172`` with a MaLo (check digit verified), a 33-character MeLo or nothing; ``RFF+MG`` (meter number)
  as a fallback when the caller's master data knows no meter for the location;
- OBIS ``1-1:1.29.0``/``2.29.0`` (channel ``1-0`` too, suffix ``*255`` too) → ``LoadProfileDay``;
  ``1.8.0-2``/``2.8.0-2`` → ``RegisterReadings`` (read at DTM+7, else DTM+9, else DTM+164);
- the same interval sent twice (also in a later message): the later one wins.
- STS segments of a value become its status, ``"<category>:<reason>"`` (``STS+Z32++Z92`` → ``"Z32:Z92"``),
  several joined with ``";"``.

Refused (``MsconsError``, the only error it raises): no UNB, a truncated file, a message or segment outside
UNB…UNZ/UNH…UNT, another message type, directory or version (D.04B 2.5, 2.1x, other countries' 1.0x, EAN00x), a
malformed segment tag or date, a date outside the years 1900 … 2999, a quantity that is not a decimal number (or
has too many digits for one), a MaLo with a wrong check digit or a location id that is neither MaLo nor MeLo, a
QTY before LOC/LIN/PIA, a load-profile value without a 15-minute DTM+163/DTM+164 interval on the quarter hour (or
in format 102/203, which has no offset), a register reading not on the quarter hour or below zero.
"""

import itertools
import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterator
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

MAX_READINGS_PER_MESSAGE = 10_000  # RegisterReadings.readings max_length

ACCEPTED_VERSIONS = re.compile(r"^2\.(2[a-z]?|3[a-z]?|4[a-c]?)$")
_QUALITIES = {quality.value: quality for quality in Quality}
_TAG = re.compile(r"^[A-Z][A-Z0-9]{2}$")
_NUMBER = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)$")
_F303 = re.compile(r"^(\d{12})([+-])(\d{2})(\d{2})?$")
_F203 = re.compile(r"^\d{12}$")
_F102 = re.compile(r"^\d{8}$")
_OBIS = re.compile(r"^(\d{1,3})-(\d{1,3}):(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:\*(\d{1,3}))?$")
_MALO = re.compile(r"^[1-9]\d{10}$")
_MELO_DE = re.compile(r"^DE\d{6}\d{5}[A-Z\d]{20}$")
_MELO_ANY = re.compile(r"^[A-Z]{2}[A-Z\d]{31}$")
_METER = re.compile(METER_NUMBER_PATTERN)
_WHITESPACE = " \t\r\n"
# Escaped characters are swapped for a private-use character plus a filler so that offsets stay exact;
# latin-1 text never contains these code points.
_FILLER = "\ue100"
_PLACEHOLDERS = ("\ue000", "\ue001", "\ue002", "\ue003")


def malo_check_digit(first_ten: str) -> int:
    """BRIEF §2: a = sum of digits 1,3,5,7,9; b = 2 × sum of digits 2,4,6,8,10; (10 − (a+b) mod 10) mod 10."""
    a = sum(int(first_ten[i]) for i in range(0, 10, 2))
    b = 2 * sum(int(first_ten[i]) for i in range(1, 10, 2))
    return (10 - (a + b) % 10) % 10


def is_valid_malo(malo: str) -> bool:
    return bool(_MALO.match(malo)) and malo_check_digit(malo[:10]) == int(malo[10])


@dataclass(frozen=True)
class ParsedInterchange:
    days: list[LoadProfileDay]  # per (meter, OBIS, Europe/Berlin day); a resent interval: the later one wins
    registers: list[RegisterReadings]  # per (meter, register OBIS), ordered by read_at
    unmapped: list[str]  # what was not mapped and why — reported, not guessed
    warnings: list[str]  # accepted deviations from the book


class MsconsError(ValueError):
    """The file cannot be read; nothing of it is used."""

    def __init__(self, what: str, *, tag: str | None = None, index: int | None = None, offset: int | None = None):
        self.what, self.tag, self.index, self.offset = what, tag, index, offset
        where = f"{tag + ' at ' if tag else ''}segment {index}, byte {offset}: " if index is not None else ""
        super().__init__(where + what)


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

    def error(self, what: str) -> MsconsError:
        return MsconsError(what, tag=self.tag, index=self.index, offset=self.offset)


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
                raise MsconsError("the file ends with a release character: it is truncated", offset=len(text) - 1)
        restore[ord(_FILLER)] = None
    parts = body.split(syntax.terminator)
    if parts[-1].strip(_WHITESPACE):
        tail = parts[-1].lstrip(_WHITESPACE)
        raise MsconsError(
            f"{tail[:3]!r} does not end with the segment terminator {syntax.terminator!r}: the file is truncated",
            index=len(parts),
            offset=len(text) - len(tail),
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
    meter_ref: str | None = None  # RFF+MG
    period: tuple[int, int] | None = None  # DTM+163/164 in format 303
    read_at: int | None = None  # DTM+7/9 in format 303
    resolved: bool = False
    meter: str | None = None
    reason: str | None = None

    def label(self) -> str:
        return f"location {self.id}" if self.id else f"LOC+{self.qualifier} without id"


class _Reader:
    def __init__(
        self, syntax: _Syntax, meter_for_location: Callable[[str], str | None], warnings: dict[str, int]
    ) -> None:
        self.syntax = syntax
        self.meter_for_location = meter_for_location
        self.warnings = warnings
        self.unmapped: dict[str, int] = {}
        # (meter, obis) → interval start (UTC epoch) → (value, quality, status); dict order = arrival
        self.profiles: dict[tuple[str, str], dict[int, tuple[float | None, Quality, str | None]]] = defaultdict(dict)
        self.coverage: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
        self.resent: dict[tuple[str, str], int] = defaultdict(int)
        self.registers: dict[tuple[str, str], dict[int, tuple[float, Quality]]] = defaultdict(dict)
        self.times: dict[str, tuple[int, int]] = {}  # 303 text → (epoch, offset minutes): ends repeat as starts
        self.day_epochs: dict[str, int] = {}
        self.offsets: set[int] = set()
        self.other_decimal = 0
        self.in_interchange = False
        self.interchange_ref = ""
        self.messages = 0
        self.message: str | None = None  # UNH reference while a message is open
        self.message_segments = 0
        self.cancelled = False
        self.location: _Location | None = None
        self.series: _Series | None = None
        self.qty: _Qty | None = None

    # ---------------------------------------------------------------- segments

    def read(self, segments: Iterator[_Segment]) -> None:
        first = next(segments, None)
        if first is None:
            raise MsconsError("the file holds no segment")
        if first.tag != "UNB":
            raise first.error("an interchange starts with UNB")
        last = first
        for seg in itertools.chain((first,), segments):
            last = seg
            tag = seg.tag
            if self.message is not None and tag not in ("UNH", "UNT", "UNZ", "UNB"):
                self.message_segments += 1
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
                raise seg.error(f"stands outside {where}")
        if self.in_interchange:
            raise MsconsError("the file ends without UNZ: it is truncated", tag=last.tag, index=last.index,
                              offset=last.offset)  # fmt: skip

    def unb(self, seg: _Segment) -> None:
        if self.in_interchange:
            raise seg.error("a new interchange starts before UNZ closed the previous one")
        if not seg.get(1).startswith("UNO"):
            raise seg.error(f"syntax identifier {seg.get(1)!r} is not an EDIFACT UNOx character set")
        self.in_interchange, self.interchange_ref, self.messages = True, seg.get(5), 0

    def unz(self, seg: _Segment) -> None:
        if self.message is not None:
            raise seg.error(f"UNZ before UNT closed message {self.message}: the message is truncated")
        if not self.in_interchange:
            raise seg.error("UNZ without UNB")
        if seg.get(1) != str(self.messages):
            self.warn(f"UNZ counts {seg.get(1)!r} messages, the interchange holds {self.messages}")
        if seg.get(2) != self.interchange_ref:
            self.warn("UNZ names another interchange reference than UNB")
        self.in_interchange = False

    def unh(self, seg: _Segment) -> None:
        if self.message is not None:
            raise seg.error(f"UNH before UNT closed message {self.message}: the message is truncated")
        if not self.in_interchange:
            raise seg.error("UNH outside an interchange (UNB … UNZ)")
        kind, version, release, agency, association = (seg.get(2, i) for i in range(5))
        if kind != "MSCONS":
            raise seg.error(f"message type {kind!r} is not MSCONS")
        if (version, release, agency) != ("D", "04B", "UN") or not ACCEPTED_VERSIONS.match(association):
            raise seg.error(
                f"MSCONS {version}:{release}:{agency}:{association} is not read "
                "(accepted: D:04B:UN with 2.2x, 2.3x, 2.4, 2.4a, 2.4b, 2.4c)"
            )
        self.message, self.message_segments, self.cancelled = seg.get(1), 1, False
        self.location = self.series = self.qty = None

    def unt(self, seg: _Segment) -> None:
        if self.message is None:
            raise seg.error("UNT without UNH")
        self.close_qty()
        self.message_segments += 1
        if seg.get(1) != str(self.message_segments):
            self.warn(f"UNT of message {self.message} counts {seg.get(1)!r} segments, it has {self.message_segments}")
        if seg.get(2) != self.message:
            self.warn(f"UNT names message {seg.get(2)!r}, UNH {self.message!r}")
        self.message = None
        self.messages += 1
        self.location = self.series = None

    def body_segment(self, seg: _Segment) -> None:
        tag = seg.tag
        if tag == "LIN":
            if self.location is None:
                raise seg.error("LIN before a location (LOC)")
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
            if seg.get(1) == "MG" and self.location is not None and self.series is None:
                self.location.meter_ref = seg.get(1, 1)
        elif tag == "BGM":
            # Message function 1 is a cancellation (Storno): its values must not be applied.
            self.cancelled = seg.get(3) == "1"
        # UNS, CTA, COM, CCI, CAV, IMD, PRI, MOA, SEQ …: nothing that changes a value.

    def loc(self, seg: _Segment) -> None:
        qualifier, location_id = seg.get(1), seg.get(2)
        if qualifier == "172" and location_id:
            if location_id.isdigit() and len(location_id) == 11:
                if not is_valid_malo(location_id):
                    raise seg.error(f"MaLo {location_id} has a wrong check digit")
            elif len(location_id) == 33 and _MELO_ANY.match(location_id):
                if location_id.startswith("DE") and not _MELO_DE.match(location_id):
                    raise seg.error(f"{location_id} is not a German MeLo (DE + 6 + 5 digits + 20 characters)")
            else:
                raise seg.error(f"{location_id!r} is neither a MaLo (11 digits) nor a MeLo (33 characters)")
        self.location = _Location(qualifier, location_id or None)
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
            raise seg.error("QTY before its location (LOC) and series (LIN, PIA+5 with an OBIS code)")
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
            if fmt != "303":
                raise seg.error(f"a value's time needs format 303 with an offset, not {fmt!r}")
            epoch = self.epoch_303(seg, text)
            if qualifier == "163":
                qty.start = epoch
            elif qualifier == "164":
                qty.end = epoch
            elif qualifier == "7":
                qty.used_at = epoch
            else:
                qty.read_on = epoch
            return
        # Header (137 …) or location level (163/164 period, 7/9 reading date): 102 and 203 appear here.
        instant: int | None = None  # 102 and 203 have no offset: checked, but not usable as an instant
        if fmt == "303":
            instant = self.epoch_303(seg, text)
        elif fmt == "203" and _F203.match(text):
            self.day_epoch(seg, text[:8])
            self.check_clock(seg, text)
        elif fmt == "102" and _F102.match(text):
            self.day_epoch(seg, text)
        else:
            raise seg.error(f"DTM format {fmt!r} with {text!r} is not read (303, or 102/203 in headers)")
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
        seg = qty.segment
        if series.kind == "profile":
            if qty.start is None or qty.end is None:
                raise seg.error("a load-profile value needs DTM+163 and DTM+164")
            if qty.end - qty.start != QUARTER_HOUR_SECONDS:
                raise seg.error(f"interval of {(qty.end - qty.start) // 60} minutes: load profiles have 15")
            if qty.start % QUARTER_HOUR_SECONDS:
                raise seg.error("the interval does not start on the quarter hour")
            key = (meter, series.obis)
            intervals = self.profiles[key]
            if qty.start in intervals:
                self.resent[key] += 1
                del intervals[qty.start]  # re-insert: arrival order stays the order of winning values
            intervals[qty.start] = (qty.value, quality, ";".join(qty.status) if qty.status else None)
            if location.period is not None and location.period[1] > location.period[0]:
                self.coverage[key].append(location.period)
            return
        read_at = next((t for t in (qty.used_at, qty.read_on, qty.end, location.read_at) if t is not None), None)
        if read_at is None:
            self.report(f"{where}: a register reading without a time of day (format 303) is not mapped")
            return
        if read_at % QUARTER_HOUR_SECONDS:
            raise seg.error("a register reading must be taken on the quarter hour")
        if quality is Quality.MISSING or qty.value is None:
            self.report(f"{where}: a missing register reading (Z30) has no value to map")
            return
        if qty.value < 0:
            raise seg.error("a register reading cannot be negative")
        self.registers[(meter, series.obis)][read_at] = (qty.value, quality)

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
            return None
        location.meter = meter
        return meter

    # ---------------------------------------------------------------- times

    def epoch_303(self, seg: _Segment, text: str) -> int:
        known = self.times.get(text)
        if known is None:
            match = _F303.match(text)
            if match is None:
                raise seg.error(f"{text!r} is not a format 303 time (CCYYMMDDHHMM with offset ?+HH)")
            clock, sign, hours, minutes = match.groups()
            offset = (int(hours) * 60 + int(minutes or 0)) * (-1 if sign == "-" else 1)
            if abs(offset) > 14 * 60:
                raise seg.error(f"offset {sign}{hours}{minutes or ''} is out of range")
            base = self.day_epoch(seg, clock[:8]) + self.check_clock(seg, clock)
            known = (base - offset * 60, offset)
            self.times[text] = known
        if known[1]:
            self.offsets.add(known[1])
        return known[0]

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
        hour, minute = int(text[8:10]), int(text[10:12])
        # 24:00 is how some senders write the end of a day.
        if minute > 59 or hour > 24 or (hour == 24 and minute):
            raise seg.error(f"{text!r} is not a time of day")
        return hour * 3600 + minute * 60

    # ---------------------------------------------------------------- reports

    def warn(self, text: str) -> None:
        self.warnings[text] = self.warnings.get(text, 0) + 1

    def report(self, text: str) -> None:
        self.unmapped[text] = self.unmapped.get(text, 0) + 1


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
    data: bytes, *, meter_for_location: Callable[[str], str | None] = lambda location: None
) -> ParsedInterchange:
    """Read one MSCONS file. ``meter_for_location`` maps a MaLo/MeLo to its meter number (master data).

    Raises ``MsconsError`` for anything it cannot read; then nothing of the file is returned."""
    counted_warnings: dict[str, int] = {}
    syntax, segments = _tokenize(data, counted_warnings)
    reader = _Reader(syntax, meter_for_location, counted_warnings)
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
    return ParsedInterchange(days=days, registers=registers, unmapped=unmapped, warnings=warnings)
