"""Onboarding's HTTP API: the public request form and the back-office review. Routes stay thin."""

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

from contracts.common import PostalAddress
from contracts.masterdata import MeterPointRecorded
from contracts.onboarding import RequestingCustomer
from contracts.staff import StaffRole
from kit.audit import Actor, audit_router
from kit.errors import error_responses
from kit.http import INT64_MAX, RateLimit, client_key, refusals_answered, tenant_from_host
from kit.identifiers import MeterNumberInput, normalise_meter_number
from kit.links import response_links
from kit.ratelimit import SharedHits
from kit.staff import StaffAccess, acting
from kit.tenants import Tenant, TenantDirectory
from kit.uow import UnitsOfWork
from services.onboarding import handlers
from services.onboarding.domain import RequestStatus, RequestSummary, StatusConflict
from services.onboarding.handlers import Requests
from services.onboarding.settings import OnboardingSettings

# What the use cases refuse, answered as HTTP.
_REFUSALS: dict[type[Exception], int] = {handlers.NotFound: 404, StatusConflict: 409}
# The back-office's answers besides success: no or an ended staff token (401), another operator's or a role
# not allowed (403), unknown portal or record (404), a decision the request's status no longer allows (409).
READ_ERRORS = error_responses(401, 403, 404, 422)
CHANGE_ERRORS = error_responses(401, 403, 404, 409, 422)
# The id of a submitted request is the one the back-office looks up, approves or rejects.
SUBMITTED_LINKS = response_links(
    202,
    "request_id",
    show="GET /backoffice/requests/{request_id}",
    approve="POST /backoffice/requests/{request_id}/approve",
    reject="POST /backoffice/requests/{request_id}/reject",
)


class AddressForm(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    street: str = Field(min_length=1, max_length=100, description="Straße")
    house_number: str = Field(min_length=1, max_length=20, description="Hausnummer")
    postcode: str = Field(description="Postleitzahl (5 Ziffern)")
    city: str = Field(min_length=1, max_length=100, description="Ort")

    @field_validator("postcode")
    @classmethod
    def german_postcode(cls, value: str) -> str:
        if len(value) != 5 or not (value.isascii() and value.isdigit()) or value.startswith("00"):  # not "１２３４５"
            raise ValueError("Bitte eine deutsche Postleitzahl mit 5 Ziffern angeben, zum Beispiel 12345.")
        return value

    def to_contract(self) -> PostalAddress:
        return PostalAddress(street=self.street, house_number=self.house_number, postcode=self.postcode, city=self.city)


class RequestForm(BaseModel):
    """The request form for the Geschäftspartner-Nr. Netz."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    submission_id: UUID = Field(
        description="Chosen by the client once per form; a repeated submit returns the same request"
    )
    first_name: str = Field(min_length=1, max_length=100, description="Vorname")
    last_name: str = Field(min_length=1, max_length=100, description="Nachname")
    postal_address: AddressForm = Field(description="Postanschrift")
    connection_address: AddressForm | None = Field(default=None, description="Anschlussobjekt, falls abweichend")
    meter_number: MeterNumberInput = Field(
        max_length=40, description="Zählernummer, z. B. 1EMH0005939068 (Leerzeichen erlaubt)"
    )
    email: EmailStr = Field(description="E-Mail-Adresse")
    phone: str | None = Field(default=None, max_length=40, description="Telefon (freiwillig)")
    website: str = Field(default="", max_length=200, description="Leave empty (spam trap, hidden in the form)")

    def customer(self) -> RequestingCustomer:
        return RequestingCustomer(
            first_name=self.first_name,
            last_name=self.last_name,
            email=self.email,
            phone=self.phone or None,
            postal_address=self.postal_address.to_contract(),
            connection_address=self.connection_address.to_contract() if self.connection_address else None,
        )


class Accepted(BaseModel):
    request_id: UUID
    message: str = (
        "Vielen Dank. Sie erhalten gleich eine Kopie Ihrer Nachricht per E-Mail. "
        "Ihre Geschäftspartner-Nr. Netz schicken wir Ihnen per Post."
    )


class RequestView(BaseModel):
    request_id: UUID
    status: RequestStatus
    meter_number: str
    customer: dict[str, Any]
    partner_numbers: list[dict[str, Any]]
    note: str | None
    created_at: str
    updated_at: str

    @classmethod
    def of(cls, summary: RequestSummary) -> "RequestView":
        request = summary.request
        return cls(
            request_id=request.id,
            status=request.status,
            meter_number=request.meter_number,
            customer=request.customer.model_dump(mode="json"),
            partner_numbers=[grant.model_dump(mode="json") for grant in request.grants],
            note=request.note,
            created_at=summary.created_at.isoformat(),
            updated_at=summary.updated_at.isoformat(),
        )


class Approval(BaseModel):
    meter_number: str = Field(description="The master-data record the clerk picked")
    partner_numbers: list[str] | None = Field(default=None, description="Default: every partner of that meter")


class Rejection(BaseModel):
    reason: str = Field(min_length=3, max_length=500)


def build_api(
    units: UnitsOfWork[Requests],
    tenants: TenantDirectory,
    settings: OnboardingSettings,
    access: StaffAccess | None = None,
    hits: SharedHits | None = None,
) -> APIRouter:
    """``access``: who may use the back-office routes (default: staff tokens of identity, kit.staff); ``hits``:
    where the rate limits count, shared by the replicas (kit.ratelimit; none: this process's memory)."""
    router = APIRouter()
    current_tenant = tenant_from_host(tenants)
    per_client = RateLimit(settings.limit_per_client, hits, name="per_client")
    per_email = RateLimit(settings.limit_per_email, hits, name="per_email")
    TenantDep = Annotated[Tenant, Depends(current_tenant)]

    @router.post(
        "/requests",
        status_code=202,
        response_model=Accepted,
        tags=["customer"],
        summary="Submit the request form for the partner number",
        responses={**error_responses(404, 422, 429), **SUBMITTED_LINKS},
    )
    async def submit(form: RequestForm, tenant: TenantDep, request: Request) -> Accepted:
        client = (tenant.portal_number, client_key(request))
        if form.website:  # filled only by bots: answer like a success, keep nothing
            await per_client.check(*client)
            return Accepted(request_id=form.submission_id)
        await per_client.check_then(client, per_email, (tenant.portal_number, str(form.email).lower()))
        command = handlers.SubmitRequest(tenant, form.submission_id, form.meter_number, form.customer())
        async with units() as uow:
            submitted = await handlers.submit_request(command, uow)
        return Accepted(request_id=submitted.request_id)

    # Staff of the host's operator with identity's staff token (kit.staff); every change is audited (kit.audit).
    access = access or StaffAccess(units.db, tenants)
    Clerk = Annotated[Actor, Depends(access.allow(StaffRole.CLERK, StaffRole.ADMIN))]
    staff = [Depends(access.allow(StaffRole.CLERK, StaffRole.ADMIN))]
    router.include_router(audit_router(lambda: units.db, access.allow(StaffRole.ADMIN)))

    # Reads of personal data (names, addresses, e-mails) are audited like changes: who looked at what, when.
    @router.get("/backoffice/requests", tags=["back-office"], response_model=list[RequestView], responses=READ_ERRORS)
    async def list_requests(
        tenant: TenantDep,
        actor: Clerk,
        status: RequestStatus | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        offset: Annotated[int, Query(ge=0, le=INT64_MAX)] = 0,
    ) -> list[RequestView]:
        listed = {"status": status.value if status else None, "limit": limit, "offset": offset}
        async with acting(units, actor, "requests.listed", "request", "*", **listed) as uow:
            summaries = await handlers.list_requests(handlers.ListRequests(tenant, status, limit, offset), uow)
        return [RequestView.of(summary) for summary in summaries]

    @router.get("/backoffice/requests/{request_id}", tags=["back-office"], responses=READ_ERRORS)
    async def get_request(tenant: TenantDep, request_id: UUID, actor: Clerk) -> RequestView:
        audit = ("request.viewed", "request", str(request_id))
        async with refusals_answered(_REFUSALS), acting(units, actor, *audit) as uow:
            return RequestView.of(await handlers.show_request(handlers.ShowRequest(tenant, request_id), uow))

    @router.get(
        "/backoffice/meter-points/{meter_number}",
        dependencies=staff,
        tags=["back-office"],
        summary="This operator's master-data record of a meter (to pick when approving)",
        responses=READ_ERRORS,
    )
    async def get_meter_point(tenant: TenantDep, meter_number: str, actor: Clerk) -> MeterPointRecorded:
        query = handlers.ShowMeterPoint(tenant, normalise_meter_number(meter_number))
        audit = ("meter_point.viewed", "meter", query.meter_number)
        async with refusals_answered(_REFUSALS), acting(units, actor, *audit) as uow:
            return await handlers.show_meter_point(query, uow)

    @router.post(
        "/backoffice/requests/{request_id}/approve",
        tags=["back-office"],
        status_code=204,
        summary="Approve a request in review with a master-data record",
        responses=CHANGE_ERRORS,
    )
    async def approve(tenant: TenantDep, request_id: UUID, approval: Approval, actor: Clerk) -> None:
        meter_number = normalise_meter_number(approval.meter_number)
        command = handlers.ApproveRequest(tenant, request_id, meter_number, approval.partner_numbers)
        audit = ("request.approved", "request", str(request_id))
        async with refusals_answered(_REFUSALS), acting(units, actor, *audit, meter_number=meter_number) as uow:
            await handlers.approve_request(command, uow)

    @router.post(
        "/backoffice/requests/{request_id}/reject",
        tags=["back-office"],
        status_code=204,
        summary="Reject a request in review, with a reason",
        responses=CHANGE_ERRORS,
    )
    async def reject(tenant: TenantDep, request_id: UUID, rejection: Rejection, actor: Clerk) -> None:
        audit = ("request.rejected", "request", str(request_id))
        async with refusals_answered(_REFUSALS), acting(units, actor, *audit, reason=rejection.reason) as uow:
            await handlers.reject_request(handlers.RejectRequest(tenant, request_id, rejection.reason), uow)

    return router
