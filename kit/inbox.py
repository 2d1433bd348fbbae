"""Inbox: a consumer records each event id it handled, in the same transaction as the handling.

A redelivered event finds its id already there and changes nothing.
"""

from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import Column, DateTime
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Field, SQLModel, col
from sqlmodel.ext.asyncio.session import AsyncSession


class InboxEntry(SQLModel, table=True):
    __tablename__ = "inbox"

    consumer: str = Field(primary_key=True)
    event_id: UUID = Field(primary_key=True)
    processed_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


async def first_delivery(session: AsyncSession, consumer: str, event_id: UUID) -> bool:
    """True when this consumer has not handled the event before (and records that it now does)."""
    statement = (
        insert(InboxEntry)
        .values(consumer=consumer, event_id=event_id, processed_at=datetime.now(UTC))
        .on_conflict_do_nothing()
        .returning(col(InboxEntry.event_id))
    )
    result = await session.exec(statement)
    return result.first() is not None
