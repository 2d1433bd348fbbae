"""Alerts ([10 of 11] §2): a customer's alerts per partner number (kind, threshold, who made it, turned off when)
and their occurrences, unique per alert and period (the day, or a gap's first day), so that a redelivery or a
re-evaluation of the same readings never raises one twice.

Revision ID: meterdata_0013_alerts
"""

import sqlalchemy as sa
from alembic import op

revision = "meterdata_0013_alerts"
down_revision = "meterdata_0012_value_requests"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("tenant", sa.String(), nullable=False),
        sa.Column("partner_number", sa.String(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("off_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("alerts_of_partner", "alerts", ["tenant", "partner_number"])
    op.create_index("alerts_on", "alerts", ["tenant"], postgresql_where=sa.text("off_at IS NULL"))
    op.create_table(
        "alert_occurrences",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("alert_id", sa.Uuid(), sa.ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("tenant", sa.String(), nullable=False),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("peers", sa.Integer(), nullable=True),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("alert_id", "period", name="alert_occurrences_once"),
    )
    op.create_index("alert_occurrences_of_tenant", "alert_occurrences", ["tenant", "alert_id"])


def downgrade() -> None:
    op.drop_table("alert_occurrences")
    op.drop_table("alerts")
