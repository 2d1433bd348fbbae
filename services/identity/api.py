"""Identity's HTTP API. Routes parse, call a handler, answer — and answer alike where an outcome
must not be told (access request, reset, login)."""

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import date
from functools import partial
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Cookie, Depends, Header, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict, EmailStr, Field

from contracts.common import RegistrationCode
from kit.errors import error_responses
from kit.http import RateLimit, client_key, tenant_from_host
from kit.identifiers import MeterNumberInput, PartnerNumberInput
from kit.ratelimit import SharedHits
from kit.tenants import Tenant, TenantDirectory
from kit.uow import UnitsOfWork
from services.identity import handlers
from services.identity.domain import MAX_PASSWORD_LENGTH, BrowserSession, normalise_email
from services.identity.handlers import Deps, Identities

Found = TypeVar("Found", BrowserSession, handlers.SignedIn)

SESSION_COOKIE = "__Host-plusportal-session"
DEVICE_COOKIE = "__Host-plusportal-device"
ACCEPTED = {
    "message": "Vielen Dank. Wenn Ihre Angaben zu unseren Daten passen, erhalten Sie in wenigen Minuten "
    "eine E-Mail mit den nächsten Schritten."
}
RESET_ACCEPTED = {
    "message": "Wenn zu dieser E-Mail-Adresse ein Zugang besteht, erhalten Sie in wenigen Minuten "
    "eine E-Mail mit einem Link zum Zurücksetzen."
}
WRONG_LOGIN = "E-Mail-Adresse oder Passwort stimmt nicht."
LINK_INVALID = "Dieser Link ist abgelaufen oder wurde schon benutzt. Fordern Sie einfach einen neuen an."

# The error answers besides the routes' own: every route knows its portal by the host (404 when unknown) and
# validates its parameters (422); a signed-in route refuses without a session (401), a state change without the
# session's CSRF token (403).
SIGNED_IN_ERRORS = (401, 404, 422)
STATE_CHANGE_ERRORS = (401, 403, 404, 422)


class AccessRequestForm(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    meter_number: MeterNumberInput = Field(max_length=40, description="Zählernummer (Leerzeichen erlaubt)")
    partner_number: PartnerNumberInput = Field(max_length=30, description="Geschäftspartner-Nr. Netz aus dem Brief")
    email: EmailStr
    registration_code: RegistrationCode | None = Field(
        default=None, description="Aus dem Link (QR-Code) des Briefs; fehlt beim Abtippen"
    )


class EmailForm(BaseModel):
    email: EmailStr


class LinkForm(BaseModel):
    token: str = Field(min_length=20, max_length=100)


class PasswordForm(LinkForm):
    # No truncation, no composition rules: checked by domain.password_problem (length 12–128).
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH * 4)


class LoginForm(BaseModel):
    email: EmailStr
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH * 4)


class PartnerChoice(BaseModel):
    partner_number: str = Field(max_length=30)


class PasswordChange(BaseModel):
    current_password: str = Field(max_length=MAX_PASSWORD_LENGTH * 4)
    new_password: str = Field(max_length=MAX_PASSWORD_LENGTH * 4)


class PasswordProof(BaseModel):
    password: str = Field(max_length=MAX_PASSWORD_LENGTH * 4)


class PartnerView(BaseModel):
    partner_number: str
    role: str
    moved_out: date | None = Field(
        default=None,
        description="Last day of the partner's relations to meters once all have ended (ausgezogen): the partner "
        "still sees the days up to it",
    )


class SessionView(BaseModel):
    email: str
    tenant: str
    partner_number: str | None
    role: str | None
    partners: list[PartnerView]
    csrf_token: str
    choose_partner: bool

    @classmethod
    def of(cls, signed_in: handlers.SignedIn) -> "SessionView":
        session, account = signed_in.session, signed_in.account
        return cls(
            email=account.email,
            tenant=session.tenant,
            partner_number=session.partner_number,
            role=session.role,
            partners=[
                PartnerView(
                    partner_number=link.partner_number,
                    role=link.role,
                    moved_out=signed_in.moved_out.get(link.partner_number),
                )
                for link in account.links
            ],
            csrf_token=session.csrf_token,
            choose_partner=session.partner_number is None and len(account.links) > 1,
        )


def _set_cookie(response: Response, name: str, value: str, max_age: int | None) -> None:
    # __Host-: Secure, Path=/ and no Domain — the cookie stays on this portal's host.
    response.set_cookie(name, value, max_age=max_age, path="/", secure=True, httponly=True, samesite="strict")


def _end_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="strict")


def signed_in(
    units: UnitsOfWork[Any],
    tenant_of: Callable[..., Awaitable[Tenant]],
    csrf: bool,
    find: Callable[[handlers.CurrentSession, handlers.Uow], Awaitable[Found | None]],
) -> Callable[..., Awaitable[Found]]:
    """The session of the cookie, as ``find`` returns it; state changes also need the CSRF token as a header.
    ``tenant_of``: the routes' own dependency that finds the tenant (resolved once per request)."""

    async def resolve(
        tenant: Annotated[Tenant, Depends(tenant_of)],
        cookie: Annotated[str | None, Cookie(alias=SESSION_COOKIE)] = None,
        csrf_token: Annotated[str | None, Header(alias="X-CSRF-Token")] = None,
    ) -> Found:
        async with units() as uow:  # an expired session found is ended: committed, though refused
            found = await find(handlers.CurrentSession(tenant, cookie), uow)
        if found is None:
            raise HTTPException(401, "Bitte melden Sie sich an.")
        current = found.session if isinstance(found, handlers.SignedIn) else found
        if csrf and csrf_token != current.csrf_token:
            raise HTTPException(403, "Sicherheitsprüfung fehlgeschlagen. Bitte laden Sie die Seite neu.")
        return found

    return resolve


def build_api(
    units: UnitsOfWork[Identities], tenants: TenantDirectory, deps: Deps, hits: SharedHits | None = None
) -> APIRouter:
    """``hits``: where the rate limits count, shared by the replicas (kit.ratelimit; none: this process's memory)."""
    router = APIRouter()
    tenant_of = tenant_from_host(tenants)
    TenantDep = Annotated[Tenant, Depends(tenant_of)]
    per_client_login = RateLimit(deps.settings.limit_login_per_client, hits, name="login")
    per_client_requests = RateLimit(deps.settings.limit_requests_per_client, hits, name="requests")
    # The use cases that need more than a unit of work, bound once.
    use_complete_access = partial(handlers.complete_access, deps=deps)
    use_complete_reset = partial(handlers.complete_reset, deps=deps)
    use_login = partial(handlers.login, deps=deps)
    use_access_token = partial(handlers.issue_access_token, deps=deps)
    use_change_password = partial(handlers.change_password, deps=deps)

    Session = Annotated[BrowserSession, Depends(signed_in(units, tenant_of, False, handlers.current_session))]
    SessionCsrf = Annotated[BrowserSession, Depends(signed_in(units, tenant_of, True, handlers.current_session))]
    WithAccount = Annotated[handlers.SignedIn, Depends(signed_in(units, tenant_of, False, handlers.show_session))]

    @router.post(
        "/access-requests",
        status_code=202,
        tags=["registration"],
        summary="Zugang beantragen: meter number + partner number + e-mail (same answer for every outcome)",
        responses=error_responses(404, 422, 429),
    )
    async def request_access(form: AccessRequestForm, tenant: TenantDep, request: Request) -> dict[str, str]:
        await per_client_requests.check(tenant.portal_number, client_key(request))
        email = normalise_email(str(form.email))
        async with units() as uow:
            command = handlers.RequestAccess(
                tenant, form.meter_number, form.partner_number, email, form.registration_code
            )
            handlers.request_access(command, uow)
        return ACCEPTED

    @router.post(
        "/links/inspect",
        tags=["registration"],
        summary="What a link from an e-mail lets one do",
        responses=error_responses(404, 410, 422),
    )
    async def inspect_link(form: LinkForm, tenant: TenantDep) -> dict[str, str]:
        async with _answering(), units.read() as uow:
            info = await handlers.inspect_link(handlers.InspectLink(tenant, form.token), uow)
        return {"purpose": info.purpose, "needs": info.needs, "email": info.email}

    @router.post(
        "/access-requests/complete",
        status_code=204,
        tags=["registration"],
        summary="Confirm the e-mail with the link and set (or, for a further partner number, prove) the password",
        responses=error_responses(400, 404, 410, 422),
    )
    async def complete_access(form: PasswordForm, tenant: TenantDep) -> None:
        async with _answering(), units() as uow:
            await use_complete_access(handlers.CompleteAccess(tenant, form.token, form.password), uow)

    @router.post(
        "/password-resets",
        status_code=202,
        tags=["password"],
        summary="Ask for a reset link (same answer whether the e-mail is known or not)",
        responses=error_responses(404, 422, 429),
    )
    async def request_reset(form: EmailForm, tenant: TenantDep, request: Request) -> dict[str, str]:
        await per_client_requests.check(tenant.portal_number, client_key(request))
        async with units() as uow:
            handlers.request_reset(handlers.RequestReset(tenant, normalise_email(str(form.email))), uow)
        return RESET_ACCEPTED

    @router.post(
        "/password-resets/complete",
        status_code=204,
        tags=["password"],
        summary="Set a new password with the reset link; ends every session",
        responses=error_responses(404, 410, 422),
    )
    async def complete_reset(form: PasswordForm, tenant: TenantDep) -> None:
        async with _answering(), units() as uow:
            await use_complete_reset(handlers.CompleteReset(tenant, form.token, form.password), uow)

    @router.post(
        "/sessions",
        tags=["session"],
        summary="Login with e-mail and password",
        responses=error_responses(401, 404, 422, 429),
    )
    async def login(
        form: LoginForm,
        tenant: TenantDep,
        request: Request,
        response: Response,
        device: Annotated[str | None, Cookie(alias=DEVICE_COOKIE)] = None,
    ) -> SessionView:
        await per_client_login.check(tenant.portal_number, client_key(request))
        command = handlers.Login(tenant, str(form.email), form.password, device, request.headers.get("user-agent"))
        async with units() as uow:
            new = await use_login(command, uow)
        if isinstance(new, handlers.LoginRefused):
            if new.retry_after is None:
                raise HTTPException(401, WRONG_LOGIN)
            minutes = max(1, round(new.retry_after / 60))
            raise HTTPException(
                429,
                f"Zu viele Fehlversuche für diese E-Mail-Adresse. Bitte warten Sie {minutes} Minute(n) – "
                "oder setzen Sie Ihr Passwort zurück.",
                headers={"Retry-After": str(new.retry_after)},
            )
        _set_cookie(response, SESSION_COOKIE, new.token, None)
        if new.device_cookie:
            _set_cookie(response, DEVICE_COOKIE, new.device_cookie, 365 * 24 * 3600)
        return SessionView.of(new)

    @router.get(
        "/session",
        tags=["session"],
        summary="Who is signed in, as which partner number",
        responses=error_responses(*SIGNED_IN_ERRORS),
    )
    async def get_session(signed_in: WithAccount, tenant: TenantDep) -> SessionView:
        return SessionView.of(signed_in)

    @router.post(
        "/session/partner",
        tags=["session"],
        summary="Act as one of the login's partner numbers (new id)",
        responses=error_responses(*STATE_CHANGE_ERRORS),
    )
    async def choose_partner(choice: PartnerChoice, current: SessionCsrf, response: Response) -> SessionView:
        try:
            async with units() as uow:
                new = await handlers.choose_partner(handlers.ChoosePartner(current, choice.partner_number), uow)
        except handlers.NotAllowed:
            raise HTTPException(403, "Diese Geschäftspartner-Nr. gehört nicht zu Ihrem Zugang.") from None
        _set_cookie(response, SESSION_COOKIE, new.token, None)
        return SessionView.of(new)

    @router.post(
        "/session/token",
        tags=["session"],
        summary="A short-lived signed access token (ES256) for the other services",
        responses=error_responses(*STATE_CHANGE_ERRORS, 409),
    )
    async def token(current: SessionCsrf) -> dict[str, Any]:
        try:
            async with units.read() as uow:
                issued = use_access_token(handlers.IssueAccessToken(current), uow)
        except handlers.NotAllowed:
            raise HTTPException(409, "Bitte wählen Sie zuerst eine Geschäftspartner-Nr.") from None
        return {"access_token": issued.value, "token_type": "Bearer", "expires_in": issued.expires_in}

    @router.delete(
        "/session", status_code=204, tags=["session"], summary="Logout", responses=error_responses(*STATE_CHANGE_ERRORS)
    )
    async def logout(current: SessionCsrf, response: Response) -> None:
        async with units() as uow:
            await handlers.logout(handlers.Logout(current), uow)
        _end_session_cookie(response)

    @router.post(
        "/account/password",
        status_code=204,
        tags=["account"],
        summary="Change the password; ends the other sessions and tells the customer by e-mail",
        responses=error_responses(400, *STATE_CHANGE_ERRORS, 429),
    )
    async def change_password(form: PasswordChange, current: SessionCsrf, tenant: TenantDep) -> None:
        command = handlers.ChangePassword(tenant, current, form.current_password, form.new_password)
        async with _answering(), units() as uow:
            refused = await use_change_password(command, uow)
        if refused is not None:
            raise wrong_password(refused)

    @router.get(
        "/account/sessions",
        tags=["account"],
        summary="My signed-in devices (the current one marked)",
        responses=error_responses(*SIGNED_IN_ERRORS),
    )
    async def list_sessions(current: Session, tenant: TenantDep) -> list[dict[str, Any]]:
        async with units.read() as uow:
            return await handlers.list_sessions(handlers.OwnAccount(tenant, current), uow)

    @router.post(
        "/account/sessions/end-others",
        status_code=204,
        tags=["account"],
        summary="Sign out everywhere else",
        responses=error_responses(*STATE_CHANGE_ERRORS),
    )
    async def end_others(current: SessionCsrf, tenant: TenantDep) -> None:
        async with units() as uow:
            await handlers.end_other_sessions(handlers.OwnAccount(tenant, current), uow)

    @router.get(
        "/account/export",
        tags=["account"],
        summary="Download my data (GDPR)",
        responses=error_responses(*SIGNED_IN_ERRORS),
    )
    async def export(current: Session, tenant: TenantDep) -> dict[str, Any]:
        async with units.read() as uow:
            return await handlers.export_data(handlers.OwnAccount(tenant, current), uow)

    @router.post(
        "/account/delete",
        status_code=204,
        tags=["account"],
        summary="Delete my login (with password)",
        responses=error_responses(400, *STATE_CHANGE_ERRORS, 429),
    )
    async def delete(form: PasswordProof, current: SessionCsrf, tenant: TenantDep, response: Response) -> None:
        async with _answering(), units() as uow:
            refused = await handlers.delete_account(handlers.DeleteAccount(tenant, current, form.password), uow)
        if refused is not None:
            raise wrong_password(refused)
        _end_session_cookie(response)

    @router.get("/.well-known/jwks.json", tags=["session"], summary="Public keys that verify access tokens")
    async def jwks() -> dict[str, Any]:
        return {"keys": deps.signer.public_jwks()}

    return router


def wrong_password(refused: handlers.LoginRefused) -> HTTPException:
    """A wrong current password (committed as a failure), or the back-off that many of them started."""
    if refused.retry_after is None:
        return HTTPException(400, "Das Passwort stimmt nicht.")
    minutes = max(1, round(refused.retry_after / 60))
    return HTTPException(
        429,
        f"Zu viele falsche Passwörter. Bitte warten Sie {minutes} Minute(n) – oder setzen Sie Ihr Passwort zurück.",
        headers={"Retry-After": str(refused.retry_after)},
    )


@asynccontextmanager
async def _answering() -> AsyncIterator[None]:
    """The use cases' refusals as HTTP answers (the unit of work has rolled back by then)."""
    try:
        yield
    except handlers.InvalidLink:
        raise HTTPException(410, LINK_INVALID) from None
    except handlers.PasswordRefused as refusal:
        raise HTTPException(422, str(refusal)) from None
    except handlers.WrongCredentials:
        raise HTTPException(400, "Das Passwort stimmt nicht.") from None
