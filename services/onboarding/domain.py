"""The request for a partner number, in plain Python: validation rules, matching, status changes.

The request records the events it causes in ``events``; the handlers store them in the outbox.
"""

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from uuid import UUID, uuid4

from contracts.common import PartnerNumberGrant, PartnerRole, PostalAddress
from contracts.envelope import EventPayload
from contracts.masterdata import MeterPointRecorded
from contracts.onboarding import (
    PartnerNumberRequested,
    PartnerNumberRequestMatched,
    PartnerNumberRequestRejected,
    PartnerNumberRequestSentToReview,
    RequestingCustomer,
)
from kit.validity import current


class RequestStatus(StrEnum):
    RECEIVED = "received"
    MATCHED = "matched"
    IN_REVIEW = "in_review"
    REJECTED = "rejected"
    LETTER_QUEUED = "letter_queued"
    LETTER_DISPATCHED = "letter_dispatched"
    LETTER_RETURNED = "letter_returned"
    LETTER_FAILED = "letter_failed"
    REGISTERED = "registered"  # the customer linked the partner number to a login


class StatusConflict(Exception):
    """The request is not in a state where this step is allowed."""


@dataclass(frozen=True)
class MatchOutcome:
    grants: tuple[PartnerNumberGrant, ...]
    review_reason: str | None  # set when there is no automatic match


def _name_tokens(name: str) -> set[str]:
    folded = unicodedata.normalize("NFKD", name.casefold().replace("ß", "ss"))
    letters_only = "".join(ch for ch in folded if not unicodedata.combining(ch))
    letters_only = letters_only.replace("ae", "a").replace("oe", "o").replace("ue", "u")
    return {token for token in re.split(r"[^a-z]+", letters_only) if len(token) > 1}


def match_request(customer: RequestingCustomer, record: MeterPointRecorded | None, today: date) -> MatchOutcome:
    """The matching rule (README, "Matching"): the meter is in this operator's master data, the
    surname typed appears in the name of record of a partner of that meter, and a postcode typed
    (postal or connection address) equals the connection object's postcode or that partner's postal
    postcode. The partners that pass get their numbers; consumption is listed before feed-in. A partner
    whose relation to the meter ended before ``today`` (moved out: kit.validity) is no longer a partner of it."""
    if record is None:
        return MatchOutcome((), "Zählernummer nicht in den Stammdaten")
    surname = _name_tokens(customer.last_name)
    typed_postcodes = {customer.postal_address.postcode}
    if customer.connection_address:
        typed_postcodes.add(customer.connection_address.postcode)
    partners = [p for p in record.partners if current(p, today)]
    named = [p for p in partners if surname and surname <= _name_tokens(p.name)]
    if not named:
        return MatchOutcome((), "Name passt nicht zu den Stammdaten")
    fitting = [p for p in named if typed_postcodes & {record.connection_address.postcode, p.postal_address.postcode}]
    if not fitting:
        return MatchOutcome((), "Postleitzahl passt nicht zu den Stammdaten")
    ordered = sorted(fitting, key=lambda p: p.role != PartnerRole.CONSUMPTION)
    return MatchOutcome(tuple(PartnerNumberGrant(partner_number=p.partner_number, role=p.role) for p in ordered), None)


_LETTER_PROGRESS = {
    "LetterQueued": RequestStatus.LETTER_QUEUED,
    "LetterDispatched": RequestStatus.LETTER_DISPATCHED,
    "LetterReturned": RequestStatus.LETTER_RETURNED,
    "LetterFailed": RequestStatus.LETTER_FAILED,
}
_ORDER = [RequestStatus.MATCHED, RequestStatus.LETTER_QUEUED, RequestStatus.LETTER_DISPATCHED]


@dataclass
class PartnerNumberRequest:
    id: UUID
    tenant: str
    meter_number: str
    customer: RequestingCustomer
    status: RequestStatus = RequestStatus.RECEIVED
    grants: tuple[PartnerNumberGrant, ...] = ()
    note: str | None = None
    # Chosen by the form once: a repeated submit finds the same request.
    submission_id: UUID | None = None
    # One per customer journey, from the form to the dispatch status; every event of the request carries it.
    correlation_id: UUID = field(default_factory=uuid4)
    events: list[EventPayload] = field(default_factory=list)

    @classmethod
    def submit(
        cls,
        request_id: UUID,
        tenant: str,
        meter_number: str,
        customer: RequestingCustomer,
        submission_id: UUID | None = None,
    ) -> "PartnerNumberRequest":
        request = cls(request_id, tenant, meter_number, customer, submission_id=submission_id)
        request.events.append(
            PartnerNumberRequested(request_id=request_id, meter_number=meter_number, customer=customer)
        )
        return request

    def decide(self, outcome: MatchOutcome) -> None:
        if outcome.grants:
            self._grant(outcome.grants, "automatic", self.meter_number)
        else:
            self.status = RequestStatus.IN_REVIEW
            self.note = outcome.review_reason
            self.events.append(PartnerNumberRequestSentToReview(request_id=self.id, reason=outcome.review_reason or ""))

    def approve(self, meter_number: str, grants: tuple[PartnerNumberGrant, ...]) -> None:
        """A clerk picked the master-data record (which may fix a mistyped meter number)."""
        if self.status != RequestStatus.IN_REVIEW:
            raise StatusConflict(f"Nur Anträge in Prüfung können freigegeben werden (Status: {self.status}).")
        if not grants:
            raise StatusConflict("Mindestens eine Geschäftspartner-Nr. auswählen.")
        self.meter_number = meter_number
        self._grant(grants, "clerk", meter_number)

    def reject(self, reason: str) -> None:
        if self.status != RequestStatus.IN_REVIEW:
            raise StatusConflict(f"Nur Anträge in Prüfung können abgelehnt werden (Status: {self.status}).")
        self.status = RequestStatus.REJECTED
        self.note = reason
        self.events.append(PartnerNumberRequestRejected(request_id=self.id, reason=reason))

    def partner_registered(self) -> None:
        self.status = RequestStatus.REGISTERED
        self.note = None

    def letter_progressed(self, event_type: str, reason: str | None = None) -> None:
        if self.status == RequestStatus.REGISTERED:
            return  # the letter arrived and was used: later letter news change nothing
        new = _LETTER_PROGRESS[event_type]
        # Letter events may arrive out of order across topics; never step back along the happy path.
        if new in _ORDER and self.status in _ORDER and _ORDER.index(new) <= _ORDER.index(self.status):
            return
        self.status = new
        if reason:
            self.note = reason

    def _grant(self, grants: tuple[PartnerNumberGrant, ...], decided_by: str, meter_number: str) -> None:
        self.status = RequestStatus.MATCHED
        self.grants = grants
        self.note = None
        self.events.append(
            PartnerNumberRequestMatched(
                request_id=self.id,
                meter_number=meter_number,
                partner_numbers=grants,
                decided_by=decided_by,  # type: ignore[arg-type]
            )
        )


@dataclass(frozen=True)
class RequestSummary:
    """A request as the back-office lists it."""

    request: PartnerNumberRequest
    created_at: datetime
    updated_at: datetime


# Characters that separate the labels of a host name (IDNA maps the ideographic and the half-width full
# stop to "."; the full-width one and the one-dot leader become "." under NFKC anyway).
_DOTS = ".\u3002\uff0e\uff61\u2024\ufe52"
_LABEL_DOT = re.compile(f"[{_DOTS}](?=\\S)")
_SCHEME_COLON = re.compile(r":(?=\S)")


def defanged(value: str) -> str:
    """What the customer typed, made harmless for our mail: no control characters or line breaks (no
    forged paragraphs), and nothing a mail client turns into a link, so nobody can use our mail to send
    theirs. Look-alike characters are folded first (NFKC: "ｗｗｗ．ｅｖｉｌ．ｄｅ" is "www.evil.de"); then
    every dot with something right after it becomes "[.]", every "@" "[at]", every backslash "[\\]"
    and every colon with something right after it (as in "http://", "mailto:", "javascript:") "[:]" —
    in any case, in every field. Without a dot between labels there is no domain, without "@" no
    address, without "scheme:" no URL; the text stays readable ("erika[.]mustermann[at]example[.]org").
    A dot or colon before a space stays as typed ("Dr. Erika", "Lindenstr. 4")."""
    folded = unicodedata.normalize("NFKC", value)
    cleaned = "".join(ch if ch.isprintable() else " " for ch in folded).strip()
    cleaned = _LABEL_DOT.sub("[.]", cleaned)
    cleaned = cleaned.replace("@", "[at]").replace("\\", "[\\]")  # "\\\\server\\share": a UNC link in Outlook
    return _SCHEME_COLON.sub("[:]", cleaned)


def _one_line(address: PostalAddress) -> str:
    return f"{defanged(address.street)} {defanged(address.house_number)}, {address.postcode} {defanged(address.city)}"


def copy_of_message(operator_name: str, service_phone: str, request: PartnerNumberRequest) -> tuple[str, str]:
    """Subject and text of the copy e-mail. Deliberately the same whether the meter matched or not."""
    c = request.customer
    address = c.postal_address
    lines = [
        "Guten Tag,",
        "",
        f"vielen Dank für Ihre Nachricht an {operator_name}. Hier ist eine Kopie Ihrer Angaben:",
        "",
        f"  Name:          {defanged(c.first_name)} {defanged(c.last_name)}",
        f"  Anschrift:     {_one_line(address)}",
    ]
    if c.connection_address:
        a = c.connection_address
        lines.append(f"  Anschlussobjekt: {_one_line(a)}")
    lines += [
        f"  Zählernummer:  {request.meter_number}",
        f"  E-Mail:        {defanged(str(c.email))}",
    ]
    if c.phone:
        lines.append(f"  Telefon:       {defanged(c.phone)}")
    lines += [
        "",
        "Wie es weitergeht: Wir prüfen Ihre Angaben. Ihre Geschäftspartner-Nr. Netz schicken wir Ihnen",
        "aus Sicherheitsgründen per Post an die Anschrift, die bei uns hinterlegt ist. Mit dieser Nummer,",
        "Ihrer Zählernummer und Ihrer E-Mail-Adresse können Sie dann im Kundenportal den Zugang beantragen.",
        "",
        f"Sie haben diese Nachricht nicht geschickt? Dann rufen Sie uns bitte an: {service_phone}.",
        "",
        f"Vorgangsnummer: {str(request.id)[:8].upper()}",
        "",
        "Freundliche Grüße",
        operator_name,
        "",
        "Diese E-Mail wurde automatisch erstellt. Bitte antworten Sie nicht darauf.",
    ]
    return f"Ihre Nachricht an {operator_name}: Kopie Ihrer Angaben", "\n".join(lines)
