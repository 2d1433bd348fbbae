"""Query latency of meter data's API: a year of 15-minute values, and a year by month, for one partner number.

    python -m benchmarks.meterdata_query [--meters 300] [--samples 300] [--warmup 30] [--concurrency 4] [--explain]
                                         [--seconds 5] [--profile] [--kafka HOST:PORT --database-url URL]
                                         [--keep-logs]

Starts its own stack (Kafka, PostgreSQL, meter data as a process) unless servers are given. Loads `--meters`
meters × 366 days of simulated quarter-hour values (SMGW simulator) straight into meter data's database through
the service's own batch handler (`handlers.ingest`: one COPY + upsert per 500 days, as in
`benchmarks.meterdata_ingest`'s ceiling), publishes master data (one consumption partner per meter) and a
`SigningKeyPublished` event with a key made here, and waits until meter data's read models hold both. Tokens
are signed with that key (`services.identity.crypto.TokenSigner`), as identity would sign them.

Then, over HTTP with keep-alive, after a warm-up, interleaved rounds of
`GET /partners/{p}/intervals?from=<year>&to=<year+1>&resolution=15min`, the same with `resolution=month`
(random partners) and `GET /health` as the baseline, each sent twice in a row: once with a lean client
(`benchmarks._http.LeanClient`, one connection; these figures are the result) and once with httpx (another
connection; shown beside them: httpx's own ~1 ms of Python per request is the client's cost, not the
service's). Then requests/s with `--concurrency` httpx clients. Finally the same service path in this process,
stage by stage (token check, the query, aggregation, rows, orjson), to show where the time goes; `--profile`
adds a cProfile of it.

Exit status: 0 when every request answered 200 with the expected data (whether or not the targets are met),
1 on errors, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import itertools
import os
import pstats
import random
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import uuid4

import asyncpg
import httpx
import orjson
from aiokafka import AIOKafkaProducer
from sqlalchemy import literal
from sqlmodel import select

from backoffice.masterdata_import import publish_meter_points
from benchmarks._http import LeanClient
from benchmarks._stack import (
    HOST,
    TENANT,
    BenchmarkError,
    add_stack_arguments,
    background_busy,
    header_line,
    median,
    percentile,
    say,
    wait_until_consumed,
)
from benchmarks.meterdata_ingest import (
    MeterdataStack,
    Record,
    encoded_days,
    main_with_meterdata,
    meter_numbers,
    store_records,
)
from contracts.common import PartnerRole, PostalAddress
from contracts.envelope import HEADER_EVENT_TYPE, HEADER_TENANT
from contracts.identity import PublicJwk, SigningKeyPublished
from contracts.masterdata import MeterPointRecorded, PartnerOfRecord
from contracts.topics import IDENTITY_KEYS, MASTER_DATA, Principal
from kit import auth, validity
from kit.db import Database
from kit.events import encode, envelope_for
from kit.masterdata import partner_probe
from kit.tenants import load_tenants
from services.identity.crypto import TokenSigner
from services.meterdata import api, domain, exports, store
from services.meterdata.messaging import GROUP
from services.meterdata.store import PartnerQueries
from stack.credentials import KafkaInstallation
from stack.postgres import asyncpg_dsn

TARGET_FINE_P99_MS = 10.0
TARGET_MONTH_P99_MS = 3.0
YEAR_START, YEAR_END = date(2025, 1, 1), date(2026, 1, 1)  # 35,040 quarter hours (92- and 100-value days inside)
QUIET_CPUS = 0.15  # busy CPUs below which the machine counts as quiet enough to start measuring
DATA_DAYS = 366  # one day more than the year: the query's `to` must not find the end of the data
BATCH = 500
ROLE = "consumption"


@dataclass(frozen=True)
class Kind:
    name: str
    path: str  # "" for the health baseline
    resolution: str | None
    expected_count: int | None  # buckets in the answer


FINE = Kind("year of 15-min values", "/intervals", "15min", 365)  # compact: one entry per day
MONTH = Kind("year by month", "/intervals", "month", 12)  # every partner asked once before: kept answers
# A year by month for a period nobody asked before (starting 0–364 days into the year, a few days longer each time
# the starts come round again: 13–14 buckets): every answer read from PostgreSQL, as on a customer's first view.
MONTH_FIRST = Kind("year by month, first view", "/intervals", "month", None)
HEALTH = Kind("GET /health (baseline)", "", None, None)
KINDS = (FINE, MONTH, MONTH_FIRST, HEALTH)


@dataclass
class Partners:
    numbers: list[str]
    headers: dict[str, dict[str, str]]  # partner → Authorization and Host
    tokens: dict[str, str]
    meters: dict[str, list[str]] = field(default_factory=dict)  # partner → its meters (one here)
    first_views: Iterator[int] = field(default_factory=itertools.count)  # MONTH_FIRST's periods, each once


@dataclass
class Measured:
    latencies: dict[str, list[float]] = field(default_factory=lambda: {k.name: [] for k in KINDS})
    httpx_latencies: dict[str, list[float]] = field(default_factory=lambda: {k.name: [] for k in KINDS})
    sizes: dict[str, list[int]] = field(default_factory=lambda: {k.name: [] for k in KINDS})
    throughput: dict[str, float] = field(default_factory=dict)  # requests/s with --concurrency clients
    errors: list[str] = field(default_factory=list)
    stages: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # kind → stage → seconds
    profile: str = ""
    plans: str = ""
    idle_busy: float = float("nan")  # CPUs busy before the run while the benchmark sends nothing


# --- data, master data, keys ----------------------------------------------------------------------------


async def load_readings(stack: MeterdataStack, meters: Sequence[str]) -> int:
    """Every meter's days through handlers.ingest into meter data's own database, 500 days a transaction."""
    db = Database(stack.database)
    tenants = load_tenants()
    pending: list[Record] = []
    stored = 0
    started = time.perf_counter()
    try:
        for index, meter in enumerate(meters, start=1):
            pending.extend(Record(value) for _, value in encoded_days([meter], YEAR_START, DATA_DAYS))
            while len(pending) >= BATCH:
                stored += await store_records(db, tenants, pending[:BATCH])
                del pending[:BATCH]
            if index % 50 == 0 or index == len(meters):
                say(
                    f"  {index} of {len(meters)} meters, {stored:,} days stored ({time.perf_counter() - started:.0f} s)"
                )
        if pending:
            stored += await store_records(db, tenants, pending)
    finally:
        await db.dispose()
    return stored


async def publish_master_data(kafka: KafkaInstallation, meters: Sequence[str], partners: Sequence[str]) -> None:
    now = datetime.now(UTC)
    address = PostalAddress(street="Messweg", house_number="1", postcode="12345", city="Prüfstadt")
    points = [
        MeterPointRecorded(
            meter_number=meter,
            connection_address=address,
            partners=(
                PartnerOfRecord(
                    partner_number=partner, role=PartnerRole.CONSUMPTION, name="Lena Messer", postal_address=address
                ),
            ),
            recorded_at=now,
        )
        for meter, partner in zip(meters, partners, strict=True)
    ]
    await publish_meter_points(kafka.access(Principal.BILLING_IMPORT), TENANT, points)


async def publish_signing_key(kafka: KafkaInstallation, signer: TokenSigner) -> None:
    """What identity's `publish_signing_key` puts on the keys topic, for the key made here."""
    payload = SigningKeyPublished(kid=signer.kid, jwk=PublicJwk.model_validate(signer.public_jwk))
    envelope = envelope_for(payload, tenant=TENANT, correlation_id=uuid4())
    producer = AIOKafkaProducer(
        **kafka.access(Principal.IDENTITY).client_options(), enable_idempotence=True, acks="all"
    )
    await producer.start()
    try:
        await producer.send_and_wait(
            IDENTITY_KEYS.name,
            encode(envelope),
            key=signer.kid.encode(),
            headers=[(HEADER_EVENT_TYPE, payload.EVENT_TYPE.encode()), (HEADER_TENANT, TENANT.encode())],
        )
    finally:
        await producer.stop()


async def wait_for_read_models(stack: MeterdataStack, meters: Sequence[str], kid: str, timeout: float = 120) -> None:
    """Meter data's group has read master data and keys, and its tables hold every meter and the key."""
    await wait_until_consumed(stack.kafka, GROUP, MASTER_DATA.name, timeout)
    await wait_until_consumed(stack.kafka, GROUP, IDENTITY_KEYS.name, timeout)
    connection = await asyncpg.connect(asyncpg_dsn(stack.database))
    try:
        deadline = time.monotonic() + timeout
        while True:
            points = await connection.fetchval(
                "SELECT count(*) FROM meter_points WHERE tenant = $1 AND meter_number = ANY($2::text[])",
                TENANT,
                list(meters),
            )
            keys = await connection.fetchval(
                "SELECT count(*) FROM signing_keys WHERE tenant = $1 AND kid = $2", TENANT, kid
            )
            if points == len(meters) and keys == 1:
                return
            if time.monotonic() > deadline:
                raise BenchmarkError(f"meter data holds {points} of {len(meters)} meter points and {keys} of 1 key")
            await asyncio.sleep(0.2)
    finally:
        await connection.close()


async def settle_tables(url: str) -> None:
    """VACUUM ANALYZE what was just loaded, as autovacuum does soon after a load anyway, and CHECKPOINT, as the
    checkpointer would within minutes: a year of data is measured in its steady state, not while autovacuum
    works through 10 M fresh values or the checkpointer writes them out beside the queries. Then wait (up to
    a minute) until the machine is quiet."""
    say("Settling the tables (VACUUM ANALYZE and CHECKPOINT, as PostgreSQL would soon after a load) …")
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await connection.execute("VACUUM (ANALYZE) interval_days, meter_points, signing_keys")
        try:
            await connection.execute("CHECKPOINT")
        except asyncpg.InsufficientPrivilegeError:  # a server given with --database-url, as a plain user
            say("  no CHECKPOINT: the database user may not (the first seconds may see the checkpointer)")
    finally:
        await connection.close()
    deadline = time.monotonic() + 60
    while (busy := await background_busy(1.0)) > QUIET_CPUS and time.monotonic() < deadline:
        say(f"  waiting for a quiet machine: {busy:.2f} of {os.cpu_count()} CPUs busy")


def mint_tokens(signer: TokenSigner, partners: Sequence[str], valid: timedelta) -> Partners:
    now = datetime.now(UTC)
    tokens = {}
    for partner in partners:
        claims = {
            "iss": auth.ISSUER,
            "aud": auth.AUDIENCE,
            "sub": f"bench-{partner}",
            "tenant": TENANT,
            "partner": partner,
            "role": ROLE,
            "sid": "bench",
            "iat": now,
        }
        tokens[partner] = signer.sign(claims, now + valid)
    headers = {p: {**HOST, "Authorization": f"Bearer {t}"} for p, t in tokens.items()}
    return Partners(list(partners), headers, tokens)


# --- HTTP -----------------------------------------------------------------------------------------------


def request_of(kind: Kind, partner: str, partners: Partners) -> tuple[str, dict[str, str], dict[str, str]]:
    if kind is HEALTH:
        return "/health", {}, {}
    first, end = YEAR_START, YEAR_END
    if kind is MONTH_FIRST:
        n = next(partners.first_views)
        first = YEAR_START + timedelta(days=n % 365)
        end = first + timedelta(days=365 + n // 365)
    params = {"from": first.isoformat(), "to": end.isoformat(), "resolution": kind.resolution or "day"}
    return f"/partners/{partner}{kind.path}", params, partners.headers[partner]


async def timed_get(
    client: httpx.AsyncClient, kind: Kind, partner: str, partners: Partners, measured: Measured | None
) -> float:
    path, params, headers = request_of(kind, partner, partners)
    started = time.perf_counter()
    response = await client.get(path, params=params, headers=headers)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise BenchmarkError(f"{kind.name}: HTTP {response.status_code} {response.text[:200]}")
    if measured is not None:
        measured.httpx_latencies[kind.name].append(elapsed)
    return elapsed


async def lean_timed_get(
    client: LeanClient, kind: Kind, partner: str, partners: Partners, measured: Measured | None
) -> None:
    path, params, headers = request_of(kind, partner, partners)
    started = time.perf_counter()
    status, body = await client.get(path, params, headers)
    elapsed = time.perf_counter() - started
    if status != 200:
        raise BenchmarkError(f"{kind.name}: HTTP {status} {body[:200]!r}")
    if measured is not None:
        measured.latencies[kind.name].append(elapsed)
        measured.sizes[kind.name].append(len(body))


async def check_answers(client: httpx.AsyncClient, partners: Partners) -> None:
    """One answer of each kind holds the whole year with values in it."""
    partner = partners.numbers[0]
    for kind in (FINE, MONTH):
        path, params, headers = request_of(kind, partner, partners)
        response = await client.get(path, params=params, headers=headers)
        if response.status_code != 200:
            raise BenchmarkError(f"{kind.name}: HTTP {response.status_code} {response.text[:200]}")
        body = response.json()
        present = sum(1 for r in body["results"] if r["kwh"] is not None)
        if body["count"] != kind.expected_count or len(body["results"]) != kind.expected_count or not present:
            raise BenchmarkError(
                f"{kind.name}: {body['count']} buckets ({len(body['results'])} on the page, {present} with values), "
                f"expected {kind.expected_count} with values"
            )


async def interleaved(
    lean: LeanClient,
    client: httpx.AsyncClient,
    partners: Partners,
    rounds: int,
    rng: random.Random,
    measured: Measured | None,
) -> None:
    """Each round: one request of every kind in a random order, each for a random partner, sent by the lean
    client and then by httpx."""
    for _ in range(rounds):
        for kind in rng.sample(KINDS, len(KINDS)):
            partner = rng.choice(partners.numbers)
            await lean_timed_get(lean, kind, partner, partners, measured)
            await timed_get(client, kind, partner, partners, measured)


async def throughput(url: str, kind: Kind, partners: Partners, clients: int, seconds: float) -> float:
    """Requests/s with `clients` concurrent keep-alive connections, each sending the next on the answer."""
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        await asyncio.gather(*(timed_get(client, kind, partners.numbers[0], partners, None) for _ in range(clients)))
        done = 0
        deadline = time.perf_counter() + seconds

        async def worker(seed: int) -> None:
            nonlocal done
            rng = random.Random(seed)
            while time.perf_counter() < deadline:
                await timed_get(client, kind, rng.choice(partners.numbers), partners, None)
                done += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(clients)))
        return done / (time.perf_counter() - started)


# --- where the time goes: the service path in this process ----------------------------------------------

STAGES = (
    "  empty transaction (/health)",
    "token check (auth.verify)",
    "one statement (15-min / bucket totals)",
    "  raw asyncpg, all values of the days",
    "domain.visible_totals",
    "interval_rows / 15-min entries",
    "orjson.dumps",
)


async def stage_times(
    url: str, kind: Kind, partners: Partners, rounds: int, rng: random.Random, profiler: cProfile.Profile | None
) -> dict[str, list[float]]:
    """The steps of GET …/intervals as api.intervals runs them, each timed, on meter data's database."""
    db = Database(url)
    queries = PartnerQueries(db)
    raw = await asyncpg.connect(asyncpg_dsn(url))
    resolution = domain.Resolution(kind.resolution or "day")
    obis = domain.interval_channel(ROLE)
    times: dict[str, list[float]] = {stage: [] for stage in STAGES}
    # As the service does after its start (kit.runtime): what lives on stays out of the collector's full passes.
    gc.collect()
    gc.freeze()
    try:
        for index in range(rounds + 10):
            partner = rng.choice(partners.numbers)
            if profiler is not None and index >= 10:
                profiler.enable()
            t0 = time.perf_counter()
            await auth.verify(db.transaction, partners.tokens[partner], TENANT)
            t1 = time.perf_counter()
            meters = partners.meters[partner]  # the service finds them inside its one statement
            t2 = time.perf_counter()
            stored: Any
            buckets: Any
            if resolution == domain.Resolution.QUARTER_HOUR:
                stored, relations = await queries.quarter_hours(TENANT, partner, ROLE, obis, YEAR_START, YEAR_END)
            else:
                stored, relations = await queries.bucket_totals(
                    TENANT, partner, ROLE, obis, YEAR_START, YEAR_END, resolution
                )
            t3 = time.perf_counter()
            ranges = validity.ranges(relations, YEAR_START, YEAR_END)
            if resolution == domain.Resolution.QUARTER_HOUR:
                buckets = stored
            else:
                buckets = list(domain.visible_totals(stored, ranges, YEAR_START, resolution))
            t4 = time.perf_counter()
            results: Any
            rows: list[Any]
            if resolution == domain.Resolution.QUARTER_HOUR:
                rows = domain.encoded_quarter_hour_entries(stored, ranges)
                results = orjson.Fragment(exports.json_list(rows))
            else:
                rows = exports.interval_rows(buckets, resolution)
                results = rows
            t5 = time.perf_counter()
            body = orjson.dumps(
                {
                    "partner_number": partner,
                    "role": ROLE,
                    "obis": obis,
                    "unit": "kWh",
                    "resolution": resolution,
                    "from": YEAR_START,
                    "to": YEAR_END,
                    "count": len(rows),
                    "page": 1,
                    "page_size": api.MAX_PAGE,
                    "next": None,
                    "previous": None,
                    "results": results,
                }
            )
            t6 = time.perf_counter()
            if profiler is not None:
                profiler.disable()
            t7 = time.perf_counter()
            await raw.fetch(
                "SELECT day, values_wh, qualities FROM interval_days WHERE tenant = $1 AND meter_number = ANY($2)"
                " AND obis = $3 AND day >= $4 AND day < $5 ORDER BY day",
                TENANT,
                meters,
                obis,
                YEAR_START,
                YEAR_END,
            )
            t8 = time.perf_counter()
            async with db.transaction() as session:
                await session.exec(select(literal(1)))
            t9 = time.perf_counter()
            if len(rows) != kind.expected_count or not body:
                raise BenchmarkError(
                    f"{kind.name} in this process: {len(rows)} buckets, expected {kind.expected_count}"
                )
            if index < 10:
                continue  # warm-up
            steps = (t9 - t8, t1 - t0, t3 - t2, t8 - t7, t4 - t3, t5 - t4, t6 - t5)
            for stage, seconds in zip(STAGES, steps, strict=True):
                times[stage].append(seconds)
    finally:
        gc.unfreeze()
        await raw.close()
        await db.dispose()
    return times


async def query_plans(url: str, partner: str) -> str:
    """EXPLAIN ANALYZE of the service's two statements for one partner, as a custom plan and as the generic plan
    that PostgreSQL may settle on for a prepared statement after five runs."""
    connection = await asyncpg.connect(asyncpg_dsn(url))
    args = (TENANT, partner_probe(partner, ROLE), domain.interval_channel(ROLE), YEAR_START, YEAR_END)
    text = []
    try:
        for name, statement, more in (
            ("15-min", store.QUARTER_HOURS_SQL, ()),
            ("month", store.BUCKET_TOTALS_SQL, ("month",)),
        ):
            for mode in ("force_custom_plan", "force_generic_plan"):
                await connection.execute(f"SET plan_cache_mode = {mode}")
                rows = await connection.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {statement}", *args, *more)
                text += [f"--- {name}, {mode} ---", *(row[0] for row in rows)]
    finally:
        await connection.close()
    return "\n".join(text)


# --- report ---------------------------------------------------------------------------------------------


def ms(seconds: float) -> float:
    return seconds * 1000


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def report(args: argparse.Namespace, measured: Measured, days_stored: int) -> str:
    base = measured.latencies[HEALTH.name]
    base50, base99 = percentile(base, 50), percentile(base, 99)
    lines = [
        header_line("Meter data queries"),
        f"data: {args.meters} meters × {DATA_DAYS} days of 96 (92/100) values = {days_stored:,} rows in interval_days;"
        f" period {YEAR_START} … {YEAR_END} (to exclusive), one connection, {args.samples} interleaved rounds",
        "",
        f"{'request':<26}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'req/s (1)':>11}"
        f"{f'req/s ({args.concurrency})':>12}{'p50/base':>10}{'p99/base':>10}{'body kB':>9}",
    ]
    for kind in KINDS:
        values = measured.latencies[kind.name]
        p50, p99 = percentile(values, 50), percentile(values, 99)
        lines.append(
            f"{kind.name:<26}{ms(p50):>9.2f}{ms(p99):>9.2f}{ms(max(values)):>9.2f}{len(values) / sum(values):>11.0f}"
            f"{measured.throughput.get(kind.name, float('nan')):>12.0f}{p50 / base50:>10.1f}{p99 / base99:>10.1f}"
            f"{median(measured.sizes[kind.name]) / 1000:>9.0f}"
        )
    lines += ["", "The same requests sent with httpx (~1 ms of Python per request on the client's side):"]
    for kind in KINDS:
        values = measured.httpx_latencies[kind.name]
        lines.append(
            f"{kind.name:<26}{ms(percentile(values, 50)):>9.2f}{ms(percentile(values, 99)):>9.2f}"
            f"{ms(max(values)):>9.2f}"
        )
    fine99 = percentile(measured.latencies[FINE.name], 99)
    month99 = percentile(measured.latencies[MONTH.name], 99)
    fine99_httpx = percentile(measured.httpx_latencies[FINE.name], 99)
    month99_httpx = percentile(measured.httpx_latencies[MONTH.name], 99)
    first99 = percentile(measured.latencies[MONTH_FIRST.name], 99)
    lines += [
        "",
        "Targets (lean client; with httpx in brackets):",
        f"  p99 ≤ {TARGET_FINE_P99_MS:.0f} ms for a year of 15-min values: {ms(fine99):.1f} ms — "
        f"{verdict(ms(fine99) <= TARGET_FINE_P99_MS)} ({ms(fine99_httpx):.1f} ms)",
        f"  p99 ≤ {TARGET_MONTH_P99_MS:.0f} ms for a year by month: {ms(month99):.1f} ms — "
        f"{verdict(ms(month99) <= TARGET_MONTH_P99_MS)} ({ms(month99_httpx):.1f} ms)"
        f" — a view asked for before; a first view: {ms(first99):.1f} ms ({first99 / base99:.1f} × the baseline)",
    ]
    if measured.stages:
        lines += [
            "",
            "Where the time goes: the same steps as api.intervals, in this process, on meter data's database",
            f"({args.stage_rounds} rounds each, gc frozen as in the service; indented: parts measured apart, not"
            " summed; HTTP p50 minus the steps = FastAPI, uvicorn, transfer, the lean client):",
            f"{'step':<30}" + "".join(f"{k.resolution + ' p50/p99 ms':>24}" for k in (FINE, MONTH) if k.resolution),
        ]
        for stage in STAGES:
            cells = []
            for kind in (FINE, MONTH):
                values = measured.stages[kind.name][stage]
                cells.append(f"{ms(median(values)):>15.2f} /{ms(percentile(values, 99)):>7.2f}")
            lines.append(f"{stage:<30}" + "".join(cells))
        sums = []
        rest = []
        for kind in (FINE, MONTH):
            steps = [s for s in STAGES if not s.startswith("  ")]
            total = sum(median(measured.stages[kind.name][s]) for s in steps)
            sums.append(f"{ms(total):>15.2f} {'':>8}")
            rest.append(f"{ms(percentile(measured.latencies[kind.name], 50) - total):>15.2f} {'':>8}")
        lines.append(f"{'sum of the steps (medians)':<30}" + "".join(sums))
        lines.append(f"{'HTTP p50 minus the sum':<30}" + "".join(rest))
    lines += [
        "",
        f"Other work on the machine before the run: {measured.idle_busy:.2f} of {os.cpu_count()} CPUs busy"
        " (skews all figures, p99 most)",
    ]
    if measured.plans:
        lines += ["", "PostgreSQL's plans of the two statements for one partner:", measured.plans]
    if measured.profile:
        lines += ["", "cProfile of the 15-min path in this process, 20 rounds (by own time):", measured.profile]
    return "\n".join(lines)


# --- the run --------------------------------------------------------------------------------------------


async def run_benchmark(args: argparse.Namespace, stack: MeterdataStack) -> tuple[str, bool]:
    rng = random.Random(args.seed)
    meters = meter_numbers("BMQ", args.meters)
    partner_numbers = [f"7{meter[4:8]}{index:05d}" for index, meter in enumerate(meters)]
    signer = TokenSigner(stack.workdir / "bench-signing-key.pem")

    say("Master data and the signing key onto Kafka …")
    await publish_master_data(stack.kafka, meters, partner_numbers)
    await publish_signing_key(stack.kafka, signer)
    say(f"Readings: {args.meters} meters × {DATA_DAYS} days through handlers.ingest into meter data's database …")
    days_stored = await load_readings(stack, meters)
    await wait_for_read_models(stack, meters, signer.kid)
    say("  meter data holds every meter point and the key")
    await settle_tables(stack.database)
    partners = mint_tokens(signer, partner_numbers, timedelta(hours=2))
    partners.meters = {partner: [meter] for meter, partner in zip(meters, partner_numbers, strict=True)}

    measured = Measured()
    measured.idle_busy = await background_busy()
    async with (
        httpx.AsyncClient(base_url=stack.meterdata.url, timeout=60) as client,
        LeanClient(stack.meterdata.url) as lean,
    ):
        await check_answers(client, partners)
        say(f"Warm-up: {args.warmup} rounds, and every partner's year by month once …")
        await interleaved(lean, client, partners, args.warmup, rng, None)
        for partner in partners.numbers:  # the measured ones are repeat views (MONTH_FIRST: first views)
            await lean_timed_get(lean, MONTH, partner, partners, None)
        say(f"Measuring: {args.samples} rounds of {', '.join(k.name for k in KINDS)} (lean client, then httpx) …")
        await interleaved(lean, client, partners, args.samples, rng, measured)
    for kind in KINDS:
        values = measured.latencies[kind.name]
        say(f"  {kind.name}: p50 {ms(percentile(values, 50)):.2f} ms, p99 {ms(percentile(values, 99)):.2f} ms")
    if args.concurrency > 0 and args.seconds > 0:
        for kind in KINDS:
            say(f"Throughput: {kind.name}, {args.concurrency} clients for {args.seconds:g} s …")
            rate = await throughput(stack.meterdata.url, kind, partners, args.concurrency, args.seconds)
            measured.throughput[kind.name] = rate
    if args.stage_rounds > 0:
        say("Where the time goes: the service's steps in this process …")
        for kind in (FINE, MONTH):
            measured.stages[kind.name] = await stage_times(stack.database, kind, partners, args.stage_rounds, rng, None)
    if args.explain:
        measured.plans = await query_plans(stack.database, partners.numbers[0])
    if args.profile:
        say("cProfile of the 15-min path in this process (timed apart: the profiler slows every call) …")
        profiler = cProfile.Profile()
        await stage_times(stack.database, FINE, partners, 20, rng, profiler)
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(20)
        measured.profile = text.getvalue()
    return report(args, measured, days_stored), True


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.meterdata_query", description=__doc__.split("\n")[0])
    parser.add_argument("--meters", type=int, default=300, help="meters (one partner each) with a year of values")
    parser.add_argument("--samples", type=int, default=300, help="measured rounds (one request of each kind)")
    parser.add_argument("--warmup", type=int, default=30, help="rounds before measuring")
    parser.add_argument("--concurrency", type=int, default=4, help="clients for the requests/s phase (0: skip)")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each requests/s phase")
    parser.add_argument("--stage-rounds", type=int, default=100, help="rounds of the in-process breakdown (0: skip)")
    parser.add_argument("--profile", action="store_true", help="add a cProfile of the 15-min path")
    parser.add_argument("--seed", type=int, default=1, help="random partner order")
    parser.add_argument("--explain", action="store_true", help="add PostgreSQL's plans of the two statements")
    add_stack_arguments(parser)
    args = parser.parse_args(argv)
    if args.meters < 1 or args.samples < 2 or args.warmup < 0:
        parser.error("--meters ≥ 1, --samples ≥ 2, --warmup ≥ 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    return main_with_meterdata(args, lambda stack: run_benchmark(args, stack), "meterdata-query")


if __name__ == "__main__":
    sys.exit(main())
