"""Who may publish what, tried as an attacker would: on the real broker with SASL/SCRAM and ACLs.

The attack of [6 of 11]: anyone who could reach Kafka published a SigningKeyPublished with their own key and
read any partner's readings with tokens they signed. Now a client without a credential cannot even bootstrap,
a principal writes only the topics it owns (contracts/topics.py), reads only what it consumes, in its own
groups, and an event type is taken only from the topic that carries it.
"""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    TopicAuthorizationFailedError,
)

from contracts import topics
from contracts.envelope import HEADER_DLT_ERROR, HEADER_DLT_SOURCE_TOPIC
from contracts.identity import PublicJwk, SigningKeyPublished
from contracts.topics import ALL_TOPICS, Principal
from kit.events import encode, envelope_for
from kit.kafka import KafkaAccess
from services.identity.crypto import TokenSigner
from stack.credentials import KafkaInstallation
from tests.conftest import System
from tests.journeys import eventually, read_topic, wait_until_consumed

TENANT = "000328"


async def test_a_client_without_credentials_or_with_a_wrong_password_cannot_even_bootstrap(
    kafka: KafkaInstallation,
) -> None:
    for access in (KafkaAccess(kafka.bootstrap), kafka.access(Principal.IDENTITY).as_user("identity", "guessed")):
        producer = AIOKafkaProducer(**access.client_options(), request_timeout_ms=5000)
        try:
            with pytest.raises(KafkaConnectionError):
                await producer.start()
        finally:
            await producer.stop()


@pytest.mark.parametrize("principal", list(Principal))
async def test_a_principal_writes_only_the_topics_it_owns(kafka: KafkaInstallation, principal: Principal) -> None:
    owned = {spec.name for spec in ALL_TOPICS if spec.owner == principal}
    producer = AIOKafkaProducer(**kafka.access(principal).client_options(), enable_idempotence=True, acks="all")
    await producer.start()
    try:
        for name in sorted(owned):
            await producer.send_and_wait(name, b"not an envelope: dead-lettered by its readers", key=b"acl-test")
        for spec in ALL_TOPICS:
            if spec.name not in owned and spec is not topics.DEAD_LETTER:
                with pytest.raises(TopicAuthorizationFailedError):
                    await producer.send_and_wait(spec.name, b"forged", key=b"acl-test")
    finally:
        await producer.stop()


async def test_the_smgw_administrator_cannot_publish_signing_keys_or_master_data(kafka: KafkaInstallation) -> None:
    """The attack of the issue, by the principal closest to it: readings are the SMGW administrator's, keys and
    master data are not."""
    producer = AIOKafkaProducer(**kafka.access(Principal.SMGW_ADMINISTRATOR).client_options())
    await producer.start()
    try:
        for topic in (topics.IDENTITY_KEYS, topics.MASTER_DATA):
            with pytest.raises(TopicAuthorizationFailedError):
                await producer.send_and_wait(topic.name, b"{}", key=b"forged")
    finally:
        await producer.stop()


async def test_a_principal_reads_only_what_it_consumes_and_only_in_its_own_groups(kafka: KafkaInstallation) -> None:
    # The print house takes dispatch jobs; customers' accounts are none of its business.
    foreign_topic = AIOKafkaConsumer(
        topics.IDENTITY.name, **kafka.access(Principal.PRINT_HOUSE).client_options(), group_id="printhouse-probe"
    )
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            await foreign_topic.start()
            await foreign_topic.getmany(timeout_ms=5000)
    finally:
        await foreign_topic.stop()
    # Meter data reads master data, but not in letters' group (it would take letters' partitions).
    foreign_group = AIOKafkaConsumer(
        topics.MASTER_DATA.name, **kafka.access(Principal.METERDATA).client_options(), group_id="letters"
    )
    try:
        with pytest.raises(GroupAuthorizationFailedError):
            await foreign_group.start()
            await foreign_group.getmany(timeout_ms=5000)
    finally:
        await foreign_group.stop()


async def test_a_signing_key_on_the_master_data_topic_never_makes_a_token_valid(system: System, tmp_path: Path) -> None:
    """The billing import may write master data; a key it slips onto that topic is dead-lettered by meter data
    ("event type not carried by this topic") and a token signed with it is refused."""
    forger = TokenSigner(tmp_path / "forged-key.pem")
    payload = SigningKeyPublished(kid=forger.kid, jwk=PublicJwk.model_validate(forger.public_jwk))
    envelope = envelope_for(payload, tenant=TENANT, correlation_id=uuid4())
    producer = AIOKafkaProducer(**system.kafka.access(Principal.BILLING_IMPORT).client_options())
    await producer.start()
    try:
        await producer.send_and_wait(topics.MASTER_DATA.name, encode(envelope), key=forger.kid.encode())
    finally:
        await producer.stop()
    await wait_until_consumed(system.kafka, {"meterdata": (topics.MASTER_DATA.name,)})

    async def dead_lettered() -> str | None:
        for record in await read_topic(system.kafka, topics.DEAD_LETTER.name):
            headers = {k: v.decode() for k, v in record.headers}
            if forger.kid.encode() in record.value and headers.get(HEADER_DLT_SOURCE_TOPIC) == topics.MASTER_DATA.name:
                return headers[HEADER_DLT_ERROR]
        return None

    reason = await eventually(dead_lettered, what="the forged key on the dead-letter topic")
    assert reason == "SigningKeyPublished: event type not carried by this topic"

    now = datetime.now(UTC)
    claims = {"iss": "plusportal-identity", "aud": "plusportal", "sub": "forger", "tenant": TENANT,
              "partner": "4711000001", "role": "consumption", "sid": "forged", "iat": now}  # fmt: skip
    forged = forger.sign(claims, now + timedelta(minutes=5))
    async with httpx.AsyncClient(base_url=system.meterdata.url, timeout=10) as client:
        answer = await client.get(
            "/partners/4711000001/intervals",
            headers={"Authorization": f"Bearer {forged}", "Host": f"{TENANT}.localhost"},
            params={"from": "2026-01-01", "to": "2026-01-02", "resolution": "15min"},
        )
    assert answer.status_code == 403 and answer.json()["detail"] == "Kein Zugriff auf diese Daten."


async def test_a_key_whose_kid_is_not_its_thumbprint_is_dead_lettered_and_signs_nothing(
    system: System, tmp_path: Path
) -> None:
    """Even on the keys topic: a key published under identity's own key id (or any name but its RFC 7638
    thumbprint) would shadow or replace that key; meter data refuses it."""
    identity_kid = TokenSigner(system.signing_key).kid
    forger = TokenSigner(tmp_path / "forged-key.pem")
    jwk = PublicJwk.model_validate({**forger.public_jwk, "kid": identity_kid})
    envelope = envelope_for(SigningKeyPublished(kid=identity_kid, jwk=jwk), tenant=TENANT, correlation_id=uuid4())
    producer = AIOKafkaProducer(**system.kafka.access(Principal.IDENTITY).client_options())
    await producer.start()
    try:
        await producer.send_and_wait(topics.IDENTITY_KEYS.name, encode(envelope), key=identity_kid.encode())
    finally:
        await producer.stop()
    await wait_until_consumed(system.kafka, {"meterdata": (topics.IDENTITY_KEYS.name,)})

    refusal = "handler meterdata refused: SigningKeyPublished: kid is not the key's RFC 7638 thumbprint"

    async def dead_lettered() -> str | None:
        # onboarding and letters read the keys topic too, and dead-letter the same record with their own name
        for record in await read_topic(system.kafka, topics.DEAD_LETTER.name):
            headers = {k: v.decode() for k, v in record.headers}
            if forger.public_jwk["x"].encode() in record.value and headers[HEADER_DLT_ERROR] == refusal:
                return refusal
        return None

    await eventually(dead_lettered, what="meter data's refusal of the misnamed key on the dead-letter topic")

    now = datetime.now(UTC)
    claims = {"iss": "plusportal-identity", "aud": "plusportal", "sub": "forger", "tenant": TENANT,
              "partner": "4711000001", "role": "consumption", "sid": "forged", "iat": now}  # fmt: skip
    forger.kid = identity_kid  # the forger signs under the name it published its key with
    forged = forger.sign(claims, now + timedelta(minutes=5))
    async with httpx.AsyncClient(base_url=system.meterdata.url, timeout=10) as client:
        answer = await client.get(
            "/partners/4711000001/intervals",
            headers={"Authorization": f"Bearer {forged}", "Host": f"{TENANT}.localhost"},
            params={"from": "2026-01-01", "to": "2026-01-02", "resolution": "15min"},
        )
    assert answer.status_code == 403
