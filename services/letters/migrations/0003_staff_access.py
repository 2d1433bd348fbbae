"""Staff accounts (issue 11 §3): identity's public keys to verify staff tokens locally, and kit's append-only
audit log of back-office actions.

Revision ID: letters_0003_staff
"""

from alembic import op

from kit import migrations as kit_tables

revision = "letters_0003_staff"
down_revision = "letters_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    kit_tables.create_signing_keys_table_v1()
    kit_tables.create_audit_log_table_v1()


def downgrade() -> None:
    kit_tables.drop_audit_log_table_v1()
    op.drop_table("signing_keys")
