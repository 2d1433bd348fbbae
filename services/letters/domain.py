"""Letters in plain Python: who a letter goes to, what it says, and how its dispatch status moves.

A :class:`Letter` records what happens to it in ``events`` (the dispatch job for the print house and the
letter's progress for onboarding); the handlers publish them with the change.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Literal, Protocol
from uuid import UUID
from zoneinfo import ZoneInfo

from contracts.common import PartnerNumberGrant, PartnerRole
from contracts.envelope import EventPayload
from contracts.letters import (
    DispatchStatus,
    DispatchStatusReported,
    LetterDispatched,
    LetterDispatchRequested,
    LetterFailed,
    LetterQueued,
    LetterReturned,
    RecipientAddress,
    RegistrationCodeIssued,
)
from contracts.masterdata import MeterPointRecorded, PartnerOfRecord
from kit.registration import registration_code, registration_code_hash

_GERMANY = ZoneInfo("Europe/Berlin")


class LetterStatus(StrEnum):
    AWAITING_MASTER_DATA = "awaiting_master_data"
    QUEUED = "queued"
    PICKED_UP = "picked_up"
    PRINTED = "printed"
    HANDED_TO_CARRIER = "handed_to_carrier"
    DELIVERED = "delivered"
    RETURNED = "returned"
    FAILED = "failed"
    CANCELLED = "cancelled"
    # Recorded, but no job went out: this meter had a letter within ONE_LETTER_PER_METER_WITHIN.
    NOT_POSTED_AGAIN = "not_posted_again"


# The happy path in order; a report for an earlier step than the letter has reached is stale.
_PATH = [
    LetterStatus.QUEUED,
    LetterStatus.PICKED_UP,
    LetterStatus.PRINTED,
    LetterStatus.HANDED_TO_CARRIER,
    LetterStatus.DELIVERED,
]
_FINAL = {LetterStatus.RETURNED, LetterStatus.FAILED, LetterStatus.CANCELLED}
# Letters whose dispatch job never went out: no PDF to fetch, no status report to take.
WITHOUT_JOB = (LetterStatus.AWAITING_MASTER_DATA, LetterStatus.NOT_POSTED_AGAIN)

# The partner number is a credential, and a form anyone can send asks the post to bring it: at most one
# letter per meter (and operator) in this time, so that sending the form again and again — or guessing
# meters and names — does not make the letter go out again and again. Further matching requests are kept
# and shown to the back-office as not posted again, with why.
ONE_LETTER_PER_METER_WITHIN = timedelta(days=14)
# The registration code in the letter's link admits one access request until then (kit.registration).
REGISTRATION_CODE_VALID = timedelta(days=90)
# A letter counts once its job went out, unless the print house reported it failed (then nothing was posted).
_POSTED = (*_PATH, LetterStatus.RETURNED)
# While the job is with the print house its PDF may be rendered (by the worker or on a fetch). Not after
# the handover to the carrier: the PDF is deleted then, and a letter is a credential — never make it again.
# The store's query of the letters to render and the migration's partial index spell this same rule
# (tests/unit/letters/test_store.py checks that the three agree).
RENDERABLE = (LetterStatus.QUEUED, LetterStatus.PICKED_UP, LetterStatus.PRINTED)


def needs_render(status: str, pdf_sha256: str | None) -> bool:
    """The job is out and its PDF was never rendered (the checksum stays when the PDF is deleted)."""
    return pdf_sha256 is None and status in RENDERABLE


def next_status(current: LetterStatus, reported: DispatchStatus) -> LetterStatus | None:
    """The letter's new status, or None when the report changes nothing (stale or repeated)."""
    new = LetterStatus(reported.value)
    if current in _FINAL or current in WITHOUT_JOB:
        return None
    if new in _FINAL:
        return new
    if _PATH.index(new) <= _PATH.index(current):
        return None
    return new


class NoRecipient(Exception):
    """None of the granted partner numbers is in the master-data record of the meter."""


@dataclass(frozen=True)
class PostedLetter:
    """An earlier letter for the same meter, as far as the rule of one letter per meter needs to know it."""

    reference: str
    posted_at: datetime  # when its job went out
    status: LetterStatus


def earlier_letter(posted: Iterable[PostedLetter], now: datetime) -> PostedLetter | None:
    """The latest letter for the meter posted less than ONE_LETTER_PER_METER_WITHIN before ``now``: while
    there is one, no further letter goes out for that meter."""
    recent = [p for p in posted if p.status in _POSTED and p.posted_at > now - ONE_LETTER_PER_METER_WITHIN]
    return max(recent, key=lambda p: p.posted_at, default=None)


def recipient_of(grants: tuple[PartnerNumberGrant, ...], record: MeterPointRecorded) -> PartnerOfRecord:
    """The letter goes to the address of record of the first granted partner (consumption before
    feed-in) — never to an address typed into a form: the letter is the second factor."""
    granted = {grant.partner_number for grant in grants}
    partners = sorted(
        (p for p in record.partners if p.partner_number in granted),
        key=lambda p: p.role != PartnerRole.CONSUMPTION,
    )
    if not partners:
        raise NoRecipient
    return partners[0]


def recipient_address(partner: PartnerOfRecord) -> RecipientAddress:
    """DIN 5008 address lines: name, addition, street, postcode + city, country in capitals abroad."""
    address = partner.postal_address
    street = f"{address.street} {address.house_number}"
    city = f"{address.postcode} {address.city}"
    lines = [partner.name]
    if address.addition:
        lines.append(address.addition)
    lines += [street, city]
    if address.country != "DE":
        lines.append(address.country)
    return RecipientAddress(
        lines=tuple(lines),
        name=partner.name,
        street=street,
        postcode=address.postcode,
        city=address.city,
        country=address.country,
    )


def access_link(portal_url: str, meter_number: str, partner_number: str, code: str) -> str:
    # In the fragment: browsers never send it, so no server or proxy log ever sees the numbers or the code.
    return f"{portal_url}/zugang#zaehler={meter_number}&partner={partner_number}&code={code}"


@dataclass(frozen=True)
class PartnerLine:
    partner_number: str  # e.g. "4711000001"
    role: Literal["consumption", "feed_in"]  # printed as "Bezug (Verbrauch)" / "Einspeisung"
    access_link: str  # meter and partner number travel only in the URL fragment


@dataclass(frozen=True)
class LetterContent:
    """Everything the letter says: letter_pdf lays it out. All of it is a credential: never log it."""

    operator_name: str  # "Stadtwerke Musterstadt Netz GmbH"
    letterhead: tuple[str, ...]  # lines, top right
    return_address: str  # one line, "SWM Netz GmbH · Postfach 10 01 01 · 12345 Musterstadt"
    primary_color: str  # "#00587c"
    service_phone: str
    service_email: str
    service_hours: str
    recipient_lines: tuple[str, ...]  # 1..6 address lines, already formatted
    letter_date: date
    reference: str  # our reference id ("Unser Zeichen")
    meter_number: str  # "1EMH0005939068"
    portal_url: str  # "https://000328.plusportal.de"
    partners: tuple[PartnerLine, ...]  # 1 or 2


class Operator(Protocol):
    """The sender of a letter (kit.tenants.Tenant is one)."""

    @property
    def portal_number(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def letterhead(self) -> tuple[str, ...]: ...
    @property
    def return_address(self) -> str: ...
    @property
    def primary_color(self) -> str: ...
    @property
    def service_phone(self) -> str: ...
    @property
    def service_email(self) -> str: ...
    @property
    def service_hours(self) -> str: ...
    @property
    def portal_url(self) -> str: ...


@dataclass(frozen=True)
class Task:
    """Back-office work: a returned or failed letter that a clerk has to look at."""

    kind: str  # "returned" | "failed"
    reason: str


@dataclass
class Letter:
    """One letter per matched request; its id is also the dispatch job's id."""

    id: UUID
    tenant: str
    request_id: UUID
    correlation_id: UUID
    meter_number: str
    grants: tuple[PartnerNumberGrant, ...]
    status: LetterStatus = LetterStatus.AWAITING_MASTER_DATA
    status_reason: str | None = None
    recipient: RecipientAddress | None = None
    letter_date: date | None = None  # the day its job went out
    posted_at: datetime | None = None  # when its job went out
    pdf_sha256: str | None = None  # set once rendered; kept when the PDF is deleted
    pdf_deleted: bool = False  # set on the handover to the carrier: the store deletes the PDF
    created_at: datetime | None = None
    new_tasks: list[Task] = field(default_factory=list)
    events: list[EventPayload] = field(default_factory=list)

    @property
    def reference(self) -> str:
        """Our reference ("Unser Zeichen"), printed on the letter and named in the dispatch job."""
        return f"PP-{self.tenant}-{self.id.hex[:8].upper()}"

    def post(
        self,
        record: MeterPointRecorded,
        now: datetime,
        sender: str,
        pdf_url: str,
        posted: Iterable[PostedLetter],
        code_key: bytes,
    ) -> None:
        """The master data names the recipient. Unless the meter had a letter within
        ONE_LETTER_PER_METER_WITHIN (``posted``: the meter's earlier letters), the dispatch job goes out;
        otherwise the letter is recorded as not posted again, with the reason for the back-office."""
        earlier = earlier_letter(posted, now)
        if earlier is None:
            self.queue(record, now, sender, pdf_url, code_key)
            return
        self.recipient = recipient_address(recipient_of(self.grants, record))
        self.status = LetterStatus.NOT_POSTED_AGAIN
        day = earlier.posted_at.astimezone(_GERMANY)
        self.status_reason = (
            f"Nicht erneut verschickt: Für diesen Zähler ging am {day:%d.%m.%Y} schon ein Brief hinaus "
            f"({earlier.reference}). Je Zähler geht höchstens ein Brief in "
            f"{ONE_LETTER_PER_METER_WITHIN.days} Tagen hinaus."
        )

    def as_posted(self) -> PostedLetter | None:
        """The letter as the rule of one letter per meter counts it; None while its job has not gone out."""
        return PostedLetter(self.reference, self.posted_at, self.status) if self.posted_at else None

    def registration_codes(self, code_key: bytes) -> dict[str, str]:
        """The one-time code of each partner number's link: derived from the key, never stored."""
        return {
            g.partner_number: registration_code(code_key, self.tenant, self.id, g.partner_number) for g in self.grants
        }

    def queue(self, record: MeterPointRecorded, now: datetime, sender: str, pdf_url: str, code_key: bytes) -> None:
        """The master data names the recipient: the letter is decided and its dispatch job goes out, with the
        PDF by reference (rendered right after, or when the print house fetches it), and identity learns the
        hash of each partner number's registration code."""
        recipient = recipient_address(recipient_of(self.grants, record))
        self.recipient = recipient
        self.letter_date = now.astimezone(_GERMANY).date()  # the date printed on the letter
        self.posted_at = now
        self.status = LetterStatus.QUEUED
        self.events.append(
            LetterDispatchRequested(
                job_id=self.id,
                idempotency_key=f"letter-{self.id}",
                reference=self.reference,
                recipient=recipient,
                sender=sender,
                pdf_url=pdf_url,
            )
        )
        self.events.append(LetterQueued(request_id=self.request_id, job_id=self.id))
        for partner_number, code in self.registration_codes(code_key).items():
            self.events.append(
                RegistrationCodeIssued(
                    request_id=self.request_id,
                    meter_number=self.meter_number,
                    partner_number=partner_number,
                    code_hash=registration_code_hash(code),
                    expires_at=now + REGISTRATION_CODE_VALID,
                )
            )

    def report(self, report: DispatchStatusReported) -> None:
        """The print house's report moves the letter on (stale and repeated reports change nothing)."""
        new = next_status(self.status, report.status)
        if new is None:
            return
        self.status = new
        self.status_reason = report.reason
        if new == LetterStatus.HANDED_TO_CARRIER:
            self.pdf_deleted = True  # the letter carries a credential: keep the PDF only as long as it is needed
            self.events.append(
                LetterDispatched(request_id=self.request_id, job_id=self.id, handed_over_at=report.happened_at)
            )
        elif new in (LetterStatus.RETURNED, LetterStatus.FAILED):
            reason = report.reason or ("unzustellbar" if new == LetterStatus.RETURNED else "Fehler beim Druck")
            self.new_tasks.append(Task(new.value, reason))
            outcome = LetterReturned if new == LetterStatus.RETURNED else LetterFailed
            self.events.append(outcome(request_id=self.request_id, job_id=self.id, reason=reason))


@dataclass(frozen=True)
class LetterSummary:
    """A letter as the back-office lists it."""

    letter_id: UUID
    request_id: UUID
    reference: str
    status: LetterStatus
    status_reason: str | None
    recipient: dict[str, object] | None
    pdf_available: bool  # stored, or renderable on a fetch
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class StatusReport:
    status: str
    reason: str | None
    reported_by: str
    happened_at: datetime


@dataclass(frozen=True)
class TaskView:
    task_id: UUID
    letter_id: UUID
    kind: str
    reason: str
    created_at: datetime


def letter_content(letter: Letter, operator: Operator, code_key: bytes) -> LetterContent:
    """What the letter says, from what was decided when its job went out: rendering it later gives the same."""
    day = letter.letter_date or (letter.created_at.date() if letter.created_at else None)
    if letter.recipient is None or day is None:
        raise ValueError("the letter has no recipient yet")
    portal_url = operator.portal_url
    ordered = sorted(letter.grants, key=lambda g: g.role != PartnerRole.CONSUMPTION)
    codes = letter.registration_codes(code_key)
    return LetterContent(
        operator_name=operator.name,
        letterhead=operator.letterhead,
        return_address=operator.return_address,
        primary_color=operator.primary_color,
        service_phone=operator.service_phone,
        service_email=operator.service_email,
        service_hours=operator.service_hours,
        recipient_lines=letter.recipient.lines,
        letter_date=day,
        reference=letter.reference,
        meter_number=letter.meter_number,
        portal_url=portal_url,
        partners=tuple(
            PartnerLine(
                g.partner_number,
                g.role.value,
                access_link(portal_url, letter.meter_number, g.partner_number, codes[g.partner_number]),
            )
            for g in ordered
        ),
    )
