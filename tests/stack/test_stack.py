"""The stack fixtures give a working Kafka (with the contract's topics) and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from contracts.topics import ALL_TOPICS, LETTERS
from stack.credentials import KafkaInstallation
from stack.fixtures import DatabaseServer
from stack.postgres import asyncpg_dsn

pytestmark = [pytest.mark.stack, pytest.mark.asyncio]


async def test_every_contract_topic_exists_with_its_partitions_and_retention(kafka: KafkaInstallation) -> None:
    admin = AIOKafkaAdminClient(**kafka.admin.client_options())
    await admin.start()
    try:
        described = {t["topic"]: t for t in await admin.describe_topics([t.name for t in ALL_TOPICS])}
        responses = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, t.name, {"retention.ms": None}) for t in ALL_TOPICS]
        )
    finally:
        await admin.close()

    partitions = {name: len(topic["partitions"]) for name, topic in described.items()}
    assert partitions == {t.name: t.partitions for t in ALL_TOPICS}
    retention = {
        resource["resource_name"]: entry["config_value"]
        for response in responses
        for resource in response.to_object()["resources"]
        for entry in resource["config_entries"]
    }
    assert retention == {t.name: str(t.retention_ms) for t in ALL_TOPICS}


async def test_a_produced_message_is_consumed_by_a_group(kafka: KafkaInstallation) -> None:
    # A group consumer, not a plain assignment: it proves the broker can host consumer groups
    # (offsets topic with one replica), which every service relies on.
    key, value = uuid.uuid4().hex.encode(), b"hello stack"
    producer = AIOKafkaProducer(**kafka.admin.client_options(), acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(LETTERS.name, value, key=key)
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        LETTERS.name,
        **kafka.admin.client_options(),
        group_id=f"stack-test-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        async with asyncio.timeout(30):
            async for message in consumer:  # an external broker may hold older messages: skip them
                if message.key == key:
                    break
    finally:
        await consumer.stop()
    assert message.value == value


async def test_create_database_gives_a_working_url(postgres_server: DatabaseServer) -> None:
    url = await postgres_server.fresh_database("stack_test")
    assert url.startswith("postgresql+asyncpg://")
    assert await postgres_server.create_database(url.rsplit("/", 1)[1]) == url  # idempotent

    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        assert await connection.fetchval("SELECT 1") == 1
        assert await connection.fetchval("SELECT current_database()") == url.rsplit("/", 1)[1]
    finally:
        await connection.close()
