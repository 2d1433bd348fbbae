"""The mail relay against a real SMTP server that refuses some recipients, on a real database."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlmodel import select

import kit.mail
from kit.db import Database, migrate
from kit.mail import CLAIM_LEASE, Mail, MailRelay, OutgoingMail, insert_mails, mail_row
from services.onboarding.app import MIGRATIONS
from stack.fixtures import DatabaseServer
from tests.conftest import free_port

pytestmark = pytest.mark.stack


class PickyServer:
    """Accepts mail, except 550 for unknown@ (permanent) and 451 for busy@ (try again later)."""

    def __init__(self) -> None:
        self.received: list[Envelope] = []
        self.connections: list[SMTP] = []  # the server side of each connection a mail came on, in order

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address.startswith("unknown@"):
            return "550 5.1.1 No such mailbox"
        if address.startswith("busy@"):
            return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.received.append(envelope)
        if server not in self.connections:
            self.connections.append(server)
        return "250 OK"


@dataclass
class RelayWorld:
    """A fresh database with the mail outbox and an SMTP server that refuses some recipients, on `port`."""

    db: Database
    server: PickyServer
    port: int
    controller: Controller


@pytest.fixture
async def relay_world(postgres_server: DatabaseServer) -> AsyncIterator[RelayWorld]:
    url = await postgres_server.fresh_database("mail_relay")
    await migrate(url, MIGRATIONS)
    controller = Controller(PickyServer(), hostname="127.0.0.1", port=free_port())
    world = RelayWorld(Database(url), controller.handler, controller.port, controller)
    controller.start()
    try:
        yield world
    finally:
        controller.stop()
        await world.db.dispose()


async def store_mails(db: Database, *recipients: str) -> None:
    """One mail to ``<recipient>@example.org`` each, in this order, as a use case stores them."""
    async with db.transaction() as session:
        for who in recipients:
            mail = Mail("Netz", "netz@example.org", f"{who}@example.org", "Betreff", "Text", "test")
            await insert_mails(session, [mail_row(mail, tenant="000328", correlation_id=uuid4())])


async def test_sent_failed_permanently_and_retried_later(relay_world: RelayWorld, tmp_path: Path) -> None:
    db, server, port = relay_world.db, relay_world.server, relay_world.port
    rows = {
        who: mail_row(
            Mail("Netz", "netz@example.org", f"{who}@example.org", "Betreff", "Text", "test"),
            tenant="000328",
            correlation_id=uuid4(),
        )
        for who in ("ok", "unknown", "busy")
    }
    async with db.transaction() as session:
        await insert_mails(session, list(rows.values()))
    ids = {who: row["id"] for who, row in rows.items()}
    relay = MailRelay(db, "127.0.0.1", port)
    assert await relay.run_once() == 3
    async with db.transaction() as session:
        ok, unknown, busy = [await session.get(OutgoingMail, ids[who]) for who in ("ok", "unknown", "busy")]
    assert ok and ok.sent_at and ok.text == ""  # body gone once sent
    assert unknown and unknown.failed_at and unknown.last_error == "permanent SMTP failure 550"
    assert busy and busy.sent_at is None and busy.failed_at is None and busy.attempts == 1
    assert busy.next_attempt_at > datetime.now(UTC)  # retried later, not lost
    assert [e.rcpt_tos for e in server.received] == [["ok@example.org"]]
    assert await relay.run_once() == 0  # nothing due right now


async def test_mails_in_a_row_share_a_connection_and_one_the_server_closed_costs_no_attempt(
    relay_world: RelayWorld,
) -> None:
    db, server = relay_world.db, relay_world.server
    relay = MailRelay(db, "127.0.0.1", relay_world.port)

    async def send(who: str) -> OutgoingMail | None:
        row = mail_row(Mail("Netz", "netz@example.org", f"{who}@example.org", "Betreff", "Text", "test"),
                       tenant="000328", correlation_id=uuid4())  # fmt: skip
        async with db.transaction() as session:
            await insert_mails(session, [row])
        assert await relay.run_once() == 1
        async with db.transaction() as session:
            return await session.get(OutgoingMail, row["id"])

    try:
        first, second = await send("erste"), await send("zweite")
        assert len(server.connections) == 1  # the second mail came on the first one's connection
        # The server ends the idle connection (as a server's timeout does).
        relay_world.controller.loop.call_soon_threadsafe(server.connections[0].transport.close)  # type: ignore[union-attr]
        await asyncio.sleep(0.05)
        third = await send("dritte")
    finally:
        await relay.stop()
    assert [m and (m.sent_at is not None, m.attempts, m.last_error) for m in (first, second, third)] == [
        (True, 1, None)
    ] * 3  # the closed connection cost the third mail no attempt and no retry wait
    assert len(server.connections) == 2
    assert [e.rcpt_tos for e in server.received] == [
        ["erste@example.org"],
        ["zweite@example.org"],
        ["dritte@example.org"],
    ]


class CrashAfterFirstMail(MailRelay):
    """The database goes away after the first mail of a batch was handed to the SMTP server."""

    def __init__(self, db: Database, host: str, port: int) -> None:
        super().__init__(db, host, port)
        self.sent = 0

    async def _send(self, mail: OutgoingMail) -> None:
        if self.sent == 1:
            raise ConnectionResetError("database connection lost")
        await super()._send(mail)
        self.sent += 1


async def test_a_crash_mid_batch_sends_no_mail_twice(relay_world: RelayWorld) -> None:
    """The chaos run's finding: with one transaction per batch, a crash after the SMTP server took the first
    mails rolled back their `sent_at`, and the next run sent them again."""
    db, server, port = relay_world.db, relay_world.server, relay_world.port
    await store_mails(db, "first", "second", "third")
    with pytest.raises(ConnectionResetError):
        await CrashAfterFirstMail(db, "127.0.0.1", port).run_once()
    assert await MailRelay(db, "127.0.0.1", port).run_once() == 2  # the first is recorded as sent
    received = sorted(address for e in server.received for address in e.rcpt_tos)
    assert received == ["first@example.org", "second@example.org", "third@example.org"]


class DatabaseGoneAfterTheClaim:
    """A relay's database that stops answering after it claimed the due mails (the process dies with them)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._claimed = False

    async def fetch(self, query: str, *args: Any) -> list[Any]:
        if self._claimed:
            raise ConnectionResetError("database connection lost")
        self._claimed = True
        return await self._db.fetch(query, *args)


async def test_mails_claimed_by_a_relay_that_died_are_due_again_after_the_lease(relay_world: RelayWorld) -> None:
    db, server, port = relay_world.db, relay_world.server, relay_world.port
    await store_mails(db, "kunde")
    with pytest.raises(ConnectionResetError):
        await MailRelay(DatabaseGoneAfterTheClaim(db), "127.0.0.1", port).run_once()  # type: ignore[arg-type]
    assert len(server.received) == 1  # sent, but its outcome was never recorded
    relay = MailRelay(db, "127.0.0.1", port)
    assert await relay.run_once() == 0  # claimed: not due for another relay during the lease
    await db.fetch("UPDATE mail_outbox SET next_attempt_at = next_attempt_at - $1::interval", CLAIM_LEASE)
    assert await relay.run_once() == 1  # the lease is over: it goes again (same Message-ID, see below)
    assert [e.rcpt_tos for e in server.received] == [["kunde@example.org"]] * 2


async def test_mails_not_begun_within_the_sending_window_go_back_at_once(
    relay_world: RelayWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, server, port = relay_world.db, relay_world.server, relay_world.port
    await store_mails(db, "first", "second")
    relay = MailRelay(db, "127.0.0.1", port)
    monkeypatch.setattr(kit.mail, "SENDING_WINDOW_S", -1.0)  # the window is over before the first mail
    assert await relay.run_once() == 2 and server.received == []
    monkeypatch.undo()
    assert await relay.run_once() == 2  # handed back due at once, not after the lease
    assert sorted(e.rcpt_tos[0] for e in server.received) == ["first@example.org", "second@example.org"]


class CrashBeforeCommit(MailRelay):
    """The process dies after the SMTP server took the mail, before `sent_at` is committed."""

    async def _send(self, mail: OutgoingMail) -> None:
        await super()._send(mail)
        raise ConnectionResetError("killed before the commit")


async def test_a_mail_sent_again_after_a_crash_carries_the_same_message_id(relay_world: RelayWorld) -> None:
    """SMTP cannot be part of the transaction: a crash between the server's 250 and the commit sends the mail again.
    It goes as the same message (one Message-ID, from the outbox row), so the recipient's mail system can tell."""
    db, server, port = relay_world.db, relay_world.server, relay_world.port
    await store_mails(db, "first", "second")
    with pytest.raises(ConnectionResetError):
        await CrashBeforeCommit(db, "127.0.0.1", port).run_once()
    assert await MailRelay(db, "127.0.0.1", port).run_once() == 2
    ids = [
        (envelope.rcpt_tos[0], message_from_bytes(envelope.original_content or b"")["Message-ID"])
        for envelope in server.received
    ]
    first, again, second = ids
    assert first == again and first[0] == "first@example.org" and first[1].endswith("@example.org>")
    assert second[0] == "second@example.org" and second[1] != first[1]


class AfterTheClaim:
    """A relay's database on which another replica's relay runs once right after the relay claimed the due mails,
    before it sends the first (the relays of two replicas overlapping)."""

    def __init__(self, db: Database, between: Callable[[], Awaitable[int]]) -> None:
        self._db = db
        self._between = between
        self.other_handled: int | None = None

    async def fetch(self, query: str, *args: Any) -> list[Any]:
        rows = await self._db.fetch(query, *args)
        if self.other_handled is None:  # the claim
            self.other_handled = await self._between()
        return rows


async def test_two_replicas_relays_send_a_mail_once_and_keep_its_retry_wait(relay_world: RelayWorld) -> None:
    db, server, port = relay_world.db, relay_world.server, relay_world.port
    await store_mails(db, "kunde", "busy")
    other = MailRelay(db, "127.0.0.1", port)
    overlapping = AfterTheClaim(db, other.run_once)
    relay = MailRelay(overlapping, "127.0.0.1", port)  # type: ignore[arg-type]
    assert await relay.run_once() == 2
    assert overlapping.other_handled == 0  # the claimed mails were not due for the other relay
    assert [address for e in server.received for address in e.rcpt_tos] == ["kunde@example.org"]
    async with db.transaction() as session:
        busy = (await session.exec(select(OutgoingMail).where(OutgoingMail.recipient == "busy@example.org"))).one()
    # The attempt put the next one off (and the other relay did not try it in between).
    assert busy.attempts == 1 and busy.next_attempt_at > datetime.now(UTC)
