"""Where the stack keeps its files.

Everything a local server writes (jars, data, logs, pid files) lives below one "var" directory, which
is ignored by git. `PLUSPORTAL_VAR` moves it, e.g. to a bigger disk or a per-worktree location.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT: Path = Path(__file__).resolve().parent.parent
DEPLOY_DIR: Path = REPO_ROOT / "deploy"
KAFKA_DEPLOY_DIR: Path = DEPLOY_DIR / "kafka"

VAR_ENV = "PLUSPORTAL_VAR"


def var_dir() -> Path:
    """The var directory: `$PLUSPORTAL_VAR` if set, else `<repo>/var`."""
    configured = os.environ.get(VAR_ENV)
    return Path(configured).expanduser().resolve() if configured else REPO_ROOT / "var"


def kafka_libs_dir(var: Path | None = None) -> Path:
    """Where Maven puts Kafka's jars; shared by the CLI's broker and the brokers tests start."""
    return (var if var is not None else var_dir()) / "kafka" / "libs"
