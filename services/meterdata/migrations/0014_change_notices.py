"""Change notices for the answers meter data keeps in memory (kit.notified_cache): a statement that writes interval
days notifies `meterdata_changes` of its meters per tenant (``'<tenant> <meter> …'``, or ``'<tenant> *'`` when they
would not fit into a notice), one that writes master data of the tenant as a whole (``'<tenant> *'``: a partner's
relations may have changed). PostgreSQL delivers a notice only when its transaction commits.

Revision ID: meterdata_0014_change_notices
"""

from alembic import op

revision = "meterdata_0014_change_notices"
down_revision = "meterdata_0013_alerts"
branch_labels = None
depends_on = None

_CHANNEL = "meterdata_changes"  # store.CHANGES_CHANNEL when this was written
_LONGEST_NOTICE = 7000  # PostgreSQL refuses payloads from 8000 bytes on

# A transition table serves one event only, hence a trigger per event.
_EVENTS = (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD"))


def upgrade() -> None:
    op.execute(
        f"""
        CREATE FUNCTION meterdata_days_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{_CHANNEL}', tenant || ' ' || CASE WHEN sum(length(meter_number) + 1) > {_LONGEST_NOTICE}
                                               THEN '*' ELSE string_agg(meter_number, ' ') END)
               FROM (SELECT DISTINCT tenant, meter_number FROM changed) AS meters GROUP BY tenant;
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        f"""
        CREATE FUNCTION meterdata_master_data_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{_CHANNEL}', tenant || ' *') FROM (SELECT DISTINCT tenant FROM changed) AS tenants;
            RETURN NULL;
        END $$
        """
    )
    for table, function in (
        ("interval_days", "meterdata_days_changed"),
        ("meter_points", "meterdata_master_data_changed"),
    ):
        for event, rows in _EVENTS:
            op.execute(
                f"CREATE TRIGGER {table}_{event.lower()}_notice AFTER {event} ON {table}"
                f" REFERENCING {rows} TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
            )


def downgrade() -> None:
    for table in ("interval_days", "meter_points"):
        for event, _ in _EVENTS:
            op.execute(f"DROP TRIGGER {table}_{event.lower()}_notice ON {table}")
    op.execute("DROP FUNCTION meterdata_days_changed()")
    op.execute("DROP FUNCTION meterdata_master_data_changed()")
