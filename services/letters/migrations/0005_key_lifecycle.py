"""Signing keys' lifecycle: identity's keys carry a validity period and can be revoked (kit.auth).

Revision ID: letters_0005_key_lifecycle
"""

from kit import migrations as kit_tables

revision = "letters_0005_key_lifecycle"
down_revision = "letters_0004_one_per_meter"
branch_labels = None
depends_on = None


def upgrade() -> None:
    kit_tables.upgrade_signing_keys_table_v2()


def downgrade() -> None:
    kit_tables.downgrade_signing_keys_table_v2()
