"""Meter data's first schema: load-profile days, register readings, kit's inbox, master data and keys.

Revision ID: meterdata_0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

from kit import migrations as kit_tables

revision = "meterdata_0001"
down_revision = None
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "interval_days",
        sa.Column("tenant", sa.String, primary_key=True),
        sa.Column("meter_number", sa.String, primary_key=True),
        sa.Column("obis", sa.String, primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("values_wh", ARRAY(sa.Integer), nullable=False),
        sa.Column("qualities", ARRAY(sa.SmallInteger), nullable=False),
        sa.Column("received_at", _TS, nullable=False),
    )
    op.create_table(
        "register_readings",
        sa.Column("tenant", sa.String, primary_key=True),
        sa.Column("meter_number", sa.String, primary_key=True),
        sa.Column("obis", sa.String, primary_key=True),
        sa.Column("read_at", _TS, primary_key=True),
        sa.Column("value_wh", sa.BigInteger, nullable=False),
        sa.Column("quality", sa.SmallInteger, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("runs_backwards", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    kit_tables.create_outbox_table_v1()
    kit_tables.create_inbox_table_v1()
    kit_tables.create_meter_points_table_v1()
    kit_tables.create_signing_keys_table_v1()
    op.create_index(
        "meter_points_record",
        "meter_points",
        ["record"],
        postgresql_using="gin",
        postgresql_ops={"record": "jsonb_path_ops"},
    )


def downgrade() -> None:
    for table in ("signing_keys", "meter_points", "inbox", "outbox", "register_readings", "interval_days"):
        op.drop_table(table)
