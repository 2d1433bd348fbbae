"""The current-value requests part of meter data's store in memory (handlers.ValueRequests), for unit tests."""

from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import datetime
from uuid import UUID

from services.meterdata.current_values import ValueRequest
from services.meterdata.domain import RegisterValue


class FakeValueRequests:
    registers: dict[tuple[str, str, str, datetime], RegisterValue]

    def __init__(self) -> None:
        self.value_requests: dict[UUID, ValueRequest] = {}

    async def unanswered_requests_of_meter(self, tenant: str, meter_number: str) -> list[ValueRequest]:
        return [
            replace(r, events=[])
            for r in self.value_requests.values()
            if (r.tenant, r.meter_number) == (tenant, meter_number) and r.answered_at is None
        ]

    async def requests_of_partner_since(self, tenant: str, partner_number: str, since: datetime) -> int:
        return sum(
            (r.tenant, r.partner_number) == (tenant, partner_number) and r.requested_at >= since
            for r in self.value_requests.values()
        )

    async def last_register_at(self, tenant: str, meter_number: str, channels: Sequence[str]) -> datetime | None:
        found = [at for (t, m, o, at) in self.registers if (t, m) == (tenant, meter_number) and o in channels]
        return max(found, default=None)

    async def add_value_request(self, request: ValueRequest) -> None:
        self.value_requests[request.id] = replace(request, events=[])

    async def forget_value_requests(self, tenant: str, partner_number: str, before: datetime) -> None:
        self.value_requests = {
            key: r
            for key, r in self.value_requests.items()
            if not ((r.tenant, r.partner_number) == (tenant, partner_number) and r.requested_at < before)
        }

    async def value_request(self, tenant: str, partner_number: str, request_id: UUID) -> ValueRequest | None:
        found = self.value_requests.get(request_id)
        if found is None or (found.tenant, found.partner_number) != (tenant, partner_number):
            return None
        return replace(found, events=[])

    async def answer_value_requests(
        self, meters: Collection[tuple[str, str]], answered_at: datetime, asked_after: datetime
    ) -> int:
        answered = 0
        for key, r in self.value_requests.items():
            if (
                (r.tenant, r.meter_number) in meters
                and r.answered_at is None
                and asked_after < r.requested_at <= answered_at
            ):
                self.value_requests[key] = replace(r, answered_at=answered_at)
                answered += 1
        return answered
