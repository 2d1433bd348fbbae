"""Readings partitioned by month ([8 of 11] §4): interval_days by its energy day, register_readings by its
reading time (UTC months), so that retention drops whole months (kit.partitions). The rows move over as they
are; partitions are made for every month that holds data and for this month and the next two. The service
makes the other months it keeps when it starts (store.MeterdataStore.maintain_partitions).

Revision ID: meterdata_0007_partitions
"""

from datetime import UTC, datetime

from alembic import op
from sqlalchemy import text

from kit.months import add_months, month_of, months_between
from kit.partitions import create_month_sql

revision = "meterdata_0007_partitions"
down_revision = "meterdata_0006_interchanges"
branch_labels = None
depends_on = None

# table → (partition key, the key's day as SQL)
_TABLES = {
    "interval_days": ("day", "day"),
    "register_readings": ("read_at", "(read_at AT TIME ZONE 'UTC')::date"),
}


def upgrade() -> None:
    bind = op.get_bind()
    this_month = month_of(datetime.now(UTC).date())
    for table, (key, key_day) in _TABLES.items():
        old = f"{table}_unpartitioned"
        op.execute(f"ALTER TABLE {table} RENAME TO {old}")
        op.execute(f"ALTER TABLE {old} RENAME CONSTRAINT {table}_pkey TO {old}_pkey")
        op.execute(f"CREATE TABLE {table} (LIKE {old} INCLUDING ALL) PARTITION BY RANGE ({key})")
        first, last = bind.execute(text(f"SELECT min({key_day}), max({key_day}) FROM {old}")).one()
        months = set(months_between(this_month, add_months(this_month, 2)))
        if first is not None:
            months |= set(months_between(first, last))
        for month in sorted(months):
            op.execute(create_month_sql(table, month))
        op.execute(f"INSERT INTO {table} SELECT * FROM {old}")
        op.execute(f"DROP TABLE {old}")


def downgrade() -> None:
    for table in _TABLES:
        partitioned = f"{table}_partitioned"
        op.execute(f"ALTER TABLE {table} RENAME TO {partitioned}")
        op.execute(f"ALTER TABLE {partitioned} RENAME CONSTRAINT {table}_pkey TO {partitioned}_pkey")
        op.execute(f"CREATE TABLE {table} (LIKE {partitioned} INCLUDING ALL)")
        op.execute(f"INSERT INTO {table} SELECT * FROM {partitioned}")
        op.execute(f"DROP TABLE {partitioned}")
