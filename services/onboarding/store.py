"""Onboarding's table and the store on it: requests in and out as domain objects. Every query is scoped by tenant."""

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Column, DateTime, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from contracts.common import PartnerNumberGrant
from contracts.identity import SigningKeyPublished, SigningKeyRevoked
from contracts.onboarding import RequestingCustomer
from kit import auth
from kit.consumer import Delivered
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


def _to_domain(row: RequestRow) -> PartnerNumberRequest:
    return PartnerNumberRequest(
        id=row.id,
        tenant=row.tenant,
        meter_number=row.meter_number,
        customer=RequestingCustomer.model_validate(row.customer),
        status=RequestStatus(row.status),
        grants=tuple(PartnerNumberGrant.model_validate(g) for g in row.grants),
        note=row.note,
        submission_id=row.submission_id,
        correlation_id=row.correlation_id,
    )


# A new request's row, unless its form made one before (the statement is built once, the values are its parameters).
_ADD_UNLESS_SUBMITTED = (
    insert(RequestRow).on_conflict_do_nothing(index_elements=["tenant", "submission_id"]).returning(col(RequestRow.id))
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


def _apply(request: PartnerNumberRequest, row: RequestRow, now: datetime) -> None:
    for column, value in _changing(request, now).items():
        setattr(row, column, value)


class RequestStore:
    """handlers.Requests on PostgreSQL. Requests loaded for a change are locked until the commit."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._loaded: dict[UUID, RequestRow] = {}  # the rows behind the requests handed out for a change

    async def record_signing_key(self, event: Delivered[SigningKeyPublished]) -> None:
        """Identity's public key, to verify staff tokens locally (kit.auth, kit.staff)."""
        await auth.record_signing_key(event, self._session)

    async def record_key_revocation(self, event: Delivered[SigningKeyRevoked]) -> None:
        """Identity revoked a key: staff tokens it signed are refused from now on (kit.auth)."""
        await auth.record_key_revocation(event, self._session)

    async def by_submission(self, tenant: str, submission_id: UUID) -> PartnerNumberRequest | None:
        result = await self._session.exec(
            select(RequestRow).where(RequestRow.tenant == tenant, RequestRow.submission_id == submission_id)
        )
        row = result.first()
        return _to_domain(row) if row else None

    async def for_change(self, tenant: str, request_id: UUID) -> PartnerNumberRequest | None:
        result = await self._session.exec(
            select(RequestRow).where(RequestRow.tenant == tenant, RequestRow.id == request_id).with_for_update()
        )
        return self._handed_out(result.first())

    async def granting(self, tenant: str, partner_number: str) -> list[PartnerNumberRequest]:
        """For a change: the requests that granted this partner number."""
        result = await self._session.exec(
            select(RequestRow)
            .where(RequestRow.tenant == tenant, col(RequestRow.grants).contains([{"partner_number": partner_number}]))
            .with_for_update()
        )
        return [request for row in result.all() if (request := self._handed_out(row))]

    async def add_unless_submitted(self, request: PartnerNumberRequest, now: datetime) -> UUID | None:
        """Stores a new request — or, when its form was submitted before, stores nothing and returns the
        earlier request's id. One statement in the usual case (the unique submission id decides)."""
        if request.submission_id is None:
            raise ValueError("a stored request needs its submission id")
        values = {
            "id": request.id,
            "tenant": request.tenant,
            "submission_id": request.submission_id,
            "correlation_id": request.correlation_id,
            "created_at": now,
            **_changing(request, now),
        }
        if (await self._session.exec(_ADD_UNLESS_SUBMITTED, params=values)).first() is not None:
            return None
        earlier = await self._session.exec(
            select(RequestRow.id).where(
                RequestRow.tenant == request.tenant, RequestRow.submission_id == request.submission_id
            )
        )
        return earlier.one()

    def save(self, request: PartnerNumberRequest, now: datetime) -> None:
        _apply(request, self._loaded[request.id], now)

    async def summary(self, tenant: str, request_id: UUID) -> RequestSummary | None:
        result = await self._session.exec(
            select(RequestRow).where(RequestRow.tenant == tenant, RequestRow.id == request_id)
        )
        row = result.first()
        return _summary(row) if row else None

    async def summaries(
        self, tenant: str, status: RequestStatus | None, limit: int, offset: int
    ) -> list[RequestSummary]:
        query = select(RequestRow).where(RequestRow.tenant == tenant)
        if status:
            query = query.where(RequestRow.status == status)
        query = query.order_by(col(RequestRow.created_at).desc()).limit(limit).offset(offset)
        return [_summary(row) for row in (await self._session.exec(query)).all()]

    def _handed_out(self, row: RequestRow | None) -> PartnerNumberRequest | None:
        if row is None:
            return None
        self._loaded[row.id] = row
        return _to_domain(row)


def _summary(row: RequestRow) -> RequestSummary:
    return RequestSummary(_to_domain(row), row.created_at, row.updated_at)
