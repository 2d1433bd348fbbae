"""Letters' HTTP API: for the back-office letter jobs, their dispatch status and returned letters; for the
print house the PDFs its dispatch jobs name."""

import hashlib
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import Response
from pydantic import BaseModel

from kit.http import refusals_answered, staff_only, tenant_from_host
from kit.tenants import Tenant, TenantDirectory, UnknownTenant
from kit.uow import UnitsOfWork
from services.letters import handlers
from services.letters.domain import LetterStatus, LetterSummary, StatusReport
from services.letters.handlers import Letters
from services.letters.render_worker import Renderer
from services.letters.settings import LettersSettings

_PDF_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"application/pdf": {}},
        "headers": {"X-Content-SHA256": {"description": "SHA-256 (hex) of the PDF", "schema": {"type": "string"}}},
    },
    404: {"description": "No such letter (for this tenant), or its job is not out yet"},
    410: {"description": "Deleted: the letter is with the carrier"},
}


# What the use cases refuse, answered as HTTP.
_REFUSALS: dict[type[Exception], int] = {handlers.NotFound: 404}


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
    def of(cls, letter: LetterSummary, reports: list[StatusReport] | None = None) -> "LetterView":
        return cls(
            letter_id=letter.letter_id,
            job_id=letter.letter_id,
            request_id=letter.request_id,
            reference=letter.reference,
            status=letter.status,
            status_reason=letter.status_reason,
            recipient=letter.recipient,
            pdf_available=letter.pdf_available,
            created_at=letter.created_at.isoformat(),
            updated_at=letter.updated_at.isoformat(),
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


async def _pdf(renderer: Renderer, tenant: str, letter_id: UUID) -> Response:
    """The letter's PDF, rendered now if its job is out and the render worker has not got to it yet."""
    pdf, status = await renderer.pdf_for_fetch(tenant, letter_id)
    if status is None or status == LetterStatus.AWAITING_MASTER_DATA:
        raise HTTPException(404, "Brief nicht gefunden.")
    if pdf is None:
        raise HTTPException(410, "Das PDF wurde nach der Übergabe an die Post gelöscht.")
    headers = {"Cache-Control": "no-store", "X-Content-SHA256": hashlib.sha256(pdf).hexdigest()}
    return Response(pdf, media_type="application/pdf", headers=headers)


def build_print_api(tenants: TenantDirectory, settings: LettersSettings, renderer: Renderer) -> APIRouter:
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
        return await _pdf(renderer, tenant, job_id)

    return router


def build_api(
    units: UnitsOfWork[Letters], tenants: TenantDirectory, settings: LettersSettings, renderer: Renderer
) -> APIRouter:
    router = APIRouter(dependencies=[Depends(staff_only(settings.backoffice_token))], tags=["back-office"])
    TenantDep = Annotated[Tenant, Depends(tenant_from_host(tenants))]

    @router.get("/backoffice/letters", response_model=list[LetterView], summary="Letter jobs and their status")
    async def list_letters(
        tenant: TenantDep,
        status: LetterStatus | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> list[LetterView]:
        async with units.read() as uow:
            letters = await handlers.list_letters(handlers.ListLetters(tenant, status, limit, offset), uow)
        return [LetterView.of(letter) for letter in letters]

    @router.get("/backoffice/letters/{letter_id}", summary="One letter job with its status reports")
    async def get_letter(tenant: TenantDep, letter_id: UUID) -> LetterView:
        async with refusals_answered(_REFUSALS), units.read() as uow:
            letter, reports = await handlers.show_letter(handlers.ShowLetter(tenant, letter_id), uow)
        return LetterView.of(letter, reports)

    @router.get(
        "/backoffice/letters/{letter_id}/pdf",
        summary="The letter PDF, until it is handed to the carrier",
        response_class=Response,
        responses=_PDF_RESPONSES,
    )
    async def get_pdf(tenant: TenantDep, letter_id: UUID) -> Response:
        return await _pdf(renderer, tenant.portal_number, letter_id)

    @router.get("/backoffice/tasks", response_model=list[TaskView], summary="Returned or failed letters to look at")
    async def list_tasks(tenant: TenantDep) -> list[TaskView]:
        async with units.read() as uow:
            tasks = await handlers.list_tasks(handlers.ListTasks(tenant), uow)
        return [
            TaskView(
                task_id=t.task_id,
                letter_id=t.letter_id,
                kind=t.kind,
                reason=t.reason,
                created_at=t.created_at.isoformat(),
            )
            for t in tasks
        ]

    @router.post("/backoffice/tasks/{task_id}/resolve", status_code=204, summary="Mark a task as done")
    async def resolve_task(tenant: TenantDep, task_id: UUID) -> None:
        async with refusals_answered(_REFUSALS), units() as uow:
            await handlers.resolve_task(handlers.ResolveTask(tenant, task_id), uow)

    return router
