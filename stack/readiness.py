"""Has a consumer read what was published? Asked Kafka, not the consumer's database.

A service's consumer group commits its offsets only after it handled a batch (kit.consumer,
services.meterdata.messaging: NACK on error), so "the group's committed offsets reached the end offsets
taken right after publishing" means "every one of those messages was handled". That holds whatever the
service stores, and needs no knowledge of its tables.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from kit.kafka import KafkaAccess

Offsets = Mapping[TopicPartition, int]


async def end_offsets(kafka: KafkaAccess, topic: str) -> dict[TopicPartition, int]:
    """The offset the next message of each partition of `topic` will get (what a caught-up group has committed)."""
    admin = AIOKafkaAdminClient(**kafka.client_options())
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    partitions = [TopicPartition(topic, p["partition"]) for p in sorted(described["partitions"], key=_number)]
    if not partitions:
        raise ValueError(f"topic {topic} has no partitions (does it exist?)")
    consumer = AIOKafkaConsumer(**kafka.client_options(), enable_auto_commit=False)
    await consumer.start()
    try:
        ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
        return ends
    finally:
        await consumer.stop()


def _number(partition: Mapping[str, Any]) -> int:
    return int(partition["partition"])


async def lag(admin: AIOKafkaAdminClient, group: str, targets: Offsets) -> int:
    """How many messages below `targets` consumer group `group` has not committed yet (0: all handled)."""
    committed = await admin.list_consumer_group_offsets(group, partitions=list(targets))
    behind = 0
    for partition, target in targets.items():
        meta = committed.get(partition)
        offset = meta.offset if meta is not None and meta.offset >= 0 else 0  # -1: nothing committed yet
        behind += max(target - offset, 0)
    return behind


async def wait_until_consumed(
    kafka: KafkaAccess, groups: Iterable[str], targets: Offsets, timeout: float, interval: float = 0.3
) -> dict[str, int]:
    """Waits until every group has committed up to `targets`. Returns the groups still behind after
    `timeout` seconds, with their lag (empty when all caught up)."""
    waiting = {group: -1 for group in groups}
    deadline = time.monotonic() + timeout
    admin = AIOKafkaAdminClient(**kafka.client_options())
    await admin.start()
    try:
        while True:
            for group in list(waiting):
                try:
                    waiting[group] = await lag(admin, group, targets)
                except KafkaError:  # the group's coordinator may still be moving: ask again
                    continue
                if waiting[group] == 0:
                    del waiting[group]
            if not waiting or time.monotonic() >= deadline:
                return waiting
            await asyncio.sleep(interval)
    finally:
        await admin.close()
