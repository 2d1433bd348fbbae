"""Personal access tokens ([11 of 11] §1): a customer's read-only keys to the meter-data API, one partner number
each, kept as SHA-256 digests only (token_domain); and kit's rate-limit counters, which count each token's
requests across replicas (kit.ratelimit) — made only where no other revision made them already.

Revision ID: meterdata_0010_personal_tokens
"""

import sqlalchemy as sa
from alembic import op

from kit import migrations as kit_tables

revision = "meterdata_0010_personal_tokens"
down_revision = "meterdata_0009_entries"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "personal_tokens",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("tenant", sa.String(), nullable=False),
        sa.Column("partner_number", sa.String(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("account_id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("prefix", sa.String(), nullable=False),
        sa.Column("secret_hash", sa.String(), nullable=False, unique=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.Column("last_used_at", _TS, nullable=True),
        sa.Column("revoked_at", _TS, nullable=True),
    )
    op.create_index("personal_tokens_partner", "personal_tokens", ["tenant", "partner_number"])
    if not sa.inspect(op.get_bind()).has_table("rate_limit_hits"):
        kit_tables.create_rate_limit_hits_table_v1()


def downgrade() -> None:
    op.drop_table("personal_tokens")  # rate_limit_hits may be another revision's: it stays
