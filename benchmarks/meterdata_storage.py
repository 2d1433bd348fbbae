"""Storage cost of meter data ([8 of 11] §4): bytes per stored quarter-hour value, for three years of 15-minute
values of many meters in meter data's own tables (monthly partitions, one row per meter, channel and energy day).

    python -m benchmarks.meterdata_storage [--meters 10000] [--database-url URL]

Starts a local PostgreSQL (unless `--database-url`), makes a fresh database with meter data's migrations and the
partitions its maintenance makes (`handlers.maintain_partitions`), then fills 2023-01-01 … 2025-12-31 (1,096
energy days, the spring and autumn days with 92 and 100 values) for `--meters` meters, month by month, in
PostgreSQL itself (`INSERT … SELECT`: the service's COPY path would spend the run in Python, and the bytes on disk
are the same). Values come from a pool of 64 random days (0 … 400 Wh a quarter hour), sliced to the day's length,
their totals and their kept 15-minute entries (JSON, as a closed day's upsert writes it) with them; qualities are
true values. An `int[]` costs 4 bytes per value whatever the values are,
so the pool changes nothing in the sizes.

After `VACUUM (ANALYZE)` it prints the tables' sizes (heap, TOAST, indexes, summed over the partitions) per
stored value and per row, and the same for a sample of the naive layout (one row per value: meter, OBIS, time,
value, quality, primary key) for comparison. Exit status 0, 1 on errors, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import signal
import time
from datetime import UTC, date, datetime, timedelta

import asyncpg

from benchmarks._stack import (
    BenchmarkError,
    benchmark_database,
    header_line,
    prepare_meterdata_database,
    say,
    start_database_server,
)
from kit.energy_day import quarter_hours_of
from kit.months import add_months, months_between
from services.meterdata import domain
from stack.postgres import asyncpg_dsn

FIRST_DAY, LAST_DAY = date(2023, 1, 1), date(2025, 12, 31)
OBIS = "1-1:1.29.0"
POOL = 64
SAMPLE_METERS, SAMPLE_DAYS = 100, 7  # the naive layout's sample: 67,200 rows


async def fill(connection: asyncpg.Connection, meters: int) -> tuple[int, int]:
    """Every meter's days, a month per statement; returns (rows, values)."""
    rng = random.Random(20231)
    await connection.execute("SET synchronous_commit = off")  # the run's own commits: the bytes stay the same
    await connection.execute(
        "CREATE TEMP TABLE pool (id int, q int, values_wh int[], total_wh bigint, entry bytea, PRIMARY KEY (id, q))"
    )
    for pool_id in range(POOL):
        values = [rng.randrange(0, 401) for _ in range(100)]
        for length, example_day in ((92, date(2025, 3, 30)), (96, date(2025, 6, 1)), (100, date(2025, 10, 26))):
            # The closed day's kept 15-minute entry: its length is that of any day's with these values.
            entry = domain.encoded_quarter_hour_entry(example_day, values[:length], None)
            await connection.execute(
                "INSERT INTO pool VALUES ($1, $2, $3, $4, $5)",
                pool_id,
                length,
                values[:length],
                sum(values[:length]),
                entry,
            )
    rows = values_total = 0
    months = list(months_between(FIRST_DAY, LAST_DAY))
    started = time.monotonic()
    for number, month in enumerate(months, 1):
        days = [month + timedelta(days=n) for n in range((add_months(month, 1) - month).days)]
        lengths = [quarter_hours_of(day) for day in days]
        await connection.execute(
            """
            INSERT INTO interval_days (tenant, meter_number, obis, day, revision, values_wh, qualities, received_at,
                                       total_wh, present, substitutes, quarter_hour_entry)
            SELECT '000328', '1BEN' || lpad(m::text, 10, '0'), $3, d.day, 0, p.values_wh,
                   array_fill(1::smallint, ARRAY[d.q]), $4, p.total_wh, d.q, 0, p.entry
              FROM generate_series(1, $5::int) AS m
             CROSS JOIN unnest($1::date[], $2::int[]) AS d(day, q)
              JOIN pool AS p ON p.id = (m * 31 + d.day - DATE '2000-01-01') % $6 AND p.q = d.q
            """,
            days,
            lengths,
            OBIS,
            datetime.now(UTC),
            meters,
            POOL,
        )
        rows += meters * len(days)
        values_total += meters * sum(lengths)
        elapsed = time.monotonic() - started
        say(
            f"  {month:%Y-%m}: {rows:,} rows, {values_total:,} values ({number}/{len(months)} months,"
            f" {rows / elapsed:,.0f} rows/s, about {elapsed / number * (len(months) - number):.0f} s to go)"
        )
    return rows, values_total


async def naive_sample(connection: asyncpg.Connection) -> tuple[int, int]:
    """One row per value for a sample, as a (meter, OBIS, time) table would hold it: (bytes, values)."""
    await connection.execute(
        "CREATE TABLE naive_readings (meter_number text, obis text, read_at timestamptz, value_wh int,"
        " quality smallint, PRIMARY KEY (meter_number, obis, read_at))"
    )
    await connection.execute(
        """
        INSERT INTO naive_readings
        SELECT '1BEN' || lpad(m::text, 10, '0'), $1, t, (random() * 400)::int, 1
          FROM generate_series(1, $2::int) AS m
         CROSS JOIN generate_series(TIMESTAMPTZ '2025-06-01 00:00+00',
                                    TIMESTAMPTZ '2025-06-01 00:00+00' + make_interval(days => $3::int)
                                    - INTERVAL '15 minutes', INTERVAL '15 minutes') AS t
        """,
        OBIS,
        SAMPLE_METERS,
        SAMPLE_DAYS,
    )
    await connection.execute("VACUUM (ANALYZE) naive_readings")
    size = await connection.fetchval("SELECT pg_total_relation_size('naive_readings')")
    return int(size), SAMPLE_METERS * SAMPLE_DAYS * 96


async def measure(url: str, meters: int) -> str:
    say(f"Meter data's schema and partitions in {url.rsplit('/', 1)[-1]} …")
    await prepare_meterdata_database(url)
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        say(f"Filling {meters:,} meters × {(LAST_DAY - FIRST_DAY).days + 1:,} days, month by month …")
        started = time.monotonic()
        rows, values = await fill(connection, meters)
        filled = time.monotonic() - started
        say("VACUUM (ANALYZE) …")
        await connection.execute("VACUUM (ANALYZE) interval_days")
        heap, toast, indexes, total, partitions = await connection.fetchrow(
            """
            SELECT sum(pg_relation_size(c.oid))::bigint,
                   sum(coalesce(pg_total_relation_size(nullif(c.reltoastrelid, 0)), 0))::bigint,
                   sum(pg_indexes_size(c.oid))::bigint,
                   sum(pg_total_relation_size(c.oid))::bigint,
                   count(*)
              FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid
             WHERE i.inhparent = 'interval_days'::regclass
            """
        )
        stored = await connection.fetchval("SELECT count(*) FROM interval_days")
        if stored != rows:
            raise BenchmarkError(f"{stored:,} rows stored, {rows:,} written")
        naive_bytes, naive_values = await naive_sample(connection)
    finally:
        await connection.close()

    def per_value(size: int) -> str:
        return f"{size / values:6.2f}"

    gib = 1024**3
    lines = [
        header_line("Meter data storage"),
        f"{meters:,} meters × {(LAST_DAY - FIRST_DAY).days + 1:,} days ({FIRST_DAY} … {LAST_DAY}), one channel:"
        f" {rows:,} rows, {values:,} quarter-hour values, in {partitions} monthly partitions; filled in"
        f" {filled:.0f} s",
        "",
        "part                 bytes/value   GiB",
        f"heap                 {per_value(heap)}   {heap / gib:6.2f}",
        f"TOAST                {per_value(toast)}   {toast / gib:6.2f}",
        f"primary key index    {per_value(indexes)}   {indexes / gib:6.2f}",
        f"total                {per_value(total)}   {total / gib:6.2f}   ({total / rows:,.0f} bytes a day row)",
        "",
        f"one row per value (sample of {naive_values:,} values): {naive_bytes / naive_values:.2f} bytes/value"
        f" ({naive_bytes / naive_values / (total / values):.1f}× the day rows)",
        f"so 1,000,000 meters × 3 years, one channel: {total / values * 1_000_000 * 105_216 / 1024**4:.2f} TiB",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--meters", type=int, default=10_000)
    parser.add_argument("--database-url", help="URL of a PostgreSQL server to use instead of starting one")
    args = parser.parse_args(argv)

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)
    try:
        with contextlib.ExitStack() as cleanup:
            server = start_database_server(args, cleanup)
            url = benchmark_database(args, server, "bench_storage", cleanup)
            report = asyncio.run(measure(url, args.meters))
            say("Stopping everything the benchmark started …")
    except KeyboardInterrupt:
        say("Interrupted; everything the benchmark started is stopped.")
        return 130
    except (BenchmarkError, OSError, asyncpg.PostgresError, RuntimeError) as error:
        say(f"Benchmark failed: {type(error).__name__}: {error}")
        return 1
    say(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
