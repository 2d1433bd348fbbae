"""At most one letter per meter in 14 days (issue "[6 of 11]" §2): the time a letter's job went out, and an
index to find a meter's recent letters.

Revision ID: letters_0004_one_per_meter
"""

import sqlalchemy as sa
from alembic import op

revision = "letters_0004_one_per_meter"
down_revision = "letters_0003_staff"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("letters", sa.Column("posted_at", sa.DateTime(timezone=True)))
    # Letters from before: their job went out when they left "awaiting_master_data"; the creation time is
    # the closest we know (a letter waits for master data for seconds, not days).
    op.execute("UPDATE letters SET posted_at = created_at WHERE status <> 'awaiting_master_data'")
    op.create_index("ix_letters_posted_per_meter", "letters", ["tenant", "meter_number", "posted_at"])


def downgrade() -> None:
    op.drop_index("ix_letters_posted_per_meter", table_name="letters")
    op.drop_column("letters", "posted_at")
