"""Back-office staff: staff members (one operator, one role, TOTP second factor), their sessions (same shape as
customers' sessions, a table of their own), and kit's append-only audit log.

Revision ID: identity_0002_staff
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

from kit import migrations as kit_tables

revision = "identity_0002_staff"
down_revision = "identity_0001"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "staff_members",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("tenant", sa.String, nullable=False),
        sa.Column("email", sa.String, nullable=False),
        sa.Column("name", sa.String, nullable=False),
        sa.Column("role", sa.String, nullable=False),
        sa.Column("status", sa.String, nullable=False),
        sa.Column("password_hash", sa.String),
        sa.Column("totp_secret", sa.String, nullable=False),
        sa.Column("totp_last_step", sa.BigInteger),
        sa.Column("recovery_hashes", ARRAY(sa.String), nullable=False),
        sa.Column("setup_hash", sa.String, unique=True),
        sa.Column("setup_expires_at", _TS),
        sa.Column("created_at", _TS, nullable=False),
        sa.UniqueConstraint("tenant", "email"),
    )
    op.create_table(
        "staff_sessions",
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
    kit_tables.create_audit_log_table_v1()


def downgrade() -> None:
    kit_tables.drop_audit_log_table_v1()
    op.drop_table("staff_sessions")
    op.drop_table("staff_members")
