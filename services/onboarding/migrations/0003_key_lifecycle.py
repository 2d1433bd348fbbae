"""Signing keys' lifecycle: identity's keys carry a validity period and can be revoked (kit.auth).

Revision ID: onboarding_0003_key_lifecycle
"""

from kit import migrations as kit_tables

revision = "onboarding_0003_key_lifecycle"
down_revision = "onboarding_0002_staff"
branch_labels = None
depends_on = None


def upgrade() -> None:
    kit_tables.upgrade_signing_keys_table_v2()


def downgrade() -> None:
    kit_tables.downgrade_signing_keys_table_v2()
