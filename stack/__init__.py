"""Runs the platform's infrastructure (Kafka, PostgreSQL) as plain local processes, without Docker.

`plusportal-stack` (stack.cli) is the operator's entry point; stack.fixtures gives tests the same servers.
This module holds the few helpers every part shares: the error type and the progress output.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

Reporter = Callable[[str], None]


class StackError(RuntimeError):
    """A server could not be set up; the message says what went wrong and what the operator can do."""


def say(message: str) -> None:
    """Default progress output: one flushed line on stdout, so slow steps show up while they run."""
    print(message, file=sys.stdout, flush=True)


class Stage:
    """Prints a line when a slow step begins and one with the elapsed seconds when it ends.

    Usage: `with Stage(report, "Kafka: Jars werden geladen"):` ... prints "…" then "… fertig (<Sekunden> s)".
    """

    def __init__(self, report: Reporter, label: str) -> None:
        self._report = report
        self._label = label
        self._started = 0.0

    def __enter__(self) -> Stage:
        self._started = time.monotonic()
        self._report(f"{self._label} …")
        return self

    def elapsed(self) -> float:
        return time.monotonic() - self._started

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        outcome = "fertig" if exc_type is None else "fehlgeschlagen"
        self._report(f"{self._label}: {outcome} ({self.elapsed():.1f} s)")


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Runs a coroutine to completion from synchronous code.

    The servers' start() methods are synchronous (CLI, pytest session fixtures) but check readiness with
    asyncio clients. When the caller already runs an event loop, asyncio.run() would refuse, so the
    coroutine then gets its own loop on a helper thread.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    result: list[T] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(coro))
        except BaseException as exc:  # handed over to the calling thread below
            error.append(exc)

    thread = threading.Thread(target=target, name="stack-run-sync")
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    """True if something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (the OS picks it); free-ish: it could be taken before use."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def shown(path: Path) -> str:
    """`path` relative to the working directory when below it (shorter, and what people type)."""
    with contextlib.suppress(ValueError):
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    return str(path)


def tail(text: str, lines: int = 20) -> str:
    """The last `lines` lines of `text`: enough of a log for an error message."""
    return "\n".join(text.strip().splitlines()[-lines:])


def tail_file(path: Path, lines: int = 20) -> str:
    try:
        return tail(path.read_text(errors="replace"), lines)
    except OSError:
        return "(keine Datei)"
