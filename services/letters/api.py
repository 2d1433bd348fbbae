"""Letters' HTTP API: for the back-office letter jobs, their dispatch status and returned letters; for the
print house the PDFs its dispatch jobs name."""

import hashlib
import secrets
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from contracts.staff import StaffRole
from kit.audit import Actor, audit_router
from kit.credentials import read_per_tenant
from kit.errors import error_responses
from kit.http import INT64_MAX, refusals_answered, tenant_from_host
from kit.staff import StaffAccess, acting
from kit.tenants import Tenant, TenantDirectory, UnknownTenant
from kit.uow import UnitsOfWork
from services.letters import handlers
from services.letters.domain import WITHOUT_JOB, LetterStatus, LetterSummary, StatusReport
from services.letters.handlers import Letters
from services.letters.render_worker import Renderer
from services.letters.settings import LettersSettings

_PDF_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"application/pdf": {}},
        "headers": {"X-Content-SHA256": {"description": "SHA-256 (hex) of the PDF", "schema": {"type": "string"}}},
    },
    **error_responses(
        404,
        410,
        422,
        described={
            404: "Unknown portal, no such letter (at this operator), or its job is not out yet",
            410: "Deleted: the letter is with the carrier",
        },
    ),
}
# The back-office's answers besides success: no or an ended staff token (401), another operator's or a role not
# allowed (403), unknown portal or record (404), invalid parameters (422).
_BACKOFFICE_ERRORS = error_responses(401, 403, 404, 422)


_PRINTHOUSE_BEARER = HTTPBearer(auto_error=False, description="The print house's credential for this operator")

# What the use cases refuse, answered as HTTP.
_REFUSALS: dict[type[Exception], int] = {handlers.NotFound: 404}


class StatusReportView(BaseModel):
    status: str
    reason: str | None
    reported_by: str
    happened_at: str


class LetterView(BaseModel):
    letter_id: UUID
    job_id: UUID | None  # the letter's id, once its dispatch job went out
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
            job_id=None if letter.status in WITHOUT_JOB else letter.letter_id,
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
    if status is None or status in WITHOUT_JOB:
        raise HTTPException(404, "Brief nicht gefunden.")
    if pdf is None:
        raise HTTPException(410, "Das PDF wurde nach der Übergabe an die Post gelöscht.")
    headers = {"Cache-Control": "no-store", "X-Content-SHA256": hashlib.sha256(pdf).hexdigest()}
    return Response(pdf, media_type="application/pdf", headers=headers)


def build_print_api(tenants: TenantDirectory, settings: LettersSettings, renderer: Renderer) -> APIRouter:
    """What the print house fetches: the PDF a dispatch job names by ``pdf_url``, with the credential of the job's
    operator (one per operator: a print house of one operator fetches no other operator's letters)."""
    router = APIRouter(tags=["print house"])
    credentials = {
        t: hashlib.sha256(v.encode()).digest() for t, v in read_per_tenant(settings.printhouse_credentials_file).items()
    }

    async def printhouse_of(
        tenant: str, given: Annotated[HTTPAuthorizationCredentials | None, Depends(_PRINTHOUSE_BEARER)]
    ) -> None:
        expected = credentials.get(tenant, b"")
        offered = hashlib.sha256(given.credentials.encode()).digest() if given else b"-"
        if not secrets.compare_digest(offered, expected) or not expected:
            raise HTTPException(
                401,
                "Zugangsdaten der Druckerei für diesen Netzbetreiber fehlen oder stimmen nicht.",
                headers={"WWW-Authenticate": "Bearer"},
            )

    @router.get(
        "/print/{tenant}/jobs/{job_id}.pdf",
        summary="The print-ready PDF of a dispatch job (the print house's credential of this operator)",
        response_class=Response,
        responses={**_PDF_RESPONSES, **error_responses(401)},
        dependencies=[Depends(printhouse_of)],
    )
    async def print_pdf(tenant: str, job_id: UUID) -> Response:
        try:
            tenants.get(tenant)
        except UnknownTenant:
            raise HTTPException(404, "Brief nicht gefunden.") from None
        return await _pdf(renderer, tenant, job_id)

    return router


def build_api(
    units: UnitsOfWork[Letters],
    tenants: TenantDirectory,
    settings: LettersSettings,
    renderer: Renderer,
    access: StaffAccess | None = None,
) -> APIRouter:
    """``access``: who may use the back-office routes (default: staff tokens of identity, kit.staff)."""
    # Staff of the host's operator with identity's staff token (kit.staff); every change is audited (kit.audit).
    access = access or StaffAccess(units.db, tenants)
    clerk = access.allow(StaffRole.CLERK, StaffRole.ADMIN)
    Clerk = Annotated[Actor, Depends(clerk)]
    router = APIRouter(dependencies=[Depends(clerk)], tags=["back-office"], responses=_BACKOFFICE_ERRORS)
    router.include_router(audit_router(lambda: units.db, access.allow(StaffRole.ADMIN)))
    TenantDep = Annotated[Tenant, Depends(tenant_from_host(tenants))]

    # Reads of personal data (recipients' addresses, partner numbers) are audited like changes.
    @router.get("/backoffice/letters", response_model=list[LetterView], summary="Letter jobs and their status")
    async def list_letters(
        tenant: TenantDep,
        actor: Clerk,
        status: LetterStatus | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        offset: Annotated[int, Query(ge=0, le=INT64_MAX)] = 0,
    ) -> list[LetterView]:
        listed = {"status": status.value if status else None, "limit": limit, "offset": offset}
        async with acting(units, actor, "letters.listed", "letter", "*", **listed) as uow:
            letters = await handlers.list_letters(handlers.ListLetters(tenant, status, limit, offset), uow)
        return [LetterView.of(letter) for letter in letters]

    @router.get("/backoffice/letters/{letter_id}", summary="One letter job with its status reports")
    async def get_letter(tenant: TenantDep, letter_id: UUID, actor: Clerk) -> LetterView:
        audit = ("letter.viewed", "letter", str(letter_id))
        async with refusals_answered(_REFUSALS), acting(units, actor, *audit) as uow:
            letter, reports = await handlers.show_letter(handlers.ShowLetter(tenant, letter_id), uow)
        return LetterView.of(letter, reports)

    @router.get(
        "/backoffice/letters/{letter_id}/pdf",
        summary="The letter PDF, until it is handed to the carrier",
        response_class=Response,
        responses=_PDF_RESPONSES,
    )
    async def get_pdf(tenant: TenantDep, letter_id: UUID, actor: Clerk) -> Response:
        async with acting(units, actor, "letter.pdf_viewed", "letter", str(letter_id)):
            pass  # recorded first: the PDF is the letter itself, address and partner number included
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
    async def resolve_task(tenant: TenantDep, task_id: UUID, actor: Clerk) -> None:
        async with refusals_answered(_REFUSALS), acting(units, actor, "task.resolved", "task", str(task_id)) as uow:
            await handlers.resolve_task(handlers.ResolveTask(tenant, task_id), uow)

    return router
