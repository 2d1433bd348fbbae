"""Received interchanges by sender and interchange control reference ([8 of 11] §2): receiving a file looks up
whether its sender used the reference before (a different file under it is rejected as a duplicate, CONTRL 26).

Revision ID: meterdata_0008_references
"""

from alembic import op

revision = "meterdata_0008_references"
down_revision = "meterdata_0007_partitions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("received_interchanges_by_reference", "received_interchanges", ["tenant", "sender", "reference"])


def downgrade() -> None:
    op.drop_index("received_interchanges_by_reference", table_name="received_interchanges")
