"""Identity's Kafka side: thin subscribers that hand each message to the event consumer."""

from functools import partial

from faststream.kafka import KafkaRouter

from contracts import alerts, consent, identity, letters, masterdata, topics
from kit.consumer import EventConsumer
from kit.masterdata import record_meter_point
from kit.outbox import document_publishers
from services.identity import consent_handlers, handlers
from services.identity.handlers import Deps

GROUP = "identity"


def build_router(consumer: EventConsumer, deps: Deps) -> KafkaRouter:
    consumer.on(masterdata.MeterPointRecorded, record_meter_point)
    consumer.on(identity.AccessRequested, partial(handlers.handle_access_request, deps=deps))
    consumer.on(identity.PasswordResetRequested, partial(handlers.handle_reset_request, deps=deps))
    consumer.on(letters.RegistrationCodeIssued, handlers.keep_registration_code)
    consumer.on(identity.AccountDeleted, consent_handlers.end_grants_of_deleted_account)
    consumer.on(alerts.AlertRaised, partial(handlers.mail_alert, deps=deps))

    router = KafkaRouter()

    consumer.subscribe(
        router,
        topics.MASTER_DATA.name,
        topics.IDENTITY_REQUESTS.name,
        topics.LETTERS.name,
        topics.IDENTITY.name,
        topics.METER_ALERTS.name,
        group=GROUP,
        description="Master data (valid meter/partner pairs), own access and reset requests, letters' codes, "
        "own deleted logins (their grants to third parties end), meter data's alerts (mailed)",
    )

    document_publishers(
        router,
        (topics.IDENTITY_REQUESTS, identity.AccessRequested),
        (topics.IDENTITY_REQUESTS, identity.PasswordResetRequested),
        (topics.IDENTITY, identity.EmailConfirmed),
        (topics.IDENTITY, identity.PartnerLinked),
        (topics.IDENTITY, identity.PasswordChanged),
        (topics.IDENTITY, identity.AccountDeleted),
        (topics.IDENTITY, identity.SessionEnded),
        (topics.IDENTITY, consent.GrantGiven),
        (topics.IDENTITY, consent.GrantRevoked),
        (topics.IDENTITY, consent.GrantExpired),
        (topics.IDENTITY_KEYS, identity.SigningKeyPublished),
        (topics.IDENTITY_KEYS, identity.SigningKeyRevoked),
    )
    return router
