"""Meter data's Kafka side: master data and keys through the shared consumer; readings in batches (one COPY
and one commit per batch, offsets committed after); MSCONS files one by one."""

from typing import Any

from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaRouter

from contracts import alerts as alert_events
from contracts import consent, identity, masterdata, meterdata, topics
from kit.consumer import Batch, Delivered, EventConsumer, records_of, without_poison
from kit.deadletter import DeadLetters, dead_letter
from kit.kafka import record_header
from kit.logging import get_logger
from kit.masterdata import record_meter_point
from kit.outbox import document_publishers
from kit.tenants import TenantDirectory, UnknownTenant
from kit.uow import UnitsOfWork
from services.meterdata import alerts, handlers, token_handlers
from services.meterdata.handlers import Readings

log = get_logger(__name__)
GROUP = "meterdata"
INGEST_GROUP = "meterdata-ingest"
MSCONS_GROUP = f"{GROUP}-mscons"


async def account_deleted(event: Delivered[identity.AccountDeleted], uow: Any) -> None:
    """A deleted login: its personal tokens are revoked and its partner numbers' alerts go, in one transaction (the
    consumer takes one handler per event type)."""
    await token_handlers.revoke_tokens_of_deleted_account(event, uow)
    await handlers.forget_alerts(event, uow)


def build_router(
    consumer: EventConsumer,
    units: UnitsOfWork[Readings],
    broker: KafkaBroker,
    tenants: TenantDirectory,
    batch: int,
    dead_letters: DeadLetters,
    *,
    alert_key: bytes = alerts.DEVELOPMENT_KEY,  # signs the off links of the alerts raised (MeterdataSettings)
) -> KafkaRouter:
    consumer.on(masterdata.MeterPointRecorded, record_meter_point)
    consumer.on(identity.SigningKeyPublished, handlers.record_signing_key)
    consumer.on(identity.SigningKeyRevoked, handlers.record_key_revocation)
    consumer.on(identity.SessionEnded, handlers.record_session_ended)
    consumer.on(consent.GrantRevoked, handlers.record_grant_revoked)
    consumer.on(identity.AccountDeleted, account_deleted)
    router = KafkaRouter()

    consumer.subscribe(
        router,
        topics.MASTER_DATA.name,
        topics.IDENTITY_KEYS.name,
        topics.IDENTITY.name,
        group=GROUP,
        description="Master data (meter → partner numbers), identity's public keys and their revocations, "
        "ended sessions, deleted logins (their personal tokens are revoked, their alerts go), revoked grants of third "
        "parties",
    )

    @router.subscriber(
        topics.METER_READINGS.name,
        group_id=INGEST_GROUP,
        auto_offset_reset="earliest",
        batch=True,
        max_records=batch,
        # Day messages are several kB: with aiokafka's 1 MB per partition the consumer waited between fetches
        # (benchmarks/README.md, "Choices in the code").
        max_partition_fetch_bytes=8 * 1024 * 1024,
        decoder=records_of,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        title="meterdata-ingest",
        description="LoadProfileDay and RegisterReadings from the SMGW administrator, in batches",
    )
    async def on_readings(records: Any) -> None:  # Batch (records_of)
        await ingest_without_poison(records)

    async def ingest_without_poison(records: Batch) -> None:
        await without_poison(INGEST_GROUP, records, ingest, db=units.db, broker=broker)

    async def ingest(records: Batch) -> None:
        async with units() as uow:
            outcome = await handlers.ingest(handlers.IngestReadings(tuple(records), tenants, alert_key), uow)
        for record, reason in outcome.rejected:
            await dead_letter(broker, record, reason, INGEST_GROUP, db=units.db)
        log.info("readings_ingested", days=outcome.days, registers=outcome.registers, rejected=len(outcome.rejected),
                 answered=outcome.answered, alerts=outcome.alerts)  # fmt: skip

    @router.subscriber(
        topics.METER_MSCONS.name,
        group_id=MSCONS_GROUP,
        auto_offset_reset="earliest",
        decoder=records_of,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        title="meterdata-mscons",
        description="Raw EDIFACT MSCONS interchanges; the Kafka header 'tenant' names the grid operator",
    )
    async def on_mscons(records: Any) -> None:  # Batch (records_of): one record
        [record] = records
        await mscons_without_poison(record)

    async def mscons_without_poison(record: Any) -> None:
        await without_poison(MSCONS_GROUP, (record,), ingest_file, db=units.db, broker=broker)

    async def ingest_file(records: Batch) -> None:
        [record] = records
        tenant = (record_header(record, "tenant") or "").strip()
        try:
            operator = tenants.get(tenant)
            async with units() as uow:
                command = handlers.ReceiveInterchange(record.value, tenant, operator.market_partner_id, alert_key)
                processed = await handlers.receive_interchange(command, uow)
        except (handlers.Unanswerable, UnknownTenant) as error:
            # No one to answer: an operator this platform does not serve, or no sender readable in the file.
            await dead_letter(broker, record, f"MSCONS: {error}", MSCONS_GROUP, db=units.db)
            return
        received = processed.interchange
        if received is None:
            log.info("mscons_delivered_again")  # the same file before: stored and answered then
            return
        for refusal in processed.refusals:
            # The code and the segment's position only: the reason may name a location id.
            log.warning("mscons_message_refused", interchange=refusal.interchange, message=refusal.message,
                        code=refusal.code, segment=refusal.tag, index=refusal.index)  # fmt: skip
        log.info("mscons_ingested", id=received.id, status=received.status, days=processed.days,
                 registers=processed.registers, unmapped=len(processed.unmapped), refused=len(processed.refusals),
                 syntax_error=received.syntax_error, answers=[a.kind for a in processed.answers])  # fmt: skip

    dead_letters.replayable(INGEST_GROUP, lambda record: ingest_without_poison((record,)))
    dead_letters.replayable(MSCONS_GROUP, mscons_without_poison)

    document_publishers(
        router,
        (topics.METER_MSCONS_ANSWERS, meterdata.InterchangeAnswered),
        (topics.METER_VALUE_REQUESTS, meterdata.CurrentValuesRequested),
        (topics.METER_ALERTS, alert_events.AlertRaised),
    )
    router.publisher(
        topics.METER_READINGS.name,
        schema=meterdata.LoadProfileDay,
        title="readings:LoadProfileDay (published by the SMGW administrator)",
        include_in_schema=True,
    )
    return router
