"""Traces ([7 of 11] §5): each outbox row keeps the trace context it was written in (kit.tracing).

Revision ID: letters_0007_traceparent
"""

from kit import migrations as kit_tables

revision = "letters_0007_traceparent"
down_revision = "letters_0006_dead_letters"
branch_labels = None
depends_on = None


def upgrade() -> None:
    kit_tables.add_outbox_traceparent_v2()


def downgrade() -> None:
    kit_tables.drop_outbox_traceparent_v2()
