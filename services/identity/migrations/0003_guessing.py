"""Guessing must not pay ([6 of 11] §2): invalid pairs counted by meter and e-mail key too, the letters'
registration codes (hash only), the alerts of held meters and operators for the back-office, and mails counted
per recipient.

Revision ID: identity_0003_guessing
"""

import sqlalchemy as sa
from alembic import op

revision = "identity_0003_guessing"
down_revision = "identity_0002_staff"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("partner_failures", sa.Column("meter_number", sa.String))
    op.add_column("partner_failures", sa.Column("email_key", sa.String))
    op.create_index("partner_failures_by_tenant_and_time", "partner_failures", ["tenant", "failed_at"])
    # Mails anyone can trigger are counted per recipient (domain.UNSOLICITED_MAILS_PER_RECIPIENT).
    op.create_index("mail_outbox_by_recipient", "mail_outbox", ["tenant", "recipient", "created_at"])
    op.create_table(
        "registration_codes",
        sa.Column("code_hash", sa.String, primary_key=True),
        sa.Column("tenant", sa.String, nullable=False),
        sa.Column("meter_number", sa.String, nullable=False),
        sa.Column("partner_number", sa.String, nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.Column("used_at", _TS),
    )
    op.create_table(
        "access_alerts",
        sa.Column("tenant", sa.String, primary_key=True),
        sa.Column("scope", sa.String, primary_key=True),
        sa.Column("meter_number", sa.String, primary_key=True),
        sa.Column("raised_at", _TS, nullable=False),
        sa.Column("last_held_at", _TS, nullable=False),
        sa.Column("held_requests", sa.Integer, nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_table("access_alerts")
    op.drop_table("registration_codes")
    op.drop_index("mail_outbox_by_recipient", "mail_outbox")
    op.drop_index("partner_failures_by_tenant_and_time", "partner_failures")
    op.drop_column("partner_failures", "email_key")
    op.drop_column("partner_failures", "meter_number")
