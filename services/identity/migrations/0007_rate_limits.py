"""Rate limits shared by the service's replicas ([9 of 11] §1): kit.ratelimit counts hits in this table.

Revision ID: identity_0007_rate_limits
"""

from kit import migrations as kit_tables

revision = "identity_0007_rate_limits"
down_revision = "identity_0006_traceparent"
branch_labels = None
depends_on = None


def upgrade() -> None:
    kit_tables.create_rate_limit_hits_table_v1()


def downgrade() -> None:
    kit_tables.drop_rate_limit_hits_table_v1()
