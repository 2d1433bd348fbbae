"""Consent's HTTP API: the authorisation server's endpoints for third parties (token, metadata), the consent page's
calls (inspect, decide) and the customer's grants ("Freigaben"). The consent page itself is the portal's
``/freigabe`` (web/pages/freigabe.js): the authorisation endpoint a third party sends the customer's browser to."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from typing import Annotated, Any
from urllib.parse import parse_qsl

import orjson
from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response
from pydantic import BaseModel, Field

from contracts.consent import GRANT_SCOPES, MAX_GRANT_DAYS
from kit.errors import error_responses
from kit.http import RateLimit, client_key, tenant_from_host
from kit.ratelimit import SharedHits
from kit.tenants import Tenant, TenantDirectory
from kit.uow import UnitsOfWork
from services.identity import consent_handlers, handlers
from services.identity.api import SIGNED_IN_ERRORS, STATE_CHANGE_ERRORS, signed_in
from services.identity.consent_domain import Chosen, ConsentRefused
from services.identity.consent_handlers import Consents
from services.identity.handlers import Deps

# The authorisation request's query string, as the third party sent the customer's browser to /freigabe.
AuthorisationQuery = Annotated[str, Field(min_length=1, max_length=4000)]


class ConsentQuery(BaseModel):
    query: AuthorisationQuery


class ConsentDecision(BaseModel):
    query: AuthorisationQuery
    approve: bool
    partner_number: str | None = Field(default=None, max_length=30)
    scope: str | None = Field(default=None, max_length=40, description="The scope asked for, or a coarser one")
    data_from: date | None = Field(default=None, description="The day asked for, or a later one")
    days: int | None = Field(default=None, ge=1, le=MAX_GRANT_DAYS, description="As asked, or fewer")


class Redirect(BaseModel):
    redirect_to: str


class TokenBody(BaseModel):
    token_type: str = Field(examples=["Bearer"])
    access_token: str = Field(description="ES256 JWT, minutes; meter data accepts it for what the grant names")
    expires_in: int
    refresh_token: str = Field(description="ppr_…: used once, the answer brings the next one (rotation)")
    scope: str


class OAuthError(BaseModel):
    error: str = Field(examples=["invalid_grant"])
    error_description: str | None = None


def _oauth_answer(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": OAuthError.model_json_schema()}}}


NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def build_consent_api(
    units: UnitsOfWork[Consents], tenants: TenantDirectory, deps: Deps, hits: SharedHits | None = None
) -> APIRouter:
    router = APIRouter(tags=["consent"])
    tenant_of = tenant_from_host(tenants)
    TenantDep = Annotated[Tenant, Depends(tenant_of)]
    WithAccount = Annotated[handlers.SignedIn, Depends(signed_in(units, tenant_of, False, handlers.show_session))]
    WithAccountCsrf = Annotated[handlers.SignedIn, Depends(signed_in(units, tenant_of, True, handlers.show_session))]
    per_client_tokens = RateLimit(deps.settings.limit_requests_per_client, hits, name="oauth-token")

    @router.get(
        "/.well-known/oauth-authorization-server",
        summary="Authorisation server metadata (RFC 8414) of this operator's portal",
        responses=error_responses(404),
    )
    async def metadata(tenant: TenantDep) -> dict[str, Any]:
        portal = tenant.portal_url.rstrip("/")
        return {
            "issuer": portal,
            "authorization_endpoint": f"{portal}/freigabe",
            "token_endpoint": f"{portal}/api/identity/oauth/token",
            "scopes_supported": list(GRANT_SCOPES),
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        }

    @router.post(
        "/oauth/consent/inspect",
        summary="What a third party asks for (the consent page shows it); 400 when the request is not valid",
        responses=error_responses(400, *SIGNED_IN_ERRORS),
    )
    async def inspect(form: ConsentQuery, signed: WithAccount) -> consent_handlers.ConsentView:
        async with _refusing(), units.read() as uow:
            return await consent_handlers.show_consent(consent_handlers.ShowConsent(signed, form.query), uow)

    @router.post(
        "/oauth/consent",
        summary="Approve (a grant, and a code for the third party) or refuse; where the browser goes next",
        responses=error_responses(400, *STATE_CHANGE_ERRORS),
    )
    async def decide(form: ConsentDecision, signed: WithAccountCsrf) -> Redirect:
        choice = None
        if form.approve:
            if form.partner_number is None or form.scope is None or form.data_from is None or form.days is None:
                raise HTTPException(422, "Bitte wählen Sie Geschäftspartner-Nr., Umfang, Beginn und Dauer.")
            choice = Chosen(form.partner_number, form.scope, form.data_from, form.days)
        async with _refusing(), units() as uow:
            command = consent_handlers.DecideConsent(signed, form.query, choice)
            location = await consent_handlers.decide_consent(command, uow)
        return Redirect(redirect_to=location)

    @router.post(
        "/oauth/token",
        summary="Token endpoint (RFC 6749 §4.1.3, §6): a code with its PKCE verifier, or a refresh token (rotated)",
        description="`application/x-www-form-urlencoded`. Confidential clients authenticate with HTTP Basic "
        "(`client_secret_basic`) or `client_secret_post`; public clients send `client_id` and rely on PKCE. "
        "Errors as RFC 6749 §5.2 (`error`, `error_description`).",
        response_class=Response,
        responses={
            200: {"content": {"application/json": {"schema": TokenBody.model_json_schema()}}},
            400: _oauth_answer(
                "RFC 6749 §5.2: invalid_request, invalid_grant (also a code or refresh token used "
                "twice: its grant ends), unsupported_grant_type, invalid_scope, unauthorized_client"
            ),
            401: _oauth_answer("invalid_client: the client did not authenticate"),
            **error_responses(404, 429),
        },
    )
    async def token(request: Request, tenant: TenantDep) -> Response:
        await per_client_tokens.check(tenant.portal_number, client_key(request))
        form = tuple(parse_qsl((await request.body()).decode(errors="replace"), keep_blank_values=True))
        command = consent_handlers.ExchangeToken(tenant.portal_number, form, request.headers.get("authorization", ""))
        async with units() as uow:
            answer = await consent_handlers.exchange_token(command, uow, signer=deps.signer)
        return Response(
            orjson.dumps(answer.body),
            status_code=answer.status,
            media_type="application/json",
            headers={**answer.headers, **NO_STORE},
        )

    @router.get(
        "/account/grants",
        summary="My grants to third parties (Freigaben): pending, active, ended",
        responses=error_responses(*SIGNED_IN_ERRORS),
    )
    async def list_grants(signed: WithAccount) -> list[consent_handlers.GrantView]:
        query = consent_handlers.OwnGrants(signed.session.tenant, str(signed.account.id))
        async with units.read() as uow:
            return await consent_handlers.grants(query, uow)

    @router.post(
        "/account/grants/{grant_id}/revoke",
        status_code=204,
        summary="End a grant now: the third party's tokens are refused within seconds",
        responses=error_responses(*STATE_CHANGE_ERRORS),
    )
    async def revoke(grant_id: Annotated[str, Path(max_length=64)], signed: WithAccountCsrf) -> None:
        command = consent_handlers.RevokeGrant(signed.session.tenant, str(signed.account.id), grant_id)
        try:
            async with units() as uow:
                await consent_handlers.revoke_grant(command, uow)
        except consent_handlers.UnknownGrant:
            raise HTTPException(404, "Diese Freigabe gibt es in Ihrem Zugang nicht.") from None

    return router


@asynccontextmanager
async def _refusing() -> AsyncIterator[None]:
    """The consent use cases' refusals as HTTP answers (the unit of work has rolled back by then)."""
    try:
        yield
    except (consent_handlers.ProtocolRefused, ConsentRefused) as refusal:
        raise HTTPException(400, str(refusal)) from None
