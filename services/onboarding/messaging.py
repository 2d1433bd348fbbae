"""Onboarding's Kafka side: thin subscribers that hand each message to the event consumer."""

from faststream.kafka import KafkaRouter

from contracts import identity, letters, masterdata, onboarding, topics
from kit.auth import keep_key_revocation, keep_signing_key
from kit.consumer import EventConsumer
from kit.masterdata import record_meter_point
from kit.outbox import document_publishers
from services.onboarding import handlers

GROUP = "onboarding"


def build_router(consumer: EventConsumer) -> KafkaRouter:
    consumer.on(masterdata.MeterPointRecorded, record_meter_point)
    for letter_event in (
        letters.LetterQueued,
        letters.LetterDispatched,
        letters.LetterReturned,
        letters.LetterFailed,
    ):
        consumer.on(letter_event, handlers.record_letter_progress)
    consumer.on(identity.PartnerLinked, handlers.record_registration)
    consumer.on(identity.SigningKeyPublished, keep_signing_key)  # verifies staff tokens (kit.staff)
    consumer.on(identity.SigningKeyRevoked, keep_key_revocation)

    router = KafkaRouter()

    consumer.subscribe(
        router,
        topics.MASTER_DATA.name,
        topics.LETTERS.name,
        topics.IDENTITY.name,
        topics.IDENTITY_KEYS.name,
        group=GROUP,
        description="Master data, letter progress, registrations, identity's keys",
    )

    document_publishers(
        router,
        (topics.ONBOARDING_REQUESTS, onboarding.PartnerNumberRequested),
        (topics.ONBOARDING_REQUESTS, onboarding.PartnerNumberRequestMatched),
        (topics.ONBOARDING_REQUESTS, onboarding.PartnerNumberRequestSentToReview),
        (topics.ONBOARDING_REQUESTS, onboarding.PartnerNumberRequestRejected),
    )
    return router
