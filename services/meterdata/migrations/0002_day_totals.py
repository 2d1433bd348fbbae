"""Per-day totals next to the arrays of interval_days (Wh, values present, substitutes): days, weeks, months
and years add these up instead of unpacking every quarter hour. Existing rows are filled from their arrays.

Revision ID: meterdata_0002
"""

import sqlalchemy as sa
from alembic import op

revision = "meterdata_0002"
down_revision = "meterdata_0001"
branch_labels = None
depends_on = None

_SUBSTITUTE = 2  # domain.QUALITY_CODES[Quality.SUBSTITUTE]


def upgrade() -> None:
    op.add_column("interval_days", sa.Column("total_wh", sa.BigInteger, nullable=True))
    op.add_column("interval_days", sa.Column("present", sa.SmallInteger, nullable=True))
    op.add_column("interval_days", sa.Column("substitutes", sa.SmallInteger, nullable=True))
    op.execute(
        f"""
        UPDATE interval_days AS d
           SET total_wh = t.wh, present = t.present, substitutes = t.substitutes
          FROM (
                SELECT i.tenant, i.meter_number, i.obis, i.day,
                       coalesce(sum(u.v), 0) AS wh, count(u.v) AS present,
                       count(*) FILTER (WHERE u.q = {_SUBSTITUTE}) AS substitutes
                  FROM interval_days AS i CROSS JOIN LATERAL unnest(i.values_wh, i.qualities) AS u(v, q)
                 GROUP BY i.tenant, i.meter_number, i.obis, i.day
               ) AS t
         WHERE (d.tenant, d.meter_number, d.obis, d.day) = (t.tenant, t.meter_number, t.obis, t.day)
        """
    )
    # A day is never stored without values (92/96/100 of them), but should one be: it holds nothing.
    op.execute("UPDATE interval_days SET total_wh = 0, present = 0, substitutes = 0 WHERE total_wh IS NULL")
    for column in ("total_wh", "present", "substitutes"):
        op.alter_column("interval_days", column, nullable=False)


def downgrade() -> None:
    for column in ("substitutes", "present", "total_wh"):
        op.drop_column("interval_days", column)
