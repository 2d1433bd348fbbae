"""The unit of work: everything one use case may touch, in one transaction.

A use case is ``handle(command, uow) -> view``. Its unit of work gives it the service's store (repository),
the master-data read model, the clock, and the outbox for events and mails — all written in one transaction,
committed when the use case returns and rolled back when it raises. After a commit the relays that have work
are woken.

The app builds units of work with :class:`UnitsOfWork` on the database; unit tests build the same
:class:`UnitOfWork` with in-memory fakes of the store, the master data and the outbox.
"""

from collections.abc import AsyncIterator, Callable, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, Protocol, TypeVar
from uuid import UUID

from sqlmodel.ext.asyncio.session import AsyncSession

from contracts.envelope import EventPayload
from contracts.masterdata import BillingPeriod, MeterPointRecorded
from contracts.topics import TopicSpec
from kit.audit import AuditEntries, AuditEntry, AuditTrail, SessionAuditTrail
from kit.db import Database
from kit.mail import Mail, insert_mails, mail_row, mails_to
from kit.masterdata import MasterDataTable
from kit.outbox import event_row, insert_events
from kit.validity import Relation

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


class Outbox(Protocol):
    """Where a transaction's events and mails wait until the relays send them."""

    def add_event(
        self,
        topic: TopicSpec,
        key: str,
        payload: EventPayload,
        *,
        tenant: str,
        correlation_id: UUID,
        causation_id: UUID | None,
    ) -> None: ...

    def add_mail(self, mail: Mail, *, tenant: str, correlation_id: UUID, now: datetime) -> None: ...

    async def mails_to(self, tenant: str, recipient: str, purposes: Collection[str], since: datetime) -> int: ...


class MasterData(Protocol):
    """The service's read model of the operators' master data (kit.masterdata)."""

    async def find(self, tenant: str, meter_number: str) -> MeterPointRecorded | None: ...

    async def record(self, tenant: str, point: MeterPointRecorded) -> None: ...

    async def relations_of_partner(self, tenant: str, partner_number: str, role: str) -> list[Relation]: ...

    async def billing_periods_of_partner(self, tenant: str, partner_number: str, role: str) -> list[BillingPeriod]: ...

    async def time_variable_fee_of_partner(self, tenant: str, partner_number: str, role: str) -> bool: ...

    async def meters_by_location(self, tenant: str) -> dict[str, str]: ...


class RecordsEvents(Protocol):
    """A domain object that records what happened to it (``events``), to be published with its change."""

    events: list[EventPayload]


S = TypeVar("S", covariant=True)


@dataclass(frozen=True)
class UnitOfWork(Generic[S]):
    store: S
    master_data: MasterData
    outbox: Outbox
    clock: Clock
    # The audit log of back-office actions (kit.audit); in memory unless bound to a transaction.
    audit_trail: AuditTrail = field(default_factory=AuditEntries)

    def now(self) -> datetime:
        return self.clock()

    def audit(self, entry: AuditEntry) -> None:
        """A back-office action for the audit log, committed with the action itself."""
        self.audit_trail.add(entry, self.now())

    def publish(
        self,
        topic: TopicSpec,
        key: str,
        event: EventPayload,
        *,
        tenant: str,
        correlation_id: UUID,
        causation_id: UUID | None = None,
    ) -> None:
        self.outbox.add_event(
            topic, key, event, tenant=tenant, correlation_id=correlation_id, causation_id=causation_id
        )

    def publish_recorded(
        self,
        aggregate: RecordsEvents,
        route: Callable[[EventPayload], tuple[TopicSpec, str]],
        *,
        tenant: str,
        correlation_id: UUID,
        causation_id: UUID | None = None,
    ) -> None:
        """The events the aggregate recorded, each to the topic and key ``route`` names; then forgotten."""
        for event in aggregate.events:
            topic, key = route(event)
            self.publish(topic, key, event, tenant=tenant, correlation_id=correlation_id, causation_id=causation_id)
        aggregate.events.clear()

    def send_mail(self, mail: Mail, *, tenant: str, correlation_id: UUID) -> None:
        self.outbox.add_mail(mail, tenant=tenant, correlation_id=correlation_id, now=self.now())

    async def mails_to(self, tenant: str, recipient: str, purposes: Collection[str], since: datetime) -> int:
        """Mails of these purposes to the recipient since then (limits on mails anyone can trigger)."""
        return await self.outbox.mails_to(tenant, recipient, purposes, since)


@dataclass(frozen=True)
class Written:
    """What a committed transaction left for the relays."""

    events: int = 0
    mails: int = 0


class SessionOutbox:
    """The outbox and mail tables (kit.outbox, kit.mail) in the unit of work's transaction. It keeps the rows
    until the transaction ends and then writes each table's with one INSERT (``write``), as plain rows: no ORM
    objects to make and flush. It counts what it wrote, so that a commit wakes only the relays that have work."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._events: list[dict[str, Any]] = []
        self._mails: list[dict[str, Any]] = []
        self.events = 0
        self.mails = 0

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
        self._events.append(
            event_row(topic, key, payload, tenant=tenant, correlation_id=correlation_id, causation_id=causation_id)
        )
        self.events += 1

    def add_mail(self, mail: Mail, *, tenant: str, correlation_id: UUID, now: datetime) -> None:
        self._mails.append(mail_row(mail, tenant=tenant, correlation_id=correlation_id, created_at=now))
        self.mails += 1

    async def mails_to(self, tenant: str, recipient: str, purposes: Collection[str], since: datetime) -> int:
        await self.write()  # the mails of this transaction count too
        return await mails_to(self._session, tenant, recipient, purposes, since)

    async def write(self) -> None:
        """The rows added since the last write, into the transaction: one statement per table."""
        if self._events:
            await insert_events(self._session, self._events)
            self._events = []
        if self._mails:
            await insert_mails(self._session, self._mails)
            self._mails = []


_OUTBOX = "plusportal.outbox"  # the transaction's SessionOutbox in session.info, shared by its units of work


class UnitsOfWork(Generic[S]):
    """Opens the service's units of work on its database; ``store`` makes the service's store on a session.

    ``after_commit`` hears what each committed transaction wrote (the relays are woken from it).
    """

    def __init__(
        self,
        db: Database,
        store: Callable[[AsyncSession], S],
        *,
        clock: Clock = system_clock,
        after_commit: Callable[[Written], None] = lambda _: None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.after_commit = after_commit
        self._store = store

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A transaction to bind units of work to (the event consumer's batch): committed when the block ends
        normally, then ``after_commit`` hears what it wrote; rolled back otherwise."""
        async with self.db.transaction() as session:
            yield session
            await _write_outbox(session)
        outbox = session.info.get(_OUTBOX)
        self.after_commit(Written(outbox.events, outbox.mails) if outbox else Written())

    def bind(self, session: AsyncSession) -> UnitOfWork[S]:
        """A unit of work inside ``transaction``; the units of one transaction share its outbox."""
        outbox = session.info.setdefault(_OUTBOX, SessionOutbox(session))
        return UnitOfWork(
            self._store(session), MasterDataTable(session), outbox, self.clock, SessionAuditTrail(session)
        )

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[UnitOfWork[S]]:
        """One use case in one transaction: committed when the block ends normally, else rolled back."""
        async with self.transaction() as session:
            yield self.bind(session)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[UnitOfWork[S]]:
        """For requests that only read: a read-only transaction (PostgreSQL refuses writes and row locks in it),
        nothing to send afterwards."""
        async with self.db.transaction(read_only=True) as session:
            yield self.bind(session)
            await _write_outbox(session)  # nothing, or PostgreSQL refuses it (a use case that reads must not send)


async def _write_outbox(session: AsyncSession) -> None:
    """Before the commit: the events and mails the transaction's units of work added."""
    outbox = session.info.get(_OUTBOX)
    if outbox is not None:
        await outbox.write()
