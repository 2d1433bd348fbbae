"""Inbox: a consumer records each event id it handled, in the same transaction as the handling.

A redelivered event finds its id already there and changes nothing.
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import Column, DateTime
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from kit.db import driver


class InboxEntry(SQLModel, table=True):
    __tablename__ = "inbox"

    consumer: str = Field(primary_key=True)
    event_id: UUID = Field(primary_key=True)
    processed_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


async def first_delivery(session: AsyncSession, consumer: str, event_id: UUID) -> bool:
    """True when this consumer has not handled the event before (and records that it now does)."""
    return event_id in await first_deliveries(session, consumer, [event_id])


# The batch's ids not recorded before, recorded now (an id given twice is recorded once).
_RECORD_NEW = (
    "INSERT INTO inbox (consumer, event_id, processed_at) SELECT $1, id, $3 FROM unnest($2::uuid[]) AS id"
    " ON CONFLICT DO NOTHING RETURNING event_id"
)


async def first_deliveries(session: AsyncSession, consumer: str, event_ids: Sequence[UUID]) -> set[UUID]:
    """Those of the events this consumer has not handled before (and records that it now does): one statement
    for a whole batch, on the driver's connection. An id given twice is recorded, and returned, once."""
    rows = await (await driver(session)).fetch(_RECORD_NEW, consumer, list(event_ids), datetime.now(UTC))
    return {UUID(bytes=row[0].bytes) for row in rows}
