"""stack.readiness against the real broker: a group's lag is what it has not committed, and waiting ends
once it committed up to the end offsets taken after publishing."""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from stack.credentials import KafkaInstallation
from stack.readiness import end_offsets, lag, wait_until_consumed

pytestmark = [pytest.mark.stack, pytest.mark.asyncio]


async def _topic_with_messages(kafka: KafkaInstallation, partitions: int, messages: int) -> str:
    """A topic of its own (the broker creates none by itself), with `messages` spread over its partitions."""
    topic = f"stack-test-readiness-{uuid.uuid4().hex[:12]}"
    admin = AIOKafkaAdminClient(**kafka.admin.client_options())
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(**kafka.admin.client_options(), acks="all")
    await producer.start()
    try:
        for number in range(messages):
            await producer.send_and_wait(topic, b"x", partition=number % partitions)
    finally:
        await producer.stop()
    return topic


async def _consume_and_commit(kafka: KafkaInstallation, topic: str, group: str, count: int) -> None:
    consumer = AIOKafkaConsumer(
        topic, **kafka.admin.client_options(), group_id=group, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    try:
        seen = 0
        while seen < count:
            batches = await consumer.getmany(timeout_ms=1000, max_records=count - seen)
            seen += sum(len(records) for records in batches.values())
        await consumer.commit()
    finally:
        await consumer.stop()


async def test_end_offsets_count_the_published_messages(kafka: KafkaInstallation) -> None:
    topic = await _topic_with_messages(kafka, partitions=2, messages=5)
    assert await end_offsets(kafka.admin, topic) == {TopicPartition(topic, 0): 3, TopicPartition(topic, 1): 2}


async def test_a_group_that_committed_nothing_lags_by_everything(kafka: KafkaInstallation) -> None:
    topic = await _topic_with_messages(kafka, partitions=2, messages=5)
    targets = await end_offsets(kafka.admin, topic)
    # Another group read everything: that must not count (and on a fresh broker it creates the offsets topic,
    # without which no group has a coordinator to ask).
    await _consume_and_commit(kafka, topic, f"other-{uuid.uuid4().hex}", 5)
    admin = AIOKafkaAdminClient(**kafka.admin.client_options())
    await admin.start()
    try:
        assert await lag(admin, f"never-{uuid.uuid4().hex}", targets) == 5
    finally:
        await admin.close()
    late = await wait_until_consumed(kafka.admin, ["nobody"], targets, timeout=0.5)
    assert late == {"nobody": 5}


async def test_waiting_ends_once_the_group_committed_up_to_the_targets(kafka: KafkaInstallation) -> None:
    topic = await _topic_with_messages(kafka, partitions=2, messages=5)
    targets = await end_offsets(kafka.admin, topic)
    group = f"stack-test-{uuid.uuid4().hex}"
    await _consume_and_commit(kafka, topic, group, 3)
    admin = AIOKafkaAdminClient(**kafka.admin.client_options())
    await admin.start()
    try:
        assert await lag(admin, group, targets) == 2
        await _consume_and_commit(kafka, topic, group, 2)
        assert await lag(admin, group, targets) == 0
    finally:
        await admin.close()
    assert await wait_until_consumed(kafka.admin, [group], targets, timeout=5) == {}
