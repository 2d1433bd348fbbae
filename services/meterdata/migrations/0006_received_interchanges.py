"""Received MSCONS interchanges ([8 of 11] §2): each file once per tenant and content, what was accepted and
refused, the CONTRL/APERAK answers written for its sender, and the file itself (to process it again).

Revision ID: meterdata_0006_interchanges
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "meterdata_0006_interchanges"
down_revision = "meterdata_0005_traceparent"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "received_interchanges",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("tenant", sa.String(), nullable=False),
        sa.Column("digest", sa.String(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sender", sa.String(), nullable=False, server_default=""),
        sa.Column("receiver", sa.String(), nullable=False, server_default=""),
        sa.Column("reference", sa.String(), nullable=False, server_default=""),
        sa.Column("pruefidentifikatoren", postgresql.ARRAY(sa.Text()), nullable=False, server_default="{}"),
        sa.Column("accepted", postgresql.ARRAY(sa.Text()), nullable=False, server_default="{}"),
        sa.Column("refused", postgresql.JSONB(), nullable=False, server_default="[]"),
        sa.Column("syntax_error", sa.String(), nullable=True),
        sa.Column("answers", postgresql.JSONB(), nullable=False, server_default="[]"),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reprocessed", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.UniqueConstraint("tenant", "digest"),
    )
    op.create_index("received_interchanges_newest", "received_interchanges", ["tenant", sa.text("received_at DESC")])


def downgrade() -> None:
    op.drop_table("received_interchanges")
