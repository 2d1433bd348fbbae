"""Letters' first schema: letters, status reports, back-office tasks, plus kit's tables.

Revision ID: letters_0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from kit import migrations as kit_tables

revision = "letters_0001"
down_revision = None
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "letters",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("tenant", sa.String, nullable=False, index=True),
        sa.Column("request_id", sa.Uuid, nullable=False),
        sa.Column("correlation_id", sa.Uuid, nullable=False),
        sa.Column("status", sa.String, nullable=False, index=True),
        sa.Column("meter_number", sa.String, nullable=False, index=True),
        sa.Column("grants", JSONB, nullable=False),
        sa.Column("reference", sa.String, nullable=False),
        sa.Column("recipient", JSONB),
        sa.Column("pdf", sa.LargeBinary),
        sa.Column("pdf_sha256", sa.String),
        sa.Column("status_reason", sa.String),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.UniqueConstraint("tenant", "request_id"),
    )
    op.create_table(
        "letter_status_reports",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("letter_id", sa.Uuid, nullable=False, index=True),
        sa.Column("status", sa.String, nullable=False),
        sa.Column("reason", sa.String),
        sa.Column("reported_by", sa.String, nullable=False),
        sa.Column("happened_at", _TS, nullable=False),
    )
    op.create_table(
        "back_office_tasks",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("tenant", sa.String, nullable=False, index=True),
        sa.Column("letter_id", sa.Uuid, nullable=False),
        sa.Column("kind", sa.String, nullable=False),
        sa.Column("reason", sa.String, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("resolved_at", _TS),
    )
    kit_tables.create_outbox_table_v1()
    kit_tables.create_inbox_table_v1()
    kit_tables.create_meter_points_table_v1()


def downgrade() -> None:
    for table in ("meter_points", "inbox", "outbox", "back_office_tasks", "letter_status_reports", "letters"):
        op.drop_table(table)
