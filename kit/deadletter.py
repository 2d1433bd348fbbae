"""Dead letters: park a message that cannot be handled, with why and where it came from — and let the operator's
admins see and replay them once the cause is fixed.

Every dead letter goes to the dead-letter topic (the original bytes and key, error and source headers) and is
kept in the dead-lettering service's own database as a row without the message's content (topic, partition,
offset, consumer, event type, reason): what the back-office lists (``dead_letter_router``).

A replay does not republish the dead-letter topic's copy: every consumer may write that topic, so its copy proves
nothing. The service reads the record again from its source topic, where only the topic's owner can have written
it, and hands it to the consumer that dead-lettered it (``DeadLetters.replayable``). The consumer's inbox keeps a
replayed event that was handled since from counting twice; a record that fails again is dead-lettered again (the
row counts the failures). A record the source topic no longer keeps (retention) cannot be replayed: 410.
"""

import json
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any

import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, TopicPartition
from fastapi import APIRouter, Depends, HTTPException, Path
from faststream.kafka import KafkaBroker
from pydantic import BaseModel
from sqlalchemy import BigInteger, Column, DateTime, Identity
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Field, SQLModel

from contracts import envelope as headers
from contracts.staff import StaffRole
from contracts.topics import DEAD_LETTER
from kit import metrics
from kit.audit import Actor, AuditEntry, SessionAuditTrail
from kit.db import Database
from kit.errors import error_responses
from kit.http import INT64_MAX
from kit.kafka import KafkaAccess, record_header
from kit.logging import get_logger
from kit.tenants import TenantDirectory

log = get_logger(__name__)

Replay = Callable[[Any], Awaitable[None]]  # hands one Kafka ConsumerRecord to the consumer, as a delivery would
_PORTAL_NUMBER = re.compile(r"^\d{6}$")
LISTED = 500  # the newest dead letters a list shows
DeadLetterId = Annotated[int, Path(ge=1, le=INT64_MAX)]  # the table's BIGINT identity


class DeadLetterRow(SQLModel, table=True):
    __tablename__ = "dead_letters"
    __table_args__ = (sa.UniqueConstraint("consumer", "source_topic", "source_partition", "source_offset"),)

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    tenant: str | None = Field(default=None, index=True)  # the portal number the record names, if it names one
    consumer: str
    source_topic: str
    source_partition: int
    source_offset: int = Field(sa_column=Column(BigInteger, nullable=False))
    event_type: str | None = None
    reason: str
    first_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    last_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    failures: int = 1
    replayed_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    replayed_by: str | None = None


_rows: sa.Table = DeadLetterRow.__table__  # type: ignore[attr-defined]


def named_tenant_and_type(record: Any) -> tuple[str | None, str | None]:
    """The portal number and event type a record names (its ``tenant`` header, or its envelope's fields), if
    they look like ones: a malformed record may name neither. Nothing else of the content is read."""
    tenant, event_type = record_header(record, "tenant"), None
    try:
        body = json.loads(record.value)
    except (ValueError, TypeError):
        body = None
    if isinstance(body, dict):
        tenant = tenant or (body.get("tenant") if isinstance(body.get("tenant"), str) else None)
        if isinstance(body.get("event_type"), str) and re.fullmatch(r"[A-Za-z]{1,64}", body["event_type"]):
            event_type = body["event_type"]
    return (tenant if tenant and _PORTAL_NUMBER.match(tenant) else None), event_type


async def dead_letter(broker: KafkaBroker, record: Any, reason: str, consumer: str, *, db: Database | None) -> None:
    """``record`` is the aiokafka ConsumerRecord; the original bytes and key are kept as they were. The row goes
    into the service's ``db`` first (None: a process without a database, the reference print house — the topic
    only): should the publish fail, the record is delivered again and the row counts it once more."""
    log.warning("event_dead_lettered", consumer=consumer, topic=record.topic, offset=record.offset, reason=reason[:300])
    tenant, event_type = named_tenant_and_type(record)
    now = datetime.now(UTC)
    statement = insert(_rows).values(
        tenant=tenant,
        consumer=consumer,
        source_topic=record.topic,
        source_partition=record.partition,
        source_offset=record.offset,
        event_type=event_type,
        reason=reason[:2000],
        first_at=now,
        last_at=now,
        failures=1,
    )
    statement = statement.on_conflict_do_update(
        index_elements=["consumer", "source_topic", "source_partition", "source_offset"],
        set_={"reason": statement.excluded.reason, "last_at": now, "failures": _rows.c.failures + 1},
    )
    if db is not None:
        async with db.transaction() as session:
            await session.exec(statement)
    await broker.publish(
        record.value,
        DEAD_LETTER.name,
        key=record.key,
        headers={
            headers.HEADER_DLT_ERROR: reason[:2000],
            headers.HEADER_DLT_SOURCE_TOPIC: record.topic,
            headers.HEADER_DLT_SOURCE_PARTITION: str(record.partition),
            headers.HEADER_DLT_SOURCE_OFFSET: str(record.offset),
            headers.HEADER_DLT_CONSUMER: consumer,
            **({"tenant": tenant} if tenant else {}),
        },
    )
    metrics.record_dead_lettered(consumer, record.topic)


class DeadLetterView(BaseModel):
    """A dead letter as the back-office lists it: where it was and why, never what it said."""

    id: int
    consumer: str
    topic: str
    partition: int
    offset: int
    event_type: str | None
    reason: str
    first_dead_lettered_at: datetime
    last_dead_lettered_at: datetime
    failures: int
    replayed_at: datetime | None
    replayed_by: str | None

    @classmethod
    def of(cls, row: Any) -> "DeadLetterView":
        return cls(
            id=row.id,
            consumer=row.consumer,
            topic=row.source_topic,
            partition=row.source_partition,
            offset=row.source_offset,
            event_type=row.event_type,
            reason=row.reason,
            first_dead_lettered_at=row.first_at,
            last_dead_lettered_at=row.last_at,
            failures=row.failures,
            replayed_at=row.replayed_at,
            replayed_by=row.replayed_by,
        )


class ReplayOutcome(BaseModel):
    id: int
    handled: bool  # False: it failed again and is dead-lettered again, with the reason below
    reason: str | None
    message: str


class NotRetained(Exception):
    """The source topic no longer keeps the record (retention): it cannot be read again."""


class DeadLetters:
    """A service's dead letters: listed per operator, replayed by the consumer that parked them."""

    def __init__(self, db: Database, kafka: KafkaAccess, tenants: TenantDirectory) -> None:
        self.db = db
        self._kafka = kafka
        self._operators = [tenant.portal_number for tenant in tenants]
        self._replays: dict[str, Replay] = {}

    def replayable(self, consumer: str, replay: Replay) -> None:
        """``consumer``'s dead letters can be replayed: ``replay`` handles one record as a delivery would."""
        self._replays[consumer] = replay

    def _seen_by(self, actor: Actor) -> sa.ColumnElement[bool]:
        """An operator's admins see the dead letters that name their operator; the platform operator those that
        name none of the operators (the platform's own: no tenant, or one this installation does not serve)."""
        if actor.role == StaffRole.PLATFORM:
            return sa.or_(_rows.c.tenant.is_(None), _rows.c.tenant.not_in(self._operators))
        return _rows.c.tenant == actor.tenant

    async def seen_by(self, actor: Actor) -> list[DeadLetterView]:
        async with self.db.transaction(read_only=True) as session:
            rows = await session.exec(  # type: ignore[call-overload]
                sa.select(_rows).where(self._seen_by(actor)).order_by(_rows.c.last_at.desc()).limit(LISTED)
            )
            return [DeadLetterView.of(row) for row in rows]

    async def replay(self, dead_letter_id: int, actor: Actor) -> ReplayOutcome:
        """Raises LookupError (not one ``actor`` sees, or no such), NotRetained."""
        async with self.db.transaction(read_only=True) as session:
            found = (
                await session.exec(  # type: ignore[call-overload]
                    sa.select(_rows).where(_rows.c.id == dead_letter_id, self._seen_by(actor))
                )
            ).first()
        if found is None or found.consumer not in self._replays:
            raise LookupError(dead_letter_id)
        record = await self._read_again(found.source_topic, found.source_partition, found.source_offset)
        log.info("dead_letter_replayed", consumer=found.consumer, topic=found.source_topic, offset=found.source_offset)
        await self._replays[found.consumer](record)
        async with self.db.transaction() as session:
            replayed = {"replayed_at": datetime.now(UTC), "replayed_by": actor.name}
            await session.exec(sa.update(_rows).where(_rows.c.id == found.id).values(**replayed))
            after = (await session.exec(sa.select(_rows).where(_rows.c.id == found.id))).one()  # type: ignore[call-overload]
            SessionAuditTrail(session).add(
                AuditEntry(actor, "dead_letter.replayed", "dead_letter", str(found.id), {"topic": found.source_topic}),
                datetime.now(UTC),
            )
        handled = after.last_at == found.last_at
        return ReplayOutcome(
            id=found.id,
            handled=handled,
            reason=None if handled else after.reason,
            message="Die Nachricht wurde erneut verarbeitet."
            if handled
            else f"Die Nachricht ist erneut fehlgeschlagen. Grund: {after.reason}",
        )

    async def _read_again(self, topic: str, partition: int, offset: int) -> Any:
        consumer = AIOKafkaConsumer(**self._kafka.client_options(), enable_auto_commit=False, group_id=None)
        await consumer.start()
        try:
            source = TopicPartition(topic, partition)
            consumer.assign([source])
            consumer.seek(source, offset)
            fetched = await consumer.getmany(source, timeout_ms=5000, max_records=1)
            records = fetched.get(source, [])
        finally:
            await consumer.stop()
        if not records or records[0].offset != offset:
            raise NotRetained(f"{topic}/{partition}@{offset}")
        return records[0]


NOT_FOUND = "Diese Nachricht gibt es hier nicht. Bitte laden Sie die Liste neu."
GONE = (
    "Die ursprüngliche Nachricht ist nicht mehr gespeichert (Aufbewahrungsfrist) und kann nicht erneut "
    "verarbeitet werden."
)


def dead_letter_router(
    dead_letters: DeadLetters,
    admin: Callable[..., Awaitable[Actor]],
    admin_changing: Callable[..., Awaitable[Actor]] | None = None,
) -> APIRouter:
    """``GET /backoffice/dead-letters`` and ``POST /backoffice/dead-letters/{id}/replay`` for the operator's admins,
    and the platform operator for the platform's own. ``admin``: the dependency that yields one; ``admin_changing``:
    the one for state changes (with the CSRF check where the back-office signs in by cookie)."""
    router = APIRouter(tags=["operations"])
    changing = admin_changing or admin

    @router.get(
        "/backoffice/dead-letters",
        summary="This operator's dead letters, newest first (admins)",
        responses=error_responses(401, 403, 404),
    )
    async def list_dead_letters(actor: Annotated[Actor, Depends(admin)]) -> list[DeadLetterView]:
        return await dead_letters.seen_by(actor)

    @router.post(
        "/backoffice/dead-letters/{dead_letter_id}/replay",
        summary="Handle a dead letter again, read from its source topic, once its cause is fixed (admins)",
        responses=error_responses(401, 403, 404, 410, 422),
    )
    async def replay(dead_letter_id: DeadLetterId, actor: Annotated[Actor, Depends(changing)]) -> ReplayOutcome:
        try:
            return await dead_letters.replay(dead_letter_id, actor)
        except LookupError:
            raise HTTPException(404, NOT_FOUND) from None
        except NotRetained:
            raise HTTPException(410, GONE) from None

    return router
