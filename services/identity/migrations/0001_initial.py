"""Identity's first schema: accounts, partner links, one-time tokens, throttling, sessions, kit's tables.

Revision ID: identity_0001
"""

import sqlalchemy as sa
from alembic import op

from kit import migrations as kit_tables

revision = "identity_0001"
down_revision = None
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("tenant", sa.String, nullable=False),
        sa.Column("email", sa.String, nullable=False),
        sa.Column("password_hash", sa.String, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("password_changed_at", _TS, nullable=False),
        sa.UniqueConstraint("tenant", "email"),
    )
    op.create_table(
        "partner_links",
        sa.Column("tenant", sa.String, primary_key=True),
        sa.Column("partner_number", sa.String, primary_key=True),
        sa.Column("account_id", sa.Uuid, nullable=False, index=True),
        sa.Column("meter_number", sa.String, nullable=False),
        sa.Column("role", sa.String, nullable=False),
        sa.Column("linked_at", _TS, nullable=False),
    )
    op.create_table(
        "tokens",
        sa.Column("hash", sa.String, primary_key=True),
        sa.Column("tenant", sa.String, nullable=False),
        sa.Column("purpose", sa.String, nullable=False),
        sa.Column("email", sa.String, nullable=False),
        sa.Column("account_id", sa.Uuid),
        sa.Column("meter_number", sa.String),
        sa.Column("partner_number", sa.String, index=True),
        sa.Column("role", sa.String),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.Column("used_at", _TS),
    )
    op.create_table(
        "partner_failures",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tenant", sa.String, nullable=False),
        sa.Column("partner_number", sa.String, nullable=False, index=True),
        sa.Column("failed_at", _TS, nullable=False),
    )
    op.create_table(
        "login_throttle",
        sa.Column("tenant", sa.String, primary_key=True),
        sa.Column("email_key", sa.String, primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False, server_default="0"),
        sa.Column("wait_until", _TS),
    )
    op.create_table(
        "device_failures",
        sa.Column("device_id", sa.String, primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_table(
        "sessions",
        sa.Column("id_hash", sa.String, primary_key=True),
        sa.Column("tenant", sa.String, nullable=False),
        sa.Column("account_id", sa.Uuid, nullable=False, index=True),
        sa.Column("partner_number", sa.String),
        sa.Column("role", sa.String),
        sa.Column("csrf_token", sa.String, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("last_seen_at", _TS, nullable=False),
        sa.Column("user_agent", sa.String),
    )
    kit_tables.create_outbox_table_v1()
    kit_tables.create_inbox_table_v1()
    kit_tables.create_mail_outbox_table_v1()
    kit_tables.create_meter_points_table_v1()


def downgrade() -> None:
    for table in (
        "meter_points",
        "mail_outbox",
        "inbox",
        "outbox",
        "sessions",
        "device_failures",
        "login_throttle",
        "partner_failures",
        "tokens",
        "partner_links",
        "accounts",
    ):
        op.drop_table(table)
