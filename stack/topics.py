"""Creates the platform's Kafka topics (contracts.topics) and waits for a broker to answer.

The broker never auto-creates topics (auto.create.topics.enable=false), so this is the only place
topics come from, in development, tests and production alike.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from contracts.topics import ALL_TOPICS, TopicSpec
from kit.kafka import KafkaAccess
from stack import StackError

# Kafka protocol error code: another client created the topic between our list and our create.
TOPIC_ALREADY_EXISTS = 36
# Sent while a freshly created partition has no leader yet; producing then would fail.
LEADER_NOT_AVAILABLE = 5

# A single node keeps one replica; a cluster of three or more brokers (stack.kafka.KafkaCluster, production)
# three, of which two must have a record before acks=all is answered: one broker may be down at any time.
CLUSTER_REPLICATION_FACTOR = 3
CLUSTER_MIN_INSYNC_REPLICAS = 2
CREATE_TIMEOUT_S = 30.0  # for the broker to create topics and elect their leaders


@dataclass
class TopicsResult:
    """What create_topics did, so callers (the CLI) can tell the operator."""

    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    # Existing topics whose partition count differs from contracts.topics; left alone on purpose
    # (shrinking is impossible, growing reshuffles keys), but worth a warning.
    partition_mismatches: dict[str, tuple[int, int]] = field(default_factory=dict)


def replication(brokers: int) -> tuple[int, int]:
    """(replication factor, min.insync.replicas) of the platform's topics on a cluster of `brokers`."""
    if brokers >= CLUSTER_REPLICATION_FACTOR:
        return CLUSTER_REPLICATION_FACTOR, CLUSTER_MIN_INSYNC_REPLICAS
    return 1, 1


def new_topic(spec: TopicSpec, brokers: int = 1) -> NewTopic:
    """The admin request for one topic on a cluster of `brokers`; retention -1 keeps messages forever."""
    factor, min_insync = replication(brokers)
    configs = {"retention.ms": str(spec.retention_ms)}
    if factor > 1:
        configs["min.insync.replicas"] = str(min_insync)
    return NewTopic(name=spec.name, num_partitions=spec.partitions, replication_factor=factor, topic_configs=configs)


def _admin(kafka: KafkaAccess, request_timeout_ms: int = 30_000) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(
        **kafka.client_options(),
        client_id="plusportal-stack",
        request_timeout_ms=request_timeout_ms,
    )


# A timeout parameter (not asyncio.timeout around the call): the error then names the last failure.
async def wait_for_kafka(kafka: KafkaAccess, timeout: float = 30.0) -> None:
    """Returns once `kafka`'s user can fetch cluster metadata; StackError after `timeout` s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last_error: BaseException | None = None
    # aiokafka logs every refused connection at ERROR; while we are expecting those, they are noise.
    with _quiet_aiokafka():
        while loop.time() < deadline:
            try:
                await _fetch_metadata(kafka, remaining=deadline - loop.time())
                return
            except (KafkaError, OSError, TimeoutError) as exc:
                last_error = exc
            await asyncio.sleep(0.3)
    raise StackError(
        f"Kafka unter {kafka.bootstrap} antwortet nicht nach {timeout:.0f} s (Benutzer {kafka.username}: "
        f"{last_error!r}). Läuft Kafka, und stimmt das Passwort des Benutzers (var/secrets/kafka/)?"
    )


async def _fetch_metadata(kafka: KafkaAccess, remaining: float) -> None:
    request_timeout_ms = max(1_000, min(5_000, int(remaining * 1000)))
    admin = _admin(kafka, request_timeout_ms)
    try:
        async with asyncio.timeout(max(remaining, 1.0)):
            await admin.start()
            await admin.describe_cluster()
    finally:
        await admin.close()


@contextmanager
def _quiet_aiokafka() -> Iterator[None]:
    """Raises aiokafka's log threshold while connection failures are expected."""
    logger = logging.getLogger("aiokafka")
    previous = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(previous)


async def create_topics(
    kafka: KafkaAccess,
    topics: Iterable[TopicSpec] = ALL_TOPICS,
    brokers: int | None = None,
) -> TopicsResult:
    """Creates every topic of `topics` that does not exist yet; existing topics are left alone.

    Idempotent. Returns only after each new partition has a leader, so producers can send right away. The
    replication follows the number of brokers the cluster names (`replication`); `brokers` overrides it.
    """
    specs = list(topics)
    admin = _admin(kafka)
    await admin.start()
    try:
        described = {t["topic"]: t for t in await admin.describe_topics()}
        result = _classify(specs, described)
        missing = [spec for spec in specs if spec.name in result.created]
        if missing:
            if brokers is None:
                brokers = len((await admin.describe_cluster())["brokers"])
            await _create(admin, missing, brokers)
            await _wait_for_leaders(admin, [spec.name for spec in missing])
        return result
    finally:
        await admin.close()


def _classify(specs: list[TopicSpec], described: dict[str, dict]) -> TopicsResult:
    result = TopicsResult()
    for spec in specs:
        topic = described.get(spec.name)
        if topic is None:
            result.created.append(spec.name)
            continue
        result.existing.append(spec.name)
        actual = len(topic["partitions"])
        if actual != spec.partitions:
            result.partition_mismatches[spec.name] = (spec.partitions, actual)
    return result


async def _create(admin: AIOKafkaAdminClient, specs: list[TopicSpec], brokers: int) -> None:
    requests = [new_topic(spec, brokers) for spec in specs]
    response = await admin.create_topics(requests, timeout_ms=int(CREATE_TIMEOUT_S * 1000))
    failures = [
        f"{error['topic']}: Fehler {error['error_code']} {error.get('error_message') or ''}".strip()
        for error in response.to_object()["topic_errors"]
        if error["error_code"] not in (0, TOPIC_ALREADY_EXISTS)
    ]
    if failures:
        raise StackError("Kafka-Topics konnten nicht angelegt werden: " + "; ".join(failures))


async def _wait_for_leaders(admin: AIOKafkaAdminClient, names: list[str]) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CREATE_TIMEOUT_S
    while True:
        described = await admin.describe_topics(names)
        if all(_has_leaders(topic) for topic in described):
            return
        if loop.time() >= deadline:
            raise StackError(f"Neue Kafka-Topics haben nach {CREATE_TIMEOUT_S:.0f} s noch keine Leader: {names}")
        await asyncio.sleep(0.1)


def _has_leaders(topic: dict) -> bool:
    if topic["error_code"] != 0 or not topic["partitions"]:
        return False
    return all(p["error_code"] != LEADER_NOT_AVAILABLE and p["leader"] >= 0 for p in topic["partitions"])
