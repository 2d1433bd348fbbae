"""Run Plusportal's service processes: used by the run command (`make up`) and by the tests.

Each service is a real process (`python -m services.<name>.app`) configured by environment
variables, with its output in a log file. ``kill()`` is SIGKILL, for crash tests.
"""

import os
import shlex
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from stack.kafka import die_with_parent
from stack.paths import REPO_ROOT

START_MARKER = "===== Start"  # written into the log before each start, so a reader can take this run's lines


@dataclass
class ServiceProcess:
    name: str
    command: str | tuple[str, ...]  # Python arguments: "-m services.onboarding.app" or a tuple of them
    env: dict[str, str]
    log_path: Path
    port: int | None = None
    # Own session: Ctrl-C in a terminal reaches only the runner, which then stops processes in order.
    own_session: bool = False
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, extra_env: dict[str, str] | None = None, wait: bool = True, timeout: float = 60) -> None:
        env = {**os.environ, **self.env, **(extra_env or {})}
        if self.port is not None:
            env["PLUSPORTAL_HTTP_PORT"] = str(self.port)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        argv = shlex.split(self.command) if isinstance(self.command, str) else list(self.command)
        with self.log_path.open("ab") as log:
            log.write(f"\n{START_MARKER} {datetime.now().isoformat(timespec='seconds')} =====\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                [sys.executable, *argv],
                cwd=REPO_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=self.own_session,
                preexec_fn=die_with_parent(),  # a killed runner leaves no service behind
            )
        if wait and self.port is not None:
            self.wait_healthy(timeout)

    def wait_healthy(self, timeout: float = 60, *, need_kafka: bool = True) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process and self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}; see {self.log_path}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as response:
                    body = response.read().decode()
                if not need_kafka or '"kafka":true' in body.replace(" ", ""):
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"{self.name} not healthy after {timeout} s; see {self.log_path}")

    def stop(self, timeout: float = 15) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process = None

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


def service_env(
    *, kafka: str, database_url: str | None, smtp_port: int, extra: dict[str, str] | None = None
) -> dict[str, str]:
    env = {
        "PLUSPORTAL_KAFKA_BOOTSTRAP": kafka,
        "PLUSPORTAL_SMTP_HOST": "127.0.0.1",
        "PLUSPORTAL_SMTP_PORT": str(smtp_port),
        "PLUSPORTAL_LOG_JSON": "true",
        "PYTHONUNBUFFERED": "1",
    }
    if database_url:
        env["PLUSPORTAL_DATABASE_URL"] = database_url
    return {**env, **(extra or {})}
