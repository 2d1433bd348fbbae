"""Letters' HTTP API: for the back-office letter jobs, their dispatch status and returned letters; for the
print house the PDFs its dispatch jobs name."""

import hashlib
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import Response
from pydantic import BaseModel

from kit.db import Database
from kit.http import staff_only, tenant_from_host
from kit.tenants import Tenant, TenantDirectory, UnknownTenant
from services.letters import store
from services.letters.domain import LetterStatus, needs_render
from services.letters.rendering import Renderer
from services.letters.settings import LettersSettings

_PDF_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"application/pdf": {}},
        "headers": {"X-Content-SHA256": {"description": "SHA-256 (hex) of the PDF", "schema": {"type": "string"}}},
    },
    404: {"description": "No such letter (for this tenant), or its job is not out yet"},
    410: {"description": "Deleted: the letter is with the carrier"},
}


class StatusReportView(BaseModel):
    status: str
    reason: str | None
    reported_by: str
    happened_at: str


class LetterView(BaseModel):
    letter_id: UUID
    job_id: UUID
    request_id: UUID
    reference: str
    status: LetterStatus
    status_reason: str | None
    recipient: dict[str, Any] | None
    pdf_available: bool
    created_at: str
    updated_at: str
    reports: list[StatusReportView] = []

    @classmethod
    def of(cls, row: store.LetterRow, reports: list[store.StatusReportRow] | None = None) -> "LetterView":
        return cls(
            letter_id=row.id,
            job_id=row.id,
            request_id=row.request_id,
            reference=row.reference,
            status=LetterStatus(row.status),
            status_reason=row.status_reason,
            recipient=row.recipient,
            pdf_available=row.pdf is not None or needs_render(row.status, row.pdf_sha256),  # rendered on a fetch
            created_at=row.created_at.isoformat(),
            updated_at=row.updated_at.isoformat(),
            reports=[
                StatusReportView(
                    status=r.status,
                    reason=r.reason,
                    reported_by=r.reported_by,
                    happened_at=r.happened_at.isoformat(),
                )
                for r in reports or []
            ],
        )


class TaskView(BaseModel):
    task_id: UUID
    letter_id: UUID
    kind: str
    reason: str
    created_at: str


async def _pdf(db: Database, renderer: Renderer, tenant: str, letter_id: UUID) -> Response:
    """The letter's PDF, rendered now if its job is out and the render worker has not got to it yet."""
    async with db.transaction() as session:
        # No lock: a fetch must not wait behind a status report; Renderer stores one PDF per letter.
        row = await store.letter(session, tenant, letter_id)
    if row is None or row.status == LetterStatus.AWAITING_MASTER_DATA:
        raise HTTPException(404, "Brief nicht gefunden.")
    pdf = row.pdf
    if pdf is None and needs_render(row.status, row.pdf_sha256):
        pdf = await renderer.stored_pdf(tenant, letter_id, urgent=True)
    if pdf is None:
        raise HTTPException(410, "Das PDF wurde nach der Übergabe an die Post gelöscht.")
    headers = {"Cache-Control": "no-store", "X-Content-SHA256": hashlib.sha256(pdf).hexdigest()}
    return Response(pdf, media_type="application/pdf", headers=headers)


def build_print_api(db: Database, tenants: TenantDirectory, settings: LettersSettings, renderer: Renderer) -> APIRouter:
    """What the print house fetches: the PDF a dispatch job names by ``pdf_url``."""
    router = APIRouter(dependencies=[Depends(staff_only(settings.printhouse_token))], tags=["print house"])

    @router.get(
        "/print/{tenant}/jobs/{job_id}.pdf",
        summary="The print-ready PDF of a dispatch job (print-house token)",
        response_class=Response,
        responses=_PDF_RESPONSES,
    )
    async def print_pdf(tenant: str, job_id: UUID) -> Response:
        try:
            tenants.get(tenant)
        except UnknownTenant:
            raise HTTPException(404, "Brief nicht gefunden.") from None
        return await _pdf(db, renderer, tenant, job_id)

    return router


def build_api(db: Database, tenants: TenantDirectory, settings: LettersSettings, renderer: Renderer) -> APIRouter:
    router = APIRouter(dependencies=[Depends(staff_only(settings.backoffice_token))], tags=["back-office"])
    TenantDep = Annotated[Tenant, Depends(tenant_from_host(tenants))]

    @router.get("/backoffice/letters", response_model=list[LetterView], summary="Letter jobs and their status")
    async def list_letters(
        tenant: TenantDep,
        status: LetterStatus | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> list[LetterView]:
        async with db.transaction() as session:
            rows = await store.list_letters(session, tenant.portal_number, status, limit, offset)
        return [LetterView.of(row) for row in rows]

    @router.get("/backoffice/letters/{letter_id}", summary="One letter job with its status reports")
    async def get_letter(tenant: TenantDep, letter_id: UUID) -> LetterView:
        async with db.transaction() as session:
            row = await store.letter_for_update(session, tenant.portal_number, letter_id)
            if row is None:
                raise HTTPException(404, "Brief nicht gefunden.")
            return LetterView.of(row, await store.reports_of(session, letter_id))

    @router.get(
        "/backoffice/letters/{letter_id}/pdf",
        summary="The letter PDF, until it is handed to the carrier",
        response_class=Response,
        responses=_PDF_RESPONSES,
    )
    async def get_pdf(tenant: TenantDep, letter_id: UUID) -> Response:
        return await _pdf(db, renderer, tenant.portal_number, letter_id)

    @router.get("/backoffice/tasks", response_model=list[TaskView], summary="Returned or failed letters to look at")
    async def list_tasks(tenant: TenantDep) -> list[TaskView]:
        async with db.transaction() as session:
            rows = await store.open_tasks(session, tenant.portal_number)
        return [
            TaskView(
                task_id=t.id,
                letter_id=t.letter_id,
                kind=t.kind,
                reason=t.reason,
                created_at=t.created_at.isoformat(),
            )
            for t in rows
        ]

    @router.post("/backoffice/tasks/{task_id}/resolve", status_code=204, summary="Mark a task as done")
    async def resolve_task(tenant: TenantDep, task_id: UUID) -> None:
        async with db.transaction() as session:
            task = await store.task_for_update(session, tenant.portal_number, task_id)
            if task is None:
                raise HTTPException(404, "Aufgabe nicht gefunden.")
            task.resolved_at = store._now()

    return router
