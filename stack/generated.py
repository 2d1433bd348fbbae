"""Files the project generates and commits (documents under docs/, web/tenants.json, …): which are stale,
write them, and the one command line `--write | --check` that stack.specs and stack.webconfig share."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from stack.paths import REPO_ROOT

Render = Callable[[], dict[Path, str]]


def stale(rendered: dict[Path, str]) -> list[Path]:
    """The files whose committed text differs from what would be generated (or that are missing)."""
    return [path for path, text in rendered.items() if not _has_text(path, text)]


def write(rendered: dict[Path, str]) -> list[Path]:
    """Writes the stale files; returns them. Never deletes (older schema versions stay)."""
    changed = stale(rendered)
    for path in changed:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rendered[path], encoding="utf-8")
    return changed


def main(prog: str, description: str, render: Render, argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="regenerate the stale files")
    mode.add_argument("--check", action="store_true", help="exit 1 and list the stale files")
    args = parser.parse_args(argv)
    if args.write:
        changed = _relative(write(render()))
        print("\n".join(f"geschrieben: {path}" for path in changed) or "Alles aktuell.")
        return 0
    outdated = _relative(stale(render()))
    if outdated:
        print(f"Veraltet ({prog} --write):", *outdated, sep="\n  ", file=sys.stderr)
        return 1
    print("Alles aktuell.")
    return 0


def _has_text(path: Path, text: str) -> bool:
    try:
        return path.read_text(encoding="utf-8") == text
    except FileNotFoundError:
        return False


def _relative(paths: Iterable[Path]) -> list[str]:
    return [str(path.relative_to(REPO_ROOT)) for path in paths]
