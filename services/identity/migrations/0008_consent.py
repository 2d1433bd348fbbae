"""Consent for third parties ([11 of 11] §2): registered third parties (OAuth clients, per tenant), the customers'
grants, and the one-time authorisation codes and rotating refresh tokens (both stored as hashes only).

Revision ID: identity_0008_consent
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision = "identity_0008_consent"
down_revision = "identity_0007_rate_limits"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "third_parties",
        sa.Column("tenant", sa.String, primary_key=True),
        sa.Column("client_id", sa.String, primary_key=True),
        sa.Column("name", sa.String, nullable=False),
        sa.Column("contact", sa.String, nullable=False),
        sa.Column("redirect_uris", ARRAY(sa.String), nullable=False),
        sa.Column("secret_hash", sa.String),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("disabled_at", _TS),
    )
    op.create_table(
        "grants",
        sa.Column("id", sa.String, primary_key=True),
        sa.Column("tenant", sa.String, nullable=False),
        sa.Column("client_id", sa.String, nullable=False),
        sa.Column("client_name", sa.String, nullable=False),
        sa.Column("account_id", sa.String, nullable=False),
        sa.Column("partner_number", sa.String, nullable=False),
        sa.Column("role", sa.String, nullable=False),
        sa.Column("scope", sa.String, nullable=False),
        sa.Column("data_from", sa.Date, nullable=False),
        sa.Column("valid_until", _TS, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("activated_at", _TS),
        sa.Column("ended_at", _TS),
        sa.Column("end_reason", sa.String),
    )
    op.create_index("grants_of_account", "grants", ["tenant", "account_id"])
    op.create_index("grants_to_expire", "grants", ["valid_until"], postgresql_where=sa.text("ended_at IS NULL"))
    op.create_table(
        "grant_codes",
        sa.Column("code_hash", sa.String, primary_key=True),
        sa.Column("tenant", sa.String, nullable=False),
        sa.Column("grant_id", sa.String, nullable=False, index=True),
        sa.Column("client_id", sa.String, nullable=False),
        sa.Column("redirect_uri", sa.String, nullable=False),
        sa.Column("scope", sa.String, nullable=False),
        sa.Column("code_challenge", sa.String, nullable=False),
        sa.Column("code_challenge_method", sa.String, nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.Column("used_at", _TS),
    )
    op.create_table(
        "grant_refresh_tokens",
        sa.Column("token_hash", sa.String, primary_key=True),
        sa.Column("tenant", sa.String, nullable=False),
        sa.Column("grant_id", sa.String, nullable=False, index=True),
        sa.Column("client_id", sa.String, nullable=False),
        sa.Column("issued_at", _TS, nullable=False),
        sa.Column("used_at", _TS),
    )


def downgrade() -> None:
    op.drop_table("grant_refresh_tokens")
    op.drop_table("grant_codes")
    op.drop_index("grants_to_expire", table_name="grants")
    op.drop_index("grants_of_account", table_name="grants")
    op.drop_table("grants")
    op.drop_table("third_parties")
