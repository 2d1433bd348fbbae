"""The mail outbox keeps a mail's one-click link (RFC 8058 List-Unsubscribe; alert mails turn their alert off).

Revision ID: onboarding_0007_mail_unsubscribe
"""

from kit import migrations as kit_tables

revision = "onboarding_0007_mail_unsubscribe"
down_revision = "onboarding_0006_rate_limits"
branch_labels = None
depends_on = None


def upgrade() -> None:
    kit_tables.add_mail_unsubscribe_url_v1()


def downgrade() -> None:
    kit_tables.drop_mail_unsubscribe_url_v1()
