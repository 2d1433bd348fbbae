"""The 15-minute answer's entry of a day, kept encoded next to its arrays ([8 of 11], query targets): a day stored
after it ended carries its entry as JSON (domain.encoded_quarter_hour_entry), so a year's answer is mostly
joining stored bytes. Nullable: days stored before (and days still running) have none and are encoded per request
as before; a correction or redelivery of such a day after it ended writes its entry.

Revision ID: meterdata_0009_entries
"""

import sqlalchemy as sa
from alembic import op

revision = "meterdata_0009_entries"
down_revision = "meterdata_0008_references"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # On the partitioned parent: every partition, present and future, gets the column (no rewrite: NULL default).
    op.add_column("interval_days", sa.Column("quarter_hour_entry", sa.LargeBinary, nullable=True))


def downgrade() -> None:
    op.drop_column("interval_days", "quarter_hour_entry")
