"""Onboarding's tables and the queries on them. Every query is scoped by tenant."""

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Column, DateTime, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from contracts.common import PartnerNumberGrant
from contracts.onboarding import RequestingCustomer
from services.onboarding.domain import PartnerNumberRequest, RequestStatus


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


def to_domain(row: RequestRow) -> PartnerNumberRequest:
    return PartnerNumberRequest(
        id=row.id,
        tenant=row.tenant,
        meter_number=row.meter_number,
        customer=RequestingCustomer.model_validate(row.customer),
        status=RequestStatus(row.status),
        grants=tuple(PartnerNumberGrant.model_validate(g) for g in row.grants),
        note=row.note,
    )


def new_row(request: PartnerNumberRequest, submission_id: UUID, correlation_id: UUID) -> RequestRow:
    now = datetime.now(UTC)
    row = RequestRow(
        id=request.id,
        tenant=request.tenant,
        submission_id=submission_id,
        correlation_id=correlation_id,
        status=request.status,
        meter_number=request.meter_number,
        customer={},
        created_at=now,
        updated_at=now,
    )
    apply(request, row)
    return row


def apply(request: PartnerNumberRequest, row: RequestRow) -> None:
    row.status = request.status
    row.meter_number = request.meter_number
    row.customer = request.customer.model_dump(mode="json")
    row.grants = [g.model_dump(mode="json") for g in request.grants]
    row.note = request.note
    row.updated_at = datetime.now(UTC)


async def find_by_submission(session: AsyncSession, tenant: str, submission_id: UUID) -> RequestRow | None:
    result = await session.exec(
        select(RequestRow).where(RequestRow.tenant == tenant, RequestRow.submission_id == submission_id)
    )
    return result.first()


async def get_for_update(session: AsyncSession, tenant: str, request_id: UUID) -> RequestRow | None:
    result = await session.exec(
        select(RequestRow).where(RequestRow.tenant == tenant, RequestRow.id == request_id).with_for_update()
    )
    return result.first()


async def requests_granting(session: AsyncSession, tenant: str, partner_number: str) -> list[RequestRow]:
    result = await session.exec(
        select(RequestRow)
        .where(RequestRow.tenant == tenant, col(RequestRow.grants).contains([{"partner_number": partner_number}]))
        .with_for_update()
    )
    return list(result.all())


async def list_requests(
    session: AsyncSession, tenant: str, status: RequestStatus | None, limit: int, offset: int
) -> list[RequestRow]:
    query = select(RequestRow).where(RequestRow.tenant == tenant)
    if status:
        query = query.where(RequestRow.status == status)
    query = query.order_by(RequestRow.created_at.desc()).limit(limit).offset(offset)  # type: ignore[attr-defined]
    return list((await session.exec(query)).all())
