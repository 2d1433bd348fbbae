"""Who may publish what: the broker's SCRAM users and ACLs, derived from contracts/topics.py.

Each principal may write only the topics it owns (and the dead-letter topic, if it consumes anything), read
only the topics it consumes, and only in consumer groups named after itself (`letters`, `meterdata-ingest`).
Everything else is refused: the broker runs with allow.everyone.if.no.acl.found=false.

Idempotent: `grant_access` can run on every start; it (re)writes every principal's credential from the
installation's files and adds the ACLs that are missing. kafka-python's admin client is used here because
aiokafka has no calls for SCRAM users and ACLs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from kafka.admin import (
    ACL,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    KafkaAdminClient,
    ResourcePattern,
    ResourceType,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

from contracts.topics import ALL_TOPICS, Principal, TopicSpec
from stack import StackError
from stack.credentials import KafkaInstallation
from stack.topics import TopicsResult, create_topics

SCRAM_ITERATIONS = 8192  # Kafka's own tools' default for SHA-512


@dataclass(frozen=True)
class Grant:
    """One ACL: `principal` may do `operation` on a topic or on consumer groups starting with `resource`."""

    principal: str
    operation: ACLOperation
    resource_type: ResourceType
    resource: str
    prefixed: bool = False


def grants(topics: Iterable[TopicSpec] = ALL_TOPICS) -> tuple[Grant, ...]:
    topics = tuple(topics)
    consumers = sorted({reader for spec in topics for reader in spec.readers})
    return tuple(dict.fromkeys(_grants(topics, consumers)))


def _grants(topics: tuple[TopicSpec, ...], consumers: list[Principal]) -> Iterator[Grant]:
    for spec in topics:
        writers = consumers if spec.owner is None else [spec.owner]
        for writer in writers:
            yield Grant(writer, ACLOperation.WRITE, ResourceType.TOPIC, spec.name)
        for reader in spec.readers:
            yield Grant(reader, ACLOperation.READ, ResourceType.TOPIC, spec.name)
    for consumer in consumers:
        yield Grant(consumer, ACLOperation.READ, ResourceType.GROUP, consumer, prefixed=True)


def grant_access(kafka: KafkaInstallation) -> None:
    """Registers every principal's SCRAM credential and every ACL of `grants()` on the broker."""
    admin = KafkaAdminClient(**kafka.admin.client_options(), client_id="plusportal-stack")
    try:
        _register_users(admin, kafka)
        _create_acls(admin, grants())
    finally:
        admin.close()


def _register_users(admin: KafkaAdminClient, kafka: KafkaInstallation) -> None:
    upserts = [
        UserScramCredentialUpsertion(
            str(principal), ScramMechanism.SCRAM_SHA_512, kafka.credentials.password(principal), SCRAM_ITERATIONS
        )
        for principal in Principal
    ]
    failed = {user: error for user, error in admin.alter_user_scram_credentials(upserts).items() if error}
    if failed:
        raise StackError(f"Kafka-Benutzer konnten nicht angelegt werden: {failed}")


def _create_acls(admin: KafkaAdminClient, wanted: Iterable[Grant]) -> None:
    acls = [
        ACL(
            f"User:{grant.principal}",
            "*",
            grant.operation,
            ACLPermissionType.ALLOW,
            ResourcePattern(
                grant.resource_type,
                grant.resource,
                ACLResourcePatternType.PREFIXED if grant.prefixed else ACLResourcePatternType.LITERAL,
            ),
        )
        for grant in wanted
    ]
    result = admin.create_acls(acls)
    if result.get("failed"):
        raise StackError(f"Kafka-ACLs konnten nicht angelegt werden: {result['failed']}")


async def provision(kafka: KafkaInstallation, topics: Iterable[TopicSpec] = ALL_TOPICS) -> TopicsResult:
    """What a broker needs before the platform uses it: the users, their ACLs and the topics."""
    await asyncio.to_thread(grant_access, kafka)
    return await create_topics(kafka.admin, topics)
