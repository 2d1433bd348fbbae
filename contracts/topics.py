"""Every Kafka topic of the platform, in one place, with its partitions, retention, owner and readers.

The project creates these topics itself (`plusportal-stack topics`); the broker never auto-creates.
Keys: the aggregate each topic is about, so that order holds per aggregate.

Who may use a topic is part of its contract: the broker's ACLs (stack.acls) let only the owner write it
and only the readers read it, each reader in consumer groups named after itself.
"""

from dataclasses import dataclass
from enum import StrEnum

DAY_MS = 24 * 60 * 60 * 1000


class Principal(StrEnum):
    """The Kafka users of the platform: one per producer and consumer, each with its own credential."""

    ONBOARDING = "onboarding"
    LETTERS = "letters"
    IDENTITY = "identity"
    METERDATA = "meterdata"
    PRINT_HOUSE = "printhouse"
    SMGW_ADMINISTRATOR = "smgw"  # the SMGW administrator's system that pushes readings
    BILLING_IMPORT = "billing"  # the grid operator's billing system that publishes master data


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    retention_ms: int
    key: str  # what the message key is, for people reading this file and the AsyncAPI document
    purpose: str
    owner: Principal | None  # the only writer (None: every consumer writes, the dead-letter topic)
    readers: tuple[Principal, ...] = ()


MASTER_DATA = TopicSpec(
    "plusportal.masterdata.v1",
    3,
    -1,
    "tenant/meter number",
    "Master data from each grid operator's billing system: meter → partner numbers, address of record.",
    Principal.BILLING_IMPORT,
    (Principal.ONBOARDING, Principal.LETTERS, Principal.IDENTITY, Principal.METERDATA),
)
ONBOARDING_REQUESTS = TopicSpec(
    "plusportal.onboarding.requests.v1",
    3,
    30 * DAY_MS,
    "request id",
    "What happens to a customer's request for their partner number.",
    Principal.ONBOARDING,
    (Principal.LETTERS,),
)
LETTER_QUEUE = TopicSpec(
    "plusportal.letters.queue.v1",
    3,
    14 * DAY_MS,
    "job id",
    "Dispatch jobs for print/mail houses: recipient and where to fetch the PDF (personal data: short retention).",
    Principal.LETTERS,
    (Principal.PRINT_HOUSE,),
)
LETTER_DISPATCH_STATUS = TopicSpec(
    "plusportal.letters.dispatch-status.v1",
    3,
    90 * DAY_MS,
    "job id",
    "Status reports of print/mail houses about dispatch jobs.",
    Principal.PRINT_HOUSE,
    (Principal.LETTERS,),
)
LETTERS = TopicSpec(
    "plusportal.letters.events.v1",
    3,
    90 * DAY_MS,
    "request id",
    "What the letters service did with a request's letter (queued, its registration code, dispatched, returned).",
    Principal.LETTERS,
    (Principal.ONBOARDING, Principal.IDENTITY),
)
IDENTITY_REQUESTS = TopicSpec(
    "plusportal.identity.requests.v1",
    3,
    7 * DAY_MS,
    "tenant/partner number or tenant/e-mail hash",
    "Access and reset requests, handled after the HTTP answer (same answer and timing for every outcome).",
    Principal.IDENTITY,
    (Principal.IDENTITY,),
)
IDENTITY = TopicSpec(
    "plusportal.identity.v1",
    3,
    90 * DAY_MS,
    "account id",
    "What happened to customer accounts: e-mail confirmed, partner linked, password changed, deleted, "
    "session ended (its access tokens are refused from then on); third parties' grants given, revoked, expired.",
    Principal.IDENTITY,
    (Principal.IDENTITY, Principal.ONBOARDING, Principal.METERDATA),  # identity: a deleted login's grants end
)
IDENTITY_KEYS = TopicSpec(
    "plusportal.identity.keys.v1",
    1,
    -1,
    "key id",
    "Public keys that verify identity's access tokens (JWKS entries, with their validity period) and their "
    "revocations: other services verify without calling.",
    Principal.IDENTITY,
    (Principal.METERDATA, Principal.ONBOARDING, Principal.LETTERS),
)
METER_READINGS = TopicSpec(
    "plusportal.meterdata.readings.v1",
    6,
    30 * DAY_MS,
    "tenant/meter number",
    "Readings from the SMGW administrator: load-profile days and register readings (JSON envelopes).",
    Principal.SMGW_ADMINISTRATOR,
    (Principal.METERDATA,),
)
METER_MSCONS = TopicSpec(
    "plusportal.meterdata.mscons.v1",
    3,
    30 * DAY_MS,
    "file name",
    "Raw EDIFACT MSCONS interchanges (bytes as received); header tenant names the grid operator.",
    Principal.SMGW_ADMINISTRATOR,
    (Principal.METERDATA,),
)
METER_MSCONS_ANSWERS = TopicSpec(
    "plusportal.meterdata.mscons-answers.v1",
    3,
    30 * DAY_MS,
    "sender's market partner id",
    "The EDIFACT answers (CONTRL, APERAK) to the MSCONS interchanges received, for their senders' side.",
    Principal.METERDATA,
    (Principal.SMGW_ADMINISTRATOR,),
)
METER_VALUE_REQUESTS = TopicSpec(
    "plusportal.meterdata.value-requests.v1",
    3,
    7 * DAY_MS,
    "tenant/meter number",
    "A customer's request for the meter's current values (§61 MsbG): the SMGW administrator answers with readings "
    "on the readings topic.",
    Principal.METERDATA,
    (Principal.SMGW_ADMINISTRATOR,),
)
METER_ALERTS = TopicSpec(
    "plusportal.meterdata.alerts.v1",
    3,
    30 * DAY_MS,
    "tenant/partner number",
    "Alerts a customer defined, raised as readings arrive (once per alert and day); identity mails the account.",
    Principal.METERDATA,
    (Principal.IDENTITY,),
)
DEAD_LETTER = TopicSpec(
    "plusportal.dead-letter.v1",
    1,
    90 * DAY_MS,
    "original key",
    "Messages no consumer could parse or process, with error and source topic/partition/offset headers.",
    None,
    (),
)

ALL_TOPICS: tuple[TopicSpec, ...] = (
    MASTER_DATA,
    ONBOARDING_REQUESTS,
    LETTER_QUEUE,
    LETTER_DISPATCH_STATUS,
    LETTERS,
    IDENTITY_REQUESTS,
    IDENTITY,
    IDENTITY_KEYS,
    METER_READINGS,
    METER_MSCONS,
    METER_MSCONS_ANSWERS,
    METER_VALUE_REQUESTS,
    METER_ALERTS,
    DEAD_LETTER,
)
