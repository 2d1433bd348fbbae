"""The mail outbox keeps a mail's one-click link (RFC 8058 List-Unsubscribe; alert mails turn their alert off).

Revision ID: identity_0009_mail_unsubscribe
"""

from kit import migrations as kit_tables

revision = "identity_0009_mail_unsubscribe"
down_revision = "identity_0008_consent"
branch_labels = None
depends_on = None


def upgrade() -> None:
    kit_tables.add_mail_unsubscribe_url_v1()


def downgrade() -> None:
    kit_tables.drop_mail_unsubscribe_url_v1()
