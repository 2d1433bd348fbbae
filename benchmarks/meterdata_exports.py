"""Meter data's short requests while customers download exports: `/health` and month queries, with and without
4 concurrent 3-year XLSX exports.

    python -m benchmarks.meterdata_exports [--runs 3] [--samples 150] [--exporters 4] [--format xlsx]
                                           [--kafka HOST:PORT --database-url URL] [--keep-logs]

Starts its own stack (Kafka, PostgreSQL, meter data as a process) unless servers are given, and loads
`--exporters` + 4 meters × 3 years of simulated quarter-hour values (SMGW simulator, 2023-01-01 … 2025-12-31)
through the service's own batch handler (as benchmarks.meterdata_query does), with master data (one
consumption partner per meter) and a signing key made here; tokens are signed with it, one login per partner.

Each run, on one keep-alive connection (`benchmarks._http.LeanClient`), interleaves `--samples` rounds of
`GET /health`, a year by month (`/intervals?resolution=month`, 12 buckets) and a month of 15-minute values
(`/intervals?resolution=15min`, 31 days) for the query partners:

1. baseline: nothing else runs;
2. under exports: `--exporters` clients (httpx, one login each, in a process of their own) download
   `/export?from=2023-01-01&to=2026-01-01&format=xlsx` again and again (105,216 rows each) while the same
   rounds are measured.

It prints p50/p99 of each request kind in both phases and their ratio (under exports ÷ baseline of the same
run), how many exports finished and how long they took; `--runs N` repeats both phases on the same stack and
prints the range over the runs. The target of issue [7 of 11]: p99 under exports within 2× of the baseline.

Exit status: 0 when every request answered 200 (whether or not the target is met), 1 on errors, 130 when
interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event as EventFlag
from typing import Any

import httpx

from benchmarks._http import LeanClient
from benchmarks._stack import (
    BenchmarkError,
    add_stack_arguments,
    background_busy,
    header_line,
    median,
    percentile,
    say,
)
from benchmarks.meterdata_ingest import (
    MeterdataStack,
    Record,
    encoded_days,
    main_with_meterdata,
    meter_numbers,
    store_records,
)
from benchmarks.meterdata_query import (
    Partners,
    mint_tokens,
    publish_master_data,
    publish_signing_key,
    settle_tables,
    wait_for_read_models,
)
from kit.db import Database
from kit.tenants import load_tenants
from services.identity.crypto import TokenSigner

EXPORT_FROM, EXPORT_TO = date(2023, 1, 1), date(2026, 1, 1)  # 1,096 days, 105,216 quarter hours
DATA_DAYS = (EXPORT_TO - EXPORT_FROM).days + 1  # one day more: `to` must not find the end of the data
QUERY_PARTNERS = 4
BATCH = 500
TARGET_RATIO = 2.0


@dataclass(frozen=True)
class Kind:
    name: str
    path: str
    params: dict[str, str]


HEALTH = Kind("GET /health", "/health", {})
YEAR_BY_MONTH = Kind("a year by month", "/intervals", {"from": "2025-01-01", "to": "2026-01-01", "resolution": "month"})
MONTH_FINE = Kind(
    "a month of 15-min values", "/intervals", {"from": "2025-03-01", "to": "2025-04-01", "resolution": "15min"}
)
KINDS = (HEALTH, YEAR_BY_MONTH, MONTH_FINE)


@dataclass
class Phase:
    latencies: dict[str, list[float]] = field(default_factory=lambda: {k.name: [] for k in KINDS})


@dataclass
class Run:
    baseline: Phase = field(default_factory=Phase)
    loaded: Phase = field(default_factory=Phase)
    export_seconds: list[float] = field(default_factory=list)  # finished exports
    export_bytes: int = 0
    refused: int = 0  # 429s (the limits must let `--exporters` logins through)
    idle_busy: float = float("nan")


# --- data -----------------------------------------------------------------------------------------------


async def load_readings(stack: MeterdataStack, meters: Sequence[str]) -> int:
    db = Database(stack.database)
    tenants = load_tenants()
    stored = 0
    try:
        for meter in meters:
            pending = [Record(value) for _, value in encoded_days([meter], EXPORT_FROM, DATA_DAYS)]
            for start in range(0, len(pending), BATCH):
                stored += await store_records(db, tenants, pending[start : start + BATCH])
            say(f"  {meter}: {DATA_DAYS} days stored")
    finally:
        await db.dispose()
    return stored


# --- HTTP -----------------------------------------------------------------------------------------------


async def measured_rounds(
    lean: LeanClient,
    partners: Partners,
    queriers: Sequence[str],
    rounds: int,
    rng: random.Random,
    into: Phase | None,
    seconds: float = float("inf"),
) -> None:
    """`rounds` rounds of one request of each kind (random order, random partner), or as many as fit into
    `seconds` (a loop blocked by exports answers a few a second)."""
    deadline = time.perf_counter() + seconds
    for _ in range(rounds):
        if time.perf_counter() > deadline:
            return
        for kind in rng.sample(KINDS, len(KINDS)):
            partner = rng.choice(queriers)
            path = kind.path if kind is HEALTH else f"/partners/{partner}{kind.path}"
            headers = {} if kind is HEALTH else partners.headers[partner]
            started = time.perf_counter()
            status, body = await lean.get(path, kind.params, headers)
            elapsed = time.perf_counter() - started
            if status != 200:
                raise BenchmarkError(f"{kind.name}: HTTP {status} {body[:200]!r}")
            if into is not None:
                into.latencies[kind.name].append(elapsed)


async def export_once(client: httpx.AsyncClient, partner: str, partners: Partners, fmt: str, run: Run) -> None:
    params = {"from": EXPORT_FROM.isoformat(), "to": EXPORT_TO.isoformat(), "resolution": "15min", "format": fmt}
    started = time.perf_counter()
    size = 0
    async with client.stream(
        "GET", f"/partners/{partner}/export", params=params, headers=partners.headers[partner]
    ) as r:
        if r.status_code == 429:
            run.refused += 1
            await asyncio.sleep(float(r.headers.get("Retry-After", "1")))
            return
        if r.status_code != 200:
            raise BenchmarkError(f"export: HTTP {r.status_code} {(await r.aread())[:200]!r}")
        async for chunk in r.aiter_raw():
            size += len(chunk)
    run.export_seconds.append(time.perf_counter() - started)
    run.export_bytes = size


async def exporter(url: str, partner: str, partners: Partners, fmt: str, run: Run, stop: asyncio.Event) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=300) as client:
        while not stop.is_set():
            await export_once(client, partner, partners, fmt, run)


def exporting_clients(
    url: str, exporters: Sequence[str], partners: Partners, fmt: str, stop: EventFlag, results: Queue[Any]
) -> None:
    """The exporting clients, in a process of their own: receiving 3 MB bodies through httpx costs the client
    CPU that, on the measuring loop, would count as the service's latency. Puts (seconds, bytes, refused)."""

    async def clients() -> Run:
        run, stopping = Run(), asyncio.Event()
        tasks = [asyncio.create_task(exporter(url, p, partners, fmt, run, stopping)) for p in exporters]
        await asyncio.to_thread(stop.wait)  # the measuring process's flag
        stopping.set()
        await asyncio.gather(*tasks)
        return run

    try:
        run = asyncio.run(clients())
        results.put((run.export_seconds, run.export_bytes, run.refused))
    except Exception as error:  # reported by the measuring process
        results.put(f"{type(error).__name__}: {error}")


async def one_run(
    args: argparse.Namespace, stack: MeterdataStack, partners: Partners, exporters: Sequence[str], rng: random.Random
) -> Run:
    run = Run()
    queriers = [p for p in partners.numbers if p not in exporters]
    run.idle_busy = await background_busy()
    async with LeanClient(stack.meterdata.url) as lean:
        await measured_rounds(lean, partners, queriers, args.warmup, rng, None)
        say(f"  baseline: {args.samples} rounds …")
        await measured_rounds(lean, partners, queriers, args.samples, rng, run.baseline)
        spawn = multiprocessing.get_context("spawn")
        stop, results = spawn.Event(), spawn.Queue()
        clients = spawn.Process(
            target=exporting_clients,
            args=(stack.meterdata.url, list(exporters), partners, args.format, stop, results),
            name="exporting-clients",
        )
        clients.start()
        try:
            await asyncio.sleep(args.ramp)  # the exports are under way, in whatever stage
            say(f"  under {len(exporters)} exporting clients: {args.samples} rounds …")
            await measured_rounds(lean, partners, queriers, args.samples, rng, run.loaded, args.max_seconds)
        finally:
            stop.set()
            say("  waiting for the exports under way to finish …")
            outcome = await asyncio.to_thread(results.get, True, 600)
            await asyncio.to_thread(clients.join, 30)
        if isinstance(outcome, str):
            raise BenchmarkError(f"exporter failed: {outcome}")
        run.export_seconds, run.export_bytes, run.refused = outcome
    return run


# --- report ---------------------------------------------------------------------------------------------


def ms(seconds: float) -> float:
    return seconds * 1000


def ratio(run: Run, kind: Kind, q: float) -> float:
    return percentile(run.loaded.latencies[kind.name], q) / percentile(run.baseline.latencies[kind.name], q)


def report(args: argparse.Namespace, runs: Sequence[Run], days_stored: int) -> str:
    lines = [
        header_line("Meter data: short requests while exports run"),
        f"data: {args.exporters + QUERY_PARTNERS} meters × {DATA_DAYS} days = {days_stored:,} rows; "
        f"{args.exporters} clients export {EXPORT_FROM} … {EXPORT_TO} (15 min, {args.format}) in a loop; "
        f"{args.samples} rounds per phase on one connection (under exports: at most {args.max_seconds:g} s)",
    ]
    for index, run in enumerate(runs, start=1):
        exports = run.export_seconds
        counted = len(run.loaded.latencies[HEALTH.name])
        lines += [
            "",
            f"run {index} ({counted} rounds under exports): other work before the run {run.idle_busy:.2f} of "
            f"{os.cpu_count()} CPUs busy; "
            f"{len(exports)} exports finished ({run.export_bytes / 1e6:.1f} MB each), "
            f"p50 {median(exports):.1f} s, max {max(exports, default=float('nan')):.1f} s; {run.refused} refused (429)",
            f"{'request':<28}{'base p50':>10}{'base p99':>10}{'exp p50':>10}{'exp p99':>10}{'p50 ×':>8}{'p99 ×':>8}",
        ]
        for kind in KINDS:
            base, loaded = run.baseline.latencies[kind.name], run.loaded.latencies[kind.name]
            lines.append(
                f"{kind.name:<28}{ms(percentile(base, 50)):>10.2f}{ms(percentile(base, 99)):>10.2f}"
                f"{ms(percentile(loaded, 50)):>10.2f}{ms(percentile(loaded, 99)):>10.2f}"
                f"{ratio(run, kind, 50):>8.1f}{ratio(run, kind, 99):>8.1f}"
            )
    lines += ["", f"Over {len(runs)} run(s), ms (range); target: p99 under exports ≤ {TARGET_RATIO:g}× the baseline:"]
    for kind in KINDS:
        base = [ms(percentile(r.baseline.latencies[kind.name], 99)) for r in runs]
        loaded = [ms(percentile(r.loaded.latencies[kind.name], 99)) for r in runs]
        ratios = [ratio(r, kind, 99) for r in runs]
        worst = max(ratios)
        lines.append(
            f"  {kind.name:<28} p99 baseline {min(base):.1f}–{max(base):.1f}, under exports "
            f"{min(loaded):.1f}–{max(loaded):.1f}, ratio {min(ratios):.1f}–{worst:.1f}× — "
            f"{'met' if worst <= TARGET_RATIO else 'MISSED'}"
        )
    return "\n".join(lines)


# --- the run --------------------------------------------------------------------------------------------


async def run_benchmark(args: argparse.Namespace, stack: MeterdataStack) -> tuple[str, bool]:
    rng = random.Random(args.seed)
    meters = meter_numbers("BMX", args.exporters + QUERY_PARTNERS)
    partner_numbers = [f"8{meter[4:8]}{index:05d}" for index, meter in enumerate(meters)]
    signer = TokenSigner(stack.workdir / "bench-signing-key.pem")
    say("Master data and the signing key onto Kafka …")
    await publish_master_data(stack.kafka, meters, partner_numbers)
    await publish_signing_key(stack.kafka, signer)
    say(f"Readings: {len(meters)} meters × {DATA_DAYS} days through handlers.ingest …")
    days_stored = await load_readings(stack, meters)
    await wait_for_read_models(stack, meters, signer.kid)
    await settle_tables(stack.database)
    partners = mint_tokens(signer, partner_numbers, timedelta(hours=4))  # one login (subject) per partner
    exporters = partner_numbers[: args.exporters]
    async with httpx.AsyncClient(base_url=stack.meterdata.url, timeout=300) as client:
        probe = Run()
        say("One export first (checks the answer, warms the service) …")
        await export_once(client, exporters[0], partners, args.format, probe)
        if not probe.export_seconds or probe.export_bytes < 100_000:
            raise BenchmarkError(f"the first export answered {probe.export_bytes} bytes")
        say(f"  {probe.export_bytes / 1e6:.1f} MB in {probe.export_seconds[0]:.1f} s with nothing else running")
    runs = []
    for index in range(args.runs):
        say(f"Run {index + 1} of {args.runs}:")
        runs.append(await one_run(args, stack, partners, exporters, rng))
    return report(args, runs, days_stored), True


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.meterdata_exports", description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="baseline + under-exports phases, on one stack")
    parser.add_argument("--samples", type=int, default=150, help="measured rounds per phase (one of each kind)")
    parser.add_argument("--warmup", type=int, default=20, help="rounds before each baseline")
    parser.add_argument("--exporters", type=int, default=4, help="clients downloading exports at once")
    parser.add_argument("--format", choices=("xlsx", "csv", "csv-de"), default="xlsx")
    parser.add_argument("--ramp", type=float, default=1.0, help="seconds between starting the exports and measuring")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="cap on the phase under exports")
    parser.add_argument("--seed", type=int, default=1)
    add_stack_arguments(parser)
    args = parser.parse_args(argv)
    if args.runs < 1 or args.samples < 2 or args.exporters < 1:
        parser.error("--runs ≥ 1, --samples ≥ 2, --exporters ≥ 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    return main_with_meterdata(args, lambda stack: run_benchmark(args, stack), "meterdata-exports")


if __name__ == "__main__":
    sys.exit(main())
