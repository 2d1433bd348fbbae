"""The tables of kit's mechanisms, for services' migrations to create (frozen at this version:
a later change to these tables gets a function of its own)."""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

_TS = sa.DateTime(timezone=True)


def create_outbox_table_v1() -> None:
    op.create_table(
        "outbox",
        sa.Column("seq", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("event_id", sa.Uuid, nullable=False, unique=True),
        sa.Column("topic", sa.String, nullable=False),
        sa.Column("message_key", sa.String, nullable=False),
        sa.Column("event_type", sa.String, nullable=False),
        sa.Column("tenant", sa.String, nullable=False),
        sa.Column("correlation_id", sa.Uuid, nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("published_at", _TS),
    )
    op.create_index("outbox_unpublished", "outbox", ["seq"], postgresql_where=sa.text("published_at IS NULL"))


def create_inbox_table_v1() -> None:
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.String, primary_key=True),
        sa.Column("event_id", sa.Uuid, primary_key=True),
        sa.Column("processed_at", _TS, nullable=False),
    )


def create_mail_outbox_table_v1() -> None:
    op.create_table(
        "mail_outbox",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("tenant", sa.String, nullable=False),
        sa.Column("correlation_id", sa.Uuid, nullable=False),
        sa.Column("purpose", sa.String, nullable=False),
        sa.Column("sender", sa.String, nullable=False),
        sa.Column("recipient", sa.String, nullable=False),
        sa.Column("subject", sa.String, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("next_attempt_at", _TS, nullable=False, index=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("sent_at", _TS),
        sa.Column("failed_at", _TS),
        sa.Column("last_error", sa.String),
    )


def add_mail_unsubscribe_url_v1() -> None:
    """kit.mail's RFC 8058 one-click link (alert mails)."""
    op.add_column("mail_outbox", sa.Column("unsubscribe_url", sa.String))


def drop_mail_unsubscribe_url_v1() -> None:
    op.drop_column("mail_outbox", "unsubscribe_url")


def create_meter_points_table_v1() -> None:
    op.create_table(
        "meter_points",
        sa.Column("tenant", sa.String, primary_key=True),
        sa.Column("meter_number", sa.String, primary_key=True),
        sa.Column("recorded_at", _TS, nullable=False),
        sa.Column("record", JSONB, nullable=False),
    )


def create_signing_keys_table_v1() -> None:
    op.create_table(
        "signing_keys",
        sa.Column("tenant", sa.String, primary_key=True),
        sa.Column("kid", sa.String, primary_key=True),
        sa.Column("jwk", JSONB, nullable=False),
        sa.Column("published_at", _TS, nullable=False),
    )


def upgrade_signing_keys_table_v2() -> None:
    """Keys with a validity period (None: v1 events, unbounded) and a revocation (final), kit.auth's v2."""
    op.add_column("signing_keys", sa.Column("not_before", _TS))
    op.add_column("signing_keys", sa.Column("expires_at", _TS))
    op.add_column("signing_keys", sa.Column("revoked_at", _TS))
    op.create_index(
        "signing_keys_revoked", "signing_keys", ["revoked_at"], postgresql_where=sa.text("revoked_at IS NOT NULL")
    )


def downgrade_signing_keys_table_v2() -> None:
    op.drop_index("signing_keys_revoked", "signing_keys")
    for column in ("revoked_at", "expires_at", "not_before"):
        op.drop_column("signing_keys", column)


def create_ended_sessions_table_v1() -> None:
    """kit.auth's sessions that ended before their tokens expired (identity's SessionEnded)."""
    op.create_table(
        "ended_sessions",
        sa.Column("tenant", sa.String, primary_key=True),
        sa.Column("sid", sa.String, primary_key=True),
        sa.Column("tokens_valid_until", _TS, nullable=False, index=True),
        sa.Column("ended_at", _TS, nullable=False),
    )


def create_rate_limit_hits_table_v1() -> None:
    """kit.ratelimit's counters: hits per key (a SHA-256 digest) and fixed window, shared by a service's replicas."""
    op.create_table(
        "rate_limit_hits",
        sa.Column("key", sa.String, primary_key=True),
        sa.Column("window_start", _TS, primary_key=True, index=True),
        sa.Column("hits", sa.Integer, nullable=False),
    )


def drop_rate_limit_hits_table_v1() -> None:
    op.drop_table("rate_limit_hits")


def create_audit_log_table_v1() -> None:
    """kit.audit's table, append-only: a trigger refuses every UPDATE, DELETE and TRUNCATE, whoever tries."""
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("tenant", sa.String, nullable=False, index=True),
        sa.Column("at", _TS, nullable=False),
        sa.Column("staff_id", sa.String, nullable=False),
        sa.Column("staff_name", sa.String, nullable=False),
        sa.Column("staff_role", sa.String, nullable=False),
        sa.Column("client_address", sa.String, nullable=False),
        sa.Column("action", sa.String, nullable=False),
        sa.Column("subject_kind", sa.String, nullable=False),
        sa.Column("subject_id", sa.String, nullable=False),
        sa.Column("details", JSONB, nullable=False),
    )
    op.execute(
        "CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP; END $$"
    )
    op.execute(
        "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()"
    )


def drop_audit_log_table_v1() -> None:
    op.execute("DROP TABLE audit_log")
    op.execute("DROP FUNCTION audit_log_append_only()")


def create_dead_letters_table_v1() -> None:
    """kit.deadletter's rows: where each dead letter came from and why, never its content."""
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("tenant", sa.String, index=True),
        sa.Column("consumer", sa.String, nullable=False),
        sa.Column("source_topic", sa.String, nullable=False),
        sa.Column("source_partition", sa.Integer, nullable=False),
        sa.Column("source_offset", sa.BigInteger, nullable=False),
        sa.Column("event_type", sa.String),
        sa.Column("reason", sa.String, nullable=False),
        sa.Column("first_at", _TS, nullable=False),
        sa.Column("last_at", _TS, nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("replayed_at", _TS),
        sa.Column("replayed_by", sa.String),
        sa.UniqueConstraint("consumer", "source_topic", "source_partition", "source_offset"),
    )


def add_outbox_traceparent_v2() -> None:
    """kit.outbox's rows keep the W3C trace context they were written in (kit.tracing); old rows have none."""
    op.add_column("outbox", sa.Column("traceparent", sa.String))


def drop_outbox_traceparent_v2() -> None:
    op.drop_column("outbox", "traceparent")
