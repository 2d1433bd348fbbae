"""The audit log of back-office actions: who did what to which request or letter, when and from where.

Written once here, used by every service with a back-office: a route that acts for a staff member writes the
entry in the unit of work of the action (``uow.audit``), so an action and its entry commit together or not at
all. The table is append-only in the database (kit.migrations.create_audit_log_table_v1: a trigger refuses
UPDATE, DELETE and TRUNCATE). The operator's admins read and export it (``audit_router``).
"""

import csv
import io
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal, Protocol

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from sqlalchemy import BigInteger, Column, DateTime, Identity
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from kit.db import Database
from kit.errors import error_responses


@dataclass(frozen=True)
class Actor:
    """A signed-in staff member acting at one operator, and where the request came from."""

    tenant: str
    staff_id: str
    name: str
    role: str
    address: str


@dataclass(frozen=True)
class AuditEntry:
    actor: Actor
    action: str  # e.g. "request.approved", "letter.task_resolved", "staff.created"
    subject_kind: str  # "request" | "letter" | "task" | "staff" | …
    subject_id: str
    details: dict[str, Any] = field(default_factory=dict)


class AuditTrail(Protocol):
    def add(self, entry: AuditEntry, at: datetime) -> None: ...


@dataclass
class AuditEntries:
    """Entries kept in memory (the unit tests' unit of work; inspect ``entries``)."""

    entries: list[tuple[AuditEntry, datetime]] = field(default_factory=list)

    def add(self, entry: AuditEntry, at: datetime) -> None:
        self.entries.append((entry, at))


class AuditRow(SQLModel, table=True):
    __tablename__ = "audit_log"

    seq: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    tenant: str = Field(index=True)
    at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    staff_id: str
    staff_name: str
    staff_role: str
    client_address: str
    action: str
    subject_kind: str
    subject_id: str
    details: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))


_audit: sa.Table = AuditRow.__table__  # type: ignore[attr-defined]


class SessionAuditTrail:
    """Entries written in the unit of work's transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, entry: AuditEntry, at: datetime) -> None:
        actor = entry.actor
        self._session.add(
            AuditRow(
                tenant=actor.tenant,
                at=at,
                staff_id=actor.staff_id,
                staff_name=actor.name,
                staff_role=actor.role,
                client_address=actor.address,
                action=entry.action,
                subject_kind=entry.subject_kind,
                subject_id=entry.subject_id,
                details=entry.details,
            )
        )


COLUMNS = ("at", "staff_name", "staff_role", "staff_id", "client_address", "action", "subject_kind", "subject_id")


async def entries_of(
    session: AsyncSession, tenant: str, since: datetime | None, until: datetime | None, limit: int
) -> list[dict[str, Any]]:
    """This operator's entries, newest first."""
    statement = sa.select(_audit).where(_audit.c.tenant == tenant).order_by(_audit.c.seq.desc()).limit(limit)
    if since:
        statement = statement.where(_audit.c.at >= since)
    if until:
        statement = statement.where(_audit.c.at < until)
    rows = (await (await session.connection()).execute(statement)).mappings().all()
    return [
        {**{name: row[name] for name in COLUMNS}, "at": row["at"].isoformat(), "details": row["details"]}
        for row in rows
    ]


def as_csv(entries: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*COLUMNS, "details"])
    for entry in entries:
        writer.writerow([*(entry[name] for name in COLUMNS), ";".join(f"{k}={v}" for k, v in entry["details"].items())])
    return out.getvalue()


def audit_router(database: Callable[[], Database], admin: Callable[..., Awaitable[Actor]]) -> APIRouter:
    """``GET /backoffice/audit`` for the operator's admins (``admin``: the dependency that yields one;
    ``database``: the service's database, asked for when the log is read)."""
    router = APIRouter(tags=["audit"])

    @router.get(
        "/backoffice/audit",
        summary="This operator's audit log (admins; ?format=csv to export)",
        responses={
            200: {"content": {"application/json": {}, "text/csv": {"schema": {"type": "string"}}}},
            **error_responses(401, 403, 404, 422),
        },
    )
    async def audit_log(
        actor: Annotated[Actor, Depends(admin)],
        since: datetime | None = None,
        until: datetime | None = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
        format: Literal["json", "csv"] = "json",
    ) -> Any:
        async with database().transaction(read_only=True) as session:
            entries = await entries_of(session, actor.tenant, since, until, limit)
        if format == "csv":
            headers = {"Content-Disposition": f'attachment; filename="audit-{actor.tenant}.csv"'}
            return Response(as_csv(entries), media_type="text/csv; charset=utf-8", headers=headers)
        return entries

    return router
