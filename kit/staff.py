"""Back-office access for services other than identity: a staff member's short-lived access token (ES256,
audience contracts.staff.STAFF_TOKEN_AUDIENCE), verified locally with identity's published keys as meter data
verifies customers' tokens (kit.auth) — no call to identity per request.

The token names one operator, one staff member and one role. It is accepted only at the host of its own operator
(another operator's host: 403), and only for the roles a route allows (a clerk at an admin route: 403).

    access = StaffAccess(units.db, tenants)
    Clerk = Annotated[Actor, Depends(access.allow(StaffRole.CLERK, StaffRole.ADMIN))]

    async def approve(actor: Clerk, ...):
        async with acting(units, actor, "request.approved", "request", str(request_id)) as uow:
            await handlers.approve_request(command, uow)
"""

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any, TypeVar

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from contracts.staff import StaffRole
from kit import auth
from kit.audit import Actor, AuditEntry
from kit.db import Database
from kit.http import client_address, tenant_from_host
from kit.tenants import Tenant, TenantDirectory
from kit.uow import UnitOfWork, UnitsOfWork

S = TypeVar("S")

_BEARER = HTTPBearer(auto_error=False, description="Staff access token from identity (POST /staff/session/token)")
SIGN_IN = "Bitte melden Sie sich im Back-Office an."
OTHER_OPERATOR = "Ihr Zugang gilt für einen anderen Netzbetreiber. Bitte melden Sie sich bei diesem Portal an."
NOT_YOUR_ROLE = "Diese Funktion ist Ihrer Rolle nicht freigegeben. Bitte wenden Sie sich an Ihre Administration."


class StaffAccess:
    """Route dependencies that admit staff of the host's operator in the given roles."""

    def __init__(self, db: Database, tenants: TenantDirectory) -> None:
        self._db = db
        self._tenant = tenant_from_host(tenants)

    def allow(self, *roles: StaffRole) -> Callable[..., Awaitable[Actor]]:
        allowed = {role.value for role in roles}
        resolve_tenant = self._tenant

        async def actor(
            request: Request,
            tenant: Annotated[Tenant, Depends(resolve_tenant)],
            credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
        ) -> Actor:
            if credentials is None:
                raise HTTPException(401, SIGN_IN, headers={"WWW-Authenticate": "Bearer"})
            token, portal = credentials.credentials, tenant.portal_number
            async with self._db.transaction(read_only=True) as session:
                try:
                    claims = await auth.verify_staff(session, token, portal)
                except auth.InvalidToken as refusal:
                    if str(refusal) == "other tenant":
                        raise HTTPException(403, OTHER_OPERATOR) from None
                    raise HTTPException(401, SIGN_IN, headers={"WWW-Authenticate": "Bearer"}) from None
            if claims.role not in allowed:
                raise HTTPException(403, NOT_YOUR_ROLE)
            return Actor(portal, claims.staff_id, claims.name, claims.role, client_address(request))

        return actor


@asynccontextmanager
async def acting(
    units: UnitsOfWork[S], actor: Actor, action: str, subject_kind: str, subject_id: str, **details: Any
) -> AsyncIterator[UnitOfWork[S]]:
    """A unit of work for a back-office action: the audit entry is written in it when the action succeeds, so
    both commit together (an action that raises leaves neither)."""
    async with units() as uow:
        yield uow
        uow.audit(AuditEntry(actor, action, subject_kind, subject_id, dict(details)))
