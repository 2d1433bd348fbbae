"""A real PostgreSQL server from the distribution's binaries, run as a plain local process.

PostgreSQL refuses to run as root, so when we are root every server command runs as the `postgres`
user (runuser). That user must be able to reach the data directory: below a private home (e.g. /root,
mode 700) it cannot, and the data then lives in /tmp/plusportal-postgres-<port> instead.

Layout (below `<var>/postgres/` or the /tmp fallback):
    data/           the cluster (initdb), owned by the server's user; data/plusportal.conf holds our settings
    postgres.log    the server's log
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import re
import shutil
import subprocess
from functools import cached_property
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from stack import Reporter, StackError, Stage, port_open, run_sync, say, tail, tail_file

SUPERUSER = "plusportal"  # initdb's superuser; every service connects as this (trust, loopback only)
SERVICE_ACCOUNT = "postgres"  # who runs the server when we are root (created by Debian's package)
INSTALL_POSTGRES = "PostgreSQL-Server fehlt: apt-get install -y postgresql"
CONF_NAME = "plusportal.conf"
# Unix socket paths are limited to 107 bytes; ".s.PGSQL.<port>" needs room after the directory.
MAX_SOCKET_DIR_LEN = 80
DB_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class PostgresServer:
    """One local PostgreSQL cluster; the CLI and the test fixtures drive it through this class."""

    def __init__(self, var_dir: Path, port: int = 55432, *, report: Reporter = say) -> None:
        self.var_root = Path(var_dir) / "postgres"
        self.port = port
        self._report = report

    # --- where things are ---------------------------------------------------------------------

    @cached_property
    def root(self) -> Path:
        """`<var>/postgres`, or the /tmp fallback when the server's user cannot reach it."""
        if self._reachable_by_service_account(self.var_root):
            return self.var_root
        fallback = Path(f"/tmp/plusportal-postgres-{self.port}")
        self._report(
            f"PostgreSQL: Benutzer {SERVICE_ACCOUNT} kann {self.var_root} nicht erreichen "
            f"(ein übergeordneter Ordner ist gesperrt); Daten liegen daher in {fallback}."
        )
        return fallback

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        return self.root / "postgres.log"

    @cached_property
    def bin_dir(self) -> Path:
        return find_bin_dir()

    def url(self, database: str) -> str:
        """SQLAlchemy URL of `database` on this server (asyncpg driver)."""
        return f"postgresql+asyncpg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    # --- lifecycle ----------------------------------------------------------------------------

    def is_running(self) -> bool:
        return self.pid() is not None

    def pid(self) -> int | None:
        """The postmaster's pid per `pg_ctl status`, None if this data dir's server is not running."""
        if not (self.data_dir / "PG_VERSION").exists():
            return None
        done = self._run(["pg_ctl", "status", "-D", str(self.data_dir)], check=False)
        match = re.search(r"PID: (\d+)", done.stdout)
        return int(match.group(1)) if done.returncode == 0 and match else None

    def start(self, timeout: float = 30) -> None:
        """Initialises the cluster on first start, starts it and waits until a client can connect.

        Idempotent: if this data dir's server already runs, only waits for it to answer.
        """
        if self.is_running():
            self._report(f"PostgreSQL läuft bereits (pid {self.pid()}, 127.0.0.1:{self.port}).")
        else:
            self._check_port_free()
            if not (self.data_dir / "PG_VERSION").exists():
                self._initdb()
            self._write_settings()
            self._prepare_log_file()
            with Stage(self._report, f"PostgreSQL: Start auf 127.0.0.1:{self.port}"):
                self._pg_ctl_start(timeout)
        run_sync(wait_for_postgres(self.url("postgres"), timeout))
        self._report(f"PostgreSQL bereit: 127.0.0.1:{self.port}, Daten {self.data_dir}, Log {self.log_file}")

    def stop(self, timeout: float = 30) -> bool:
        """Stops the server (fast shutdown: aborts open transactions). False if it did not run."""
        if not self.is_running():
            return False
        with Stage(self._report, "PostgreSQL: Stopp"):
            stop = ["pg_ctl", "stop", "-D", str(self.data_dir), "-w", "-t", str(int(timeout))]
            done = self._run([*stop, "-m", "fast"], check=False)
            if done.returncode != 0 and self.is_running():
                self._report("PostgreSQL: fast shutdown hat nicht gereicht, immediate.")
                self._run([*stop, "-m", "immediate"], check=True)
        return True

    def wipe(self) -> None:
        """Stops the server and deletes the cluster and its log (every database)."""
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self.log_file.unlink(missing_ok=True)

    async def create_database(self, name: str) -> str:
        """Creates database `name` unless it exists; returns its URL."""
        await ensure_database(self.url("postgres"), name)
        return self.url(name)

    # --- start helpers ------------------------------------------------------------------------

    def _check_port_free(self) -> None:
        if port_open(self.port):
            raise StackError(
                f"Port {self.port} ist schon belegt, aber nicht von PostgreSQL aus {self.data_dir}. "
                f"Den anderen Prozess beenden (ss -ltnp 'sport = :{self.port}') oder anderen Port wählen."
            )

    def _initdb(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)  # the server refuses group/world-accessible data directories
        self._hand_over(self.data_dir)
        with Stage(self._report, f"PostgreSQL: Cluster wird angelegt in {self.data_dir}"):
            initdb = [
                "initdb", "-D", str(self.data_dir), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8",
                "--no-sync",  # a dev/test cluster: a crash during init just means `wipe` and retry
            ]  # fmt: skip
            done = self._run([*initdb, "--locale=C.UTF-8"], check=False)
            if done.returncode != 0:
                # Older or minimal systems lack the C.UTF-8 locale; plain C sorts bytewise, also fine here.
                self._empty_data_dir()
                self._run([*initdb, "--locale=C"], check=True)
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write(f"\n# Plusportal stack settings, rewritten on every start:\ninclude = '{CONF_NAME}'\n")

    def _write_settings(self) -> None:
        """(Re)writes our settings, so a changed port or socket dir applies to an existing cluster."""
        settings = {
            "listen_addresses": "'127.0.0.1'",  # trust authentication: never reachable from the network
            "port": str(self.port),
            "unix_socket_directories": f"'{self._socket_dir()}'",
            "shared_buffers": "256MB",
            "max_connections": "200",  # every service instance keeps a pool; tests run many services
        }
        conf = self.data_dir / CONF_NAME
        conf.write_text("".join(f"{key} = {value}\n" for key, value in settings.items()))
        self._hand_over(conf)

    def _socket_dir(self) -> Path:
        return self.data_dir if len(str(self.data_dir)) <= MAX_SOCKET_DIR_LEN else Path("/tmp")

    def _prepare_log_file(self) -> None:
        # pg_ctl opens the log as the server's user, who may not write into our (root-owned) folder.
        self.log_file.touch()
        self._hand_over(self.log_file)

    def _pg_ctl_start(self, timeout: float) -> None:
        command = [
            "pg_ctl", "start", "-D", str(self.data_dir), "-l", str(self.log_file),
            "-w", "-t", str(int(timeout)),
        ]  # fmt: skip
        done = self._run(command, check=False)
        if done.returncode != 0:
            raise StackError(
                f"PostgreSQL startet nicht (Exit {done.returncode}):\n{tail(done.stdout + done.stderr)}\n"
                f"--- {self.log_file} ---\n{tail_file(self.log_file)}\n"
                "Bei kaputten Daten hilft `plusportal-stack postgres wipe`."
            )

    def _empty_data_dir(self) -> None:
        for child in self.data_dir.iterdir():
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()

    # --- running as the service account -------------------------------------------------------

    @staticmethod
    def _as_root() -> bool:
        return os.geteuid() == 0

    def _prefix(self) -> list[str]:
        """Command prefix that runs a server tool as the right user."""
        if not self._as_root():
            return []
        runuser = shutil.which("runuser")
        if runuser is None:
            raise StackError("runuser fehlt (util-linux): apt-get install -y util-linux")
        _service_account()  # fails with a clear message if the user does not exist
        return [runuser, "-u", SERVICE_ACCOUNT, "--"]

    def _run(self, command: list[str], *, check: bool) -> subprocess.CompletedProcess[str]:
        tool = str(self.bin_dir / command[0])
        # cwd "/": the service account may not be allowed into our working directory.
        done = subprocess.run(
            [*self._prefix(), tool, *command[1:]], capture_output=True, text=True, check=False, cwd="/"
        )
        if check and done.returncode != 0:
            raise StackError(
                f"`{' '.join(command)}` ist fehlgeschlagen (Exit {done.returncode}):\n{tail(done.stdout + done.stderr)}"
            )
        return done

    def _hand_over(self, path: Path) -> None:
        """Gives `path` to the service account when we run the server under it."""
        if self._as_root():
            account = _service_account()
            os.chown(path, account.pw_uid, account.pw_gid)

    def _reachable_by_service_account(self, folder: Path) -> bool:
        """True unless we are root and the postgres user cannot traverse every parent of `folder`."""
        folder.mkdir(parents=True, exist_ok=True)
        if not self._as_root():
            return True
        folder.chmod(0o755)  # ours; the user only needs to pass through to data/
        # `test -x` calls access(), which needs search permission on every path component.
        done = subprocess.run([*self._prefix(), "test", "-x", str(folder)], check=False, cwd="/")
        return done.returncode == 0


def find_bin_dir(search_root: Path = Path("/usr/lib/postgresql")) -> Path:
    """The newest PostgreSQL server binaries: <search_root>/<version>/bin, else `pg_config --bindir`."""
    candidates = sorted(
        (path for path in search_root.glob("*/bin") if (path / "initdb").exists()),
        key=lambda path: _version_key(path.parent.name),
    )
    if candidates:
        return candidates[-1]
    pg_config = shutil.which("pg_config")
    if pg_config:
        done = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        bin_dir = Path(done.stdout.strip())
        if done.returncode == 0 and (bin_dir / "initdb").exists():
            return bin_dir
    raise StackError(INSTALL_POSTGRES)


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", name))


def _service_account() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(SERVICE_ACCOUNT)
    except KeyError:
        raise StackError(f"Benutzer {SERVICE_ACCOUNT} fehlt. {INSTALL_POSTGRES} (legt ihn an)") from None


# --- URLs and databases (work with any server: local, testcontainers, PLUSPORTAL_DATABASE_URL) ---


def asyncpg_dsn(url: str) -> str:
    """A libpq-style DSN asyncpg accepts: the SQLAlchemy driver suffix (`+asyncpg`) removed."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme=parts.scheme.split("+", 1)[0]))


def with_database(url: str, database: str) -> str:
    """`url` pointing at `database` instead of the database it names."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


def check_database_name(name: str) -> str:
    """Database names are interpolated into CREATE DATABASE: allow only plain identifiers."""
    if not DB_NAME.match(name):
        raise ValueError(f"Unzulässiger Datenbankname {name!r}: nur Buchstaben, Ziffern, _ (max. 63).")
    return name


async def ensure_database(server_url: str, name: str) -> None:
    """Creates database `name` on the server of `server_url` unless it exists (safe to call concurrently)."""
    check_database_name(name)
    connection = await asyncpg.connect(asyncpg_dsn(with_database(server_url, "postgres")))
    try:
        if await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            return
        # A concurrent caller may create it between our check and our CREATE.
        with contextlib.suppress(asyncpg.DuplicateDatabaseError):
            await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


# A timeout parameter (not asyncio.timeout around the call): the error then names the last failure.
async def wait_for_postgres(url: str, timeout: float = 30) -> None:
    """Returns once `SELECT 1` works on `url`; StackError after `timeout` s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            connection = await asyncpg.connect(asyncpg_dsn(url), timeout=max(deadline - loop.time(), 1))
            try:
                await connection.fetchval("SELECT 1")
                return
            finally:
                await connection.close()
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            if loop.time() >= deadline:
                message = f"PostgreSQL unter {url} antwortet nicht nach {timeout:.0f} s ({exc!r})."
                raise StackError(message) from exc
        await asyncio.sleep(0.2)
