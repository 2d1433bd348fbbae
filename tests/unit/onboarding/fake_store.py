"""Onboarding's store in memory (handlers.Requests), for unit tests of the use cases and the API."""

from dataclasses import replace
from datetime import datetime
from uuid import UUID

from services.onboarding.domain import PartnerNumberRequest, RequestStatus, RequestSummary


class FakeRequests:
    def __init__(self) -> None:
        self.rows: dict[UUID, tuple[PartnerNumberRequest, datetime, datetime]] = {}

    async def add_unless_submitted(self, request: PartnerNumberRequest, now: datetime) -> UUID | None:
        earlier = next(
            (
                r.id
                for r, _, _ in self.rows.values()
                if (r.tenant, r.submission_id) == (request.tenant, request.submission_id)
            ),
            None,
        )
        if earlier is None:
            self.rows[request.id] = (_copy(request), now, now)
        return earlier

    async def for_change(self, tenant: str, request_id: UUID) -> PartnerNumberRequest | None:
        stored = self.rows.get(request_id)
        return _copy(stored[0]) if stored and stored[0].tenant == tenant else None

    async def granting(self, tenant: str, partner_number: str) -> list[PartnerNumberRequest]:
        return [
            _copy(r)
            for r, _, _ in self.rows.values()
            if r.tenant == tenant and any(g.partner_number == partner_number for g in r.grants)
        ]

    async def save(self, request: PartnerNumberRequest, now: datetime) -> None:
        created = self.rows[request.id][1]
        self.rows[request.id] = (_copy(request), created, now)

    async def summary(self, tenant: str, request_id: UUID) -> RequestSummary | None:
        stored = self.rows.get(request_id)
        return RequestSummary(*stored) if stored and stored[0].tenant == tenant else None

    async def summaries(
        self, tenant: str, status: RequestStatus | None, limit: int, offset: int
    ) -> list[RequestSummary]:
        found = [RequestSummary(*s) for s in self.rows.values() if s[0].tenant == tenant]
        found = [s for s in found if status is None or s.request.status == status]
        return sorted(found, key=lambda s: s.created_at, reverse=True)[offset : offset + limit]


def _copy(request: PartnerNumberRequest) -> PartnerNumberRequest:
    """What a database would give back: a new object, without the events already published."""
    return replace(request, events=[])
