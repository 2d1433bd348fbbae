"""Letters are rendered after their dispatch job is published: the letter date is kept for the render,
the render time is recorded, and the render worker finds its work by a partial index.

Revision ID: letters_0002
"""

import sqlalchemy as sa
from alembic import op

revision = "letters_0002"
down_revision = "letters_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The date printed on the letter is the day it was queued, even if the PDF is rendered after midnight.
    op.add_column("letters", sa.Column("letter_date", sa.Date))
    op.add_column("letters", sa.Column("pdf_rendered_at", sa.DateTime(timezone=True)))
    # Letters still to render are few among many: a partial index keeps the worker's poll cheap.
    op.create_index(
        "ix_letters_to_render",
        "letters",
        ["created_at"],
        postgresql_where=sa.text("pdf_sha256 IS NULL AND status IN ('queued', 'picked_up', 'printed')"),
    )


def downgrade() -> None:
    op.drop_index("ix_letters_to_render", table_name="letters")
    op.drop_column("letters", "pdf_rendered_at")
    op.drop_column("letters", "letter_date")
