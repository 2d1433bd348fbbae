"""Can an outsider tell from identity's answers whether an e-mail, a pair or a login exists? Status, body and time.

    python -m benchmarks.identity_enumeration [--samples 200] [--warmup 20] [--gap-ms 25]
                                              [--kafka HOST:PORT --database-url URL] [--keep-logs]

Starts its own stack (Kafka, PostgreSQL, mail sink, identity) unless servers are given, registers one account
through the real journey (master data → access request → link from the mail sink → password) and publishes
master data for a second, unlinked pair and for one fresh pair per "first request" sample. Then it takes
timed samples of pairs of cases that must look alike, interleaved: every round sends one request of every case
(and a GET /health as the baseline) in a random order, with a short pause between requests.

Exit status: 0 when every request got its expected status (whether or not the targets are met), 1 on errors
(unexpected statuses, a stack that does not start), 130 when interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from benchmarks._stack import (
    HOST,
    PASSWORD,
    BenchmarkError,
    IdentityStack,
    Pair,
    access_form,
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

TARGET_MS = 5.0
WRONG_PASSWORD = "Sonnenblumen am Deich 2025"  # the right one but for the year: a realistic typo
# The per-e-mail back-off (services/identity/domain.py FREE_LOGIN_FAILURES = 5) answers 429 from the fifth
# wrong password on. The known account's counter is reset by a correct (untimed) login before it gets there.
FAILURES_BEFORE_RESET = 4
IGNORED_HEADERS = {"date"}


@dataclass
class Case:
    label: str
    method: str
    path: str
    expected: int
    body: Callable[[], dict[str, Any] | None]  # a new body per request (fresh e-mails, fresh pairs)
    # > 1: the same request this many times at once (a double click, a parallel guess); the time is until the
    # last answer, and any status counts as a result (a finding), not as an error of the benchmark
    parallel: int = 1
    times: list[float] = field(default_factory=list)  # seconds, measured samples only
    statuses: Counter[int | str] = field(default_factory=Counter)
    bodies: set[bytes] = field(default_factory=set)
    headers: set[tuple[tuple[str, str], ...]] = field(default_factory=set)
    unexpected: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Comparison:
    title: str
    a: Case
    b: Case


@dataclass
class Setup:
    known_email: str
    pair_b: Pair  # valid, never linked
    resend_email: str  # asked once for pair_b in the set-up: every measured request with it is a resend
    fresh_pairs: list[Pair]  # one per "first request" sample, never asked before


async def set_up(stack: IdentityStack, client: httpx.AsyncClient, rounds: int) -> Setup:
    pair_a, pair_b, *fresh = new_pairs(2 + rounds)
    say(f"Master data: publishing {len(fresh) + 2} meter points and waiting until identity has read them …")
    await publish_pairs(stack.kafka, [pair_a, pair_b, *fresh])
    known = unique_email("bekannt")
    resend = unique_email("nochmal")
    say("Set-up: registering the known account (access request → mail → password) …")
    await register_accounts(stack, client, {known: pair_a})
    response = await client.post("/sessions", headers=HOST, json={"email": known, "password": PASSWORD})
    if response.status_code != 200:
        raise BenchmarkError(f"the registered account cannot log in: HTTP {response.status_code} {response.text[:200]}")
    client.cookies.clear()
    first = await client.post("/access-requests", headers=HOST, json=access_form(pair_b, resend))
    if first.status_code != 202:
        raise BenchmarkError(f"first access request for the resend case: HTTP {first.status_code}")
    say(f"Set-up: known e-mail {known} linked to {pair_a.partner_number}; {pair_b.partner_number} stays unlinked.")
    return Setup(known, pair_b, resend, fresh)


def cases(setup: Setup) -> tuple[list[Comparison], Case]:
    fresh = iter(setup.fresh_pairs)
    b = setup.pair_b

    def wrong_partner() -> dict[str, Any]:
        # The meter is right, the partner number is not (a typo, or a guess).
        partner = f"9{random.randrange(10**10, 10**11)}"
        return access_form(Pair(b.meter_number, partner), unique_email("anfrage"))

    def access(label: str, body: Callable[[], dict[str, Any]]) -> Case:
        return Case(label, "POST", "/access-requests", 202, body)

    def login(label: str, body: Callable[[], dict[str, Any]]) -> Case:
        return Case(label, "POST", "/sessions", 401, body)

    def reset(label: str, body: Callable[[], dict[str, Any]]) -> Case:
        return Case(label, "POST", "/password-resets", 202, body)

    comparisons = [
        Comparison(
            "access request: valid pair vs invalid pair",
            access("valid pair", lambda: access_form(b, unique_email("anfrage"))),
            access("invalid pair", wrong_partner),
        ),
        Comparison(
            "access request: known vs unknown e-mail",
            access("known e-mail", lambda: access_form(b, setup.known_email)),
            access("unknown e-mail", lambda: access_form(b, unique_email("anfrage"))),
        ),
        Comparison(
            "login: known e-mail + wrong password vs unknown e-mail",
            login("known e-mail, wrong password", lambda: {"email": setup.known_email, "password": WRONG_PASSWORD}),
            login("unknown e-mail", lambda: {"email": unique_email("niemand"), "password": WRONG_PASSWORD}),
        ),
        Comparison(
            "login, the same attempt twice at once: known e-mail (has a back-off row) vs unknown e-mail",
            Case(
                "known e-mail, wrong password ×2",
                "POST",
                "/sessions",
                401,
                lambda: {"email": setup.known_email, "password": WRONG_PASSWORD},
                parallel=2,
            ),
            Case(
                "unknown e-mail ×2",
                "POST",
                "/sessions",
                401,
                lambda: {"email": unique_email("niemand"), "password": WRONG_PASSWORD},
                parallel=2,
            ),
        ),
        Comparison(
            "password reset request: known vs unknown e-mail",
            reset("known e-mail", lambda: {"email": setup.known_email}),
            reset("unknown e-mail", lambda: {"email": unique_email("niemand")}),
        ),
        Comparison(
            "access request: resend vs first request",
            access("resend (same pair, same e-mail)", lambda: access_form(b, setup.resend_email)),
            access("first request (fresh pair)", lambda: access_form(next(fresh), unique_email("erst"))),
        ),
    ]
    health = Case("GET /health", "GET", "/health", 200, lambda: None)
    return comparisons, health


async def send(client: httpx.AsyncClient, case: Case, measured: bool) -> None:
    body = case.body()  # built before the clock starts
    started = time.perf_counter()
    if case.parallel == 1:
        answers: list[httpx.Response | BaseException] = [
            await client.request(case.method, case.path, headers=HOST, json=body)
        ]
    else:
        answers = await asyncio.gather(
            *(client.request(case.method, case.path, headers=HOST, json=body) for _ in range(case.parallel)),
            return_exceptions=True,
        )
    elapsed = time.perf_counter() - started
    client.cookies.clear()  # no session or device cookie ever travels with the next request
    for answer in answers:
        if not isinstance(answer, httpx.Response):
            if not isinstance(answer, httpx.TransportError):
                raise answer
            if measured:
                case.statuses[type(answer).__name__] += 1
            continue
        if answer.status_code != case.expected and case.parallel == 1:
            case.unexpected.append(f"{case.label}: HTTP {answer.status_code} {answer.text[:160]}")
        if measured:
            case.statuses[answer.status_code] += 1
            case.bodies.add(answer.content)
            case.headers.add(tuple(sorted((k, v) for k, v in answer.headers.items() if k not in IGNORED_HEADERS)))
    if measured:
        case.times.append(elapsed)


async def run_samples(
    client: httpx.AsyncClient, setup: Setup, all_cases: Sequence[Case], args: argparse.Namespace
) -> None:
    rounds = args.warmup + args.samples
    known_wrong = [c for c in all_cases if c.path == "/sessions" and c.label.startswith("known")]
    per_round = sum(c.parallel for c in known_wrong)
    failures = 0
    started = time.perf_counter()
    say(f"Sampling: {args.warmup} warm-up rounds, then {args.samples} measured rounds of {len(all_cases)} requests …")
    for index in range(rounds):
        measured = index >= args.warmup
        order = list(all_cases)
        random.shuffle(order)  # no case always follows the same neighbour (and its background work)
        for case in order:
            await send(client, case, measured)
            if case in known_wrong:
                failures += case.parallel
            await asyncio.sleep(args.gap_ms / 1000)
        if failures + per_round > FAILURES_BEFORE_RESET:  # the next round would reach the back-off
            reset = await client.post(
                "/sessions", headers=HOST, json={"email": setup.known_email, "password": PASSWORD}
            )
            client.cookies.clear()
            if reset.status_code != 200:
                raise BenchmarkError(f"the resetting login failed: HTTP {reset.status_code} {reset.text[:160]}")
            failures = 0
            await asyncio.sleep(args.gap_ms / 1000)
        done = index + 1
        if done % 20 == 0 or done == rounds:
            phase = "warm-up" if not measured else f"{done - args.warmup}/{args.samples} measured"
            say(f"  round {done}/{rounds} ({phase}), {time.perf_counter() - started:.0f} s")


async def benchmark(stack: IdentityStack, args: argparse.Namespace) -> tuple[str, bool]:
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
        setup = await set_up(stack, client, args.warmup + args.samples)
        comparisons, health = cases(setup)
        background = await background_busy()
        say(f"Machine: {background:.2f} CPUs busy while the benchmark sends nothing (other work)")
        all_cases = [case for c in comparisons for case in (c.a, c.b)] + [health]
        busy_before, _ = machine_cpu()
        started = time.perf_counter()
        await run_samples(client, setup, all_cases, args)
        busy = (machine_cpu()[0] - busy_before) / (time.perf_counter() - started)
    return report(comparisons, health, args, background, busy)


# --- the report -----------------------------------------------------------------------------------------


def bootstrap_interval(a: Sequence[float], b: Sequence[float], rounds: int = 2000) -> tuple[float, float]:
    """95 % interval of median(a) − median(b) by resampling both (seconds)."""
    rng = random.Random(20260328)
    diffs = sorted(median(rng.choices(a, k=len(a))) - median(rng.choices(b, k=len(b))) for _ in range(rounds))
    return diffs[int(0.025 * rounds)], diffs[int(0.975 * rounds) - 1]


def statuses(case: Case) -> str:
    return " ".join(f"{code}×{n}" for code, n in sorted(case.statuses.items(), key=lambda item: str(item[0])))


def case_row(case: Case, health_ms: float) -> str:
    ms = [t * 1000 for t in case.times]
    p50, p90 = percentile(ms, 50), percentile(ms, 90)
    return f"    {case.label:<34}{statuses(case):>20}{p50:>9.2f}{p90:>9.2f}{p50 / health_ms:>9.2f}×"


def report(
    comparisons: Sequence[Comparison], health: Case, args: argparse.Namespace, background: float, busy: float
) -> tuple[str, bool]:
    health_ms = median(health.times) * 1000
    problems = [u for c in comparisons for case in (c.a, c.b, health) for u in case.unexpected]
    lines = [
        "",
        header_line(f"Identity: do alike outcomes look alike? {args.samples} interleaved samples per case"),
        f"  (after {args.warmup} warm-up rounds; {args.gap_ms:g} ms pause between requests; times are client-side,"
        " from just before the request to the full answer)",
        f"  machine: {background:.2f} CPUs busy with other work before sampling, {busy:.2f} during it"
        f" (of {os.cpu_count()})",
        "",
        f"    {'case':<34}{'status':>20}{'p50 ms':>9}{'p90 ms':>9}{'÷health':>10}",
        case_row(health, health_ms),
    ]
    verdicts = []
    for comparison in comparisons:
        a, b = comparison.a, comparison.b
        diff = (median(a.times) - median(b.times)) * 1000
        low, high = (x * 1000 for x in bootstrap_interval(a.times, b.times))
        same_body = len(a.bodies | b.bodies) == 1
        same_headers = len(a.headers | b.headers) == 1
        same_status = set(a.statuses) == set(b.statuses) == {a.expected}
        met = abs(diff) < TARGET_MS and same_body and same_status
        verdicts.append(met)
        lines += [
            "",
            f"  {comparison.title}",
            case_row(a, health_ms),
            case_row(b, health_ms),
            f"    status codes alike: {'yes' if same_status else 'NO'};  bodies byte-identical: "
            f"{'yes' if same_body else f'NO ({len(a.bodies | b.bodies)} variants)'};  headers alike (but Date): "
            f"{'yes' if same_headers else 'NO'}",
            f"    difference of medians {diff:+.2f} ms (95 % bootstrap interval {low:+.2f} … {high:+.2f})"
            f"  →  target < {TARGET_MS:g} ms: {'MET' if met else 'MISSED'}",
        ]
    lines += [
        "",
        f"  {sum(verdicts)} of {len(verdicts)} pairs look alike (same status, same bytes, medians < {TARGET_MS:g} ms "
        "apart).",
        "  Login cases: the unknown e-mail is a fresh one per sample; the known account's back-off counter is reset "
        f"by an untimed correct login before it reaches {FAILURES_BEFORE_RESET + 1} wrong passwords, so both cases "
        "should answer 401. '×2': the same request sent twice at once, timed until the second answer.",
    ]
    if problems:
        lines += ["", f"  {len(problems)} unexpected answers, first: {problems[0]}"]
    return "\n".join(lines), not problems


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.identity_enumeration", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--samples", type=int, default=200, help="measured samples per case (default 200)")
    parser.add_argument("--warmup", type=int, default=20, help="rounds before the measurement (default 20)")
    parser.add_argument(
        "--gap-ms", type=float, default=25.0, help="pause after each request, for the background work (default 25)"
    )
    add_stack_arguments(parser)
    args = parser.parse_args(argv)
    if args.samples < 10 or args.warmup < 0 or args.gap_ms < 0:
        parser.error("--samples must be at least 10, --warmup and --gap-ms not negative")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    return main_with_stack(args, lambda stack: benchmark(stack, args), "identity-enumeration")


if __name__ == "__main__":
    sys.exit(main())
