"""Identity's staff API (back-office accounts): set-up by link, sign-in with e-mail + password + TOTP, the staff
session (cookie ``__Host-plusportal-staff-session``, CSRF header on state changes, as for customers), the staff
access token for onboarding and letters, and the admin's management of the operator's staff (audited)."""

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime
from functools import partial
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Cookie, Depends, Header, HTTPException, Request, Response
from pydantic import BaseModel, EmailStr, Field

from contracts.staff import STAFF_ROLE_LABELS, StaffRole
from kit.audit import Actor, AuditEntry, audit_router
from kit.deadletter import DeadLetters, dead_letter_router
from kit.errors import error_responses
from kit.http import RateLimit, client_address, client_key, tenant_from_host
from kit.links import response_links
from kit.ratelimit import SharedHits
from kit.tenants import Tenant, TenantDirectory, UnknownTenant
from kit.uow import UnitsOfWork
from services.identity import staff_handlers as handlers
from services.identity.api import _set_cookie
from services.identity.domain import MAX_PASSWORD_LENGTH, AccessAlert, normalise_email
from services.identity.handlers import Deps, LoginRefused, PasswordRefused
from services.identity.staff_domain import StaffMember, StaffRefused, StaffStatus
from services.identity.staff_handlers import StaffDirectory

STAFF_COOKIE = "__Host-plusportal-staff-session"
WRONG_LOGIN = "E-Mail-Adresse, Passwort oder Code stimmt nicht."
# Every route knows its portal by the host (404 when unknown) and validates its parameters (422); a signed-in
# route refuses without a staff session (401); a state change without its CSRF token, or for a role that may
# not, with 403.
SIGNED_IN = (401, 404, 422)
ALLOWED_ONLY = (401, 403, 404, 422)
# An invited member is disabled or reset by the id the invitation answers.
INVITED_LINKS = response_links(
    201,
    "staff_id",
    disable="POST /staff/members/{staff_id}/disable",
    reset="POST /staff/members/{staff_id}/reset",
)
SETUP_INVALID = (
    "Dieser Einrichtungslink ist abgelaufen oder wurde schon benutzt. Bitte wenden Sie sich an Ihre Administration."
)


class StaffLoginForm(BaseModel):
    email: EmailStr
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH * 4)
    code: str = Field(
        min_length=1, max_length=20, description="Code der Authenticator-App (oder ein Wiederherstellungscode)"
    )


class SetupLink(BaseModel):
    token: str = Field(min_length=20, max_length=100)


class SetupForm(SetupLink):
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH * 4)
    code: str = Field(min_length=6, max_length=10)


class Invitation(BaseModel):
    email: EmailStr
    name: str = Field(min_length=2, max_length=100)
    role: StaffRole


class StaffSessionView(BaseModel):
    staff_id: UUID
    email: str
    name: str
    role: StaffRole
    role_label: str
    tenant: str
    csrf_token: str

    @classmethod
    def of(cls, signed_in: handlers.SignedInStaff) -> "StaffSessionView":
        member = signed_in.member
        return cls(
            staff_id=member.id,
            email=member.email,
            name=member.name,
            role=member.role,
            role_label=STAFF_ROLE_LABELS[member.role],
            tenant=member.tenant,
            csrf_token=signed_in.session.csrf_token,
        )


class AccessAlertView(BaseModel):
    scope: str  # "meter" or "operator" (guesses spread over many meters)
    meter_number: str | None
    raised_at: datetime
    last_held_at: datetime
    held_requests: int
    active: bool  # still held (requests answered by no mail); else history of the last days

    @classmethod
    def of(cls, alert: AccessAlert, now: datetime) -> "AccessAlertView":
        return cls(
            scope=alert.scope.value,
            meter_number=alert.meter_number or None,
            raised_at=alert.raised_at,
            last_held_at=alert.last_held_at,
            held_requests=alert.held_requests,
            active=alert.active(now),
        )


class AdminInvitation(BaseModel):
    email: EmailStr
    name: str = Field(min_length=2, max_length=100)


class OperatorView(BaseModel):
    portal_number: str
    name: str
    admins: int  # active admins (0: invite the first one)

    @classmethod
    def of(cls, tenant: Tenant, staff: list[StaffMember]) -> "OperatorView":
        admins = [m for m in staff if m.role is StaffRole.ADMIN and m.status is StaffStatus.ACTIVE]
        return cls(portal_number=tenant.portal_number, name=tenant.name, admins=len(admins))


class StaffMemberView(BaseModel):
    staff_id: UUID
    email: str
    name: str
    role: StaffRole
    status: str
    created_at: str

    @classmethod
    def of(cls, member: StaffMember) -> "StaffMemberView":
        return cls(
            staff_id=member.id,
            email=member.email,
            name=member.name,
            role=member.role,
            status=member.status.value,
            created_at=member.created_at.isoformat(),
        )


def build_staff_api(
    units: UnitsOfWork[StaffDirectory],
    tenants: TenantDirectory,
    deps: Deps,
    dead_letters: DeadLetters,
    hits: SharedHits | None = None,
) -> APIRouter:
    """``tenants``: the operators; the platform's own back-office (PLATFORM_PORTAL) is added here, for its staff.
    ``dead_letters``: identity's own, listed and replayed by the operator's admins. ``hits``: where the rate
    limits count (kit.ratelimit; none: this process's memory)."""
    router = APIRouter(tags=["staff"])
    operators = tenants
    TenantDep = Annotated[Tenant, Depends(tenant_from_host(tenants.with_platform(deps.settings.portal_url_template)))]
    per_client_login = RateLimit(deps.settings.limit_login_per_client, hits, name="staff_login")
    use_invite = partial(handlers.invite_staff, deps=deps)
    use_reset = partial(handlers.reset_staff, deps=deps)
    use_token = partial(handlers.issue_staff_token, deps=deps)

    def signed_in(csrf: bool, admin: bool, platform: bool = False) -> Callable[..., Awaitable[handlers.SignedInStaff]]:
        """``admin``: manages the staff where it signed in (an operator's admin, or the platform operator at the
        platform); ``platform``: the platform operator only."""

        async def resolve(
            tenant: TenantDep,
            cookie: Annotated[str | None, Cookie(alias=STAFF_COOKIE)] = None,
            csrf_token: Annotated[str | None, Header(alias="X-CSRF-Token")] = None,
        ) -> handlers.SignedInStaff:
            async with units() as uow:  # an expired session found is ended: committed, though refused
                found = await handlers.current_staff(handlers.CurrentStaff(tenant, cookie), uow)
            if found is None:
                raise HTTPException(401, "Bitte melden Sie sich im Back-Office an.")
            if csrf and csrf_token != found.session.csrf_token:
                raise HTTPException(403, "Sicherheitsprüfung fehlgeschlagen. Bitte laden Sie die Seite neu.")
            if admin and found.member.role not in (StaffRole.ADMIN, StaffRole.PLATFORM):
                raise HTTPException(403, "Nur die Administration dieses Netzbetreibers verwaltet Zugänge.")
            if platform and found.member.role != StaffRole.PLATFORM:
                raise HTTPException(403, "Nur der Plattformbetrieb verwaltet die Netzbetreiber.")
            return found

        return resolve

    Staff = Annotated[handlers.SignedInStaff, Depends(signed_in(False, False))]
    StaffCsrf = Annotated[handlers.SignedInStaff, Depends(signed_in(True, False))]
    Admin = Annotated[handlers.SignedInStaff, Depends(signed_in(False, True))]
    AdminCsrf = Annotated[handlers.SignedInStaff, Depends(signed_in(True, True))]
    Platform = Annotated[handlers.SignedInStaff, Depends(signed_in(False, False, platform=True))]
    PlatformCsrf = Annotated[handlers.SignedInStaff, Depends(signed_in(True, False, platform=True))]

    def actor(signed: handlers.SignedInStaff, request: Request) -> Actor:
        member = signed.member
        return Actor(member.tenant, str(member.id), member.name, member.role.value, client_address(request))

    @asynccontextmanager
    async def acting(
        signed: handlers.SignedInStaff, request: Request, action: str, subject: str, **details: Any
    ) -> AsyncIterator[handlers.Uow]:
        async with _answering(), units() as uow:
            yield uow
            uow.audit(AuditEntry(actor(signed, request), action, "staff", subject, dict(details)))

    @router.post(
        "/staff/setup/inspect",
        summary="Whose set-up link this is, and the authenticator's secret",
        responses=error_responses(404, 410, 422),
    )
    async def inspect_setup(form: SetupLink, tenant: TenantDep) -> dict[str, str]:
        async with _answering(), units.read() as uow:
            info = await handlers.inspect_setup(handlers.InspectSetup(tenant, form.token), uow)
        return {
            "email": info.email,
            "name": info.name,
            "role": info.role.value,
            "role_label": STAFF_ROLE_LABELS[info.role],
            "totp_secret": info.totp_secret,
            "otpauth_uri": info.otpauth_uri,
        }

    @router.post(
        "/staff/setup/complete",
        summary="Set the password and confirm the authenticator; answers the recovery codes",
        responses=error_responses(404, 410, 422),
    )
    async def complete_setup(form: SetupForm, tenant: TenantDep) -> dict[str, list[str]]:
        async with _answering(), units() as uow:
            codes = await handlers.complete_setup(
                handlers.CompleteSetup(tenant, form.token, form.password, form.code), uow
            )
        return {"recovery_codes": codes}

    @router.post(
        "/staff/sessions",
        summary="Staff sign-in: e-mail, password and TOTP code",
        responses=error_responses(401, 404, 422, 429),
    )
    async def login(form: StaffLoginForm, tenant: TenantDep, request: Request, response: Response) -> StaffSessionView:
        await per_client_login.check("staff", tenant.portal_number, client_key(request))
        command = handlers.StaffLogin(
            tenant, normalise_email(str(form.email)), form.password, form.code, request.headers.get("user-agent")
        )
        async with units() as uow:
            new = await handlers.staff_login(command, uow)
            if isinstance(new, handlers.NewStaffSession):
                uow.audit(AuditEntry(actor(new, request), "staff.signed_in", "staff", str(new.member.id)))
        if isinstance(new, LoginRefused):
            if new.retry_after is None:
                raise HTTPException(401, WRONG_LOGIN)
            minutes = max(1, round(new.retry_after / 60))
            raise HTTPException(
                429,
                f"Zu viele Fehlversuche für diese E-Mail-Adresse. Bitte warten Sie {minutes} Minute(n) – oder "
                "bitten Sie Ihre Administration, Ihren Zugang zurückzusetzen.",
                headers={"Retry-After": str(new.retry_after)},
            )
        _set_cookie(response, STAFF_COOKIE, new.token, None)
        return StaffSessionView.of(new)

    @router.get("/staff/session", summary="Who is signed in to the back-office", responses=error_responses(*SIGNED_IN))
    async def get_session(current: Staff) -> StaffSessionView:
        return StaffSessionView.of(current)

    @router.post(
        "/staff/session/token",
        summary="A short-lived staff access token (ES256) for onboarding and letters",
        responses=error_responses(*ALLOWED_ONLY),
    )
    async def token(current: StaffCsrf) -> dict[str, Any]:
        async with units.read() as uow:
            issued = use_token(current, uow)
        return {"access_token": issued.value, "token_type": "Bearer", "expires_in": issued.expires_in}

    @router.delete(
        "/staff/session",
        status_code=204,
        summary="Sign out of the back-office",
        responses=error_responses(*ALLOWED_ONLY),
    )
    async def logout(current: StaffCsrf, response: Response) -> None:
        async with units() as uow:
            await handlers.staff_logout(current, uow)
        response.delete_cookie(STAFF_COOKIE, path="/", secure=True, httponly=True, samesite="strict")

    @router.get(
        "/staff/alerts",
        summary="Meters whose access requests are held because of guesses (clerks, admins)",
        responses=error_responses(*SIGNED_IN),
    )
    async def list_alerts(current: Staff, tenant: TenantDep) -> list[AccessAlertView]:
        async with units.read() as uow:
            now = uow.now()
            return [AccessAlertView.of(alert, now) for alert in await handlers.list_access_alerts(tenant, uow)]

    # --- the platform operator: the operators and their admins (never an operator's requests or letters) ---

    @router.get(
        "/staff/tenants",
        summary="The operators this installation serves, with their admins (platform)",
        responses=error_responses(*ALLOWED_ONLY),
    )
    async def list_tenants(current: Platform) -> list[OperatorView]:
        async with units.read() as uow:
            return [OperatorView.of(tenant, await handlers.list_staff(tenant, uow)) for tenant in operators]

    @router.post(
        "/staff/tenants/{portal_number}/admins",
        status_code=201,
        summary="Invite an operator's admin (platform); the set-up link is mailed to them",
        responses=error_responses(*ALLOWED_ONLY, 409),
    )
    async def invite_operator_admin(
        portal_number: str, form: AdminInvitation, current: PlatformCsrf, request: Request
    ) -> dict[str, str]:
        try:
            operator = operators.get(portal_number)
        except UnknownTenant:
            raise HTTPException(404, "Diesen Netzbetreiber gibt es hier nicht.") from None
        command = handlers.InviteStaff(operator, normalise_email(str(form.email)), form.name, StaffRole.ADMIN)
        async with _answering(), units() as uow:
            invited = await use_invite(command, uow)
            entry = AuditEntry(actor(current, request), "tenant.admin_invited", "staff", str(invited.staff_id))
            uow.audit(replace(entry, details={"operator": portal_number, "email": invited.email}))
        return {"staff_id": str(invited.staff_id)}

    @router.get("/staff/members", summary="The operator's staff (admins)", responses=error_responses(*ALLOWED_ONLY))
    async def list_members(current: Admin, tenant: TenantDep) -> list[StaffMemberView]:
        async with units.read() as uow:
            return [StaffMemberView.of(m) for m in await handlers.list_staff(tenant, uow)]

    @router.post(
        "/staff/members",
        status_code=201,
        summary="Invite a staff member (admins); the set-up link is mailed",
        responses={**error_responses(*ALLOWED_ONLY, 409), **INVITED_LINKS},
    )
    async def invite(form: Invitation, current: AdminCsrf, tenant: TenantDep, request: Request) -> dict[str, str]:
        command = handlers.InviteStaff(tenant, normalise_email(str(form.email)), form.name, form.role)
        async with _answering(), units() as uow:
            invited = await use_invite(command, uow)
            entry = AuditEntry(actor(current, request), "staff.invited", "staff", str(invited.staff_id))
            uow.audit(replace(entry, details={"role": form.role.value, "email": invited.email}))
        return {"staff_id": str(invited.staff_id)}

    @router.post(
        "/staff/members/{staff_id}/disable",
        status_code=204,
        summary="Disable a staff member (admins)",
        responses=error_responses(*ALLOWED_ONLY, 409),
    )
    async def disable(staff_id: UUID, current: AdminCsrf, tenant: TenantDep, request: Request) -> None:
        async with acting(current, request, "staff.disabled", str(staff_id)) as uow:
            await handlers.disable_staff(handlers.ManageStaff(tenant, current.member.id, staff_id), uow)

    @router.post(
        "/staff/members/{staff_id}/reset",
        status_code=204,
        summary="Reset password and second factor (admins)",
        responses=error_responses(*ALLOWED_ONLY, 409),
    )
    async def reset(staff_id: UUID, current: AdminCsrf, tenant: TenantDep, request: Request) -> None:
        async with acting(current, request, "staff.reset", str(staff_id)) as uow:
            await use_reset(handlers.ManageStaff(tenant, current.member.id, staff_id), uow)

    async def admin_actor(current: Admin, request: Request) -> Actor:
        return actor(current, request)

    async def admin_acting(current: AdminCsrf, request: Request) -> Actor:
        return actor(current, request)

    router.include_router(audit_router(lambda: units.db, admin_actor))
    router.include_router(dead_letter_router(dead_letters, admin_actor, admin_acting))
    return router


@asynccontextmanager
async def _answering() -> AsyncIterator[None]:
    try:
        yield
    except handlers.InvalidSetupLink:
        raise HTTPException(410, SETUP_INVALID) from None
    except PasswordRefused as refusal:
        raise HTTPException(422, str(refusal)) from None
    except handlers.WrongCode:
        raise HTTPException(422, "Der Code passt nicht. Bitte geben Sie den aktuellen Code aus der App ein.") from None
    except StaffRefused as refusal:
        raise HTTPException(409, str(refusal)) from None
    except LookupError as refusal:
        raise HTTPException(404, str(refusal)) from None
