"""The chaos run's short version (benchmarks/chaos.py): forms and readings under load while a service, the
broker and PostgreSQL are killed with SIGKILL and restarted, and meter data's database connections are cut
mid-batch. Nothing may be lost or doubled, no consumer group stuck, and every fault must recover.

Its own Kafka and PostgreSQL, because it kills them.
"""

import asyncio
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from benchmarks.chaos import ChaosPlan, run_chaos, start_chaos_stack

pytestmark = pytest.mark.stack


@pytest.fixture
def chaos_root() -> Iterator[Path]:
    """A temp dir the postgres user can pass through when we are root (pytest's own are mode 0700)."""
    with tempfile.TemporaryDirectory(prefix="plusportal-chaos-") as folder:
        Path(folder).chmod(0o755)
        yield Path(folder)


async def test_killed_parts_recover_and_nothing_is_lost_or_doubled(chaos_root: Path) -> None:
    plan = ChaosPlan(
        forms_per_second=1,
        duration=60,
        readings_per_second=5 * 96,  # five day messages a second: 300 messages, 28,800 quarter-hour values
        faults=("letters", "kafka", "postgres", "connection-cut"),
        recovery_timeout=90,
        settle_timeout=120,
    )
    with ExitStack() as cleanup:
        stack = await asyncio.to_thread(start_chaos_stack, chaos_root, cleanup)
        report = await run_chaos(stack, plan)
    print(report.text())
    assert [outcome.fault for outcome in report.outcomes] == list(plan.faults)
    assert all(outcome.recovered_at is not None for outcome in report.outcomes), report.text()
    assert report.stuck is None, report.text()
    assert (report.lost, report.doubled) == (0, 0), report.text()
    assert report.totals.forms_accepted == report.totals.forms_sent > 0
    assert report.totals.copy_emails == report.totals.letters == report.totals.printed == report.totals.forms_sent
    assert report.totals.messages_stored == report.totals.messages_sent > 0
    assert report.totals.wh_stored == report.totals.wh_sent
    assert not report.exits and not report.problems, report.text()
