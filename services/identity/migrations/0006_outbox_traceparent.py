"""Traces ([7 of 11] §5): each outbox row keeps the trace context it was written in (kit.tracing).

Revision ID: identity_0006_traceparent
"""

from kit import migrations as kit_tables

revision = "identity_0006_traceparent"
down_revision = "identity_0005_dead_letters"
branch_labels = None
depends_on = None


def upgrade() -> None:
    kit_tables.add_outbox_traceparent_v2()


def downgrade() -> None:
    kit_tables.drop_outbox_traceparent_v2()
