"""Onboarding's first schema: requests, plus kit's outbox, inbox, mail outbox and master-data model.

Revision ID: onboarding_0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from kit import migrations as kit_tables

revision = "onboarding_0001"
down_revision = None
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "partner_number_requests",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("tenant", sa.String, nullable=False, index=True),
        sa.Column("submission_id", sa.Uuid, nullable=False),
        sa.Column("correlation_id", sa.Uuid, nullable=False),
        sa.Column("status", sa.String, nullable=False, index=True),
        sa.Column("meter_number", sa.String, nullable=False),
        sa.Column("customer", JSONB, nullable=False),
        sa.Column("grants", JSONB, nullable=False),
        sa.Column("note", sa.String),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.UniqueConstraint("tenant", "submission_id"),
    )
    kit_tables.create_outbox_table_v1()
    kit_tables.create_inbox_table_v1()
    kit_tables.create_mail_outbox_table_v1()
    kit_tables.create_meter_points_table_v1()


def downgrade() -> None:
    for table in ("meter_points", "mail_outbox", "inbox", "outbox", "partner_number_requests"):
        op.drop_table(table)
