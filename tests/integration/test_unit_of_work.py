"""The unit of work on a real PostgreSQL: what a commit tells the relays, read-only units that cannot lock, the
outbox's rows, and a repeated form."""

import asyncio
import json
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import asyncpg
import pytest
from sqlalchemy import text
from sqlmodel import col, select

from contracts.identity import PasswordResetRequested
from contracts.onboarding import RequestingCustomer
from contracts.topics import IDENTITY_REQUESTS
from kit.db import Database, driver
from kit.mail import Mail, OutgoingMail
from kit.outbox import OutboxMessage
from kit.uow import UnitsOfWork, Written
from services.onboarding.domain import PartnerNumberRequest
from services.onboarding.store import RequestStore
from tests.unit.examples import HOME, METER

pytestmark = pytest.mark.stack


async def test_a_commit_tells_what_it_wrote_so_only_relays_with_work_wake(db: Database) -> None:
    heard: list[Written] = []
    units = UnitsOfWork(db, RequestStore, after_commit=heard.append)
    event = PasswordResetRequested(email="erika@example.org")
    mail = Mail("Kundenportal", "portal@example.org", "erika@example.org", "Betreff", "Text", "test")
    async with units() as uow:
        uow.publish(IDENTITY_REQUESTS, "key", event, tenant="000328", correlation_id=uuid4())
    async with units() as uow:
        uow.send_mail(mail, tenant="000328", correlation_id=uuid4())
        uow.send_mail(mail, tenant="000328", correlation_id=uuid4())
    async with units() as uow:
        await uow.master_data.find("000328", "1EMH0005939068")
    with pytest.raises(RuntimeError):
        async with units() as uow:
            uow.publish(IDENTITY_REQUESTS, "key", event, tenant="000328", correlation_id=uuid4())
            raise RuntimeError("the use case failed")
    assert heard == [Written(events=1), Written(mails=2), Written()]  # a rolled-back unit tells nothing


async def test_a_read_only_unit_of_work_cannot_take_a_row_lock(db: Database) -> None:
    units = UnitsOfWork(db, RequestStore)
    with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
        async with units.read() as uow:
            await uow.store.for_change("000328", uuid4())  # SELECT … FOR UPDATE
    async with units.read() as uow:
        assert await uow.store.summaries("000328", None, 10, 0) == []


async def test_driver_and_orm_statements_share_the_transaction_from_its_first_statement(db: Database) -> None:
    seen = "SELECT count(*) FROM partner_number_requests WHERE tenant = 'x-driver'"
    add = (
        "INSERT INTO partner_number_requests (id, tenant, submission_id, correlation_id, status, meter_number,"
        " customer, grants, created_at, updated_at) VALUES ($1, 'x-driver', $2, $3, 'received', 'm', '{}', '[]',"
        " now(), now())"
    )
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            await (await driver(session)).execute(add, uuid4(), uuid4(), uuid4())  # before any ORM statement
            assert (await session.exec(text(seen))).scalar() == 1  # type: ignore[call-overload]
            raise RuntimeError("the use case failed")
    async with db.transaction() as session:
        assert await (await driver(session)).fetchval(seen) == 0  # rolled back with the transaction
        await (await driver(session)).execute(add, uuid4(), uuid4(), uuid4())
    async with db.transaction(read_only=True) as session:
        assert (await session.exec(text(seen))).scalar() == 1  # type: ignore[call-overload]
        with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
            await (await driver(session)).execute(add, uuid4(), uuid4(), uuid4())


async def test_a_connection_the_server_ended_while_idle_is_replaced_not_handed_out_again(db: Database) -> None:
    """A cut (pg_terminate_backend, a restarted server) while the service is idle: the next unit of work gets a
    new connection. Before, the dead one went back to the pool and every unit of work — /health too — failed
    until pool_recycle (found by the chaos run's last fault, which came after the load)."""
    async with db.transaction() as session:
        backend = await (await driver(session)).fetchval("SELECT pg_backend_pid()")
    [[ended]] = await db.fetch("SELECT pg_terminate_backend($1)", backend)
    assert ended
    for _ in range(100):  # the driver notices when the loop reads the closed socket
        if not await db.fetch("SELECT 1 FROM pg_stat_activity WHERE pid = $1", backend):
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.05)
    for _ in range(3):
        async with db.transaction() as session:
            assert await (await driver(session)).fetchval("SELECT pg_backend_pid()") != backend


async def test_the_outbox_keeps_the_order_of_events_and_counts_the_transactions_own_mails(db: Database) -> None:
    units = UnitsOfWork(db, RequestStore)
    events = [PasswordResetRequested(email=f"kunde{n}@example.org") for n in range(3)]
    mail = Mail("Kundenportal", "portal@example.org", "erika@example.org", "Betreff", "Text", "test")
    since = datetime.now(UTC) - timedelta(minutes=1)
    async with units() as uow:
        for event in events:
            uow.publish(IDENTITY_REQUESTS, "key", event, tenant="000328", correlation_id=uuid4())
        uow.send_mail(mail, tenant="000328", correlation_id=uuid4())
        assert await uow.mails_to("000328", "erika@example.org", ["test"], since) == 1
        uow.send_mail(mail, tenant="000328", correlation_id=uuid4())
    async with db.transaction() as session:
        bodies = (await session.exec(select(OutboxMessage.body).order_by(col(OutboxMessage.seq)))).all()
        mails = (await session.exec(select(OutgoingMail))).all()
    assert [json.loads(body)["payload"]["email"] for body in bodies] == [event.email for event in events]
    assert len(mails) == 2 and all(m.attempts == 0 and m.sent_at is None for m in mails)


async def test_a_repeated_form_is_stored_once_and_answered_with_the_first_request(db: Database) -> None:
    units = UnitsOfWork(db, RequestStore)
    customer = RequestingCustomer(
        first_name="Erika", last_name="Mustermann", email="erika@example.org", postal_address=HOME
    )
    submission, now = uuid4(), datetime.now(UTC)
    first = PartnerNumberRequest.submit(uuid4(), "000328", METER, customer, submission_id=submission)
    again = PartnerNumberRequest.submit(uuid4(), "000328", METER, customer, submission_id=submission)
    async with units() as uow:
        assert await uow.store.add_unless_submitted(first, now) is None
    async with units() as uow:
        assert await uow.store.add_unless_submitted(again, now) == first.id
        stored = await uow.store.summary("000328", first.id)
    assert stored is not None and stored.request.customer == customer and stored.request.status == first.status
