"""Letters' Kafka side: thin subscribers that hand each message to the event consumer."""

from functools import partial

from faststream.kafka import KafkaRouter

from contracts import identity, letters, masterdata, onboarding, topics
from kit.auth import keep_key_revocation, keep_signing_key
from kit.consumer import EventConsumer
from kit.outbox import document_publishers
from services.letters import handlers
from services.letters.settings import LettersSettings

GROUP = "letters"


def build_router(consumer: EventConsumer, settings: LettersSettings) -> KafkaRouter:
    # Dispatch jobs name their PDF under this service's address as the print house reaches it.
    posting = handlers.Posting(settings.public_url, settings.code_key)
    consumer.on(masterdata.MeterPointRecorded, partial(handlers.record_master_data, posting=posting))
    consumer.on(onboarding.PartnerNumberRequestMatched, partial(handlers.queue_letter, posting=posting))
    consumer.on(letters.DispatchStatusReported, handlers.record_dispatch_status)
    consumer.on(identity.SigningKeyPublished, keep_signing_key)  # verifies staff tokens (kit.staff)
    consumer.on(identity.SigningKeyRevoked, keep_key_revocation)

    router = KafkaRouter()

    consumer.subscribe(
        router,
        topics.MASTER_DATA.name,
        topics.ONBOARDING_REQUESTS.name,
        topics.LETTER_DISPATCH_STATUS.name,
        topics.IDENTITY_KEYS.name,
        group=GROUP,
        description="Master data, matched requests (→ letter), print-house status reports, identity's keys",
    )

    document_publishers(
        router,
        (topics.LETTER_QUEUE, letters.LetterDispatchRequested),
        (topics.LETTERS, letters.LetterQueued),
        (topics.LETTERS, letters.RegistrationCodeIssued),
        (topics.LETTERS, letters.LetterDispatched),
        (topics.LETTERS, letters.LetterReturned),
        (topics.LETTERS, letters.LetterFailed),
    )
    return router
