"""Letters' tables and queries. Every query is scoped by tenant."""

from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Column, Date, DateTime, LargeBinary, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.letters.domain import LetterStatus


def _now() -> datetime:
    return datetime.now(UTC)


class LetterRow(SQLModel, table=True):
    """One letter per request; its id is also the dispatch job id."""

    __tablename__ = "letters"
    __table_args__ = (UniqueConstraint("tenant", "request_id"),)

    id: UUID = Field(primary_key=True)
    tenant: str = Field(index=True)
    request_id: UUID
    correlation_id: UUID
    status: str = Field(index=True)
    meter_number: str = Field(index=True)
    grants: list[dict[str, Any]] = Field(sa_column=Column(JSONB, nullable=False))
    reference: str
    recipient: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB))
    pdf: bytes | None = Field(default=None, sa_column=Column(LargeBinary))  # deleted once handed to the carrier
    pdf_sha256: str | None = None  # set once rendered; kept when the PDF is deleted
    pdf_rendered_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    letter_date: date | None = Field(default=None, sa_column=Column(Date))  # the day it was queued
    status_reason: str | None = None
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


# domain.needs_render in SQL, spelled exactly as the partial index ix_letters_to_render (migration 0002) so
# the planner can use it; literal, not bound, because a generic plan cannot match parameters to the index.
_TO_RENDER = text("letters.pdf_sha256 IS NULL AND letters.status IN ('queued', 'picked_up', 'printed')")


class StatusReportRow(SQLModel, table=True):
    __tablename__ = "letter_status_reports"

    id: int | None = Field(default=None, primary_key=True)
    letter_id: UUID = Field(index=True)
    status: str
    reason: str | None = None
    reported_by: str
    happened_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class TaskRow(SQLModel, table=True):
    """Back-office work: a returned or failed letter that a clerk has to look at."""

    __tablename__ = "back_office_tasks"

    id: UUID = Field(primary_key=True)
    tenant: str = Field(index=True)
    letter_id: UUID
    kind: str
    reason: str
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    resolved_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))


async def letter_of_request(session: AsyncSession, tenant: str, request_id: UUID) -> LetterRow | None:
    result = await session.exec(select(LetterRow).where(LetterRow.tenant == tenant, LetterRow.request_id == request_id))
    return result.first()


async def letter_for_update(session: AsyncSession, tenant: str, letter_id: UUID) -> LetterRow | None:
    result = await session.exec(
        select(LetterRow).where(LetterRow.tenant == tenant, LetterRow.id == letter_id).with_for_update()
    )
    return result.first()


async def letter(session: AsyncSession, tenant: str, letter_id: UUID) -> LetterRow | None:
    """Without a lock: for reads that must not wait behind a status report or a render being stored."""
    result = await session.exec(select(LetterRow).where(LetterRow.tenant == tenant, LetterRow.id == letter_id))
    return result.first()


async def letters_to_render(session: AsyncSession, limit: int) -> list[LetterRow]:
    """The oldest letters whose job is out and whose PDF was never rendered, of every tenant."""
    query = select(LetterRow).where(_TO_RENDER).order_by(LetterRow.created_at).limit(limit)  # type: ignore[arg-type]
    return list((await session.exec(query)).all())


async def letters_awaiting(session: AsyncSession, tenant: str, meter_number: str) -> list[LetterRow]:
    result = await session.exec(
        select(LetterRow)
        .where(
            LetterRow.tenant == tenant,
            LetterRow.meter_number == meter_number,
            LetterRow.status == LetterStatus.AWAITING_MASTER_DATA,
        )
        .with_for_update()
    )
    return list(result.all())


async def list_letters(
    session: AsyncSession, tenant: str, status: str | None, limit: int, offset: int
) -> list[LetterRow]:
    query = select(LetterRow).where(LetterRow.tenant == tenant)
    if status:
        query = query.where(LetterRow.status == status)
    query = query.order_by(LetterRow.created_at.desc()).limit(limit).offset(offset)  # type: ignore[attr-defined]
    return list((await session.exec(query)).all())


async def reports_of(session: AsyncSession, letter_id: UUID) -> list[StatusReportRow]:
    result = await session.exec(
        select(StatusReportRow).where(StatusReportRow.letter_id == letter_id).order_by(StatusReportRow.id)  # type: ignore[arg-type]
    )
    return list(result.all())


async def open_tasks(session: AsyncSession, tenant: str) -> list[TaskRow]:
    result = await session.exec(
        select(TaskRow)
        .where(TaskRow.tenant == tenant, TaskRow.resolved_at.is_(None))  # type: ignore[union-attr]
        .order_by(TaskRow.created_at)  # type: ignore[arg-type]
    )
    return list(result.all())


async def task_for_update(session: AsyncSession, tenant: str, task_id: UUID) -> TaskRow | None:
    result = await session.exec(
        select(TaskRow).where(TaskRow.tenant == tenant, TaskRow.id == task_id).with_for_update()
    )
    return result.first()


__all__ = ["LetterRow", "StatusReportRow", "TaskRow", "_now"]
