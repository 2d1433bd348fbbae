"""Personal access tokens over HTTP ([11 of 11] §1): a signed-in customer makes, lists and revokes the tokens of
the partner number their session is for (``/partners/{partner_number}/personal-tokens``); the meter-data routes
that only read accept such a token in place of a session (api.read_claims → ``PersonalTokens.claims``), each
token limited to ``settings.personal_token_rate`` requests (kit.ratelimit: counted across replicas).

A token can do nothing else: every other route takes identity's access token only (api.session_claims answers a
personal token with 403). Making and revoking one is written to the audit log with the customer's login as
actor (kit.audit), in the transaction of the change.
"""

from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.security import HTTPBearer
from pydantic import BaseModel, Field

from kit import auth
from kit.audit import Actor, AuditEntry
from kit.errors import error_responses
from kit.http import RateLimit, client_address, refusals_answered
from kit.staff import acting
from kit.uow import Clock, UnitsOfWork, system_clock
from services.meterdata import token_handlers
from services.meterdata.token_domain import (
    MAX_VALID_DAYS,
    NAME_MAX,
    PREFIX,
    InvalidPersonalToken,
    PersonalToken,
    TokenRefused,
)
from services.meterdata.token_handlers import TokenLookup, TokenNotFound, Tokens

PERSONAL_BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="PersonalToken",
    bearerFormat="ppt_…",
    description=(
        "A personal access token (`ppt_` + 43 characters), made by the customer in the portal (Konto → Persönliche "
        "Zugangsschlüssel) or with `POST /partners/{partner_number}/personal-tokens`: read-only, for one partner "
        "number at one operator, with an expiry. Sent as `Authorization: Bearer ppt_…`."
    ),
)
INVALID = (
    "Dieser Zugangsschlüssel ist ungültig, abgelaufen oder widerrufen. "
    "Bitte legen Sie im Portal unter »Konto« einen neuen an."
)
NOT_FOUND = "Diesen Zugangsschlüssel gibt es nicht (mehr). Bitte laden Sie die Liste neu."
AUDIT_KIND = "personal_token"
CUSTOMER_ROLE = "customer"


class CreateTokenBody(BaseModel):
    name: str = Field(max_length=4 * NAME_MAX, description=f"What it is for, at most {NAME_MAX} characters")
    expires_on: date = Field(
        description=f"Last day it is valid (Europe/Berlin, inclusive): after today, at most {MAX_VALID_DAYS} days ahead"
    )

    model_config = {"json_schema_extra": {"examples": [{"name": "Heimautomation", "expires_on": "2027-06-30"}]}}


class TokenView(BaseModel):
    id: UUID
    name: str
    prefix: str = Field(description="The token's first characters (`ppt_` and 8 more), to recognise it")
    created_at: datetime
    expires_at: datetime = Field(description="From this instant on it is refused (the day after `expires_on`)")
    last_used_at: datetime | None = Field(description="Last request with it, to the minute; null: never used")
    expired: bool

    @classmethod
    def of(cls, token: PersonalToken, now: datetime) -> "TokenView":
        return cls(
            id=token.id,
            name=token.name,
            prefix=token.prefix,
            created_at=token.created_at,
            expires_at=token.expires_at,
            last_used_at=token.last_used_at,
            expired=token.expired(now),
        )


class IssuedTokenView(TokenView):
    token: str = Field(description="The secret: shown in this answer only, never again (only a hash is kept)")

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "id": "6f1c2b0e-9a57-4c1e-8f43-2a8e5d7c9b10",
                    "name": "Heimautomation",
                    "prefix": "ppt_Xq3vT9aL",
                    "created_at": "2026-12-07T09:00:00Z",
                    "expires_at": "2027-06-30T22:00:00Z",
                    "last_used_at": None,
                    "expired": False,
                    "token": "ppt_Xq3vT9aLr2c8YwJ0mN5pQe1sUv7hKd4gBz6fAi3oTlE",
                }
            ]
        }
    }


def customer_actor(claims: auth.AccessClaims, request: Request) -> Actor:
    """The customer's login as the actor of an audit entry (kit.audit names its fields after staff)."""
    return Actor(
        claims.tenant, claims.account_id, f"Kunde {claims.partner_number}", CUSTOMER_ROLE, client_address(request)
    )


class PersonalTokens:
    """The routes that manage tokens (``router``), and the check of a presented token (``claims``)."""

    def __init__(
        self, units: UnitsOfWork[Tokens], lookup: TokenLookup, limit: RateLimit, clock: Clock = system_clock
    ) -> None:
        self._units = units
        self._lookup = lookup
        self._limit = limit
        self._clock = clock

    async def claims(self, secret: str, tenant: str) -> auth.AccessClaims:
        """What a valid, unrevoked, unexpired token of this tenant may read (its partner number and role), or 401;
        429 once the token is over its rate."""
        try:
            token = await token_handlers.authenticate(secret, tenant, self._clock(), self._lookup)
        except InvalidPersonalToken:
            raise HTTPException(401, INVALID, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}) from None
        await self._limit.check(str(token.id))
        session = PREFIX + str(token.id)
        return auth.AccessClaims(token.tenant, token.partner_number, token.role, token.account_id, session)

    def router(self, claims_of: Callable[..., Awaitable[auth.AccessClaims]]) -> APIRouter:
        """``claims_of``: the dependency of a signed-in customer's routes (api.session_claims)."""
        router = APIRouter(tags=["personal tokens"])
        units = self._units
        Claims = Annotated[auth.AccessClaims, Depends(claims_of)]

        def own(claims: auth.AccessClaims, partner_number: str) -> None:
            if partner_number != claims.partner_number:
                raise HTTPException(403, "Kein Zugriff auf diese Geschäftspartner-Nr.")

        @router.post(
            "/partners/{partner_number}/personal-tokens",
            status_code=201,
            summary="Make a personal access token (read-only, this partner number); the secret is in this answer only",
            responses=error_responses(401, 403, 404, 422),
        )
        async def create(
            partner_number: str, body: CreateTokenBody, claims: Claims, request: Request, response: Response
        ) -> IssuedTokenView:
            own(claims, partner_number)
            command = token_handlers.CreateToken(
                claims.tenant, claims.partner_number, claims.role, claims.account_id, body.name, body.expires_on
            )
            actor = customer_actor(claims, request)
            async with refusals_answered({TokenRefused: 422}), units() as uow:
                issued = await token_handlers.create_token(command, uow)
                details = {"partner_number": partner_number, "expires_on": body.expires_on.isoformat()}
                uow.audit(AuditEntry(actor, "personal_token.created", AUDIT_KIND, str(issued.token.id), details))
            response.headers["Cache-Control"] = "no-store"
            token = issued.token
            return IssuedTokenView(**TokenView.of(token, self._clock()).model_dump(), token=issued.secret)

        @router.get(
            "/partners/{partner_number}/personal-tokens",
            summary="This partner number's personal access tokens not revoked (never their secrets)",
            responses=error_responses(401, 403, 404),
        )
        async def listed(partner_number: str, claims: Claims) -> list[TokenView]:
            own(claims, partner_number)
            async with units.read() as uow:
                found = await token_handlers.tokens(token_handlers.ListTokens(claims.tenant, partner_number), uow)
            now = self._clock()
            return [TokenView.of(token, now) for token in found]

        @router.delete(
            "/partners/{partner_number}/personal-tokens/{token_id}",
            status_code=204,
            summary="Revoke a personal access token: refused from the next request on",
            responses=error_responses(401, 403, 404, 422),
        )
        async def revoke(partner_number: str, token_id: UUID, claims: Claims, request: Request) -> None:
            own(claims, partner_number)
            command = token_handlers.RevokeToken(claims.tenant, partner_number, token_id)
            actor = customer_actor(claims, request)
            try:
                async with acting(
                    units, actor, "personal_token.revoked", AUDIT_KIND, str(token_id), partner_number=partner_number
                ) as uow:
                    await token_handlers.revoke_token(command, uow)
            except TokenNotFound:
                raise HTTPException(404, NOT_FOUND) from None

        return router
