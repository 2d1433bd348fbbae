"""Gateway fixtures: nginx in front of tiny echo servers that stand in for the services (no Kafka, no PostgreSQL)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from stack import free_port
from stack.gateway import SERVICES, Gateway, find_nginx

INDEX_HTML = '<!doctype html><html lang="de"><head><script src="/app.js"></script></head><body>Portal</body></html>\n'
# What a service might send itself; the gateway must replace it with its own policy.
UPSTREAM_CSP = "default-src *"


class _EchoHandler(BaseHTTPRequestHandler):
    """Answers every request with what arrived (method, path, headers, body size) as JSON.

    `/missing…` answers 404 like a service would for an unknown id, `/limited…` 429 with its own Retry-After
    like identity's login throttle; the mail stand-in answers HTML with links
    from its root, like the real mail sink.
    """

    protocol_version = "HTTP/1.1"  # keep-alive, as nginx's upstream keepalive expects

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet test output

    def _answer(self) -> None:
        name: str = getattr(self.server, "service_name", "?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if name == "mail":
            payload = b'<!doctype html><body><a href="/mails/1">Mail</a> <a href="/api/mails">JSON</a></body>'
            content_type = "text/html; charset=utf-8"
            status = 200
        else:
            echo = {
                "service": name,
                "method": self.command,
                "path": self.path,
                "host": self.headers.get("Host"),
                "x_forwarded_for": self.headers.get("X-Forwarded-For"),
                "x_forwarded_proto": self.headers.get("X-Forwarded-Proto"),
                "body_bytes": len(body),
            }
            payload = json.dumps(echo).encode()
            content_type = "application/json"
            status = 404 if self.path.startswith("/missing") else 429 if self.path.startswith("/limited") else 200
        self.send_response(status)
        if status == 429:
            self.send_header("Retry-After", "42")
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("X-Upstream", name)
        self.send_header("Content-Security-Policy", UPSTREAM_CSP)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _answer


@dataclass
class Upstreams:
    ports: dict[str, int]  # the four services
    mail_port: int  # the mail sink's web UI


@pytest.fixture(scope="session")
def nginx_available() -> None:
    try:
        find_nginx()
    except Exception as exc:
        pytest.fail(f"{exc}  — the gateway tests need nginx")


@pytest.fixture(scope="session")
def upstreams() -> Iterator[Upstreams]:
    servers: list[ThreadingHTTPServer] = []
    for name in (*SERVICES, "mail"):
        server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoHandler)
        server.daemon_threads = True
        server.service_name = name  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, name=f"echo-{name}", daemon=True).start()
        servers.append(server)
    ports = {name: int(server.server_address[1]) for name, server in zip((*SERVICES, "mail"), servers, strict=True)}
    yield Upstreams(ports={name: ports[name] for name in SERVICES}, mail_port=ports["mail"])
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def web_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("web")
    (root / "index.html").write_text(INDEX_HTML)
    (root / "app.js").write_text("document.body.dataset.ready = 'yes';\n")
    (root / "app.css").write_text("body { margin: 0; }\n")
    (root / ".secret").write_text("not for the browser\n")
    (root / "pages").mkdir()  # modules in a folder without an index, like the real UI's web/pages/
    (root / "pages" / "start.js").write_text("export const start = 1;\n")
    return root


@pytest.fixture(scope="session")
def letters_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Printed letters as the print house leaves them: one folder per portal number."""
    root = tmp_path_factory.mktemp("printed")
    for tenant, reference in (("000328", "PP-000328-0001"), ("000512", "PP-000512-0001")):
        (root / tenant).mkdir()
        (root / tenant / f"{reference}.pdf").write_bytes(b"%PDF-1.4\n%%EOF\n")
    return root


GatewayFactory = Callable[..., Gateway]


@pytest.fixture(scope="session")
def make_gateway(
    nginx_available: None, upstreams: Upstreams, web_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayFactory]:
    """Starts gateways (each with its own prefix and free port) and stops every one of them at the end."""
    started: list[Gateway] = []

    def make(*, upstream_ports: dict[str, int] | None = None, **options: Any) -> Gateway:
        gateway = Gateway(
            tmp_path_factory.mktemp("var"), free_port(), upstream_ports or upstreams.ports, web_root, **options
        )
        started.append(gateway)
        gateway.start()
        return gateway

    yield make
    for gateway in started:
        gateway.stop()


@pytest.fixture(scope="session")
def gateway(make_gateway: GatewayFactory, upstreams: Upstreams, letters_dir: Path) -> Gateway:
    """The gateway most tests share: dev mode on, the auth limit loose enough to stay out of their way."""
    return make_gateway(dev_mail_port=upstreams.mail_port, dev_letters_dir=letters_dir, auth_rate="60r/s")


@pytest.fixture
def client(gateway: Gateway) -> Iterator[httpx.Client]:
    """Talks to 127.0.0.1:<port>; each test sets the Host header, which is what names the portal."""
    with httpx.Client(base_url=f"http://127.0.0.1:{gateway.port}", headers={"Host": "000328.localhost"}) as http:
        yield http
