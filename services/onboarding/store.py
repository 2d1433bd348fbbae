"""Onboarding's table and the store on it: requests in and out as domain objects. Every query is scoped by tenant.
The store's statements are plain SQL on the unit of work's connection (kit.db.driver): they are on every form's and
letter event's path, where SQLAlchemy's statement machinery cost more CPU than the statements."""

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import TypeAdapter
from sqlalchemy import Column, DateTime, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from contracts.common import PartnerNumberGrant
from contracts.identity import SigningKeyPublished, SigningKeyRevoked
from contracts.onboarding import RequestingCustomer
from kit import auth
from kit.consumer import Delivered
from kit.db import driver, insert_sql
from services.onboarding.domain import PartnerNumberRequest, RequestStatus, RequestSummary


class RequestRow(SQLModel, table=True):
    __tablename__ = "partner_number_requests"
    __table_args__ = (UniqueConstraint("tenant", "submission_id"),)

    id: UUID = Field(primary_key=True)
    tenant: str = Field(index=True)
    submission_id: UUID
    correlation_id: UUID
    status: str = Field(index=True)
    meter_number: str
    customer: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    grants: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSONB, nullable=False))
    note: str | None = None
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


# A new request's row, unless its form made one before (on every form's path: sent on the driver's connection).
_ADDED_COLUMNS = ("id", "tenant", "submission_id", "correlation_id", "created_at", "status", "meter_number", "customer",
                  "grants", "note", "updated_at")  # fmt: skip
_ADD_UNLESS_SUBMITTED = (
    insert_sql("partner_number_requests", _ADDED_COLUMNS)
    + " ON CONFLICT (tenant, submission_id) DO NOTHING RETURNING id"
)


# A request as loaded (JSON columns as text, parsed by pydantic), and a change of it.
_LOADED = (
    "SELECT id, tenant, meter_number, customer::text, status, grants::text, note, submission_id, correlation_id,"
    " created_at, updated_at FROM partner_number_requests"
)
_FOR_CHANGE = f"{_LOADED} WHERE tenant = $1 AND id = $2 FOR UPDATE"
_GRANTING = f"{_LOADED} WHERE tenant = $1 AND grants @> $2::jsonb FOR UPDATE"
_BY_SUBMISSION = f"{_LOADED} WHERE tenant = $1 AND submission_id = $2"
_BY_ID = f"{_LOADED} WHERE tenant = $1 AND id = $2"
# Newest first, of one status or ($2 NULL) all.
_PAGE = f"{_LOADED} WHERE tenant = $1 AND ($2::text IS NULL OR status = $2) ORDER BY created_at DESC LIMIT $3 OFFSET $4"
_SAVE = (
    "UPDATE partner_number_requests SET status = $3, meter_number = $4, customer = $5, grants = $6, note = $7,"
    " updated_at = $8 WHERE tenant = $1 AND id = $2"
)
_GRANTS = TypeAdapter(tuple[PartnerNumberGrant, ...])


def _from_record(found: Mapping[str, Any]) -> PartnerNumberRequest:
    return PartnerNumberRequest(
        id=found["id"],
        tenant=found["tenant"],
        meter_number=found["meter_number"],
        customer=RequestingCustomer.model_validate_json(found["customer"]),
        status=RequestStatus(found["status"]),
        grants=_GRANTS.validate_json(found["grants"]),
        note=found["note"],
        submission_id=found["submission_id"],
        correlation_id=found["correlation_id"],
    )


def _changing(request: PartnerNumberRequest, now: datetime) -> dict[str, Any]:
    """The columns a request's changes are stored in."""
    return {
        "status": request.status,
        "meter_number": request.meter_number,
        "customer": request.customer.model_dump(mode="json"),
        "grants": [g.model_dump(mode="json") for g in request.grants],
        "note": request.note,
        "updated_at": now,
    }


class RequestStore:
    """handlers.Requests on PostgreSQL. Requests loaded for a change are locked until the commit."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def record_signing_key(self, event: Delivered[SigningKeyPublished]) -> None:
        """Identity's public key, to verify staff tokens locally (kit.auth, kit.staff)."""
        await auth.record_signing_key(event, self._session)

    async def record_key_revocation(self, event: Delivered[SigningKeyRevoked]) -> None:
        """Identity revoked a key: staff tokens it signed are refused from now on (kit.auth)."""
        await auth.record_key_revocation(event, self._session)

    async def by_submission(self, tenant: str, submission_id: UUID) -> PartnerNumberRequest | None:
        found = await (await driver(self._session)).fetchrow(_BY_SUBMISSION, tenant, submission_id)
        return _from_record(found) if found is not None else None

    async def for_change(self, tenant: str, request_id: UUID) -> PartnerNumberRequest | None:
        found = await (await driver(self._session)).fetchrow(_FOR_CHANGE, tenant, request_id)
        return _from_record(found) if found is not None else None

    async def granting(self, tenant: str, partner_number: str) -> list[PartnerNumberRequest]:
        """For a change: the requests that granted this partner number."""
        probe = json.dumps([{"partner_number": partner_number}])
        return [_from_record(found) for found in await (await driver(self._session)).fetch(_GRANTING, tenant, probe)]

    async def add_unless_submitted(self, request: PartnerNumberRequest, now: datetime) -> UUID | None:
        """Stores a new request — or, when its form was submitted before, stores nothing and returns the
        earlier request's id. One statement in the usual case (the unique submission id decides)."""
        if request.submission_id is None:
            raise ValueError("a stored request needs its submission id")
        row = {"id": request.id, "tenant": request.tenant, "submission_id": request.submission_id,
               "correlation_id": request.correlation_id, "created_at": now, **_changing(request, now)}  # fmt: skip
        # The driver's connection takes jsonb parameters as JSON text.
        row["customer"], row["grants"] = json.dumps(row["customer"]), json.dumps(row["grants"])
        added = await (await driver(self._session)).fetchval(_ADD_UNLESS_SUBMITTED, *(row[c] for c in _ADDED_COLUMNS))
        if added is not None:
            return None
        earlier = await self.by_submission(request.tenant, request.submission_id)
        assert earlier is not None  # the conflict was on its row
        return earlier.id

    async def save(self, request: PartnerNumberRequest, now: datetime) -> None:
        changed = _changing(request, now)
        await (await driver(self._session)).execute(
            _SAVE, request.tenant, request.id, changed["status"], changed["meter_number"],
            json.dumps(changed["customer"]), json.dumps(changed["grants"]), changed["note"], now,
        )  # fmt: skip

    async def summary(self, tenant: str, request_id: UUID) -> RequestSummary | None:
        found = await (await driver(self._session)).fetchrow(_BY_ID, tenant, request_id)
        return _summary(found) if found is not None else None

    async def summaries(
        self, tenant: str, status: RequestStatus | None, limit: int, offset: int
    ) -> list[RequestSummary]:
        rows = await (await driver(self._session)).fetch(_PAGE, tenant, status.value if status else None, limit, offset)
        return [_summary(found) for found in rows]


def _summary(found: Mapping[str, Any]) -> RequestSummary:
    return RequestSummary(_from_record(found), found["created_at"], found["updated_at"])
