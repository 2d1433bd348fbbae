"""Meter data's use cases, each ``handle(command or query, uow) -> view``: ingest batches of readings (JSON or
MSCONS), record the keys that sign access tokens, answer queries per partner number.

The HTTP API's hot queries (15-minute values, totals) take ``PartnerReadings`` instead of a unit of work:
each is one statement on a pooled connection, no transaction around it.
"""

import hashlib
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal, Protocol
from uuid import UUID, uuid4

import msgspec
from pydantic import ValidationError

from contracts.alerts import AlertKind, AlertRaised
from contracts.common import METER_NUMBER_PATTERN
from contracts.consent import GrantRevoked
from contracts.grid_fees import FeeQuarter
from contracts.identity import AccountDeleted, SessionEnded, SigningKeyPublished, SigningKeyRevoked
from contracts.meterdata import InterchangeAnswered, Quality, RegisterReadings
from contracts.topics import METER_ALERTS, METER_MSCONS_ANSWERS, METER_VALUE_REQUESTS
from kit import billing, energy_day, validity
from kit.consumer import Delivered
from kit.tenants import TenantDirectory, UnknownTenant
from kit.uow import UnitOfWork
from kit.validity import Relation
from services.meterdata import alerts, current_values, domain, edifact_answers, grid_fees
from services.meterdata.current_values import ValueRequest
from services.meterdata.domain import (
    AnswerSent,
    DayTotal,
    IntervalDay,
    MessageRefused,
    MeterWindow,
    QuarterHourDay,
    ReceivedInterchange,
    RegisterValue,
    Resolution,
    StoredDay,
)
from services.meterdata.mscons import (
    InterchangeHeader,
    MessageRefusal,
    MsconsError,
    ParsedInterchange,
    parse_mscons,
    read_header,
)


class ValueRequests(Protocol):
    """The store's part for current values on request (store_value_requests.ValueRequestStore; a fake in tests)."""

    async def unanswered_requests_of_meter(self, tenant: str, meter_number: str) -> list[ValueRequest]: ...

    async def requests_of_partner_since(self, tenant: str, partner_number: str, since: datetime) -> int: ...

    async def last_register_at(self, tenant: str, meter_number: str, channels: Sequence[str]) -> datetime | None: ...

    async def add_value_request(self, request: ValueRequest) -> None: ...

    async def forget_value_requests(self, tenant: str, partner_number: str, before: datetime) -> None: ...

    async def value_request(self, tenant: str, partner_number: str, request_id: UUID) -> ValueRequest | None: ...

    async def answer_value_requests(
        self, meters: Collection[tuple[str, str]], answered_at: datetime, asked_after: datetime
    ) -> int: ...


class Readings(ValueRequests, Protocol):
    """What the use cases need of the store (store.MeterdataStore; a fake in the unit tests)."""

    async def upsert_days(self, days: Sequence[IntervalDay]) -> None: ...

    async def add_register_readings(self, readings: Sequence[RegisterValue]) -> None: ...

    async def last_register_before(self, tenant: str, meter: str, obis: str, moment: datetime) -> int | None: ...

    async def record_signing_key(self, event: Delivered[SigningKeyPublished]) -> None: ...

    async def record_key_revocation(self, event: Delivered[SigningKeyRevoked]) -> None: ...

    async def record_session_ended(self, event: Delivered[SessionEnded]) -> None: ...

    async def record_grant_revoked(self, event: Delivered[GrantRevoked]) -> None: ...

    async def add_grant_access(self, access: domain.GrantAccess) -> None: ...

    async def grant_accesses(self, tenant: str, partner_number: str, limit: int) -> list[domain.GrantAccess]: ...

    async def revoke_tokens_of_account(self, tenant: str, account_id: str, at: datetime) -> None:
        """A deleted login's personal access tokens (token_handlers.revoke_tokens_of_deleted_account)."""
        ...

    # The days of a partner's relations (kit.validity.within: both bounds set) are what is read of each meter.
    async def days_of(self, tenant: str, relations: Sequence[Relation], obis: str) -> list[StoredDay]: ...

    async def day_totals_of(self, tenant: str, relations: Sequence[Relation], obis: str) -> list[DayTotal]: ...

    async def registers_of(
        self, tenant: str, windows: Sequence[MeterWindow], channels: Sequence[str]
    ) -> list[RegisterValue]: ...

    async def latest_registers(
        self, tenant: str, windows: Sequence[MeterWindow], channels: Sequence[str]
    ) -> list[RegisterValue]: ...

    async def claim_interchange(self, received: ReceivedInterchange, data: bytes) -> bool:
        """Records a file as received; False when the tenant received the same file (same digest) before."""
        ...

    async def save_interchange(self, received: ReceivedInterchange) -> None: ...

    async def reference_used(self, tenant: str, sender: str, reference: str, other_than: str) -> bool:
        """Whether the tenant received an interchange (other than ``other_than``) with this sender and interchange
        control reference."""
        ...

    async def interchange_to_reprocess(
        self, tenant: str, interchange_id: str
    ) -> tuple[ReceivedInterchange, bytes] | None:
        """The interchange and its file, held for this transaction (two reprocesses of one file run one after the
        other)."""
        ...

    async def interchanges(self, tenant: str, limit: int) -> list[ReceivedInterchange]: ...

    # Alerts ([10 of 11] §2; services.meterdata.alerts)
    async def add_alert(self, alert: alerts.Alert) -> None: ...

    async def alerts_of(self, tenant: str, partner_number: str, role: str) -> list[alerts.Alert]: ...

    async def alerts_on(self, tenant: str, meters: Sequence[str]) -> list[alerts.Alert]:
        """The tenant's alerts that are on and may concern readings of ``meters`` (their partners' alerts, and every
        PV and missing-data alert)."""
        ...

    async def alert(self, tenant: str, alert_id: UUID) -> alerts.Alert | None: ...

    async def remove_alert(self, tenant: str, partner_number: str, role: str, alert_id: UUID) -> bool: ...

    async def remove_alerts_of(self, tenant: str, partner_numbers: Sequence[str]) -> None: ...

    async def switch_off(self, tenant: str, alert_id: UUID, now: datetime) -> None: ...

    async def record_occurrence(self, occurrence: alerts.Occurrence) -> bool:
        """False when the alert was raised for that period before (nothing written)."""
        ...

    async def occurrences_of(
        self, tenant: str, partner_number: str, role: str, limit: int
    ) -> list[alerts.Occurrence]: ...

    async def last_day_with_data(self, tenant: str, relations: Sequence[Relation], obis: str) -> date | None: ...

    async def peer_group(
        self, tenant: str, obis: str, day: date, area: str, leave_out: Sequence[str]
    ) -> alerts.PeerGroup: ...

    async def partition_months(self) -> dict[str, list[date]]: ...

    async def change_partitions(self, table: str, create: Sequence[date], drop: Sequence[date]) -> None: ...


class PartnerReadings(Protocol):
    """The HTTP API's one-statement queries (store.PartnerQueries): a partner's relations to meters are found
    inside, and each answer comes with them (kit.validity: only their days are read, and shown)."""

    async def days(
        self, tenant: str, partner_number: str, role: str, obis: str, first: date, end: date
    ) -> tuple[list[StoredDay], list[Relation]]: ...

    async def quarter_hours(
        self, tenant: str, partner_number: str, role: str, obis: str, first: date, end: date
    ) -> tuple[list[QuarterHourDay], list[Relation]]: ...

    async def bucket_totals(
        self, tenant: str, partner_number: str, role: str, obis: str, first: date, end: date, resolution: Resolution
    ) -> tuple[list[DayTotal] | None, list[Relation]]:
        """The per-day totals summed per bucket of ``resolution`` and relation, each sum dated by its first day
        (domain.totals takes them as it takes days); None when two meters hold the same day."""
        ...


Uow = UnitOfWork[Readings]

# The hot path decodes with msgspec (about ten times pydantic's speed on day batches). These structs mirror
# contracts.meterdata exactly; tests/unit/meterdata/test_ingest_decoding.py checks them against the contract.
_MeterNumber = Annotated[str, msgspec.Meta(pattern=METER_NUMBER_PATTERN)]
_Qualifier = Literal["220", "67", "201", "20", "187", "Z18", "Z30"]


class _Envelope(msgspec.Struct):
    event_id: str
    event_type: str
    tenant: Annotated[str, msgspec.Meta(pattern=r"^\d{6}$")]
    payload: msgspec.Raw


class _Day(msgspec.Struct):
    meter_number: _MeterNumber
    obis: str
    day: date
    values: list[float | None]
    qualities: list[_Qualifier]
    unit: str = "kWh"
    revision: Annotated[int, msgspec.Meta(ge=0)] = 0


_decode_envelope = msgspec.json.Decoder(_Envelope).decode
_decode_day = msgspec.json.Decoder(_Day).decode


# --- ingest ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IngestReadings:
    """A batch of Kafka records from the readings topic (``value``: an envelope as JSON)."""

    records: Sequence[Any]
    tenants: TenantDirectory
    alert_key: bytes = alerts.DEVELOPMENT_KEY  # signs the off links of the alerts raised (MeterdataSettings)


@dataclass
class Ingested:
    days: int = 0
    registers: int = 0
    alerts: int = 0  # alerts raised
    rejected: list[tuple[Any, str]] = field(default_factory=list)  # (Kafka record, reason)
    answered: int = 0  # requests for current values these readings answered


async def ingest(command: IngestReadings, uow: Uow) -> Ingested:
    """Store a batch of readings messages in one COPY; what cannot be stored is returned with the reason.

    A message's content raises nothing: what does not decode (msgspec's ``DecodeError`` and its
    ``ValidationError``, ``UnicodeDecodeError``, pydantic's ``ValidationError``), names an unknown tenant or is
    refused by the domain's checks (``Refused``) is in ``rejected``. Only the store's own errors escape
    (kit.consumer.without_poison takes those)."""
    outcome = Ingested()
    days: dict[tuple[str, str, str, date], IntervalDay] = {}
    now = uow.now()
    tenants = command.tenants
    for record in command.records:
        try:
            envelope = _decode_envelope(record.value)
            tenants.get(envelope.tenant)
            if envelope.event_type == "LoadProfileDay":
                _add_day(days, envelope.tenant, _decode_day(envelope.payload), now)
            elif envelope.event_type == "RegisterReadings":
                readings = RegisterReadings.model_validate_json(bytes(envelope.payload))
                outcome.registers += await _store_registers(uow.store, envelope.tenant, readings, now)
        # msgspec raises UnicodeDecodeError, not DecodeError, for a string that is not UTF-8.
        except (msgspec.DecodeError, UnicodeDecodeError, ValidationError, UnknownTenant, Refused) as error:
            outcome.rejected.append((record, _reason(error)))
    if days:
        await uow.store.upsert_days(list(days.values()))
        outcome.alerts = len(await raise_alerts(days.values(), command.alert_key, uow))
    outcome.days = len(days)
    outcome.answered = await answer_value_requests({(tenant, meter) for tenant, meter, _, _ in days}, uow)
    return outcome


class Refused(ValueError):
    """The message is well-formed but its readings must not be stored (reason in the message)."""


def _add_day(days: dict[tuple[str, str, str, date], IntervalDay], tenant: str, day: _Day, now: datetime) -> None:
    qualities = tuple(Quality(q) for q in day.qualities)
    problem = domain.day_problem(day.obis, day.day, day.unit, tuple(day.values), qualities, now.date(), day.revision)
    if problem:
        raise Refused(problem)
    key = (tenant, day.meter_number, day.obis, day.day)
    earlier = days.get(key)
    if earlier is not None and earlier.revision > day.revision:
        return  # a newer revision of the same day is already in this batch
    days[key] = domain.interval_day(
        tenant, day.meter_number, day.obis, day.day, day.revision, day.values, qualities, now
    )


def _registers_problem(readings: RegisterReadings, today: date) -> str | None:
    """What the meter-data rules refuse of a series of register readings (domain.register_problem), or None."""
    ordered = sorted(readings.readings, key=lambda r: r.read_at)
    return domain.register_problem(
        readings.obis,
        readings.unit,
        (r.read_at for r in ordered),
        today,
        readings.revision,
        (r.value for r in ordered),
    )


async def _store_registers(store: Readings, tenant: str, readings: RegisterReadings, now: datetime) -> int:
    ordered = sorted(readings.readings, key=lambda r: r.read_at)
    if problem := _registers_problem(readings, now.date()):
        raise Refused(problem)
    previous = await store.last_register_before(tenant, readings.meter_number, readings.obis, ordered[0].read_at)
    values = [round(r.value * 1000) for r in ordered]
    flags = domain.running_backwards(previous, values)
    await store.add_register_readings(
        [
            RegisterValue(
                tenant=tenant,
                meter_number=readings.meter_number,
                obis=readings.obis,
                read_at=r.read_at.astimezone(UTC),
                value_wh=value,
                quality=domain.QUALITY_CODES[r.quality],
                revision=readings.revision,
                runs_backwards=flag,
            )
            for r, value, flag in zip(ordered, values, flags, strict=True)
        ]
    )
    return len(ordered)


# --- MSCONS interchanges: stored once, answered once ----------------------------------------------------------


@dataclass(frozen=True)
class ReceiveInterchange:
    """One MSCONS file (its bytes, as delivered) for a tenant, answered from the tenant's market partner id."""

    data: bytes
    tenant: str
    market_partner_id: str
    alert_key: bytes = alerts.DEVELOPMENT_KEY  # signs the off links of the alerts raised (MeterdataSettings)


@dataclass(frozen=True)
class InterchangeProcessed:
    """What one processing did. ``interchange`` is None when the file had been received before: nothing was done."""

    interchange: ReceivedInterchange | None
    days: int = 0
    registers: int = 0
    unmapped: list[str] = field(default_factory=list)
    refusals: list[MessageRefusal] = field(default_factory=list)  # refused now: nothing of them is stored
    answers: list[AnswerSent] = field(default_factory=list)  # written now (the outbox sends them)


class Unanswerable(ValueError):
    """The file names no sender to answer (no readable UNB): nothing is stored, the record is dead-lettered."""


class NotReprocessable(ValueError):
    """The interchange has nothing a reprocess could change (the reason in German, for the clerk)."""


async def receive_interchange(command: ReceiveInterchange, uow: Uow) -> InterchangeProcessed:
    """Store what the file's messages hold and answer the sender: a CONTRL per interchange (acknowledged, or
    rejected for a syntax error: then nothing is stored), and an APERAK for the messages refused for an application
    reason (their readings are not stored; the others' are). The file is recorded with the answers in the same
    transaction, keyed by its content: a second delivery of the same file changes nothing and answers nothing. A
    *different* file under an interchange control reference its sender used before is rejected as a duplicate
    (CONTRL, syntax error 26), nothing of it stored."""
    digest = hashlib.sha256(command.data).hexdigest()
    received = ReceivedInterchange(str(uuid4()), command.tenant, digest, uow.now())
    if not await uow.store.claim_interchange(received, command.data):
        return InterchangeProcessed(None)
    header = read_header(command.data)
    if header is not None and await uow.store.reference_used(
        received.tenant, header.sender, header.reference, received.id
    ):
        # Another file under a reference the sender used before: the syntax rules reject it as a duplicate.
        duplicate = MsconsError(
            f"the interchange control reference {header.reference!r} was used before for another file",
            tag="UNB",
            index=1,
            code=edifact_answers.DUPLICATE_DETECTED,
        )
        duplicate.header = header
        return await _rejected(received, command.data, command.market_partner_id, duplicate, uow.now(), uow)
    return await _process(received, command.data, command.market_partner_id, uow, command.alert_key)


@dataclass(frozen=True)
class ReprocessInterchange:
    tenant: str
    interchange_id: str
    market_partner_id: str
    alert_key: bytes = alerts.DEVELOPMENT_KEY


async def reprocess_interchange(command: ReprocessInterchange, uow: Uow) -> InterchangeProcessed:
    """Run a received file through the same use case again after the cause of its refusals was fixed (master data
    for its locations arrived, say): the messages refused before that pass now are stored; the messages accepted
    before are not applied again (a later correction stays). Answers go out only for refusals not answered before.
    Raises LookupError (no such interchange at this tenant) and NotReprocessable."""
    found = await uow.store.interchange_to_reprocess(command.tenant, command.interchange_id)
    if found is None:
        raise LookupError(command.interchange_id)
    received, data = found
    if received.not_reprocessable is not None:
        raise NotReprocessable(received.not_reprocessable)
    again = replace(received, reprocessed=received.reprocessed + 1)
    return await _process(again, data, command.market_partner_id, uow, command.alert_key)


async def _process(
    received: ReceivedInterchange, data: bytes, operator: str, uow: Uow, alert_key: bytes
) -> InterchangeProcessed:
    now = uow.now()
    meter_of = await uow.master_data.meters_by_location(received.tenant)
    stored_before = {(name.partition("/")[0], name.partition("/")[2]) for name in received.accepted}
    try:
        parsed = parse_mscons(
            data, meter_for_location=meter_of.get, refuse_unknown_locations=True, skip_messages=stored_before
        )
    except MsconsError as error:
        return await _rejected(received, data, operator, error, now, uow)
    refusals = list(parsed.refusals)
    problem = _readings_problem(parsed, now)
    if problem is not None:  # the meter-data rules refuse a reading: every message applied now is refused
        refusals = [
            *refusals,
            *(
                MessageRefusal(m.interchange, m.message, m.document, "readings_refused", problem, "UNH", 0, 0)
                for m in parsed.messages
                if m.accepted and (m.interchange, m.message) not in stored_before
            ),
        ]
        days, registers = 0, 0
    else:
        days, registers = await _store_parsed(received.tenant, parsed, now, uow, alert_key)
    refused_now = {(r.interchange, r.message) for r in refusals}
    accepted = {
        f"{m.interchange}/{m.message}" for m in parsed.messages if (m.interchange, m.message) not in refused_now
    }
    answered = {(a.kind, message) for a in received.answers for message in a.messages}
    answers: list[AnswerSent] = []
    interchanges: dict[str, InterchangeHeader] = {}
    for m in parsed.messages:
        interchanges.setdefault(m.interchange, InterchangeHeader(m.sender, m.receiver, m.interchange))
    for reference, header in interchanges.items():
        if received.reprocessed == 0:
            answers.append(_contrl(received, header, operator, now, None, uow))
        new = [
            r for r in refusals if r.interchange == reference and ("APERAK", f"{reference}/{r.message}") not in answered
        ]
        if new:
            answers.append(_aperak(received, header, operator, now, new, uow))
    first = next(iter(interchanges.values()), None)
    done = replace(
        received,
        sender=first.sender if first else "",
        receiver=first.receiver if first else "",
        reference=first.reference if first else "",
        pruefidentifikatoren=tuple(
            dict.fromkeys(m.pruefidentifikator for m in parsed.messages if m.pruefidentifikator)
        ),
        accepted=tuple(sorted(accepted)),
        refused=tuple(MessageRefused(r.interchange, r.message, r.document, r.code, r.tag, r.index) for r in refusals),
        answers=(*received.answers, *answers),
        processed_at=now,
    )
    await uow.store.save_interchange(done)
    return InterchangeProcessed(done, days, registers, parsed.unmapped, refusals, answers)


async def _rejected(
    received: ReceivedInterchange, data: bytes, operator: str, error: MsconsError, now: datetime, uow: Uow
) -> InterchangeProcessed:
    """A syntax error: nothing of the file is stored; the sender gets a rejecting CONTRL (when there is one)."""
    header = error.header or read_header(data)
    if header is None:
        raise Unanswerable(f"MSCONS without a readable UNB (no sender to answer): {error}") from error
    answered = header
    inside = error.message is not None
    fault = edifact_answers.SyntaxFault(
        error.code,
        tag=None if inside else error.tag,
        message=error.message,
        message_type=error.message_type,
        position=error.position,
    )
    answer = _contrl(received, answered, operator, now, fault, uow)
    where = f" {error.tag}" if error.tag else ""
    done = replace(
        received,
        sender=header.sender,
        receiver=header.receiver,
        reference=header.reference,
        syntax_error=f"{error.code}{where}" + (f" (Segment {error.index})" if error.index is not None else ""),
        answers=(*received.answers, answer),
        processed_at=now,
    )
    await uow.store.save_interchange(done)
    return InterchangeProcessed(done, answers=[answer])


def _contrl(
    received: ReceivedInterchange,
    answered: InterchangeHeader,
    operator: str,
    now: datetime,
    fault: edifact_answers.SyntaxFault | None,
    uow: Uow,
) -> AnswerSent:
    reference = edifact_answers.answer_reference(f"{received.digest}/{answered.reference}", "CONTRL", 0)
    text = edifact_answers.contrl(answered, operator, reference, now, fault)
    return _publish(received, answered, operator, AnswerSent("CONTRL", reference, fault is None, (), now), text, uow)


def _aperak(
    received: ReceivedInterchange,
    answered: InterchangeHeader,
    operator: str,
    now: datetime,
    refusals: Sequence[MessageRefusal],
    uow: Uow,
) -> AnswerSent:
    reference = edifact_answers.answer_reference(
        f"{received.digest}/{answered.reference}", "APERAK", received.reprocessed
    )
    refused = [edifact_answers.RefusedMessage(r.message, r.document, r.code, r.tag, r.index) for r in refusals]
    text = edifact_answers.aperak(answered, operator, reference, now, refused)
    messages = tuple(f"{r.interchange}/{r.message}" for r in refusals)
    return _publish(received, answered, operator, AnswerSent("APERAK", reference, False, messages, now), text, uow)


def _publish(
    received: ReceivedInterchange,
    answered: InterchangeHeader,
    operator: str,
    answer: AnswerSent,
    text: str,
    uow: Uow,
) -> AnswerSent:
    """The answer into the outbox, in the transaction that records the interchange: sent once, after commit."""
    event = InterchangeAnswered(
        kind=answer.kind,  # type: ignore[arg-type]
        answer_reference=answer.reference,
        answered_reference=answered.reference,
        sender=operator,
        receiver=answered.sender,
        accepted=answer.accepted,
        edifact=text,
    )
    uow.publish(METER_MSCONS_ANSWERS, answered.sender, event, tenant=received.tenant, correlation_id=UUID(received.id))
    return answer


def _readings_problem(parsed: ParsedInterchange, now: datetime) -> str | None:
    """What the meter-data rules refuse of the readings read (a day not yet begun, an implausible value …)."""
    for day in parsed.days:
        problem = domain.day_problem(day.obis, day.day, day.unit, day.values, day.qualities, now.date(), day.revision)
        if problem:
            return f"{day.day}: {problem}"
    for readings in parsed.registers:
        if problem := _registers_problem(readings, now.date()):
            return f"{readings.obis}: {problem}"
    return None


async def _store_parsed(
    tenant: str, parsed: ParsedInterchange, now: datetime, uow: Uow, alert_key: bytes
) -> tuple[int, int]:
    days = {
        (tenant, day.meter_number, day.obis, day.day): domain.interval_day(
            tenant, day.meter_number, day.obis, day.day, day.revision, day.values, day.qualities, now
        )
        for day in parsed.days
    }
    if days:
        await uow.store.upsert_days(list(days.values()))
        await raise_alerts(days.values(), alert_key, uow)
    registers = 0
    for readings in parsed.registers:
        registers += await _store_registers(uow.store, tenant, readings, now)
    # An administrator may answer a request for current values by MSCONS as well.
    await answer_value_requests({(tenant, meter) for _, meter, _, _ in days}, uow)
    return len(days), registers


@dataclass(frozen=True)
class ListInterchanges:
    tenant: str
    limit: int = 200


async def interchanges(query: ListInterchanges, uow: Uow) -> list[ReceivedInterchange]:
    """The tenant's received interchanges, newest first."""
    return await uow.store.interchanges(query.tenant, query.limit)


def _reason(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())[:1500]
    if isinstance(error, UnknownTenant):
        return f"unknown tenant {error}"
    return f"{type(error).__name__}: {error}"[:1500]


@dataclass(frozen=True)
class MaintainPartitions:
    """Make the partitions the months kept need, drop those of months no longer kept (domain.partition_plan)."""


@dataclass(frozen=True)
class PartitionsMaintained:
    created: dict[str, tuple[date, ...]]  # table → months
    dropped: dict[str, tuple[date, ...]]


async def maintain_partitions(command: MaintainPartitions, uow: Uow) -> PartitionsMaintained:
    today = uow.now().date()
    created, dropped = {}, {}
    for table, months in (await uow.store.partition_months()).items():
        plan = domain.partition_plan(today, months)
        await uow.store.change_partitions(table, plan.create, plan.drop)
        created[table], dropped[table] = plan.create, plan.drop
    return PartitionsMaintained(created, dropped)


async def record_signing_key(event: Delivered[SigningKeyPublished], uow: Uow) -> None:
    """Identity published a key that signs access tokens: kept to verify tokens without asking identity."""
    await uow.store.record_signing_key(event)


async def record_key_revocation(event: Delivered[SigningKeyRevoked], uow: Uow) -> None:
    """Identity revoked a key: nothing it signed is accepted any more (kit.auth)."""
    await uow.store.record_key_revocation(event)


async def record_session_ended(event: Delivered[SessionEnded], uow: Uow) -> None:
    """A customer's session ended (logout, password change, deleted account): its tokens are refused."""
    await uow.store.record_session_ended(event)


async def record_grant_revoked(event: Delivered[GrantRevoked], uow: Uow) -> None:
    """A customer revoked a third party's grant: its tokens are refused (kit.auth)."""
    await uow.store.record_grant_revoked(event)


# --- third parties' reads ---------------------------------------------------------------------------------


async def log_grant_access(access: domain.GrantAccess, uow: Uow) -> None:
    """A read with a grant, for the customer to see."""
    await uow.store.add_grant_access(access)


@dataclass(frozen=True)
class ShowGrantAccesses:
    tenant: str
    partner_number: str
    limit: int = 200


async def grant_accesses(query: ShowGrantAccesses, uow: Uow) -> list[domain.GrantAccess]:
    return await uow.store.grant_accesses(query.tenant, query.partner_number, query.limit)


# --- serving ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PartnerPeriod:
    """A partner's channel over Europe/Berlin days [first, end), as the access token names it."""

    tenant: str
    partner_number: str
    role: str
    first: date
    end: date


@dataclass(frozen=True)
class Series:
    partner_number: str
    role: str
    obis: str
    resolution: domain.Resolution
    buckets: list[domain.Bucket]


_FINE = (domain.Resolution.QUARTER_HOUR, domain.Resolution.HOUR)


@dataclass(frozen=True)
class ShowIntervals:
    period: PartnerPeriod
    resolution: domain.Resolution


async def intervals(query: ShowIntervals, uow: Uow) -> Series:
    """Buckets of any resolution on the partner's days (kit.validity): days … years from the stored per-day
    totals (one meter), hours and quarter hours (and several meters: a meter change) from the values."""
    p = query.period
    stored = await stored_period(query, uow)
    obis = domain.interval_channel(p.role)
    return Series(p.partner_number, p.role, obis, query.resolution, list(domain.period_buckets(stored)))


async def stored_period(query: ShowIntervals, uow: Uow) -> domain.StoredPeriod:
    """What ``intervals`` aggregates, as read: the export builds its file from it in a worker process, so the
    aggregation (a second of CPU for three years of 15-minute values) never runs on the serving loop."""
    p, resolution = query.period, query.resolution
    relations = await uow.master_data.relations_of_partner(p.tenant, p.partner_number, p.role)
    seen = validity.within(relations, p.first, p.end)
    ranges = validity.ranges(seen, p.first, p.end)
    obis = domain.interval_channel(p.role)
    if resolution not in _FINE and len({r.meter_number for r in seen}) == 1:
        totals = await uow.store.day_totals_of(p.tenant, seen, obis)
        return domain.StoredPeriod(p.first, p.end, resolution, totals, None, ranges)
    stored = await uow.store.days_of(p.tenant, seen, obis) if seen else []
    days = [(item.day, item.values_wh, item.qualities) for item in stored]  # the driver's lists, not copied
    return domain.StoredPeriod(p.first, p.end, resolution, None, days, ranges)


@dataclass(frozen=True)
class ShowBillingPeriods:
    """A partner's channel per billing period, as the access token names it."""

    tenant: str
    partner_number: str
    role: str


@dataclass(frozen=True)
class BillingPeriods:
    """The partner's billing periods with a day kept and measured (``domain.billing_totals``), and how far back the
    values reach: ``kept_since`` for every resolution (``domain.kept_since``), ``first_day_with_data`` the partner's
    first day with a value (None: none yet)."""

    partner_number: str
    role: str
    obis: str
    kept_since: date
    first_day_with_data: date | None
    from_master_data: bool  # False: calendar years (master data names no billing periods)
    totals: list[domain.BillingTotal]


async def billing_periods(query: ShowBillingPeriods, uow: Uow) -> BillingPeriods:
    """Consumption or feed-in per billing period (master data's, or calendar years) on the days kept up to
    yesterday, on the partner's days only (kit.validity): the per-day totals of [kept_since, today) in one read."""
    today = energy_day.day_of(uow.now())
    first = domain.kept_since(today)
    period = PartnerPeriod(query.tenant, query.partner_number, query.role, first, today)
    stored = await stored_period(ShowIntervals(period, domain.Resolution.DAY), uow)
    given = await uow.master_data.billing_periods_of_partner(query.tenant, query.partner_number, query.role)
    days = sorted(domain.day_totals_of(stored))
    totals = domain.billing_totals(days, billing.shown(given, first, today), stored.ranges, first, today)
    return BillingPeriods(
        query.partner_number,
        query.role,
        domain.interval_channel(query.role),
        first,
        next((item.day for item in days if item.present), None),
        bool(given),
        totals,
    )


MAX_GRID_FEE_DAYS = 93  # a quarter (or any month) at once: 8,928 quarter hours at most


class NoTimeVariableFee(LookupError):
    """The partner has not chosen Modul 3, or the operator publishes no time-variable grid fee."""


@dataclass(frozen=True)
class ShowGridFees:
    """A consumption partner's quarter hours of [first, end) split by the operator's Modul-3 price sheet."""

    period: PartnerPeriod
    sheet: Mapping[str, FeeQuarter]  # by quarter name (kit.tenants.Tenant.grid_fee_sheet)


async def grid_fee_split(query: ShowGridFees, uow: Uow) -> grid_fees.GridFeeSplit:
    """Energy and grid fee per price level on the partner's own days (kit.validity), beside the standard fee."""
    p = query.period
    if not query.sheet or not await uow.master_data.time_variable_fee_of_partner(p.tenant, p.partner_number, p.role):
        raise NoTimeVariableFee(p.partner_number)
    stored = await stored_period(ShowIntervals(p, domain.Resolution.QUARTER_HOUR), uow)
    quarter_hours = ((b.start, b.wh if b.present else None) for b in domain.period_buckets(stored))
    return grid_fees.split(quarter_hours, query.sheet)


@dataclass(frozen=True)
class Days:
    """The stored days of a partner's channel as they are (for the compact 15-minute answer), and the days of
    the period the partner may see (kit.validity.ranges)."""

    partner_number: str
    role: str
    obis: str
    days: list[QuarterHourDay]
    ranges: list[tuple[date, date]]


async def quarter_hour_days(query: PartnerPeriod, readings: PartnerReadings) -> Days:
    """The HTTP query path: one statement, no transaction around it."""
    obis = domain.interval_channel(query.role)
    days, relations = await readings.quarter_hours(
        query.tenant, query.partner_number, query.role, obis, query.first, query.end
    )
    return Days(query.partner_number, query.role, obis, days, validity.ranges(relations, query.first, query.end))


async def read_intervals(query: ShowIntervals, readings: PartnerReadings) -> Series:
    """``intervals`` for the HTTP query path: days … years from the stored per-day totals, summed per bucket in
    the one statement (the values only when two meters share a day); hours via the values. The partner's days
    only."""
    p, resolution = query.period, query.resolution
    obis = domain.interval_channel(p.role)
    if resolution not in _FINE:
        totals, relations = await readings.bucket_totals(
            p.tenant, p.partner_number, p.role, obis, p.first, p.end, resolution
        )
        if totals is not None:
            ranges = validity.ranges(relations, p.first, p.end)
            found = domain.visible_totals(totals, ranges, p.first, resolution)
            return Series(p.partner_number, p.role, obis, resolution, list(found))
    stored, relations = await readings.days(p.tenant, p.partner_number, p.role, obis, p.first, p.end)
    ranges = validity.ranges(relations, p.first, p.end)
    found = domain.visible_buckets(stored, ranges, p.first, resolution)
    return Series(p.partner_number, p.role, obis, resolution, list(found))


@dataclass(frozen=True)
class Registers:
    daily: list[RegisterValue]  # the last reading of each Europe/Berlin day in the period
    latest: list[RegisterValue]  # the latest reading overall, per meter and channel


async def registers(query: PartnerPeriod, uow: Uow) -> Registers:
    """The last reading of each Europe/Berlin day in the period, and the latest reading overall — on the days of
    the partner's relations only (kit.validity): a moved-out partner's latest is the last one of their days."""
    relations = await uow.master_data.relations_of_partner(query.tenant, query.partner_number, query.role)
    if not relations:
        return Registers([], [])
    channels = domain.register_channels(query.role)
    seen = validity.within(relations, query.first, query.end)
    rows = await uow.store.registers_of(query.tenant, domain.windows(seen), channels) if seen else []
    per_day: dict[tuple[str, str, date], RegisterValue] = {}
    for row in rows:
        per_day[(row.meter_number, row.obis, energy_day.day_of(row.read_at))] = row  # ordered: last wins
    latest = await uow.store.latest_registers(query.tenant, domain.windows(relations), channels)
    return Registers(list(per_day.values()), latest)


# --- current values on request ([10 of 11] §1) -------------------------------------------------------------


async def answer_value_requests(meters: Collection[tuple[str, str]], uow: Uow) -> int:
    """Interval days of these (tenant, meter) were stored in this transaction: the meters' open requests are
    answered. Register readings alone answer nothing: the page shows the quarter hours once a request is answered,
    and an answer's register readings come first on the meter's partition (backoffice.smgw_simulator), so they are
    stored by then."""
    now = uow.now()
    return await uow.store.answer_value_requests(meters, now, current_values.answerable_since(now))


class NoMeterToday(LookupError):
    """The partner number has no meter today: there is nothing to ask the administrator for."""


@dataclass(frozen=True)
class RequestCurrentValues:
    tenant: str
    partner_number: str
    role: str


@dataclass(frozen=True)
class ValueRequestShown:
    request: ValueRequest
    state: current_values.RequestState
    message: str | None  # what the customer reads when it is over without values
    now: datetime


def _shown(request: ValueRequest, now: datetime) -> ValueRequestShown:
    return ValueRequestShown(request, request.state(now), request.message(now), now)


async def request_current_values(command: RequestCurrentValues, uow: Uow) -> ValueRequestShown:
    """Ask the SMGW administrator for the meter's values since the last delivery (the event through the outbox,
    with the request). Raises NoMeterToday and current_values.Refused (one open per meter, the day's limit)."""
    now = uow.now()
    today = energy_day.day_of(now)
    relations = await uow.master_data.relations_of_partner(command.tenant, command.partner_number, command.role)
    meter = current_values.meter_today(relations, today)
    if meter is None:
        raise NoMeterToday(command.partner_number)
    unanswered = await uow.store.unanswered_requests_of_meter(command.tenant, meter)
    made_today = await uow.store.requests_of_partner_since(
        command.tenant, command.partner_number, energy_day.day_start(today)
    )
    last = await uow.store.last_register_at(command.tenant, meter, domain.register_channels(command.role))
    request = current_values.request_values(
        uuid4(),
        command.tenant,
        command.partner_number,
        command.role,
        meter,
        domain.interval_channel(command.role),
        current_values.since_of(last, now),
        now,
        unanswered,
        made_today,
    )
    await uow.store.forget_value_requests(command.tenant, command.partner_number, now - current_values.KEPT)
    await uow.store.add_value_request(request)
    uow.publish_recorded(
        request,
        lambda _: (METER_VALUE_REQUESTS, f"{command.tenant}/{meter}"),
        tenant=command.tenant,
        correlation_id=request.id,
    )
    return _shown(request, now)


@dataclass(frozen=True)
class ShowValueRequest:
    tenant: str
    partner_number: str
    request_id: UUID


async def value_request(query: ShowValueRequest, uow: Uow) -> ValueRequestShown | None:
    """The partner's request at this tenant (None: no such request of theirs)."""
    found = await uow.store.value_request(query.tenant, query.partner_number, query.request_id)
    return None if found is None else _shown(found, uow.now())


# --- alerts ([10 of 11] §2): judged as readings arrive, raised once per alert and period ------------------------


async def raise_alerts(days: Iterable[IntervalDay], key: bytes, uow: Uow) -> list[alerts.Occurrence]:
    """Judge the alerts that are on against the days just stored (services.meterdata.alerts): in the transaction
    that stored them, each occurrence recorded once per alert and period (a unique key: a redelivery or
    re-evaluation raises nothing again) and ``AlertRaised`` put into the outbox with it."""
    today = energy_day.day_of(uow.now())
    arrived: dict[str, dict[tuple[str, str], set[date]]] = {}  # tenant → (meter, channel) → days
    for day in days:
        if alerts.judged(day.day, today):
            arrived.setdefault(day.tenant, {}).setdefault((day.meter_number, day.obis), set()).add(day.day)
    raised: list[alerts.Occurrence] = []
    for tenant, channels in arrived.items():
        watched = await uow.store.alerts_on(tenant, sorted({meter for meter, _ in channels}))
        for alert in watched:
            for finding in await _findings(alert, channels, uow):
                occurrence = alerts.Occurrence(
                    uuid4(), alert.id, tenant, alert.partner_number, alert.role, alert.kind, alert.threshold,
                    finding.period, finding.value, finding.peers, uow.now(),
                )  # fmt: skip
                if await uow.store.record_occurrence(occurrence):
                    _publish_alert(occurrence, key, uow)
                    raised.append(occurrence)
    return raised


async def _findings(
    alert: alerts.Alert, arrived: Mapping[tuple[str, str], set[date]], uow: Uow
) -> list[alerts.Finding]:
    """What the alert's rule finds on the days that arrived for its tenant."""
    obis = domain.interval_channel(alert.role)
    relations = await uow.master_data.relations_of_partner(alert.tenant, alert.partner_number, alert.role)
    if not relations:
        return []
    if alert.kind == AlertKind.MISSING_DATA:
        newest = max(day for found in arrived.values() for day in found)
        since = newest - timedelta(days=400)  # the last value further back counts as none
        seen = validity.within(relations, since, newest + timedelta(days=1))
        if not seen:
            return []  # the partner has no relation on these days: nothing can be missing
        last = await uow.store.last_day_with_data(alert.tenant, seen, obis)
        found = alerts.missing_data(alert, last, newest)
        return [found] if found else []
    if alert.kind == AlertKind.PV_WITHOUT_FEED_IN:
        # The partner's own day or any other PV system's day of the area may arrive last: judged on either.
        candidates = {day for (_, channel), found in arrived.items() if channel == obis for day in found}
    else:
        mine = {r.meter_number for r in relations}
        candidates = {day for (meter, channel), found in arrived.items() if channel == obis and meter in mine
                      for day in found}  # fmt: skip
    findings = []
    for day in sorted(candidates):
        seen = validity.within(relations, day, day + timedelta(days=1))
        stored = await uow.store.days_of(alert.tenant, seen, obis) if seen else []
        if not stored:
            continue
        [own] = stored
        if alert.kind == AlertKind.DAILY_CONSUMPTION:
            found = alerts.daily_consumption(alert, own)
        elif alert.kind == AlertKind.NIGHT_BASE_LOAD:
            found = alerts.night_base_load(alert, own)
        else:
            found = await _pv_finding(alert, own, seen, obis, uow)
        if found is not None:
            findings.append(found)
    return findings


async def _pv_finding(
    alert: alerts.Alert, own: StoredDay, seen: Sequence[Relation], obis: str, uow: Uow
) -> alerts.Finding | None:
    if not alerts.without_feed_in(own):
        return None  # fed in (or the day is not complete): no need to ask for the area
    point = await uow.master_data.find(alert.tenant, seen[0].meter_number)
    if point is None:
        return None
    area = alerts.postcode_area(point.connection_address.postcode)
    peers = await uow.store.peer_group(alert.tenant, obis, own.day, area, [r.meter_number for r in seen])
    return alerts.pv_without_feed_in(alert, own, peers)


def _publish_alert(occurrence: alerts.Occurrence, key: bytes, uow: Uow) -> None:
    event = AlertRaised(
        alert_id=str(occurrence.alert_id),
        occurrence_id=str(occurrence.id),
        partner_number=occurrence.partner_number,
        role=occurrence.role,  # type: ignore[arg-type]
        kind=occurrence.kind,
        threshold=occurrence.threshold,
        period=occurrence.period,
        value=occurrence.value,
        peers=occurrence.peers,
        off_path=alerts.off_path(key, occurrence.tenant, occurrence.alert_id),
    )
    key_of = f"{occurrence.tenant}/{occurrence.partner_number}"
    uow.publish(METER_ALERTS, key_of, event, tenant=occurrence.tenant, correlation_id=occurrence.id)


@dataclass(frozen=True)
class PartnerAlerts:
    """A partner number's alerts (in the role the access token names)."""

    tenant: str
    partner_number: str
    role: str


class AlertRefused(ValueError):
    """The alert cannot be made (the reason in German, for the customer)."""


@dataclass(frozen=True)
class DefineAlert:
    partner: PartnerAlerts
    kind: AlertKind
    threshold: float
    account_id: str  # who makes it (the access token's subject)


async def define_alert(command: DefineAlert, uow: Uow) -> alerts.Alert:
    p = command.partner
    existing = await uow.store.alerts_of(p.tenant, p.partner_number, p.role)
    if problem := alerts.definition_problem(command.kind, command.threshold, p.role, len(existing)):
        raise AlertRefused(problem)
    alert = alerts.Alert(
        uuid4(), p.tenant, p.partner_number, p.role, command.kind, command.threshold, command.account_id, uow.now()
    )
    await uow.store.add_alert(alert)
    return alert


async def list_alerts(query: PartnerAlerts, uow: Uow) -> list[alerts.Alert]:
    return await uow.store.alerts_of(query.tenant, query.partner_number, query.role)


@dataclass(frozen=True)
class RemoveAlert:
    partner: PartnerAlerts
    alert_id: UUID


async def remove_alert(command: RemoveAlert, uow: Uow) -> None:
    """Raises LookupError when the partner has no such alert (another partner's or tenant's included)."""
    p = command.partner
    if not await uow.store.remove_alert(p.tenant, p.partner_number, p.role, command.alert_id):
        raise LookupError(str(command.alert_id))


@dataclass(frozen=True)
class ListOccurrences:
    partner: PartnerAlerts
    limit: int = 100


async def list_occurrences(query: ListOccurrences, uow: Uow) -> list[alerts.Occurrence]:
    p = query.partner
    return await uow.store.occurrences_of(p.tenant, p.partner_number, p.role, query.limit)


async def forget_alerts(event: Delivered[AccountDeleted], uow: Uow) -> None:
    """The customer deleted their login: the alerts of its partner numbers go with it (with what they raised), so
    that whoever registers a partner number next starts without them."""
    await uow.store.remove_alerts_of(event.tenant.portal_number, event.payload.partner_numbers)


class InvalidOffLink(LookupError):
    """The link is not signed for this alert on this portal, or the alert is gone."""


@dataclass(frozen=True)
class OffLink:
    """The link from an alert's mail, on the portal (tenant) it was opened on."""

    tenant: str
    alert_id: UUID
    signature: str
    key: bytes


async def alert_of_link(query: OffLink, uow: Uow) -> alerts.Alert:
    """The alert the link names (shown before it is turned off: opening the link changes nothing)."""
    if not alerts.signed_off(query.key, query.tenant, query.alert_id, query.signature):
        raise InvalidOffLink(str(query.alert_id))
    found = await uow.store.alert(query.tenant, query.alert_id)
    if found is None:
        raise InvalidOffLink(str(query.alert_id))
    return found


async def switch_alert_off(command: OffLink, uow: Uow) -> alerts.Alert:
    """Turns exactly the link's alert off; again: nothing changes."""
    found = await alert_of_link(command, uow)
    await uow.store.switch_off(command.tenant, command.alert_id, uow.now())
    return found if found.off_at else replace(found, off_at=uow.now())
