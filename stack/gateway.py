"""The gateway: nginx as the single origin of the portal (web UI + every service's API), run unprivileged.

The configuration lives in `deploy/nginx/plusportal.conf.template`; this module fills in ports and paths,
checks the result with `nginx -t` and runs nginx as a child process with its own prefix directory:

    <var>/gateway/conf/nginx.conf     the rendered configuration
    <var>/gateway/logs/access.log     one JSON line per request, without personal data
    <var>/gateway/logs/error.log      startup problems only (level crit, see the template)
    <var>/gateway/logs/nginx.pid      the master's pid
    <var>/gateway/temp/               request body and proxy buffers

    gateway = Gateway(var, 8080, {"onboarding": 8101, "letters": 8102, "identity": 8103, "meterdata": 8104},
                      REPO_ROOT / "web", dev_mail_port=8025, dev_letters_dir=var / "letters" / "printed")
    gateway.start()
    gateway.url("000328")  # http://000328.localhost:8080
    gateway.stop()

In a container (docker-compose.yml) the same configuration is rendered for the compose network and nginx
replaces the Python process (`python -m stack.gateway --help`): services by their names, listening on all
of the container's interfaces, published on the host's loopback only.
"""

from __future__ import annotations

import argparse
import grp
import ipaddress
import math
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from kit.settings import PRODUCTION_REFUSAL, Environment, PlusportalSettings, load_settings
from stack import StackError, port_open, tail, tail_file
from stack.kafka import die_with_parent
from stack.paths import DEPLOY_DIR

TEMPLATE: Path = DEPLOY_DIR / "nginx" / "plusportal.conf.template"
SERVICES = ("onboarding", "letters", "identity", "meterdata")
INSTALL_NGINX = "nginx fehlt: apt-get install -y nginx-light (oder `make install`)"
# Debian puts nginx into /usr/sbin, which is not on an ordinary user's PATH.
_NGINX_FALLBACKS = (Path("/usr/sbin/nginx"), Path("/usr/local/sbin/nginx"), Path("/usr/local/nginx/sbin/nginx"))
_RATE = re.compile(r"^([1-9][0-9]*)r/([sm])$")
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
# A block that is kept only when switched on: "# {{#name}}" … "# {{/name}}", each on its own line.
_SECTION = re.compile(r"^[ \t]*# \{\{#(\w+)\}\}\n(.*?)^[ \t]*# \{\{/\1\}\}\n", re.MULTILINE | re.DOTALL)
# Paths go into quoted nginx strings: a quote, backslash or $ (variable) would change their meaning.
_UNSAFE_PATH_CHARS = set('"\\$\n\r;{}')
_TEMP_DIRS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
# A host name or IPv4 address for listen/server/proxy_pass: nothing that could end or extend the directive.
_HOST = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")
LOOPBACK = "127.0.0.1"


def find_nginx() -> Path:
    """The nginx binary: on PATH, else Debian's /usr/sbin (and the usual source-build places)."""
    found = shutil.which("nginx")
    if found:
        return Path(found)
    for candidate in _NGINX_FALLBACKS:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise StackError(INSTALL_NGINX)


def retry_after_seconds(rate: str) -> int:
    """How long until the limit lets one more request through: `10r/m` → 6 s, `5r/s` → 1 s."""
    match = _RATE.match(rate)
    if match is None:
        raise ValueError(f"auth_rate must look like '10r/m' or '5r/s', not {rate!r}")
    per_second = int(match.group(1)) / (60 if match.group(2) == "m" else 1)
    return max(1, math.ceil(1 / per_second))


def _nginx_path(path: Path) -> str:
    text = str(path.resolve())
    if _UNSAFE_PATH_CHARS & set(text):
        raise ValueError(f"path not usable in the nginx configuration (quote, $, ; or braces): {text!r}")
    return text


def _check_port(port: int, what: str) -> int:
    if not 0 < port < 65536:
        raise ValueError(f"{what}: port {port} out of range")
    return port


def _check_host(host: str, what: str) -> str:
    if not _HOST.match(host):
        raise ValueError(f"{what}: not a host name or IPv4 address: {host!r}")
    return host


def render(template: str, values: dict[str, str], sections: dict[str, bool]) -> str:
    """Fills `{{name}}` placeholders and keeps or drops `# {{#name}}` … `# {{/name}}` blocks.

    Strict on purpose: an unknown section or a placeholder without a value is an error here, not a broken
    gateway later (nginx would read `{{port}}` as text and fail with a less helpful message).
    """

    def section(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in sections:
            raise ValueError(f"template section {name!r} is not known to the runner")
        return match.group(2) if sections[name] else ""

    kept = _SECTION.sub(section, template)
    missing = sorted({name for name in _PLACEHOLDER.findall(kept) if name not in values})
    if missing:
        raise ValueError(f"template placeholders without a value: {', '.join(missing)}")
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], kept)


class Gateway:
    """nginx in front of the services: serves `web_root` at `/` and proxies `/api/<service>/` to each service.

    `upstreams` maps each service name (onboarding, letters, identity, meterdata) to its port on 127.0.0.1;
    `upstream_hosts` (and `dev_mail_host`) name other hosts instead, such as the services' names on a compose
    network, and `listen_host` is the address nginx listens on (loopback unless in a container).
    `dev_mail_port` (the mail sink's web UI) and `dev_letters_dir` (the printed letters, one folder per portal
    number) switch on `/dev/mail/` and `/dev/letters/`; without them those paths are 404. `auth_rate` and
    `auth_burst` tune the per-address limit on logins, access requests, password resets and request forms.
    """

    def __init__(
        self,
        var_dir: Path,
        port: int,
        upstreams: dict[str, int],
        web_root: Path,
        *,
        dev_mail_port: int | None = None,
        dev_letters_dir: Path | None = None,
        auth_rate: str = "10r/m",
        auth_burst: int = 5,
        upstream_hosts: Mapping[str, str] | None = None,
        dev_mail_host: str = LOOPBACK,
        listen_host: str = LOOPBACK,
        trusted_proxies: Sequence[str] = (LOOPBACK,),
    ) -> None:
        unknown = sorted(set(upstreams) - set(SERVICES))
        absent = [name for name in SERVICES if name not in upstreams]
        if unknown or absent:
            raise ValueError(f"upstreams must name exactly {', '.join(SERVICES)} (unknown {unknown}, missing {absent})")
        hosts = dict(upstream_hosts or {})
        if set(hosts) - set(SERVICES):
            raise ValueError(f"upstream_hosts: unknown services {sorted(set(hosts) - set(SERVICES))}")
        if auth_burst < 0:
            raise ValueError("auth_burst must be 0 or more")
        retry_after_seconds(auth_rate)  # validates the rate before anything is written
        self.prefix = Path(var_dir) / "gateway"
        self.port = _check_port(port, "gateway")
        self.upstreams = {name: _check_port(upstreams[name], name) for name in SERVICES}
        self.upstream_hosts = {name: _check_host(hosts.get(name, LOOPBACK), name) for name in SERVICES}
        self.dev_mail_host = _check_host(dev_mail_host, "dev mail")
        self.listen_host = _check_host(listen_host, "listen")
        self.web_root = Path(web_root)
        self.dev_mail_port = None if dev_mail_port is None else _check_port(dev_mail_port, "dev mail")
        self.dev_letters_dir = None if dev_letters_dir is None else Path(dev_letters_dir)
        self.auth_rate = auth_rate
        self.auth_burst = auth_burst
        # Whose X-Forwarded-For names the browser (the TLS proxy in front); anyone else's is ignored.
        self.trusted_proxies = tuple(str(ipaddress.ip_network(proxy, strict=False)) for proxy in trusted_proxies)
        if not self.trusted_proxies:
            raise ValueError("trusted_proxies: at least one (the TLS proxy in front; loopback without one)")
        self._process: subprocess.Popen[bytes] | None = None

    # --- where things are ---------------------------------------------------------------------------------

    @property
    def conf_path(self) -> Path:
        return self.prefix / "conf" / "nginx.conf"

    @property
    def access_log(self) -> Path:
        return self.prefix / "logs" / "access.log"

    @property
    def error_log(self) -> Path:
        return self.prefix / "logs" / "error.log"

    @property
    def pid_file(self) -> Path:
        return self.prefix / "logs" / "nginx.pid"

    @property
    def pid(self) -> int | None:
        """The nginx master's pid while it runs, else None."""
        if self._process is None or self._process.poll() is not None:
            return None
        return self._process.pid

    def url(self, tenant: str) -> str:
        """The portal of grid operator `tenant` (portal number) through this gateway."""
        return f"http://{tenant}.localhost:{self.port}"

    # --- configuration ------------------------------------------------------------------------------------

    def render_config(self) -> str:
        """The nginx configuration for this gateway (the template with ports and paths filled in)."""
        values = {
            "user_directive": self._user_directive(),
            "port": str(self.port),
            "listen_host": self.listen_host,
            "web_root": _nginx_path(self.web_root),
            "error_log": _nginx_path(self.error_log),
            "access_log": _nginx_path(self.access_log),
            "temp_dir": _nginx_path(self.prefix / "temp"),
            "auth_rate": self.auth_rate,
            "auth_burst": str(self.auth_burst),
            "retry_after": str(retry_after_seconds(self.auth_rate)),
            "real_ip_from": " ".join(f"set_real_ip_from {proxy};" for proxy in self.trusted_proxies),
            **{f"{name}_port": str(port) for name, port in self.upstreams.items()},
            **{f"{name}_host": host for name, host in self.upstream_hosts.items()},
        }
        if self.dev_mail_port is not None:
            values["dev_mail_port"] = str(self.dev_mail_port)
            values["dev_mail_host"] = self.dev_mail_host
        if self.dev_letters_dir is not None:
            values["dev_letters_dir"] = _nginx_path(self.dev_letters_dir)
        sections = {"dev_mail": self.dev_mail_port is not None, "dev_letters": self.dev_letters_dir is not None}
        return render(TEMPLATE.read_text(), values, sections)

    @staticmethod
    def _user_directive() -> str:
        # Started as root, nginx would switch its workers to "nobody", who can neither read a web root below a
        # private home nor write the temp dirs; keep them as the user that started the gateway. As anyone
        # else nginx ignores the directive with a warning, so it is left out.
        if os.geteuid() != 0:
            return ""
        user = pwd.getpwuid(os.geteuid()).pw_name
        group = grp.getgrgid(os.getegid()).gr_name
        return f"user {user} {group};"

    def _write_config(self) -> None:
        for directory in (self.conf_path.parent, self.access_log.parent):
            directory.mkdir(parents=True, exist_ok=True)
        for name in _TEMP_DIRS:
            (self.prefix / "temp" / name).mkdir(parents=True, exist_ok=True)
        if self.dev_letters_dir is not None:
            self.dev_letters_dir.mkdir(parents=True, exist_ok=True)
        self.conf_path.write_text(self.render_config())

    def _command(self, nginx: Path, *extra: str) -> list[str]:
        # -e: the log for messages before the configuration is read, else the compiled-in path (/var/log/...).
        return [str(nginx), "-p", f"{self.prefix}/", "-c", str(self.conf_path), "-e", str(self.error_log), *extra]

    def check_config(self) -> None:
        """Writes the configuration and lets nginx check it (`nginx -t`); raises StackError with its output."""
        nginx = find_nginx()
        self._write_config()
        done = subprocess.run(self._command(nginx, "-t", "-q"), capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise StackError(f"Gateway-Konfiguration ungültig ({self.conf_path}):\n{tail(done.stdout + done.stderr)}")

    # --- lifecycle ----------------------------------------------------------------------------------------

    def start(self, timeout: float = 10) -> None:
        """Renders and checks the configuration, starts nginx and waits until its port accepts connections."""
        if self.pid is not None:
            return
        nginx = find_nginx()
        if port_open(self.port):
            raise StackError(
                f"Port {self.port} ist schon belegt. Den anderen Prozess beenden "
                f"(ss -ltnp 'sport = :{self.port}') oder einen anderen Port wählen."
            )
        self.check_config()
        with self.error_log.open("ab") as log:
            self._process = subprocess.Popen(
                self._command(nginx),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent(),  # a killed runner leaves no gateway behind
            )
        deadline = time.monotonic() + timeout
        while not port_open(self.port):
            if self._process.poll() is not None:
                code = self._process.returncode
                self._process = None
                raise StackError(f"Gateway (nginx) beendet mit {code}:\n{tail_file(self.error_log)}")
            if time.monotonic() > deadline:
                self.stop()
                raise StackError(f"Gateway antwortet nicht auf Port {self.port} nach {timeout} s.")
            time.sleep(0.05)

    def stop(self, timeout: float = 10) -> None:
        """Stops nginx: SIGQUIT lets running requests finish, SIGTERM and SIGKILL follow if it takes too long."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        for sig, wait in ((signal.SIGQUIT, timeout), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            process.send_signal(sig)
            try:
                process.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


# --- in a container: `python -m stack.gateway` ---------------------------------------------------------------


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"HOST:PORT expected, not {text!r}")
    return host, int(port)


def _upstream(text: str) -> tuple[str, str, int]:
    name, sep, where = text.partition("=")
    if not sep or name not in SERVICES:
        raise argparse.ArgumentTypeError(f"NAME=HOST:PORT with NAME one of {', '.join(SERVICES)}, not {text!r}")
    return (name, *_host_port(where))


def gateway_from_args(argv: Sequence[str] | None = None) -> Gateway:
    """The Gateway the command line describes (docker-compose.yml's `gateway` service)."""
    parser = argparse.ArgumentParser(
        prog="python -m stack.gateway",
        description="Renders the gateway configuration, checks it and runs nginx in the foreground (replacing "
        "this process; for containers). `make up` starts the gateway itself.",
    )
    parser.add_argument("--var", type=Path, required=True, help="var dir: the configuration goes to <var>/gateway/")
    parser.add_argument("--port", type=int, required=True, help="port to listen on")
    parser.add_argument("--listen", default=LOOPBACK, help="address to listen on (default %(default)s)")
    parser.add_argument("--web-root", type=Path, required=True, help="the web UI's files (served at /)")
    parser.add_argument(
        "--upstream",
        type=_upstream,
        action="append",
        required=True,
        metavar="NAME=HOST:PORT",
        help=f"one per service ({', '.join(SERVICES)})",
    )
    parser.add_argument(
        "--trusted-proxy",
        action="append",
        metavar="ADDRESS",
        help="the TLS proxy in front (address or network; repeatable): only its X-Forwarded-For is believed "
        f"(default {LOOPBACK})",
    )
    parser.add_argument("--dev-mail", type=_host_port, metavar="HOST:PORT", help="mail sink web UI at /dev/mail/")
    parser.add_argument("--dev-letters", type=Path, metavar="DIR", help="printed letters at /dev/letters/")
    args = parser.parse_args(argv)
    upstreams: list[tuple[str, str, int]] = args.upstream
    mail_host, mail_port = args.dev_mail if args.dev_mail else (LOOPBACK, None)
    return Gateway(
        args.var,
        args.port,
        {name: port for name, _, port in upstreams},
        args.web_root,
        dev_mail_port=mail_port,
        dev_letters_dir=args.dev_letters,
        upstream_hosts={name: host for name, host, _ in upstreams},
        dev_mail_host=mail_host,
        listen_host=args.listen,
        trusted_proxies=args.trusted_proxy or (LOOPBACK,),
    )


def production_problems(gateway: Gateway) -> list[str]:
    """The development tools a production gateway must not serve (PLUSPORTAL_ENV=production)."""
    problems = []
    if gateway.dev_mail_port is not None:
        problems.append("--dev-mail: das Entwicklungs-Postfach unter /dev/mail/ zeigte jedem die E-Mails der Kunden.")
    if gateway.dev_letters_dir is not None:
        problems.append("--dev-letters: /dev/letters/ zeigte jedem die gedruckten Briefe mit Partnernummer.")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    """Checks the configuration, then becomes nginx (daemon off): signals go straight to its master."""
    try:
        gateway = gateway_from_args(argv)
        if load_settings(PlusportalSettings).env is Environment.PRODUCTION and (
            problems := production_problems(gateway)
        ):
            print(PRODUCTION_REFUSAL + "\n".join(f"- {problem}" for problem in problems), file=sys.stderr)
            return 2
        gateway.check_config()
        nginx = find_nginx()
    except (StackError, ValueError) as exc:
        print(f"Fehler: {exc}", file=sys.stderr)
        return 1
    command = gateway._command(nginx)
    os.execv(command[0], command)


if __name__ == "__main__":
    sys.exit(main())
