"""Letters' Kafka side: thin subscribers that hand each message to the event consumer."""

from faststream.kafka import KafkaRouter

from contracts import letters, masterdata, onboarding, topics
from kit.consumer import EventConsumer
from kit.outbox import document_publishers
from kit.tenants import TenantDirectory
from services.letters import handlers
from services.letters.settings import LettersSettings

GROUP = "letters"


def build_router(consumer: EventConsumer, tenants: TenantDirectory, settings: LettersSettings) -> KafkaRouter:
    consumer.on(
        masterdata.MeterPointRecorded,
        lambda event, uow: handlers.record_master_data(event, uow.store, tenants, settings),
    )
    consumer.on(
        onboarding.PartnerNumberRequestMatched,
        lambda event, uow: handlers.queue_letter(event, uow.store, tenants, settings),
    )
    consumer.on(letters.DispatchStatusReported, lambda event, uow: handlers.record_dispatch_status(event, uow.store))

    router = KafkaRouter()

    consumer.subscribe(
        router,
        topics.MASTER_DATA.name,
        topics.ONBOARDING_REQUESTS.name,
        topics.LETTER_DISPATCH_STATUS.name,
        group=GROUP,
        description="Master data, matched requests (→ letter), print-house status reports",
    )

    document_publishers(
        router,
        (topics.LETTER_QUEUE, letters.LetterDispatchRequested),
        (topics.LETTERS, letters.LetterQueued),
        (topics.LETTERS, letters.LetterDispatched),
        (topics.LETTERS, letters.LetterReturned),
        (topics.LETTERS, letters.LetterFailed),
    )
    return router
