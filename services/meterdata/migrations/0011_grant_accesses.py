"""What third parties read with customers' grants ([11 of 11] §2): one row per read, shown to the customer.

Revision ID: meterdata_0011_grant_accesses
"""

import sqlalchemy as sa
from alembic import op

revision = "meterdata_0011_grant_accesses"
down_revision = "meterdata_0010_personal_tokens"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "grant_accesses",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("tenant", sa.String, nullable=False),
        sa.Column("grant_id", sa.String, nullable=False),
        sa.Column("client_id", sa.String, nullable=False),
        sa.Column("partner_number", sa.String, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("what", sa.String, nullable=False),
        sa.Column("resolution", sa.String, nullable=False),
        sa.Column("first", sa.Date, nullable=False),
        sa.Column("end", sa.Date, nullable=False),
    )
    op.create_index("grant_accesses_of_partner", "grant_accesses", ["tenant", "partner_number", "at"])


def downgrade() -> None:
    op.drop_index("grant_accesses_of_partner", table_name="grant_accesses")
    op.drop_table("grant_accesses")
