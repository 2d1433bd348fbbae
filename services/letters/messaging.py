"""Letters' Kafka side: thin subscribers that hand each message to the event consumer."""

from functools import partial

from faststream import AckPolicy
from faststream.kafka import KafkaMessage, KafkaRouter

from contracts import letters, masterdata, onboarding, topics
from kit.consumer import EventConsumer
from kit.tenants import TenantDirectory
from services.letters import handlers
from services.letters.settings import LettersSettings

GROUP = "letters"


def build_router(consumer: EventConsumer, tenants: TenantDirectory, settings: LettersSettings) -> KafkaRouter:
    consumer.on(
        masterdata.MeterPointRecorded,
        partial(handlers.record_master_data, tenants=tenants, settings=settings),
    )
    consumer.on(
        onboarding.PartnerNumberRequestMatched,
        partial(handlers.queue_letter, tenants=tenants, settings=settings),
    )
    consumer.on(letters.DispatchStatusReported, handlers.record_dispatch_status)

    router = KafkaRouter()

    @router.subscriber(
        topics.MASTER_DATA.name,
        topics.ONBOARDING_REQUESTS.name,
        topics.LETTER_DISPATCH_STATUS.name,
        group_id=GROUP,
        auto_offset_reset="earliest",
        batch=True,
        max_records=EventConsumer.MAX_BATCH,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        title="letters",
        description="Master data, matched requests (→ letter), print-house status reports",
    )
    async def on_event(message: KafkaMessage) -> None:
        await consumer.handle(message)

    for spec, event in (
        (topics.LETTER_QUEUE, letters.LetterDispatchRequested),
        (topics.LETTERS, letters.LetterQueued),
        (topics.LETTERS, letters.LetterDispatched),
        (topics.LETTERS, letters.LetterReturned),
        (topics.LETTERS, letters.LetterFailed),
    ):
        router.publisher(
            spec.name, schema=event, title=f"{spec.name}:{event.EVENT_TYPE}", description=event.__doc__ or ""
        )
    return router
