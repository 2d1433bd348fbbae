"""Tables partitioned by calendar month (PostgreSQL's declarative range partitioning).

One partition per month, named ``<table>_pYYYYMM``, holding ``[first of the month, first of the next)`` of the
table's partition key (a date, or a timestamp taken in UTC). Partitions are created ahead of time and dropped
whole when their month leaves what is kept: retention never deletes row by row, so it costs no vacuum and no
bloat, and a dropped month is gone at once.
"""

import re
from collections.abc import Iterable
from datetime import date

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from kit.months import add_months

_PARTITION = re.compile(r"^(?P<table>[a-z_]+)_p(?P<year>\d{4})(?P<month>\d{2})$")


def partition_name(table: str, month: date) -> str:
    return f"{table}_p{month.year:04d}{month.month:02d}"


def create_month_sql(table: str, month: date) -> str:
    """DDL for one month's partition (nothing if it exists). Bounds are literals: DDL takes no parameters."""
    return (
        f"CREATE TABLE IF NOT EXISTS {partition_name(table, month)} PARTITION OF {table}"
        f" FOR VALUES FROM ('{month.isoformat()}') TO ('{add_months(month, 1).isoformat()}')"
    )


async def months_of(connection: AsyncConnection, table: str) -> list[date]:
    """The months that have a partition of ``table``, oldest first."""
    result = await connection.execute(
        text(
            "SELECT child.relname FROM pg_inherits"
            " JOIN pg_class AS parent ON parent.oid = pg_inherits.inhparent"
            " JOIN pg_class AS child ON child.oid = pg_inherits.inhrelid"
            " WHERE parent.relname = :table"
        ),
        {"table": table},
    )
    months = []
    for (name,) in result.all():
        if (found := _PARTITION.match(name)) and found["table"] == table:
            months.append(date(int(found["year"]), int(found["month"]), 1))
    return sorted(months)


async def create_months(connection: AsyncConnection, table: str, months: Iterable[date]) -> list[date]:
    """Create the partitions of ``months`` that do not exist yet; returns those created."""
    existing = set(await months_of(connection, table))
    created = [month for month in sorted(set(months)) if month not in existing]
    for month in created:
        await connection.execute(text(create_month_sql(table, month)))
    return created


async def drop_months(connection: AsyncConnection, table: str, months: Iterable[date]) -> list[date]:
    """Drop the partitions of ``months`` that exist, with their rows; returns those dropped."""
    existing = set(await months_of(connection, table))
    dropped = [month for month in sorted(set(months)) if month in existing]
    for month in dropped:
        await connection.execute(text(f"DROP TABLE {partition_name(table, month)}"))
    return dropped
