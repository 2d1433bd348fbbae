"""Login throughput and latency: correct logins (POST /sessions) from concurrent clients in a closed loop.

    python -m benchmarks.identity_login [--seconds 20] [--concurrency 8] [--accounts N] [--replicas 0]
                                        [--kafka HOST:PORT --database-url URL] [--keep-logs]

Starts its own stack (Kafka, PostgreSQL, mail sink, identity) unless servers are given and registers the
accounts through the real journey (master data → access request → link from the mail sink → password). Each
client logs in to its own account again and again (a new session each time, no cookies: a browser's first
login), sending the next login as soon as the answer is there. `--concurrency 1,2,4,8` runs one level after the
other on the same stack. Baselines from the same run: one argon2id verify with the service's parameters in this
process, and GET /health.

Exit status: 0 when every login succeeded (whether or not the targets are met), 1 on errors (failed logins,
a stack that does not start), 130 when interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import math
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx

from benchmarks._stack import (
    HOST,
    PASSWORD,
    IdentityStack,
    add_stack_arguments,
    background_busy,
    header_line,
    machine_cpu,
    main_with_stack,
    median,
    new_pairs,
    percentile,
    publish_pairs,
    register_accounts,
    say,
    unique_email,
)
from services.identity.crypto import HASHER

TARGET_P50_MS = 80.0
TARGET_RATE = 40.0
HEALTH_PROBE_INTERVAL = 0.2


@dataclass
class Level:
    concurrency: int  # closed loop: this many clients; 0 for open loop
    seconds: float
    offered: float = 0.0  # open loop: logins sent per second, whatever the answers do
    latencies: list[float] = field(default_factory=list)  # seconds, successful measured logins
    errors: Counter[str] = field(default_factory=Counter)
    health: list[float] = field(default_factory=list)  # GET /health while the load runs
    identity_cpu: float | None = None
    database_cpu: float = float("nan")
    machine_busy: float = float("nan")  # CPUs busy on average (0..cpu_count)
    client_cpu: float = float("nan")
    replicas: int = 1

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    @property
    def label(self) -> str:
        return f"{self.offered:g}/s open" if self.offered else f"{self.concurrency} clients"


@dataclass
class Baseline:
    verify: list[float]  # one argon2id verify, one thread
    parallel_rate: float  # verifies/s with one thread per CPU
    health: list[float]  # GET /health, idle
    background: float  # CPUs busy while nothing was sent


# --- baselines ------------------------------------------------------------------------------------------


def argon2_baseline(count: int = 50) -> tuple[list[float], float]:
    stored = HASHER.hash(PASSWORD)
    HASHER.verify(stored, PASSWORD)  # warm
    times = []
    for _ in range(count):
        started = time.perf_counter()
        HASHER.verify(stored, PASSWORD)
        times.append(time.perf_counter() - started)
    cpus = os.cpu_count() or 1
    per_thread = max(count // cpus, 10)

    def work() -> None:
        for _ in range(per_thread):
            HASHER.verify(stored, PASSWORD)

    threads = [threading.Thread(target=work) for _ in range(cpus)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return times, per_thread * cpus / (time.perf_counter() - started)


async def health_samples(client: httpx.AsyncClient, count: int = 50) -> list[float]:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        response = await client.get("/health")
        times.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise RuntimeError(f"GET /health: HTTP {response.status_code}")
        await asyncio.sleep(0.01)
    return times


# --- load -----------------------------------------------------------------------------------------------


async def login_loop(url: str, email: str, until: float, measure_from: float, level: Level) -> None:
    """One client: log in, and again as soon as the answer is there, until `until`."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        body = {"email": email, "password": PASSWORD}
        while time.perf_counter() < until:
            started = time.perf_counter()
            try:
                response = await client.post("/sessions", headers=HOST, json=body)
            except httpx.HTTPError as error:
                level.errors[type(error).__name__] += 1
                continue
            elapsed = time.perf_counter() - started
            client.cookies.clear()  # every login is a first login: no session, no device cookie
            if not measure_from <= started + elapsed <= until:
                continue  # throughput and latency count the logins that finished within the window
            if response.status_code == 200:
                level.latencies.append(elapsed)
            else:
                level.errors[f"HTTP {response.status_code}"] += 1


async def open_loop(
    urls: Sequence[str], emails: Sequence[str], rate: float, until: float, measure_from: float, level: Level
) -> None:
    """Login i leaves at t0 + i/rate, whatever the earlier ones are doing; its latency counts from then."""
    # Idle connections are dropped before uvicorn's 5 s keep-alive ends: no request races a closing connection.
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200, keepalive_expiry=2)
    clients = [httpx.AsyncClient(base_url=url, timeout=30, limits=limits) for url in urls]

    async def one(client: httpx.AsyncClient, email: str, scheduled: float) -> None:
        try:
            response = await client.post("/sessions", headers=HOST, json={"email": email, "password": PASSWORD})
        except httpx.HTTPError as error:
            level.errors[type(error).__name__] += 1
            return
        finished = time.perf_counter()
        client.cookies.clear()
        if not measure_from <= finished <= until:
            return
        if response.status_code == 200:
            level.latencies.append(finished - scheduled)
        else:
            level.errors[f"HTTP {response.status_code}"] += 1

    tasks = []
    try:
        t0 = time.perf_counter()
        for i in itertools.count():
            scheduled = t0 + i / rate
            if scheduled >= until:
                break
            await asyncio.sleep(max(scheduled - time.perf_counter(), 0))
            tasks.append(asyncio.create_task(one(clients[i % len(clients)], emails[i % len(emails)], scheduled)))
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for client in clients:
            await client.aclose()


async def probe_health(client: httpx.AsyncClient, until: float, measure_from: float, level: Level) -> None:
    while time.perf_counter() < until:
        started = time.perf_counter()
        response = await client.get("/health")
        if started >= measure_from and response.status_code == 200:
            level.health.append(time.perf_counter() - started)
        await asyncio.sleep(HEALTH_PROBE_INTERVAL)


async def run_level(
    stack: IdentityStack,
    probe: httpx.AsyncClient,
    emails: Sequence[str],
    args: argparse.Namespace,
    concurrency: int = 0,
    rate: float = 0.0,
) -> Level:
    """A closed loop of `concurrency` clients, or (with `rate`) an open loop of `rate` logins per second."""
    level = Level(concurrency, args.seconds, rate, replicas=len(stack.processes))
    urls = [p.url for p in stack.processes]
    measure_from = time.perf_counter() + args.warmup_seconds
    until = measure_from + args.seconds
    say(
        f"Load: {'closed loop of ' if concurrency else 'open loop, '}{level.label} on {len(urls)} identity "
        f"process(es), {args.warmup_seconds:g} s warm-up + {args.seconds:g} s measured …"
    )
    clients = (
        [
            asyncio.create_task(login_loop(urls[i % len(urls)], emails[i % len(emails)], until, measure_from, level))
            for i in range(concurrency)
        ]
        if concurrency
        else [asyncio.create_task(open_loop(urls, emails, rate, until, measure_from, level))]
    )
    health = asyncio.create_task(probe_health(probe, until, measure_from, level))
    await asyncio.sleep(max(measure_from - time.perf_counter(), 0))
    cpu_before, (busy_before, _), db_before = stack.cpu_seconds(), machine_cpu(), stack.database_cpu()
    own_before, wall_before = time.process_time(), time.perf_counter()
    try:
        while time.perf_counter() < until:
            await asyncio.sleep(min(5.0, max(until - time.perf_counter(), 0)))
            so_far = time.perf_counter() - measure_from
            done = len(level.latencies)
            say(f"  {min(so_far, args.seconds):.0f} s: {done} logins ({done / so_far:.1f}/s)")
        cpu_after, (busy_after, _), db_after = stack.cpu_seconds(), machine_cpu(), stack.database_cpu()
        own_after, wall_after = time.process_time(), time.perf_counter()
        await asyncio.gather(*clients, health)
    finally:
        for task in (*clients, health):
            task.cancel()
        await asyncio.gather(*clients, health, return_exceptions=True)
    wall = wall_after - wall_before
    if cpu_before is not None and cpu_after is not None:
        level.identity_cpu = cpu_after - cpu_before
    level.machine_busy = (busy_after - busy_before) / wall
    level.client_cpu = own_after - own_before
    level.database_cpu = sum(after - db_before.get(pid, 0.0) for pid, after in db_after.items())
    return level


async def benchmark(stack: IdentityStack, args: argparse.Namespace) -> tuple[str, bool]:
    levels: list[Level] = []
    # One account per closed-loop client, and for the open loop enough that two logins of one account (which
    # queue behind each other on its back-off row) are rare even when answers take a second.
    accounts = args.accounts or max([*args.concurrency, *(math.ceil(2 * rate) for rate in args.rate)])
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
        pairs = new_pairs(accounts)
        emails = [unique_email(f"last{i}") for i in range(accounts)]
        say(f"Master data: publishing {accounts} meter points …")
        await publish_pairs(stack.kafka, pairs)
        say(f"Set-up: registering {accounts} accounts (access request → mail → password) …")
        await register_accounts(stack, client, dict(zip(emails, pairs, strict=True)))
        say("Baseline: argon2id verify in this process (50 times, then one thread per CPU) …")
        verify, parallel = await asyncio.to_thread(argon2_baseline)
        say("Baseline: GET /health (50 times, idle) …")
        health = await health_samples(client)
        background = await background_busy()
        say(f"Baseline: {background:.2f} CPUs busy while the benchmark sends nothing (other work on the machine)")
        for concurrency in args.concurrency:
            levels.append(await run_level(stack, client, emails, args, concurrency=concurrency))
        for rate in args.rate:
            levels.append(await run_level(stack, client, emails, args, rate=rate))
    return report(Baseline(verify, parallel, health, background), levels, accounts)


# --- the report -----------------------------------------------------------------------------------------


def report(baseline: Baseline, levels: Sequence[Level], accounts: int) -> tuple[str, bool]:
    verify_ms = median(baseline.verify) * 1000
    health_ms = median(baseline.health) * 1000
    cpus = os.cpu_count() or 1
    lines = [
        "",
        header_line("Identity login: correct logins (POST /sessions) under load"),
        f"  {accounts} accounts (closed loop: client i uses account i; open loop: round robin); "
        f"argon2id m={HASHER.memory_cost} KiB t={HASHER.time_cost} p={HASHER.parallelism}",
        "",
        "  baselines (same run):",
        f"    argon2id verify in this process: median {verify_ms:.1f} ms, p90 "
        f"{percentile(baseline.verify, 90) * 1000:.1f} ms (n={len(baseline.verify)}); "
        f"{baseline.parallel_rate:.0f} verifies/s with {cpus} threads (argon2 alone, whatever else runs)",
        f"    GET /health (idle): median {health_ms:.1f} ms, p90 {percentile(baseline.health, 90) * 1000:.1f} ms",
        f"    machine before the load: {baseline.background:.2f} of {cpus} CPUs busy with other work"
        + ("  ← figures skewed by other work" if baseline.background > 0.3 else ""),
        "",
        f"  {'load':>12}{'procs':>6}{'logins/s':>10}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}"
        f"{'÷verify':>9}{'÷health':>9}{'health@load':>13}{'N/X ms':>8}",
    ]
    ok = True
    for level in levels:
        ms = [t * 1000 for t in level.latencies]
        p50 = percentile(ms, 50)
        little = f"{level.concurrency / level.rate * 1000:.0f}" if level.rate and level.concurrency else "-"
        lines.append(
            f"  {level.label:>12}{level.replicas:>6}{level.rate:>10.1f}{p50:>9.1f}{percentile(ms, 90):>9.1f}"
            f"{percentile(ms, 99):>9.1f}{max(ms, default=float('nan')):>9.1f}{p50 / verify_ms:>8.1f}×"
            f"{p50 / health_ms:>8.1f}×{percentile(level.health, 50) * 1000:>10.1f} ms{little:>8}"
        )
        if level.errors or not ms:
            ok = False
    lines += [
        "",
        "  health@load: GET /health every 0.2 s during the load (median); N/X: clients ÷ logins/s, the mean latency "
        "by Little's law (closed loop). Open loop: latency counts from the scheduled send time.",
        "",
        "  where the CPU goes (ms of CPU time per login during the measured window):",
        f"  {'load':>12}{'identity':>10}{'its DB':>8}{'client':>8}{'rest':>8}{'CPUs busy':>11}",
    ]
    for level in levels:
        n = max(len(level.latencies), 1)
        identity = (level.identity_cpu or float("nan")) * 1000 / n
        database = level.database_cpu * 1000 / n
        client = level.client_cpu * 1000 / n
        rest = level.machine_busy * level.seconds * 1000 / n - identity - database - client
        lines.append(
            f"  {level.label:>12}{identity:>10.1f}{database:>8.1f}{client:>8.1f}{rest:>8.1f}"
            f"{level.machine_busy:>8.2f}/{cpus}"
        )
    lines += [
        "  identity: all identity processes; its DB: the PostgreSQL backends of identity's database; client: this "
        "process; rest: everything else on the machine (Kafka, other work).",
        "",
    ]
    for level in levels:
        p50 = percentile([t * 1000 for t in level.latencies], 50)
        lines.append(
            f"  {level.label}: target p50 ≤ {TARGET_P50_MS:.0f} ms: "
            f"{'MET' if p50 <= TARGET_P50_MS else 'MISSED'} ({p50:.0f} ms);  target ≥ {TARGET_RATE:.0f} logins/s: "
            f"{'MET' if level.rate >= TARGET_RATE else 'MISSED'} ({level.rate:.1f}/s)"
        )
        for error, count in level.errors.items():
            lines.append(f"    errors: {count} × {error}")
    return "\n".join(lines), ok


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.identity_login", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="measured duration per level (default 20)")
    parser.add_argument(
        "--concurrency",
        type=lambda text: [int(x) for x in text.split(",")],
        default=[8],
        help="concurrent clients; a list like 1,2,4,8 runs one level after the other (default 8)",
    )
    parser.add_argument(
        "--rate",
        type=lambda text: [float(x) for x in text.split(",")],
        default=[],
        help="after the closed-loop levels, open-loop levels at these logins/s (e.g. 40 or 20,40,60)",
    )
    parser.add_argument(
        "--accounts",
        type=int,
        default=0,
        help="accounts to register (default: the most clients, or 2 × the highest rate)",
    )
    parser.add_argument("--warmup-seconds", type=float, default=3.0, help="unmeasured load before each level")
    parser.add_argument(
        "--replicas",
        type=int,
        default=0,
        help="more identity processes (API only, same database); clients are spread over all (default 0)",
    )
    add_stack_arguments(parser)
    args = parser.parse_args(argv)
    if args.seconds <= 0 or min(args.concurrency, default=1) < 0 or args.accounts < 0 or args.replicas < 0:
        parser.error("--seconds must be positive, --concurrency, --accounts and --replicas not negative")
    if min(args.rate, default=1) <= 0:
        parser.error("--rate must be positive")
    args.concurrency = [c for c in args.concurrency if c > 0]  # --concurrency 0: open loop only
    if not args.concurrency and not args.rate:
        parser.error("nothing to run: give --concurrency or --rate")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    return main_with_stack(args, lambda stack: benchmark(stack, args), "identity-login", args.replicas)


if __name__ == "__main__":
    sys.exit(main())
