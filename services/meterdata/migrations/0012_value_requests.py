"""Current values on request ([10 of 11] §1): a customer's requests for the meter's values since the last delivery,
answered when readings of the meter arrive after the request (open while ``answered_at`` is NULL and the timeout
has not passed: services.meterdata.current_values).

Revision ID: meterdata_0012_value_requests
"""

import sqlalchemy as sa
from alembic import op

revision = "meterdata_0012_value_requests"
down_revision = "meterdata_0011_grant_accesses"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "value_requests",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("tenant", sa.String(), nullable=False),
        sa.Column("partner_number", sa.String(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("meter_number", sa.String(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
    )
    # Ingest looks up the open requests of the meters of each batch: a small partial index.
    op.create_index(
        "value_requests_open",
        "value_requests",
        ["tenant", "meter_number"],
        postgresql_where=sa.text("answered_at IS NULL"),
    )
    op.create_index("value_requests_by_partner", "value_requests", ["tenant", "partner_number", "requested_at"])


def downgrade() -> None:
    op.drop_table("value_requests")
