"""Signing keys' lifecycle: identity's keys carry a validity period and can be revoked, and sessions that ended
before their tokens expired are kept so that those tokens are refused (kit.auth).

Revision ID: meterdata_0003_key_lifecycle
"""

from alembic import op

from kit import migrations as kit_tables

revision = "meterdata_0003_key_lifecycle"
down_revision = "meterdata_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    kit_tables.upgrade_signing_keys_table_v2()
    kit_tables.create_ended_sessions_table_v1()


def downgrade() -> None:
    op.drop_table("ended_sessions")
    kit_tables.downgrade_signing_keys_table_v2()
