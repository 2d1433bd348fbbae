"""Inbox: a consumer records each event id it handled, in the same transaction as the handling.

A redelivered event finds its id already there and changes nothing.
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import Column, DateTime, Uuid, bindparam, func, literal
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession


class InboxEntry(SQLModel, table=True):
    __tablename__ = "inbox"

    consumer: str = Field(primary_key=True)
    event_id: UUID = Field(primary_key=True)
    processed_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


async def first_delivery(session: AsyncSession, consumer: str, event_id: UUID) -> bool:
    """True when this consumer has not handled the event before (and records that it now does)."""
    return event_id in await first_deliveries(session, consumer, [event_id])


async def first_deliveries(session: AsyncSession, consumer: str, event_ids: Sequence[UUID]) -> set[UUID]:
    """Those of the events this consumer has not handled before (and records that it now does): one statement
    for a whole batch. An id given twice is recorded, and returned, once."""
    ids = bindparam("event_ids", list(event_ids), type_=ARRAY(Uuid()))
    statement = (
        insert(InboxEntry)
        .from_select(
            ["consumer", "event_id", "processed_at"],
            select(literal(consumer), func.unnest(ids), literal(datetime.now(UTC), DateTime(timezone=True))),
        )
        .on_conflict_do_nothing()
        .returning(col(InboxEntry.event_id))
    )
    return set((await session.exec(statement)).scalars())
