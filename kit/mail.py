"""Outgoing e-mail, reliably: mails are stored in the sender's transaction and sent by a relay.

SMTP down or a 4xx answer → retried with growing waits; a 5xx answer (e.g. unknown mailbox) →
recorded as failed permanently, not retried. After sending, the body is deleted (data minimisation):
the row keeps who/when/what subject for the record.
"""

import asyncio
import contextlib
import socket
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.charset import QP, Charset
from email.message import Message
from email.mime.nonmultipart import MIMENonMultipart
from email.utils import formataddr, parseaddr
from typing import Any
from uuid import UUID, uuid4

import aiosmtplib
from sqlalchemy import Column, DateTime, Text
from sqlmodel import Field, SQLModel, col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from kit.db import Database, driver, insert_rows
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


_ROW_COLUMNS = ("id", "tenant", "correlation_id", "purpose", "sender", "recipient", "subject", "text", "created_at",
                "next_attempt_at", "attempts", "unsubscribe_url")  # fmt: skip
_COUNT_TO = (
    "SELECT count(*) FROM mail_outbox"
    " WHERE tenant = $1 AND recipient = $2 AND purpose = ANY($3::text[]) AND created_at > $4"
)


async def insert_mails(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Rows of ``mail_row`` in one statement on the driver's connection, an executemany (one prepared
    statement, sent in one round trip)."""
    await insert_rows(session, "mail_outbox", _ROW_COLUMNS, rows)


async def mails_to(
    session: AsyncSession, tenant: str, recipient: str, purposes: Collection[str], since: datetime
) -> int:
    """How many mails of these purposes went (or are going) to the recipient since then."""
    return int(await (await driver(session)).fetchval(_COUNT_TO, tenant, recipient, list(purposes), since))


async def backlog(session: AsyncSession) -> tuple[int]:
    """How many mails the relay has still to send (retries included; neither sent nor given up): for the metrics."""
    waiting = select(func.count()).where(col(OutgoingMail.sent_at).is_(None), col(OutgoingMail.failed_at).is_(None))
    return (int((await session.exec(waiting)).one()),)


_BATCH = 50
# The mails due now, oldest first, claimed in one statement: their next attempt is put off by the claim's lease, so
# another replica's relay does not take them meanwhile (and SKIP LOCKED: not while this statement runs either).
_CLAIM_DUE = (
    "UPDATE mail_outbox SET next_attempt_at = $2 WHERE id IN (SELECT id FROM mail_outbox"
    " WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $1"
    f" ORDER BY created_at LIMIT {_BATCH} FOR UPDATE SKIP LOCKED)"
    " RETURNING id, tenant, correlation_id, purpose, sender, recipient, subject, text, created_at, next_attempt_at,"
    " attempts, unsubscribe_url"
)
# A mail's outcome (sent, failed, or its next attempt), which also ends the claim.
_RECORD_OUTCOME = (
    "UPDATE mail_outbox SET attempts = $2, next_attempt_at = $3, sent_at = $4, failed_at = $5, last_error = $6,"
    " text = $7 WHERE id = $1"
)
_UNCLAIM = "UPDATE mail_outbox SET next_attempt_at = $2 WHERE id = ANY($1::uuid[]) AND sent_at IS NULL"
# A claimed mail whose relay died before recording its outcome is due again after this long. The lease outlasts a
# batch: no mail is begun after SENDING_WINDOW_S, and none takes longer than SEND_TIMEOUT_S.
CLAIM_LEASE = timedelta(minutes=1)
SENDING_WINDOW_S = 20.0
SEND_TIMEOUT_S = 20.0
# How long an idle SMTP connection is used again for the next mail (Postfix's SMTP client caches connections
# for 2 s the same way): a connection per mail cost more CPU than the mail (benchmarks/README.md).
SMTP_KEPT_FOR = 2.0


_TEXT = Charset("utf-8")
_TEXT.body_encoding = QP  # quoted-printable, as EmailMessage.set_content chooses for German text


def as_message(mail: OutgoingMail) -> Message:
    """The mail as sent. Built with the email package's classic API: the same headers and body as EmailMessage
    would write, without its costly header parsing (benchmarks/README.md)."""
    message = MIMENonMultipart("text", "plain")
    message.set_payload(mail.text, _TEXT)
    message["From"] = mail.sender  # formataddr's: non-ASCII names are encoded already
    message["To"] = mail.recipient  # non-ASCII text in a header is written as RFC 2047 encoded words
    message["Subject"] = mail.subject
    # The same Message-ID every time this mail is sent: SMTP has no idempotency, so a mail the server took
    # just before a crash (sent_at not committed) goes again — and the recipient's mail system can tell.
    message["Message-ID"] = message_id(mail.id, mail.sender)
    if mail.unsubscribe_url:
        message["List-Unsubscribe"] = _AsIs(f"<{mail.unsubscribe_url}>")  # type: ignore[assignment]
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return message


class _AsIs:
    """A header value written as it is. The classic generator folds a long value before its first word, which
    would leave ``List-Unsubscribe:`` alone on its line and the address on the next."""

    def __init__(self, value: str) -> None:
        self._value = value

    def encode(self, linesep: str = "\n", maxlinelen: int | None = None) -> str:
        return self._value

    def __str__(self) -> str:
        return self._value


def _retry_wait(attempts: int) -> timedelta:
    return timedelta(seconds=min(2**attempts, 3600))


class MailRelay(PollingWorker):
    name = "mail-relay"
    batch_limit = _BATCH

    def __init__(self, db: Database, smtp_host: str, smtp_port: int, **kwargs: float) -> None:
        super().__init__(**kwargs)
        self._db = db
        self._smtp_host = smtp_host
        self._smtp_port = smtp_port
        self._local_hostname: str | None = None  # the name in EHLO: socket.getfqdn(), looked up once
        self._smtp: aiosmtplib.SMTP | None = None  # the connection kept from the last mail
        self._smtp_used_at = 0.0  # time.monotonic() when it last took a mail

    async def run_once(self) -> int:
        # No transaction held while SMTP talks: the batch is claimed in one statement, each mail's outcome recorded
        # in another right after the server answered. A database crash after the server took a mail sends that
        # one mail again after the lease (SMTP is outside the database), never the batch (the chaos run,
        # benchmarks/README.md).
        now = datetime.now(UTC)
        claimed = sorted(await self._db.fetch(_CLAIM_DUE, now, now + CLAIM_LEASE), key=lambda row: row["created_at"])
        mails = [OutgoingMail(**dict(row)) for row in claimed]
        unsent = {mail.id for mail in mails}
        started = time.monotonic()
        try:
            for mail in mails:
                if time.monotonic() - started > SENDING_WINDOW_S:
                    break  # the lease must outlast the batch: the rest goes back below, for the next round
                await self._send(mail)
                await self._db.fetch(
                    _RECORD_OUTCOME, mail.id, mail.attempts, mail.next_attempt_at, mail.sent_at, mail.failed_at,
                    mail.last_error, mail.text,
                )  # fmt: skip
                unsent.discard(mail.id)
        except BaseException:
            # A failure the relay survives hands the rest back at once (a crash leaves them to the lease).
            with contextlib.suppress(Exception):
                await self._db.fetch(_UNCLAIM, list(unsent), datetime.now(UTC))
            raise
        if unsent:
            await self._db.fetch(_UNCLAIM, list(unsent), datetime.now(UTC))
            self.wake()  # they are due at once
        if not mails and self._smtp is not None and time.monotonic() - self._smtp_used_at > SMTP_KEPT_FOR:
            await self._close_smtp()
        return len(mails)

    async def stop(self) -> None:
        await super().stop()
        await self._close_smtp()

    async def _send(self, mail: OutgoingMail) -> None:
        mail.attempts += 1
        try:
            async with asyncio.timeout(SEND_TIMEOUT_S):  # a TimeoutError is an OSError: tried again later
                await self._deliver(as_message(mail))
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

    async def _deliver(self, message: Message) -> None:
        """Sends on the connection kept from the last mail while it is fresh, else on a new one. A kept connection
        the server has closed meanwhile costs the mail no attempt: it goes on a new connection at once. After any
        other failure the connection is given up (its state is unknown)."""
        kept = self._smtp is not None and time.monotonic() - self._smtp_used_at <= SMTP_KEPT_FOR
        if kept and self._smtp is not None and self._smtp.is_connected:
            try:
                await self._smtp.send_message(message)
                self._smtp_used_at = time.monotonic()
                return
            except (aiosmtplib.SMTPServerDisconnected, ConnectionError):
                pass  # closed by the server while idle: a new connection below
            except BaseException:
                await self._close_smtp()
                raise
        await self._close_smtp()
        if self._local_hostname is None:
            self._local_hostname = await asyncio.to_thread(socket.getfqdn)  # aiosmtplib's default, per connection
        self._smtp = aiosmtplib.SMTP(
            hostname=self._smtp_host, port=self._smtp_port, local_hostname=self._local_hostname, timeout=10
        )
        try:
            await self._smtp.connect()
            await self._smtp.send_message(message)
        except BaseException:
            await self._close_smtp()
            raise
        self._smtp_used_at = time.monotonic()

    async def _close_smtp(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None or not smtp.is_connected:
            return
        try:
            await smtp.quit()
        except (OSError, aiosmtplib.SMTPException):
            smtp.close()

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
