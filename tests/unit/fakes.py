"""In-memory stand-ins for what a unit of work holds besides the service's store: the master-data read model
and the outbox. Unit tests build kit.uow.UnitOfWork from these and a fake store of the service."""

from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar
from uuid import UUID

from fastapi import HTTPException, Request

from contracts.envelope import EventPayload
from contracts.masterdata import BillingPeriod, MeterPointRecorded
from contracts.staff import StaffRole
from contracts.topics import TopicSpec
from kit.audit import Actor, AuditEntries
from kit.billing import chose_time_variable_fee, periods_of
from kit.mail import Mail
from kit.staff import StaffAccess
from kit.uow import UnitOfWork
from kit.validity import Relation, relations_of

S = TypeVar("S")


@dataclass(frozen=True)
class PublishedEvent:
    topic: str
    key: str
    event: EventPayload
    tenant: str
    correlation_id: UUID
    causation_id: UUID | None


@dataclass
class FakeOutbox:
    events: list[PublishedEvent] = field(default_factory=list)
    mails: list[Mail] = field(default_factory=list)
    sent_at: dict[int, tuple[str, datetime]] = field(default_factory=dict)  # id(mail) → its tenant and time

    def add_event(
        self,
        topic: TopicSpec,
        key: str,
        payload: EventPayload,
        *,
        tenant: str,
        correlation_id: UUID,
        causation_id: UUID | None,
    ) -> None:
        self.events.append(PublishedEvent(topic.name, key, payload, tenant, correlation_id, causation_id))

    def add_mail(self, mail: Mail, *, tenant: str, correlation_id: UUID, now: datetime) -> None:
        self.mails.append(mail)
        self.sent_at[id(mail)] = (tenant, now)

    async def mails_to(self, tenant: str, recipient: str, purposes: Collection[str], since: datetime) -> int:
        return sum(
            mail.recipient == recipient and mail.purpose in purposes and self.sent_at[id(mail)][0] == tenant
            and self.sent_at[id(mail)][1] > since
            for mail in self.mails
        )  # fmt: skip

    def of_type(self, event_type: type[EventPayload]) -> list[Any]:
        return [published.event for published in self.events if isinstance(published.event, event_type)]


@dataclass
class FakeMasterData:
    points: dict[tuple[str, str], MeterPointRecorded] = field(default_factory=dict)

    async def find(self, tenant: str, meter_number: str) -> MeterPointRecorded | None:
        return self.points.get((tenant, meter_number))

    async def record(self, tenant: str, point: MeterPointRecorded) -> None:
        known = self.points.get((tenant, point.meter_number))
        if known is None or known.recorded_at <= point.recorded_at:
            self.points[(tenant, point.meter_number)] = point

    async def relations_of_partner(self, tenant: str, partner_number: str, role: str) -> list[Relation]:
        return [
            found
            for (owner, _), point in sorted(self.points.items())
            if owner == tenant
            for found in relations_of(point, partner_number, role)
        ]

    async def billing_periods_of_partner(self, tenant: str, partner_number: str, role: str) -> list[BillingPeriod]:
        return [
            found
            for (owner, _), point in sorted(self.points.items())
            if owner == tenant
            for found in periods_of(point, partner_number, role)
        ]

    async def time_variable_fee_of_partner(self, tenant: str, partner_number: str, role: str) -> bool:
        return any(
            chose_time_variable_fee(point, partner_number, role)
            for (owner, _), point in self.points.items()
            if owner == tenant
        )

    async def meters_by_location(self, tenant: str) -> dict[str, str]:
        return {p.malo_id: meter for (owner, meter), p in self.points.items() if owner == tenant and p.malo_id}


class FakeClock:
    """A clock that stands still until a test moves it."""

    def __init__(self, now: datetime | None = None) -> None:
        self.current = now or datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> None:
        self.current += delta


class FakeUnits(Generic[S]):
    """kit.uow.UnitsOfWork without a database: every unit of work shares one store, master data and outbox.

    A unit of work that raises is not rolled back here: tests of refusals check what the use case left out.
    """

    def __init__(self, store: S, clock: Callable[[], datetime] | None = None) -> None:
        self.store = store
        self.master_data = FakeMasterData()
        self.outbox = FakeOutbox()
        self.clock = clock or FakeClock()
        self.audit = AuditEntries()
        self.commits = 0

    def unit(self) -> UnitOfWork[S]:
        return UnitOfWork(self.store, self.master_data, self.outbox, self.clock, self.audit)

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[UnitOfWork[S]]:
        yield self.unit()
        self.commits += 1

    @asynccontextmanager
    async def read(self) -> AsyncIterator[UnitOfWork[S]]:
        yield self.unit()


class FakeStaffAccess(StaffAccess):
    """kit.staff.StaffAccess without tokens (those are verified on the real stack): the header
    ``X-Test-Staff: <tenant> <role>`` names who acts; without it 401, another tenant than the host's or a role
    the route does not allow 403 — the same answers as the real access."""

    def __init__(self) -> None:
        pass

    def allow(self, *roles: StaffRole) -> Callable[..., Awaitable[Actor]]:
        async def actor(request: Request) -> Actor:
            given = request.headers.get("X-Test-Staff", "").split()
            if len(given) != 2:
                raise HTTPException(401, "Bitte melden Sie sich im Back-Office an.")
            tenant, role = given
            if not request.headers.get("host", "").startswith(f"{tenant}."):
                raise HTTPException(403, "other operator")
            if role not in {r.value for r in roles}:
                raise HTTPException(403, "not this role")
            return Actor(tenant, f"staff-{role}", f"Test {role}", role, "testclient")

        return actor
