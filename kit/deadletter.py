"""Dead-lettering: park a message that cannot be handled, with why and where it came from."""

from typing import Any

from faststream.kafka import KafkaBroker

from contracts import envelope as headers
from contracts.topics import DEAD_LETTER
from kit import metrics
from kit.logging import get_logger

log = get_logger(__name__)


async def dead_letter(broker: KafkaBroker, record: Any, reason: str, consumer: str) -> None:
    """``record`` is the aiokafka ConsumerRecord; the original bytes and key are kept as they were."""
    log.warning(
        "event_dead_lettered",
        consumer=consumer,
        topic=record.topic,
        offset=record.offset,
        reason=reason[:300],
    )
    await broker.publish(
        record.value,
        DEAD_LETTER.name,
        key=record.key,
        headers={
            headers.HEADER_DLT_ERROR: reason[:2000],
            headers.HEADER_DLT_SOURCE_TOPIC: record.topic,
            headers.HEADER_DLT_SOURCE_PARTITION: str(record.partition),
            headers.HEADER_DLT_SOURCE_OFFSET: str(record.offset),
            headers.HEADER_DLT_CONSUMER: consumer,
        },
    )
    metrics.record_dead_lettered(consumer, record.topic)
