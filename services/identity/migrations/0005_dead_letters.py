"""Dead letters ([7 of 11] §5): kit.deadletter's rows, what the operator's admins list and replay.

Revision ID: identity_0005_dead_letters
"""

from alembic import op

from kit import migrations as kit_tables

revision = "identity_0005_dead_letters"
down_revision = "identity_0004_signing_keys"
branch_labels = None
depends_on = None


def upgrade() -> None:
    kit_tables.create_dead_letters_table_v1()


def downgrade() -> None:
    op.drop_table("dead_letters")
