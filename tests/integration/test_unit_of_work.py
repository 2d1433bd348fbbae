"""The unit of work on a real PostgreSQL: what a commit tells the relays, and read-only units that cannot lock."""

from uuid import uuid4

import pytest
from sqlalchemy.exc import DBAPIError

from contracts.identity import PasswordResetRequested
from contracts.topics import IDENTITY_REQUESTS
from kit.db import Database
from kit.mail import Mail
from kit.uow import UnitsOfWork, Written
from services.onboarding.store import RequestStore

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
    with pytest.raises(DBAPIError, match="read-only transaction"):
        async with units.read() as uow:
            await uow.store.for_change("000328", uuid4())  # SELECT … FOR UPDATE
    async with units.read() as uow:
        assert await uow.store.summaries("000328", None, 10, 0) == []
