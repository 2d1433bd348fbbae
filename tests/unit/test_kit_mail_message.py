"""The mail as the relay writes it (kit.mail), read back as a mail program reads it: German text and names intact."""

from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import formataddr
from uuid import uuid4

from aiosmtplib.email import flatten_message

from kit.mail import OutgoingMail, as_message, message_id


def test_a_mail_reads_back_with_its_german_text_sender_name_and_one_click_header() -> None:
    text = (
        "Guten Tag Frau Müller,\n\nIhre Geschäftspartner-Nr. kommt per Post. https://000328.plusportal.de/a#token="
        + "x" * 90
    )
    mail = OutgoingMail(
        id=uuid4(),
        sender=formataddr(("Stadtwerke Münster Netz", "kundenservice@plusportal.de")),
        recipient="erika@example.org",
        tenant="000328",
        correlation_id=uuid4(),
        purpose="test",
        created_at=datetime.now(UTC),
        next_attempt_at=datetime.now(UTC),
        subject="Ihre Anfrage für Zähler 1EMH0000000001",
        text=text,
        unsubscribe_url="https://000328.plusportal.de/api/meterdata/alerts/off?alert=" + "a" * 36 + "&sig=" + "s" * 43,
    )
    raw = flatten_message(as_message(mail))  # as aiosmtplib sends it
    assert raw.isascii()  # no 8-bit data for a server without SMTPUTF8
    read = message_from_bytes(raw, policy=policy.default)
    assert isinstance(read, EmailMessage)
    assert read["Subject"] == "Ihre Anfrage für Zähler 1EMH0000000001"
    assert read["From"].addresses[0].display_name == "Stadtwerke Münster Netz"
    assert read["To"] == "erika@example.org"
    assert read["Message-ID"] == message_id(mail.id, mail.sender)
    assert f"\nList-Unsubscribe: <{mail.unsubscribe_url}>\n".encode() in raw  # on one line, as mail programs expect
    assert read["List-Unsubscribe"] == f"<{mail.unsubscribe_url}>"
    assert read["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert read.get_content_type() == "text/plain" and read["Content-Transfer-Encoding"] == "quoted-printable"
    assert read.get_content() == text
