"""What every service process runs besides its own code: database, Kafka broker, relays, lifecycle.

Kafka may be down when a service starts or while it runs: HTTP keeps working, events wait in the
outbox, and the broker connection is retried until it succeeds.
"""

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from fastapi import APIRouter
from faststream.kafka import KafkaBroker, KafkaRouter
from sqlalchemy import literal
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from contracts.staff import StaffRole
from kit import mail, outbox
from kit.consumer import EventConsumer
from kit.db import Database, migrate
from kit.deadletter import DeadLetters, dead_letter_router
from kit.logging import configure_logging, get_logger
from kit.mail import MailRelay
from kit.metrics import MAIL_BACKLOG, OUTBOX_BACKLOG, OUTBOX_OLDEST_AGE, ServiceMetrics
from kit.outbox import OutboxRelay
from kit.settings import ServiceSettings
from kit.staff import StaffAccess
from kit.tenants import load_tenants
from kit.tracing import configure_tracing, kafka_middlewares
from kit.uow import Clock, UnitsOfWork, Written, system_clock
from kit.worker import PollingWorker

S = TypeVar("S")

log = get_logger(__name__)


class ServiceRuntime:
    def __init__(
        self,
        name: str,
        settings: ServiceSettings,
        database_url: str,
        migrations: Path,
        *,
        sends_mail: bool = True,
    ) -> None:
        self.name = name
        self.settings = settings
        self.tenants = load_tenants(settings.tenants_file, settings.portal_url_template)
        self.db = Database(database_url)
        self._migrations = migrations
        self.kafka = settings.kafka_access(name)
        self.broker = KafkaBroker(
            self.kafka.servers,
            security=self.kafka.security(),
            client_id=f"plusportal-{name}",
            enable_idempotence=True,  # broker-side de-duplication of the relay's retries
            acks="all",
            log_level=logging.DEBUG,
            middlewares=kafka_middlewares(),  # trace context in and out of Kafka headers (kit.tracing)
        )
        self.outbox_relay = OutboxRelay(self.db, self.broker, poll_interval=1.0)
        self.dead_letters = DeadLetters(self.db, self.kafka, self.tenants)
        self.mail_relay = MailRelay(self.db, settings.smtp_host, settings.smtp_port, poll_interval=1.0)
        self._sends_mail = sends_mail
        self.metrics = ServiceMetrics(name, self.db, self.broker)
        self.metrics.watch(outbox.backlog, OUTBOX_BACKLOG, OUTBOX_OLDEST_AGE)
        if sends_mail:
            self.metrics.watch(mail.backlog, MAIL_BACKLOG)
        self.kafka_connected = asyncio.Event()
        self._connect_task: asyncio.Task[None] | None = None
        self._on_started: list[Callable[[], Awaitable[object]]] = []

    def units_of_work(
        self, store: Callable[[AsyncSession], S], clock: Clock = system_clock, *, wake: Sequence[PollingWorker] = ()
    ) -> UnitsOfWork[S]:
        """The service's units of work on its database. A commit wakes the relays that have work, and the
        workers in ``wake`` when it wrote events (their work comes from the same commits)."""

        def after_commit(written: Written) -> None:
            if written.events:
                self.outbox_relay.wake()
                for worker in wake:
                    worker.wake()
            if written.mails:
                self.mail_relay.wake()

        return UnitsOfWork(self.db, store, clock=clock, after_commit=after_commit)

    def consumer(self, units: UnitsOfWork[Any], group: str | None = None) -> EventConsumer:
        consumer = EventConsumer(group or self.name, units, self.broker, self.tenants)
        self.dead_letters.replayable(consumer.name, consumer.replay)
        return consumer

    def dead_letter_api(self) -> APIRouter:
        """The back-office routes of this service's dead letters (staff tokens): for the operator's admins at the
        operator's host, and for the platform operator at the platform's (those that name no operator)."""
        with_platform = self.tenants.with_platform(self.settings.portal_url_template)
        access = StaffAccess(self.db, with_platform).allow(StaffRole.ADMIN, StaffRole.PLATFORM)
        return dead_letter_router(self.dead_letters, access)

    def include(self, router: KafkaRouter) -> None:
        self.broker.include_router(router)

    def on_started(self, step: Callable[[], Awaitable[object]]) -> None:
        """Run ``step`` after the migrations, before requests are served (e.g. to publish a key)."""
        self._on_started.append(step)

    async def start(self) -> None:
        await migrate(self.db.url, self._migrations)
        for step in self._on_started:
            await step()
        if self._sends_mail:
            self.mail_relay.start()
        self._connect_task = asyncio.create_task(self._connect_kafka(), name="kafka-connect")
        # Everything loaded so far lives as long as the process: keep it out of the collector's full
        # passes, which otherwise walk it all again and again (benchmarks/README.md, letters).
        gc.freeze()
        log.info("service_started", service=self.name)

    async def _connect_kafka(self) -> None:
        delay = 0.5
        while True:
            try:
                await self.broker.start()
            except Exception as error:
                log.warning(
                    "kafka_unavailable",
                    error=f"{type(error).__name__}: {error}"[:200],
                    principal=self.kafka.username,
                    hint=None
                    if self.kafka.authenticated
                    else "no Kafka password: set PLUSPORTAL_KAFKA_PASSWORD(_FILE)",
                    retry_in_s=delay,
                )
                await self.broker.stop()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
                continue
            self.kafka_connected.set()
            if self.settings.outbox_relay_enabled:
                self.outbox_relay.start()
            log.info("kafka_connected")
            return

    async def stop(self) -> None:
        if self._connect_task:
            self._connect_task.cancel()
            await asyncio.gather(self._connect_task, return_exceptions=True)
        await self.outbox_relay.stop()
        await self.mail_relay.stop()
        await self.broker.stop()
        await self.db.dispose()
        log.info("service_stopped", service=self.name)

    @asynccontextmanager
    async def lifespan(self, _app: Any) -> AsyncIterator[None]:
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    async def health(self) -> dict[str, Any]:
        database = "ok"
        try:
            async with self.db.transaction() as session:
                await session.exec(select(literal(1)))
        except Exception:
            database = "unavailable"
        return {"service": self.name, "kafka": self.kafka_connected.is_set(), "database": database}


def setup_process_logging(name: str, settings: ServiceSettings) -> None:
    configure_logging(name, json=settings.log_json)
    configure_tracing(name, settings.traces_file)
