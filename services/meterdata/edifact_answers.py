"""The EDIFACT answers to a received MSCONS interchange: CONTRL (syntax) and APERAK (application errors).

Pure: references, parties and time in, EDIFACT text out. Follows the EDI@Energy CONTRL (UN syntax version 3,
``CONTRL:D:3:UN:2.0b``) and APERAK (``APERAK:D:07B:UN:2.1i``) message descriptions:

- CONTRL, one per received interchange: ``UCI`` names the interchange (its reference, sender and receiver as
  the received UNB gave them) with action 7 (acknowledged) or 4 (rejected). A rejection outside any message
  carries the syntax error code (code list 0085) and the service segment in UCI; inside a message, ``UCM``
  names the message (reference, type, action 4, error code) and ``UCS`` the segment's position in it (UNH = 1)
  with the code again.
- APERAK, one message per refused MSCONS message, all in one interchange: ``BGM+313`` (Anwendungsfehlermeldung),
  ``DTM+137`` (when), ``RFF+ACE`` (the received interchange's reference, UNB 0020), ``RFF+AGO`` (the refused
  message's document number, BGM 1004), ``NAD+MS`` (the grid operator's market partner id) and ``NAD+MR`` (the
  sender's), then ``ERC`` (the error code), ``FTX+AAO`` (what is wrong, in German) and ``RFF+ACW`` (the refused
  message's reference, UNH 0062).

Both go out from the grid operator's market partner id to the sender's: the received UNB's sender becomes the
answer's receiver.
"""

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from services.meterdata.mscons import INVALID_VALUE, MISSING, NOT_IN_THIS_POSITION, InterchangeHeader

CONTRL_TYPE = "CONTRL:D:3:UN:2.0b"
APERAK_TYPE = "APERAK:D:07B:UN:2.1i"
ACKNOWLEDGED = "7"  # UCI/UCM 0083: this level and everything below it acknowledged
REJECTED = "4"  # this level rejected
APPLICATION_ERROR_MESSAGE = "313"  # BGM 1001 of an APERAK: Anwendungsfehlermeldung
DUPLICATE_DETECTED = "26"  # 0085: the sender used this interchange control reference before, for another file
_SERVICE = "UNA:+.? '"

# The reader's refusal codes (services.meterdata.mscons, handlers) → the APERAK error code (ERC, EDI@Energy
# APERAK code list) and what a clerk at the sender reads in FTX+AAO.
APERAK_CODES: dict[str, tuple[str, str]] = {
    "location_unknown": ("Z14", "Markt- bzw. Messlokation im IT-System nicht gefunden"),
    "location_id": ("Z35", "Format nicht eingehalten: die Lokations-ID ist ungültig (Prüfziffer)"),
    "interval_format": ("Z35", "Format nicht eingehalten: Zeitintervall eines Lastgangwerts nicht im Format 303/304"),
    "interval_missing": ("Z29", "Erforderliche Angabe fehlt: Beginn (DTM+163) oder Ende (DTM+164) des Intervalls"),
    "interval_length": ("Z41", "Zeitangabe unplausibel: ein Lastgangwert umfasst nicht 15 Minuten"),
    "interval_start": ("Z41", "Zeitangabe unplausibel: das Intervall beginnt nicht auf der Viertelstunde"),
    "reading_time": ("Z41", "Zeitangabe unplausibel: Zählerstand nicht zur Viertelstunde"),
    "reading_negative": ("Z31", "Geschäftsvorfall zurückgewiesen: negativer Zählerstand"),
    "readings_refused": ("Z31", "Geschäftsvorfall zurückgewiesen: Werte nicht plausibel oder Tag noch nicht beendet"),
}
UNKNOWN_REFUSAL = ("Z31", "Geschäftsvorfall wird vom Empfänger zurückgewiesen")

# The syntax error codes (UN/EDIFACT code list 0085) a CONTRL of this service names, as a clerk reads them.
SYNTAX_ERRORS: dict[str, str] = {
    INVALID_VALUE: "Ungültiger Wert: eine Angabe passt nicht zu ihrem Format",
    MISSING: "Pflichtangabe fehlt: die Datei ist unvollständig",
    NOT_IN_THIS_POSITION: "Segment an dieser Stelle nicht erlaubt",
    DUPLICATE_DETECTED: "Doppelt: der Absender hat diese Referenz schon für eine andere Datei verwendet",
}


def syntax_error_text(code: str) -> str:
    return SYNTAX_ERRORS.get(code, "Syntaxfehler")


@dataclass(frozen=True)
class SyntaxFault:
    """Where a CONTRL rejects: the error code (0085); the message, its type and the segment's position in it when
    the error is inside a message; else the service segment (UNB, UNZ …) if known."""

    code: str
    tag: str | None = None
    message: str | None = None
    message_type: str | None = None
    position: int | None = None


@dataclass(frozen=True)
class RefusedMessage:
    """An MSCONS message refused for an application reason."""

    message: str  # UNH 0062
    document: str  # BGM 1004 ("" when the message had none)
    refusal: str  # the reader's code, e.g. "location_unknown"
    tag: str  # the segment at fault
    position: int  # its index in the file


def escape(value: str) -> str:
    """A value with the release character before each of ``? + : '`` (the default service characters)."""
    return "".join("?" + char if char in "?+:'" else char for char in value)


def answer_reference(digest: str, kind: str, round_: int) -> str:
    """The answer's interchange control reference (UNB 0020, at most 14 characters): the same received file,
    kind and processing round give the same reference, so an answer written again is recognisable as the same."""
    return kind[0] + hashlib.sha256(f"{digest}/{kind}/{round_}".encode()).hexdigest()[:13].upper()


def aperak_code(refusal: str) -> tuple[str, str]:
    return APERAK_CODES.get(refusal, UNKNOWN_REFUSAL)


def contrl(
    received: InterchangeHeader, operator: str, reference: str, at: datetime, fault: SyntaxFault | None = None
) -> str:
    """The CONTRL to ``received``: acknowledged when ``fault`` is None, else rejected naming the fault."""
    segments = [f"UNH+1+{CONTRL_TYPE}"]
    uci = f"UCI+{escape(received.reference)}+{_party(received.sender)}+{_party(received.receiver)}"
    if fault is None:
        segments.append(f"{uci}+{ACKNOWLEDGED}")
    elif fault.message is None:
        segments.append(f"{uci}+{REJECTED}+{fault.code}" + (f"+{escape(fault.tag)}" if fault.tag else ""))
    else:
        segments.append(f"{uci}+{REJECTED}")
        message_type = fault.message_type or "MSCONS:D:04B:UN"
        segments.append(f"UCM+{escape(fault.message)}+{message_type}+{REJECTED}+{fault.code}")
        if fault.position is not None:
            segments.append(f"UCS+{fault.position}+{fault.code}")
    return _interchange(operator, received.sender, reference, at, [segments])


def aperak(
    received: InterchangeHeader, operator: str, reference: str, at: datetime, refused: Sequence[RefusedMessage]
) -> str:
    """One APERAK message per refused message, all in one interchange to the sender."""
    messages = []
    for number, message in enumerate(refused, start=1):
        code, text = aperak_code(message.refusal)
        messages.append(
            [
                f"UNH+{number}+{APERAK_TYPE}",
                f"BGM+{APPLICATION_ERROR_MESSAGE}+{escape(reference)}{number}",
                f"DTM+137:{_moment(at)}?+00:303",
                f"RFF+ACE:{escape(received.reference)}",
                f"RFF+AGO:{escape(message.document or message.message)}",
                f"NAD+MS+{_nad_party(operator)}",
                f"NAD+MR+{_nad_party(received.sender)}",
                f"ERC+{code}",
                f"FTX+AAO+++{escape(f'{text} (Segment {message.tag}, Nr. {message.position})')}",
                f"RFF+ACW:{escape(message.message)}",
            ]
        )
    return _interchange(operator, received.sender, reference, at, messages)


def _interchange(sender: str, receiver: str, reference: str, at: datetime, messages: list[list[str]]) -> str:
    at = at.astimezone(UTC)
    lines = [_SERVICE + f"UNB+UNOC:3+{_party(sender)}+{_party(receiver)}+{at:%y%m%d}:{at:%H%M}+{escape(reference)}'"]
    for number, segments in enumerate(messages, start=1):
        lines.extend(segment + "'" for segment in segments)
        lines.append(f"UNT+{len(segments) + 1}+{number}'")
    lines.append(f"UNZ+{len(messages)}+{escape(reference)}'")
    return "\n".join(lines) + "\n"


def _moment(at: datetime) -> str:
    return f"{at.astimezone(UTC):%Y%m%d%H%M}"


def _party(market_partner_id: str) -> str:
    """A UNB party: the id and its code (0007): 500 for BDEW codes (99…), 502 DVGW (98…), else 14 (GS1)."""
    return f"{escape(market_partner_id)}:{_code_list(market_partner_id)[0]}"


def _nad_party(market_partner_id: str) -> str:
    """A NAD party (C082): the id, empty code list, and the responsible agency (3055): 293 BDEW, 332 DVGW, 9 GS1."""
    return f"{escape(market_partner_id)}::{_code_list(market_partner_id)[1]}"


def _code_list(market_partner_id: str) -> tuple[str, str]:
    if market_partner_id.startswith("99"):
        return "500", "293"
    if market_partner_id.startswith("98"):
        return "502", "332"
    return "14", "9"
