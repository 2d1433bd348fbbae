"""Identity's signing keys' schedule: which key signs when and verifies until when, and which were revoked. The
private keys stay in files next to settings.signing_key_file (crypto.Keyring), never in the database.

Revision ID: identity_0004_signing_keys
"""

import sqlalchemy as sa
from alembic import op

revision = "identity_0004_signing_keys"
down_revision = "identity_0003_guessing"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "signing_key_schedule",
        sa.Column("kid", sa.String, primary_key=True),
        sa.Column("not_before", _TS, nullable=False),
        sa.Column("signs_until", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("revoked_at", _TS),
    )


def downgrade() -> None:
    op.drop_table("signing_key_schedule")
