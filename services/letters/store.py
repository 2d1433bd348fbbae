"""Letters' tables and the store on them: letters in and out as domain objects. Every query is scoped by
tenant (only the render worker looks across tenants)."""

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import Column, Date, DateTime, LargeBinary, UniqueConstraint, func, literal_column, text, update
from sqlalchemy import select as select_columns
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from contracts.common import PartnerNumberGrant
from contracts.identity import SigningKeyPublished, SigningKeyRevoked
from contracts.letters import DispatchStatusReported, RecipientAddress
from kit import auth
from kit.consumer import Delivered
from kit.db import driver
from services.letters.domain import (
    RENDERABLE,
    Letter,
    LetterStatus,
    LetterSummary,
    PostedLetter,
    StatusReport,
    TaskView,
    needs_render,
)


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
    posted_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))  # its job went out
    status_reason: str | None = None
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


# On every matched request's path, sent on the driver's connection (kit.db.driver).
_HAS_LETTER = "SELECT EXISTS (SELECT 1 FROM letters WHERE tenant = $1 AND request_id = $2)"
_LOCK_METER = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))"
_POSTED_FOR_METER = (
    "SELECT reference, posted_at, status FROM letters WHERE tenant = $1 AND meter_number = $2 AND posted_at >= $3"
)

# domain.needs_render in SQL, spelled exactly as the partial index ix_letters_to_render (migration 0002) so
# the planner can use it; literal, not bound, because a generic plan cannot match parameters to the index.
TO_RENDER_SQL = "pdf_sha256 IS NULL AND status IN ({})".format(", ".join(f"'{status.value}'" for status in RENDERABLE))
_TO_RENDER = text(TO_RENDER_SQL.replace("pdf_sha256", "letters.pdf_sha256").replace("status", "letters.status"))


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


@dataclass(frozen=True)
class StoredPdf:
    """What the PDF endpoints need to know of a letter, without its other columns."""

    status: LetterStatus
    pdf: bytes | None
    pdf_sha256: str | None


def _to_domain(row: LetterRow) -> Letter:
    return Letter(
        id=row.id,
        tenant=row.tenant,
        request_id=row.request_id,
        correlation_id=row.correlation_id,
        meter_number=row.meter_number,
        grants=tuple(PartnerNumberGrant.model_validate(g) for g in row.grants),
        status=LetterStatus(row.status),
        status_reason=row.status_reason,
        recipient=RecipientAddress.model_validate(row.recipient) if row.recipient else None,
        letter_date=row.letter_date,
        posted_at=row.posted_at,
        pdf_sha256=row.pdf_sha256,
        created_at=row.created_at,
    )


def _apply(letter: Letter, row: LetterRow, now: datetime) -> None:
    row.status = letter.status
    row.status_reason = letter.status_reason
    row.recipient = letter.recipient.model_dump(mode="json") if letter.recipient else None
    row.letter_date = letter.letter_date
    row.posted_at = letter.posted_at
    if letter.pdf_deleted:
        row.pdf = None
    row.updated_at = now


# Every column but the PDF's bytes: lists and status reports say whether a PDF exists without loading it.
_SUMMARY_COLUMNS = (
    col(LetterRow.id),
    col(LetterRow.request_id),
    col(LetterRow.reference),
    col(LetterRow.status),
    col(LetterRow.status_reason),
    col(LetterRow.recipient),
    col(LetterRow.pdf_sha256),
    col(LetterRow.created_at),
    col(LetterRow.updated_at),
    col(LetterRow.pdf).is_not(None).label("has_pdf"),
)


def _summary(values: Any) -> LetterSummary:
    return LetterSummary(
        letter_id=values.id,
        request_id=values.request_id,
        reference=values.reference,
        status=LetterStatus(values.status),
        status_reason=values.status_reason,
        recipient=values.recipient,
        pdf_available=values.has_pdf or needs_render(values.status, values.pdf_sha256),  # rendered on a fetch
        created_at=values.created_at,
        updated_at=values.updated_at,
    )


class LetterStore:
    """handlers.Letters on PostgreSQL. Letters loaded for a change are locked until the commit."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._loaded: dict[UUID, LetterRow] = {}

    async def record_signing_key(self, event: Delivered[SigningKeyPublished]) -> None:
        """Identity's public key, to verify staff tokens locally (kit.auth, kit.staff)."""
        await auth.record_signing_key(event, self._session)

    async def record_key_revocation(self, event: Delivered[SigningKeyRevoked]) -> None:
        """Identity revoked a key: staff tokens it signed are refused from now on (kit.auth)."""
        await auth.record_key_revocation(event, self._session)

    async def has_letter(self, tenant: str, request_id: UUID) -> bool:
        return bool(await (await driver(self._session)).fetchval(_HAS_LETTER, tenant, request_id))

    async def for_change(self, tenant: str, letter_id: UUID) -> Letter | None:
        result = await self._session.exec(
            select(LetterRow).where(LetterRow.tenant == tenant, LetterRow.id == letter_id).with_for_update()
        )
        return self._handed_out(result.first())

    async def awaiting_master_data(self, tenant: str, meter_number: str) -> list[Letter]:
        """For a change, oldest first: the letters of this meter that wait for its master-data record."""
        result = await self._session.exec(
            select(LetterRow)
            .where(
                LetterRow.tenant == tenant,
                LetterRow.meter_number == meter_number,
                LetterRow.status == LetterStatus.AWAITING_MASTER_DATA,
            )
            .order_by(col(LetterRow.created_at), col(LetterRow.id))
            .with_for_update()
        )
        return [letter for row in result.all() if (letter := self._handed_out(row))]

    async def posted_for_meter(self, tenant: str, meter_number: str, since: datetime) -> list[PostedLetter]:
        """The meter's letters whose job went out at ``since`` or later. First takes the meter's transaction
        lock: a second request for the meter, decided at the same time, waits for this commit and then sees
        the letter (row locks cannot do it: the letter to wait for may not be a row yet)."""
        connection = await driver(self._session)
        await connection.execute(_LOCK_METER, f"letters-per-meter/{tenant}/{meter_number}")
        rows = await connection.fetch(_POSTED_FOR_METER, tenant, meter_number, since)
        return [PostedLetter(row["reference"], row["posted_at"], LetterStatus(row["status"])) for row in rows]

    def add(self, letter: Letter, now: datetime) -> None:
        row = LetterRow(
            id=letter.id,
            tenant=letter.tenant,
            request_id=letter.request_id,
            correlation_id=letter.correlation_id,
            status=letter.status,
            meter_number=letter.meter_number,
            grants=[g.model_dump(mode="json") for g in letter.grants],
            reference=letter.reference,
            created_at=now,
            updated_at=now,
        )
        _apply(letter, row, now)
        self._session.add(row)
        self._loaded[letter.id] = row

    def save(self, letter: Letter, now: datetime) -> None:
        row = self._loaded[letter.id]
        _apply(letter, row, now)
        for task in letter.new_tasks:
            self._session.add(
                TaskRow(
                    id=uuid4(),
                    tenant=letter.tenant,
                    letter_id=letter.id,
                    kind=task.kind,
                    reason=task.reason,
                    created_at=now,
                )
            )
        letter.new_tasks.clear()

    def add_report(self, letter_id: UUID, report: DispatchStatusReported) -> None:
        self._session.add(
            StatusReportRow(
                letter_id=letter_id,
                status=report.status,
                reason=report.reason,
                reported_by=report.reported_by,
                happened_at=report.happened_at,
            )
        )

    async def summaries(self, tenant: str, status: LetterStatus | None, limit: int, offset: int) -> list[LetterSummary]:
        query = select_columns(*_SUMMARY_COLUMNS).where(col(LetterRow.tenant) == tenant)
        if status:
            query = query.where(col(LetterRow.status) == status)
        query = query.order_by(col(LetterRow.created_at).desc()).limit(limit).offset(offset)
        return [_summary(values) for values in await self._rows(query)]

    async def summary(self, tenant: str, letter_id: UUID) -> LetterSummary | None:
        query = select_columns(*_SUMMARY_COLUMNS).where(col(LetterRow.tenant) == tenant, col(LetterRow.id) == letter_id)
        found = await self._rows(query)
        return _summary(found[0]) if found else None

    async def reports_of(self, letter_id: UUID) -> list[StatusReport]:
        result = await self._session.exec(
            select(StatusReportRow).where(StatusReportRow.letter_id == letter_id).order_by(col(StatusReportRow.id))
        )
        return [StatusReport(r.status, r.reason, r.reported_by, r.happened_at) for r in result.all()]

    async def open_tasks(self, tenant: str) -> list[TaskView]:
        result = await self._session.exec(
            select(TaskRow)
            .where(TaskRow.tenant == tenant, col(TaskRow.resolved_at).is_(None))
            .order_by(col(TaskRow.created_at))
        )
        return [TaskView(t.id, t.letter_id, t.kind, t.reason, t.created_at) for t in result.all()]

    async def resolve_task(self, tenant: str, task_id: UUID, now: datetime) -> bool:
        """Marks the task done; False when this tenant has no such task. Resolving twice keeps the first time."""
        statement: Any = (
            update(TaskRow)
            .where(col(TaskRow.tenant) == tenant, col(TaskRow.id) == task_id)
            .values(resolved_at=func.coalesce(col(TaskRow.resolved_at), now))
            .returning(literal_column("1"))
        )
        return (await self._session.exec(statement)).first() is not None

    # --- the PDF (render worker and PDF endpoints) ----------------------------------------------------------

    async def letter(self, tenant: str, letter_id: UUID) -> Letter | None:
        """Without a lock: for reads that must not wait behind a status report or a render being stored."""
        result = await self._session.exec(
            select(LetterRow).where(LetterRow.tenant == tenant, LetterRow.id == letter_id)
        )
        row = result.first()
        return _to_domain(row) if row else None

    async def stored_pdf(self, tenant: str, letter_id: UUID) -> StoredPdf | None:
        query = select_columns(col(LetterRow.status), col(LetterRow.pdf), col(LetterRow.pdf_sha256)).where(
            col(LetterRow.tenant) == tenant, col(LetterRow.id) == letter_id
        )
        found = await self._rows(query)
        return StoredPdf(LetterStatus(found[0].status), found[0].pdf, found[0].pdf_sha256) if found else None

    async def keep_pdf(self, tenant: str, letter_id: UUID, pdf: bytes, sha256: str, now: datetime) -> bytes | None:
        """Stores a rendered PDF unless one is there already (that one is returned: one letter, one PDF) or the
        letter went to the carrier meanwhile (None: its PDF is gone and stays gone)."""
        result = await self._session.exec(
            select(LetterRow).where(LetterRow.tenant == tenant, LetterRow.id == letter_id).with_for_update()
        )
        row = result.first()
        if row is None:
            return None
        if row.pdf is not None:
            return row.pdf
        if not needs_render(row.status, row.pdf_sha256):
            return None
        row.pdf, row.pdf_sha256, row.pdf_rendered_at = pdf, sha256, now
        return pdf

    async def to_render(self, limit: int) -> list[tuple[str, UUID]]:
        """The oldest letters whose job is out and whose PDF was never rendered, of every tenant."""
        query = (
            select(LetterRow.tenant, LetterRow.id).where(_TO_RENDER).order_by(col(LetterRow.created_at)).limit(limit)
        )
        return [(values.tenant, values.id) for values in await self._rows(query)]

    async def claim_render(self, letter_id: UUID) -> bool:
        """Tries the letter's render lock for this transaction (an advisory lock: it blocks no reader and no status
        report). Render workers of several replicas render only the letters whose lock they hold."""
        claimed = await self._session.exec(
            text("SELECT pg_try_advisory_xact_lock(hashtextextended(:key, 0))").bindparams(  # type: ignore[call-overload]
                key=f"letters-render/{letter_id}"
            )
        )
        return bool(claimed.scalar_one())

    async def waiting_for_rendering(self) -> tuple[int]:
        """How many letters the render worker has still to render, of every tenant (for the metrics)."""
        waiting = select(func.count()).select_from(LetterRow).where(_TO_RENDER)
        return (int((await self._session.exec(waiting)).one()),)

    async def _rows(self, query: Any) -> list[Any]:
        """Rows of a query for some columns (sqlmodel's exec is typed for whole tables and single columns)."""
        return list((await self._session.exec(query)).all())

    def _handed_out(self, row: LetterRow | None) -> Letter | None:
        if row is None:
            return None
        self._loaded[row.id] = row
        return _to_domain(row)
