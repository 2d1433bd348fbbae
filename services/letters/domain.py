"""Letters in plain Python: who a letter goes to, what it says, and how its dispatch status moves."""

from datetime import date
from enum import StrEnum

from contracts.common import PartnerNumberGrant, PartnerRole
from contracts.letters import DispatchStatus, RecipientAddress
from contracts.masterdata import MeterPointRecorded, PartnerOfRecord
from services.letters.render import LetterContent, PartnerLine


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


# The happy path in order; a report for an earlier step than the letter has reached is stale.
_PATH = [
    LetterStatus.QUEUED,
    LetterStatus.PICKED_UP,
    LetterStatus.PRINTED,
    LetterStatus.HANDED_TO_CARRIER,
    LetterStatus.DELIVERED,
]
_FINAL = {LetterStatus.RETURNED, LetterStatus.FAILED, LetterStatus.CANCELLED}
# While the job is with the print house its PDF may be rendered (by the worker or on a fetch). Not after
# the handover to the carrier: the PDF is deleted then, and a letter is a credential — never make it again.
RENDERABLE = frozenset({LetterStatus.QUEUED, LetterStatus.PICKED_UP, LetterStatus.PRINTED})


def needs_render(status: str, pdf_sha256: str | None) -> bool:
    """The job is out and its PDF was never rendered (the checksum stays when the PDF is deleted)."""
    return pdf_sha256 is None and status in RENDERABLE


def next_status(current: LetterStatus, reported: DispatchStatus) -> LetterStatus | None:
    """The letter's new status, or None when the report changes nothing (stale or repeated)."""
    new = LetterStatus(reported.value)
    if current in _FINAL or current == LetterStatus.AWAITING_MASTER_DATA:
        return None
    if new in _FINAL:
        return new
    if _PATH.index(new) <= _PATH.index(current):
        return None
    return new


class NoRecipient(Exception):
    """None of the granted partner numbers is in the master-data record of the meter."""


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


def access_link(portal_url: str, meter_number: str, partner_number: str) -> str:
    # In the fragment: browsers never send it, so no server or proxy log ever sees the numbers.
    return f"{portal_url}/zugang#zaehler={meter_number}&partner={partner_number}"


def letter_content(
    *,
    operator_name: str,
    letterhead: tuple[str, ...],
    return_address: str,
    primary_color: str,
    service_phone: str,
    service_email: str,
    service_hours: str,
    portal_url: str,
    recipient: RecipientAddress,
    meter_number: str,
    grants: tuple[PartnerNumberGrant, ...],
    reference: str,
    today: date,
) -> LetterContent:
    ordered = sorted(grants, key=lambda g: g.role != PartnerRole.CONSUMPTION)
    return LetterContent(
        operator_name=operator_name,
        letterhead=letterhead,
        return_address=return_address,
        primary_color=primary_color,
        service_phone=service_phone,
        service_email=service_email,
        service_hours=service_hours,
        recipient_lines=recipient.lines,
        letter_date=today,
        reference=reference,
        meter_number=meter_number,
        portal_url=portal_url,
        partners=tuple(
            PartnerLine(g.partner_number, g.role.value, access_link(portal_url, meter_number, g.partner_number))
            for g in ordered
        ),
    )
