"""Which event types travel on which topic. Readers ignore types they do not know."""

from contracts import alerts, consent, identity, letters, masterdata, meterdata, onboarding, topics
from contracts.envelope import EventPayload

EVENTS_BY_TOPIC: dict[str, tuple[type[EventPayload], ...]] = {
    topics.MASTER_DATA.name: (masterdata.MeterPointRecorded,),
    topics.ONBOARDING_REQUESTS.name: (
        onboarding.PartnerNumberRequested,
        onboarding.PartnerNumberRequestMatched,
        onboarding.PartnerNumberRequestSentToReview,
        onboarding.PartnerNumberRequestRejected,
    ),
    topics.LETTER_QUEUE.name: (letters.LetterDispatchRequested,),
    topics.LETTER_DISPATCH_STATUS.name: (letters.DispatchStatusReported,),
    topics.LETTERS.name: (
        letters.LetterQueued,
        letters.RegistrationCodeIssued,
        letters.LetterDispatched,
        letters.LetterReturned,
        letters.LetterFailed,
    ),
    topics.IDENTITY_REQUESTS.name: (identity.AccessRequested, identity.PasswordResetRequested),
    topics.IDENTITY.name: (
        identity.EmailConfirmed,
        identity.PartnerLinked,
        identity.PasswordChanged,
        identity.AccountDeleted,
        identity.SessionEnded,
        consent.GrantGiven,
        consent.GrantRevoked,
        consent.GrantExpired,
    ),
    topics.IDENTITY_KEYS.name: (identity.SigningKeyPublished, identity.SigningKeyRevoked),
    topics.METER_READINGS.name: (meterdata.LoadProfileDay, meterdata.RegisterReadings),
    topics.METER_MSCONS_ANSWERS.name: (meterdata.InterchangeAnswered,),
    topics.METER_VALUE_REQUESTS.name: (meterdata.CurrentValuesRequested,),
    topics.METER_ALERTS.name: (alerts.AlertRaised,),
}

ALL_EVENTS: tuple[type[EventPayload], ...] = tuple(event for events in EVENTS_BY_TOPIC.values() for event in events)
