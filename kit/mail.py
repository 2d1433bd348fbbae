"""Outgoing e-mail, reliably: mails are stored in the sender's transaction and sent by a relay.

SMTP down or a 4xx answer → retried with growing waits; a 5xx answer (e.g. unknown mailbox) →
recorded as failed permanently, not retried. After sending, the body is deleted (data minimisation):
the row keeps who/when/what subject for the record.
"""

import asyncio
import socket
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import formataddr, parseaddr
from typing import Any
from uuid import UUID, uuid4

import aiosmtplib
from sqlalchemy import Column, DateTime, Text
from sqlmodel import Field, SQLModel, col, func, insert, select
from sqlmodel.ext.asyncio.session import AsyncSession

from kit.db import Database
from kit.logging import get_logger
from kit.worker import PollingWorker

log = get_logger(__name__)

MAX_ATTEMPTS = 12  # with the waits below: about a day of retrying


class OutgoingMail(SQLModel, table=True):
    __tablename__ = "mail_outbox"

    id: UUID = Field(primary_key=True)
    tenant: str
    correlation_id: UUID
    purpose: str
    sender: str
    recipient: str
    subject: str
    text: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    next_attempt_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, index=True))
    attempts: int = 0
    sent_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    failed_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    last_error: str | None = None
    # RFC 8058 one-click unsubscribe: mail programs offer a button that POSTs to it (alert mails: turn it off).
    unsubscribe_url: str | None = None


@dataclass(frozen=True)
class Mail:
    sender_name: str
    sender_address: str
    recipient: str
    subject: str
    text: str
    purpose: str
    # A link that ends what the mail is about with one POST (RFC 8058: headers List-Unsubscribe and
    # List-Unsubscribe-Post); its target must change nothing on GET (mail scanners fetch links).
    unsubscribe_url: str | None = None


def mail_row(mail: Mail, *, tenant: str, correlation_id: UUID, created_at: datetime | None = None) -> dict[str, Any]:
    """The outbox row of a mail, as column values. ``created_at``: when the use case sent it, by its clock (counted
    by ``mails_to``); it goes out at once."""
    now = datetime.now(UTC)
    return {
        "id": uuid4(),
        "tenant": tenant,
        "correlation_id": correlation_id,
        "purpose": mail.purpose,
        "sender": formataddr((mail.sender_name, mail.sender_address)),
        "recipient": mail.recipient,
        "subject": mail.subject,
        "text": mail.text,
        "created_at": created_at or now,
        "next_attempt_at": now,
        "attempts": 0,
        "unsubscribe_url": mail.unsubscribe_url,
    }


async def insert_mails(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Rows of ``mail_row`` in one statement, an executemany (compiled once: a multi-row VALUES
    would be compiled anew each time)."""
    await session.exec(insert(OutgoingMail), params=list(rows))


async def mails_to(
    session: AsyncSession, tenant: str, recipient: str, purposes: Collection[str], since: datetime
) -> int:
    """How many mails of these purposes went (or are going) to the recipient since then."""
    counted = select(func.count()).where(
        OutgoingMail.tenant == tenant,
        OutgoingMail.recipient == recipient,
        col(OutgoingMail.purpose).in_(list(purposes)),
        col(OutgoingMail.created_at) > since,
    )
    return int((await session.exec(counted)).one())


async def backlog(session: AsyncSession) -> tuple[int]:
    """How many mails the relay has still to send (retries included; neither sent nor given up): for the metrics."""
    waiting = select(func.count()).where(col(OutgoingMail.sent_at).is_(None), col(OutgoingMail.failed_at).is_(None))
    return (int((await session.exec(waiting)).one()),)


# The mails the relay has to send now, oldest first (OutgoingMail's table).
_DUE = (
    "SELECT id FROM mail_outbox WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $1"
    " ORDER BY created_at LIMIT 50"
)


def _retry_wait(attempts: int) -> timedelta:
    return timedelta(seconds=min(2**attempts, 3600))


class MailRelay(PollingWorker):
    name = "mail-relay"

    def __init__(self, db: Database, smtp_host: str, smtp_port: int, **kwargs: float) -> None:
        super().__init__(**kwargs)
        self._db = db
        self._smtp_host = smtp_host
        self._smtp_port = smtp_port
        self._local_hostname: str | None = None  # the name in EHLO: socket.getfqdn(), looked up once

    async def run_once(self) -> int:
        # One statement, no transaction around it (kit.db.Database.fetch): each mail is checked again below.
        due = [mail_id for (mail_id,) in await self._db.fetch(_DUE, datetime.now(UTC))]
        # Each mail in its own transaction, committed right after the SMTP server took it: with one transaction
        # for the batch, a database crash before its commit sent every mail of the batch again (the chaos run,
        # benchmarks/README.md). SMTP is outside the database, so one mail can still go twice, never a batch.
        for mail_id in due:
            async with self._db.transaction() as session:
                mail = (
                    await session.exec(
                        select(OutgoingMail)
                        .where(col(OutgoingMail.id) == mail_id)
                        .where(col(OutgoingMail.sent_at).is_(None), col(OutgoingMail.failed_at).is_(None))
                        # Another replica's relay may have tried it meanwhile and put the next attempt off.
                        .where(col(OutgoingMail.next_attempt_at) <= datetime.now(UTC))
                        .with_for_update(skip_locked=True)  # another relay has it, or sent it meanwhile
                    )
                ).first()
                if mail is not None:
                    await self._send(mail)
        return len(due)

    async def _send(self, mail: OutgoingMail) -> None:
        message = EmailMessage()
        message["From"] = mail.sender
        message["To"] = mail.recipient
        message["Subject"] = mail.subject
        # The same Message-ID every time this mail is sent: SMTP has no idempotency, so a mail the server took
        # just before a crash (sent_at not committed) goes again — and the recipient's mail system can tell.
        message["Message-ID"] = message_id(mail.id, mail.sender)
        if mail.unsubscribe_url:
            message["List-Unsubscribe"] = f"<{mail.unsubscribe_url}>"
            message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        message.set_content(mail.text)
        mail.attempts += 1
        try:
            if self._local_hostname is None:
                self._local_hostname = await asyncio.to_thread(socket.getfqdn)  # aiosmtplib's default, per mail
            await aiosmtplib.send(
                message,
                hostname=self._smtp_host,
                port=self._smtp_port,
                local_hostname=self._local_hostname,
                timeout=10,
            )
        except (aiosmtplib.SMTPRecipientsRefused, aiosmtplib.SMTPResponseException) as error:
            code = getattr(error, "code", 0) or _first_code(error)
            if 500 <= code < 600:
                mail.failed_at = datetime.now(UTC)
                mail.last_error = f"permanent SMTP failure {code}"
                log.error("mail_failed_permanently", mail_id=str(mail.id), purpose=mail.purpose, code=code)
                return
            self._schedule_retry(mail, f"SMTP {code}")
        except (OSError, aiosmtplib.SMTPException) as error:
            self._schedule_retry(mail, type(error).__name__)
        else:
            mail.sent_at = datetime.now(UTC)
            mail.text = ""  # sent: the body is not needed any more
            log.info("mail_sent", mail_id=str(mail.id), purpose=mail.purpose)

    @staticmethod
    def _schedule_retry(mail: OutgoingMail, reason: str) -> None:
        mail.last_error = reason
        if mail.attempts >= MAX_ATTEMPTS:
            mail.failed_at = datetime.now(UTC)
            log.error("mail_gave_up", mail_id=str(mail.id), purpose=mail.purpose, reason=reason)
            return
        mail.next_attempt_at = datetime.now(UTC) + _retry_wait(mail.attempts)
        log.warning("mail_retry_scheduled", mail_id=str(mail.id), reason=reason, attempts=mail.attempts)


def message_id(mail_id: UUID, sender: str) -> str:
    """The Message-ID of an outgoing mail: its outbox id at the sender's domain."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "plusportal.de"
    return f"<{mail_id}@{domain}>"


def _first_code(error: Exception) -> int:
    recipients = getattr(error, "recipients", [])
    return int(getattr(recipients[0], "code", 0)) if recipients else 0
