"""Identity's HTTP API. Routes parse, call a handler, answer — and answer alike where an outcome
must not be told (access request, reset, login)."""

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Cookie, Depends, Header, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict, EmailStr, Field

from kit.db import Database
from kit.http import RateLimit, client_address, tenant_from_host
from kit.identifiers import MeterNumberInput, PartnerNumberInput
from kit.tenants import Tenant
from services.identity import handlers, store
from services.identity.domain import MAX_PASSWORD_LENGTH, normalise_email
from services.identity.handlers import Deps

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


class AccessRequestForm(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    meter_number: MeterNumberInput = Field(max_length=40, description="Zählernummer (Leerzeichen erlaubt)")
    partner_number: PartnerNumberInput = Field(max_length=30, description="Geschäftspartner-Nr. Netz aus dem Brief")
    email: EmailStr


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


class SessionView(BaseModel):
    email: str
    tenant: str
    partner_number: str | None
    role: str | None
    partners: list[dict[str, str]]
    csrf_token: str
    choose_partner: bool


def _set_cookie(response: Response, name: str, value: str, max_age: int | None) -> None:
    # __Host-: Secure, Path=/ and no Domain — the cookie stays on this portal's host.
    response.set_cookie(name, value, max_age=max_age, path="/", secure=True, httponly=True, samesite="strict")


def build_api(db: Database, deps: Deps, wake_relays: Callable[[], None]) -> APIRouter:
    router = APIRouter()
    TenantDep = Annotated[Tenant, Depends(tenant_from_host(deps.tenants))]
    per_client_login = RateLimit(deps.settings.limit_login_per_client)
    per_client_requests = RateLimit(deps.settings.limit_requests_per_client)

    async def view_of(row: store.SessionRow, tenant: Tenant) -> SessionView:
        async with db.transaction() as session:
            account = await store.account(session, tenant.portal_number, row.account_id)
            links = await store.links_of(session, tenant.portal_number, row.account_id)
        assert account is not None
        return SessionView(
            email=account.email,
            tenant=tenant.portal_number,
            partner_number=row.partner_number,
            role=row.role,
            partners=[{"partner_number": x.partner_number, "role": x.role} for x in links],
            csrf_token=row.csrf_token,
            choose_partner=row.partner_number is None and len(links) > 1,
        )

    def signed_in(csrf: bool) -> Callable[..., Awaitable[store.SessionRow]]:
        """The session of the cookie; state changes also need the CSRF token as a header."""

        async def resolve(
            tenant: TenantDep,
            cookie: Annotated[str | None, Cookie(alias=SESSION_COOKIE)] = None,
            csrf_token: Annotated[str | None, Header(alias="X-CSRF-Token")] = None,
        ) -> store.SessionRow:
            async with db.transaction() as session:
                try:
                    row = await handlers.current_session(session, tenant, cookie, deps.clock())
                except handlers.NotAllowed:
                    raise HTTPException(401, "Bitte melden Sie sich an.") from None
            if csrf and csrf_token != row.csrf_token:
                raise HTTPException(403, "Sicherheitsprüfung fehlgeschlagen. Bitte laden Sie die Seite neu.")
            return row

        return resolve

    Session = Annotated[store.SessionRow, Depends(signed_in(csrf=False))]
    SessionCsrf = Annotated[store.SessionRow, Depends(signed_in(csrf=True))]

    @router.post(
        "/access-requests",
        status_code=202,
        tags=["registration"],
        summary="Zugang beantragen: meter number + partner number + e-mail (same answer for every outcome)",
    )
    async def request_access(form: AccessRequestForm, tenant: TenantDep, request: Request) -> dict[str, str]:
        await per_client_requests.check(tenant.portal_number, client_address(request))
        async with db.transaction() as session:
            handlers.request_access(
                session, tenant, form.meter_number, form.partner_number, normalise_email(str(form.email))
            )
        wake_relays()
        return ACCEPTED

    @router.post("/links/inspect", tags=["registration"], summary="What a link from an e-mail lets one do")
    async def inspect_link(form: LinkForm, tenant: TenantDep) -> dict[str, str]:
        async with db.transaction() as session:
            try:
                info = await handlers.inspect_link(session, tenant, form.token, deps.clock())
            except handlers.InvalidLink:
                raise HTTPException(410, LINK_INVALID) from None
        return {"purpose": info.purpose, "needs": info.needs, "email": info.email}

    @router.post(
        "/access-requests/complete",
        status_code=204,
        tags=["registration"],
        summary="Confirm the e-mail with the link and set (or, for a further partner number, prove) the password",
    )
    async def complete_access(form: PasswordForm, tenant: TenantDep) -> None:
        await _run(lambda session: handlers.complete_access(session, tenant, form.token, form.password, deps))

    @router.post(
        "/password-resets",
        status_code=202,
        tags=["password"],
        summary="Ask for a reset link (same answer whether the e-mail is known or not)",
    )
    async def request_reset(form: EmailForm, tenant: TenantDep, request: Request) -> dict[str, str]:
        await per_client_requests.check(tenant.portal_number, client_address(request))
        async with db.transaction() as session:
            handlers.request_reset(session, tenant, normalise_email(str(form.email)))
        wake_relays()
        return RESET_ACCEPTED

    @router.post(
        "/password-resets/complete",
        status_code=204,
        tags=["password"],
        summary="Set a new password with the reset link; ends every session",
    )
    async def complete_reset(form: PasswordForm, tenant: TenantDep) -> None:
        await _run(lambda session: handlers.complete_reset(session, tenant, form.token, form.password, deps))

    async def _run(step: Callable[[Any], Awaitable[Any]]) -> None:
        try:
            async with db.transaction() as session:
                await step(session)
        except handlers.InvalidLink:
            raise HTTPException(410, LINK_INVALID) from None
        except handlers.PasswordRefused as refusal:
            raise HTTPException(422, str(refusal)) from None
        except handlers.WrongCredentials:
            raise HTTPException(400, "Das Passwort stimmt nicht.") from None
        wake_relays()

    @router.post("/sessions", tags=["session"], summary="Login with e-mail and password")
    async def login(
        form: LoginForm,
        tenant: TenantDep,
        request: Request,
        response: Response,
        device: Annotated[str | None, Cookie(alias=DEVICE_COOKIE)] = None,
    ) -> SessionView:
        await per_client_login.check(tenant.portal_number, client_address(request))
        async with db.transaction() as session:
            new = await handlers.login(
                session, tenant, str(form.email), form.password, device, request.headers.get("user-agent"), deps
            )
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
        return await view_of(new.row, tenant)

    @router.get("/session", tags=["session"], summary="Who is signed in, as which partner number")
    async def get_session(row: Session, tenant: TenantDep) -> SessionView:
        return await view_of(row, tenant)

    @router.post("/session/partner", tags=["session"], summary="Act as one of the login's partner numbers (new id)")
    async def choose_partner(
        choice: PartnerChoice, row: SessionCsrf, tenant: TenantDep, response: Response
    ) -> SessionView:
        try:
            async with db.transaction() as session:
                new = await handlers.choose_partner(session, tenant, row, choice.partner_number, deps.clock())
        except handlers.NotAllowed:
            raise HTTPException(403, "Diese Geschäftspartner-Nr. gehört nicht zu Ihrem Zugang.") from None
        _set_cookie(response, SESSION_COOKIE, new.token, None)
        return await view_of(new.row, tenant)

    @router.post(
        "/session/token", tags=["session"], summary="A short-lived signed access token (ES256) for the other services"
    )
    async def token(row: SessionCsrf) -> dict[str, Any]:
        try:
            value, seconds = handlers.access_token(deps, row)
        except handlers.NotAllowed:
            raise HTTPException(409, "Bitte wählen Sie zuerst eine Geschäftspartner-Nr.") from None
        return {"access_token": value, "token_type": "Bearer", "expires_in": seconds}

    @router.delete("/session", status_code=204, tags=["session"], summary="Logout")
    async def logout(row: SessionCsrf, tenant: TenantDep, response: Response) -> None:
        async with db.transaction() as session:
            current = await store.session_by_hash(session, tenant.portal_number, row.id_hash)
            if current:
                await session.delete(current)
        response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="strict")

    @router.post(
        "/account/password",
        status_code=204,
        tags=["account"],
        summary="Change the password; ends the other sessions and tells the customer by e-mail",
    )
    async def change_password(form: PasswordChange, row: SessionCsrf, tenant: TenantDep) -> None:
        await _run(
            lambda session: handlers.change_password(
                session, tenant, row, form.current_password, form.new_password, deps
            )
        )

    @router.get("/account/sessions", tags=["account"], summary="My signed-in devices (the current one marked)")
    async def list_sessions(row: Session, tenant: TenantDep) -> list[dict[str, Any]]:
        async with db.transaction() as session:
            return await handlers.sessions_of(session, tenant, row)

    @router.post("/account/sessions/end-others", status_code=204, tags=["account"], summary="Sign out everywhere else")
    async def end_others(row: SessionCsrf, tenant: TenantDep) -> None:
        async with db.transaction() as session:
            await handlers.end_other_sessions(session, tenant, row)

    @router.get("/account/export", tags=["account"], summary="Download my data (GDPR)")
    async def export(row: Session, tenant: TenantDep) -> dict[str, Any]:
        async with db.transaction() as session:
            return await handlers.export_data(session, tenant, row)

    @router.post("/account/delete", status_code=204, tags=["account"], summary="Delete my login (with password)")
    async def delete(form: PasswordProof, row: SessionCsrf, tenant: TenantDep, response: Response) -> None:
        await _run(lambda session: handlers.delete_account(session, tenant, row, form.password))
        response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="strict")

    @router.get("/.well-known/jwks.json", tags=["session"], summary="Public keys that verify access tokens")
    async def jwks() -> dict[str, Any]:
        return {"keys": [deps.signer.public_jwk]}

    return router
