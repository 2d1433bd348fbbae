"""The gateway (nginx) in front of echo servers: headers, routing, tenancy by host, limits, log hygiene."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import httpx
import pytest

from stack import StackError, free_port, port_open
from stack import gateway as gateway_module
from stack.gateway import Gateway, render, retry_after_seconds
from tests.gateway.conftest import INDEX_HTML, UPSTREAM_CSP, GatewayFactory, Upstreams

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
}
PORTAL = "000328.localhost"
PARTNER = "4711000001"
EMAIL = "erika.mustermann@example.org"
LIMIT = 64 * 1024
INTERVALS = "/partners/4711000001/intervals?from=2026-06-01"


def assert_security_headers(response: httpx.Response, *, https: bool = False) -> None:
    for name, value in SECURITY_HEADERS.items():
        # get_list: exactly one value, so a service's own copy never sneaks through next to the gateway's.
        assert response.headers.get_list(name) == [value], (name, response.status_code, response.url)
    if https:
        assert response.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
    else:
        assert "strict-transport-security" not in response.headers


def direct(gateway: Gateway) -> httpx.Client:
    """A client for 127.0.0.1:<port>; the Host header of each request names the portal."""
    return httpx.Client(base_url=f"http://127.0.0.1:{gateway.port}", headers={"Host": PORTAL}, timeout=10)


@pytest.fixture(scope="module")
def plain_gateway(make_gateway: GatewayFactory, upstreams: Upstreams) -> Gateway:
    """No dev tools, and meter data "down" (a port nobody listens on)."""
    return make_gateway(upstream_ports={**upstreams.ports, "meterdata": free_port()}, auth_rate="60r/s")


# --- security headers ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "host", "body", "status"),
    [
        ("GET", "/", PORTAL, None, 200),
        ("GET", "/zugang/bestaetigen", PORTAL, None, 200),  # a route of the single-page UI
        ("GET", "/app.js", PORTAL, None, 200),
        ("GET", "/api/onboarding/requests", PORTAL, None, 200),
        ("POST", "/api/identity/sessions", PORTAL, b"{}", 200),
        ("GET", "/api/letters/missing/42", PORTAL, None, 404),  # the service's own 404
        ("GET", "/api/unknown/x", PORTAL, None, 404),
        ("GET", "/.secret", PORTAL, None, 404),
        ("GET", "/", "example.org", None, 404),  # unknown host
        ("POST", "/api/letters/upload", PORTAL, b"x" * (LIMIT + 1), 413),
    ],
)
def test_security_headers_on_every_response(
    client: httpx.Client, method: str, path: str, host: str, body: bytes | None, status: int
) -> None:
    response = client.request(method, path, headers={"Host": host}, content=body)
    assert response.status_code == status
    assert_security_headers(response)


def test_strict_transport_security_only_behind_tls(client: httpx.Client) -> None:
    over_tls = client.get("/api/identity/session", headers={"X-Forwarded-Proto": "https"})
    assert_security_headers(over_tls, https=True)
    assert over_tls.json()["x_forwarded_proto"] == "https"
    plain = client.get("/api/identity/session")
    assert_security_headers(plain)
    assert plain.json()["x_forwarded_proto"] == "http"


def test_the_gateway_replaces_a_services_own_policy(client: httpx.Client) -> None:
    response = client.get("/api/meterdata/partners/x/intervals")
    assert response.headers["x-upstream"] == "meterdata"
    assert UPSTREAM_CSP not in response.headers.get_list("content-security-policy")


# --- routing ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "service", "upstream_path"),
    [
        ("/api/onboarding/requests", "onboarding", "/requests"),
        ("/api/onboarding/backoffice/requests?state=open", "onboarding", "/backoffice/requests?state=open"),
        ("/api/letters/backoffice/tasks", "letters", "/backoffice/tasks"),
        ("/api/identity/sessions", "identity", "/sessions"),
        ("/api/identity/session/partner", "identity", "/session/partner"),
        ("/api/identity/access-requests/complete", "identity", "/access-requests/complete"),
        ("/api/identity/password-resets/complete", "identity", "/password-resets/complete"),
        ("/api/identity/.well-known/jwks.json", "identity", "/.well-known/jwks.json"),
        (f"/api/meterdata{INTERVALS}", "meterdata", INTERVALS),
    ],
)  # fmt: skip
@pytest.mark.parametrize("host", ["000328.localhost", "000512.plusportal.de"])
def test_api_paths_reach_their_service_without_the_prefix(
    client: httpx.Client, path: str, service: str, upstream_path: str, host: str
) -> None:
    response = client.get(path, headers={"Host": host})
    assert response.status_code == 200
    echo = response.json()
    assert (echo["service"], echo["method"], echo["path"]) == (service, "GET", upstream_path)
    assert echo["host"] == host  # the services read the tenant from it
    assert echo["x_forwarded_for"].split(",")[-1].strip() == "127.0.0.1"


@pytest.mark.parametrize("service", ["onboarding", "letters", "identity", "meterdata"])
@pytest.mark.parametrize("path", ["/metrics", "/metrics/", "/metrics?name=x", "//metrics", "/./metrics", "/%6Detrics"])
def test_the_services_metrics_are_not_reachable_through_the_gateway(
    client: httpx.Client, service: str, path: str
) -> None:
    response = client.get(f"/api/{service}{path}")
    assert (response.status_code, response.json()) == (404, {"detail": "Not Found"})  # not the echo: never proxied
    assert_security_headers(response)
    assert client.get(f"/api/{service}/health").json()["path"] == "/health"  # the service itself is reachable


def test_post_body_reaches_the_service(client: httpx.Client) -> None:
    body = b'{"first_name": "Erika"}'
    echo = client.post("/api/onboarding/requests", content=body, headers={"Content-Type": "application/json"}).json()
    assert (echo["service"], echo["method"], echo["path"], echo["body_bytes"]) == (
        "onboarding",
        "POST",
        "/requests",
        len(body),
    )


def test_web_ui_files_and_single_page_routes(client: httpx.Client) -> None:
    for path in ("/", "/index.html", "/zugang/bestaetigen", "/anmelden", "/pages/", "/pages"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.text == INDEX_HTML
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        assert "x-upstream" not in response.headers
    assert client.get("/app.js").headers["content-type"].startswith("application/javascript")
    assert client.get("/app.css").headers["content-type"].startswith("text/css")
    assert client.get("/pages/start.js").text == "export const start = 1;\n"
    assert client.get("/missing.js").status_code == 404  # a missing asset is not the UI's index.html
    # An unknown API path is an error, never the UI with 200; dot files are never served.
    unknown_api = client.get("/api/unknown/x")
    assert (unknown_api.status_code, unknown_api.json()) == (404, {"detail": "Not Found"})
    assert client.get("/.secret").status_code == 404


@pytest.mark.parametrize(
    "host",
    [
        "example.org",
        "localhost",
        "127.0.0.1",
        "000328.example.org",
        "12345.localhost",  # five digits
        "0003281.localhost",  # seven digits
        "000328.plusportal.de.example.org",
        "x000328.localhost",
    ],
)
def test_unknown_host_is_a_plain_404(client: httpx.Client, host: str) -> None:
    for path in ("/", "/api/identity/sessions"):
        response = client.get(path, headers={"Host": host})
        assert response.status_code == 404
        assert response.headers["content-type"] == "text/plain"
        assert response.text == "Not Found\n"
        assert "x-upstream" not in response.headers
        assert_security_headers(response)


def test_host_is_case_insensitive_and_may_carry_the_port(client: httpx.Client, gateway: Gateway) -> None:
    for host in ("000328.LOCALHOST", f"000328.localhost:{gateway.port}"):
        assert client.get("/api/identity/session", headers={"Host": host}).json()["host"] == "000328.localhost"


# --- limits -------------------------------------------------------------------------------------------------


def test_oversized_body_is_refused_with_413(client: httpx.Client) -> None:
    at_limit = client.post("/api/letters/upload", content=b"x" * LIMIT)
    assert (at_limit.status_code, at_limit.json()["body_bytes"]) == (200, LIMIT)
    too_big = client.post("/api/letters/upload", content=b"x" * (LIMIT + 1))
    assert too_big.status_code == 413
    assert too_big.json() == {"detail": "Die Anfrage ist zu groß."}
    assert_security_headers(too_big)


def test_auth_endpoints_answer_429_after_the_burst(make_gateway: GatewayFactory) -> None:
    gateway = make_gateway(auth_rate="10r/m", auth_burst=2)
    with direct(gateway) as http:
        statuses = [http.post("/api/identity/sessions", json={}).status_code for _ in range(5)]
        assert statuses == [200, 200, 200, 429, 429]  # one at the rate plus a burst of two, no delay
        limited = http.post("/api/identity/sessions", json={})
        assert limited.json()["detail"].startswith("Zu viele Versuche")
        assert limited.headers["retry-after"] == "6"  # 10 per minute: one every 6 s
        assert_security_headers(limited)
        # One budget for every authentication endpoint, per client address …
        for path in (
            "/api/identity/access-requests",
            "/api/identity/access-requests/complete",
            "/api/identity/password-resets",
            "/api/onboarding/requests",
        ):
            assert http.post(path, json={}).status_code == 429, path
        # … that only POSTs use up; everything else is not limited here.
        assert http.get("/api/identity/sessions").status_code == 200
        assert http.post("/api/identity/session/partner", json={}).status_code == 200
        assert http.post("/api/letters/anything", json={}).status_code == 200
        # Behind the TLS proxy each browser (its address appended to X-Forwarded-For) has its own budget.
        browser = http.post("/api/identity/sessions", json={}, headers={"X-Forwarded-For": "203.0.113.9"})
        assert browser.status_code == 200
        assert "retry-after" not in browser.headers


def test_only_the_trusted_proxy_names_the_browsers_address(make_gateway: GatewayFactory) -> None:
    """The TLS proxy in front is not on loopback here (127.0.0.2, as a proxy on another host would be): its
    X-Forwarded-For gives each browser its own budget; anyone else who sends one is counted as themselves."""
    gateway = make_gateway(auth_rate="10r/m", auth_burst=1, trusted_proxies=("127.0.0.2",))
    proxy = httpx.HTTPTransport(local_address="127.0.0.2")
    with (
        direct(gateway) as stranger,
        httpx.Client(
            base_url=f"http://127.0.0.1:{gateway.port}", headers={"Host": PORTAL}, transport=proxy, timeout=10
        ) as behind_the_proxy,
    ):
        spoofed = [
            stranger.post("/api/identity/sessions", json={}, headers={"X-Forwarded-For": f"203.0.113.{n}"})
            for n in range(4)
        ]
        assert [answer.status_code for answer in spoofed] == [200, 200, 429, 429]  # one budget: the stranger's
        browsers = [
            behind_the_proxy.post("/api/identity/sessions", json={}, headers={"X-Forwarded-For": f"198.51.100.{n}"})
            for n in range(4)
        ]
        assert [answer.status_code for answer in browsers] == [200] * 4  # a budget per browser


def test_a_services_own_429_keeps_its_retry_after(client: httpx.Client) -> None:
    response = client.post("/api/identity/limited", json={})
    assert response.status_code == 429
    assert response.headers.get_list("retry-after") == ["42"]
    assert response.json()["service"] == "identity"  # the service's answer, not the gateway's error page
    assert_security_headers(response)


def test_service_down_is_a_json_502(plain_gateway: Gateway) -> None:
    with direct(plain_gateway) as http:
        response = http.get("/api/meterdata/partners/x/intervals")
    assert response.status_code == 502
    assert response.json()["detail"].startswith("Der Dienst ist gerade nicht erreichbar")
    assert_security_headers(response)


# --- development tools --------------------------------------------------------------------------------------


def test_dev_mailbox_with_links_below_its_path(client: httpx.Client) -> None:
    response = client.get("/dev/mail/")
    assert response.status_code == 200
    assert 'href="/dev/mail/mails/1"' in response.text
    assert 'href="/dev/mail/api/mails"' in response.text
    # The mail sink's pages carry one inline <style>: only they get a policy allowing it.
    assert response.headers.get_list("content-security-policy") == [
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; frame-ancestors 'none'; "
        "base-uri 'none'; form-action 'none'"
    ]
    assert response.headers["x-frame-options"] == "DENY"


def test_dev_letters_show_only_this_portals_folder(client: httpx.Client) -> None:
    listing = client.get("/dev/letters/")
    assert listing.status_code == 200
    assert "PP-000328-0001.pdf" in listing.text
    assert "000512" not in listing.text
    assert_security_headers(listing)
    pdf = client.get("/dev/letters/PP-000328-0001.pdf")
    assert (pdf.status_code, pdf.headers["content-type"]) == (200, "application/pdf")
    assert client.get("/dev/letters/PP-000512-0001.pdf").status_code == 404  # another operator's letter
    assert client.get("/dev/letters/PP-000512-0001.pdf", headers={"Host": "000512.localhost"}).status_code == 200
    assert client.get("/dev/letters/../000512/PP-000512-0001.pdf").status_code in (400, 404)


def test_dev_tools_are_off_without_dev_mode(plain_gateway: Gateway) -> None:
    with direct(plain_gateway) as http:
        for path in ("/dev/mail/", "/dev/letters/", "/dev/anything"):
            response = http.get(path)
            assert response.status_code == 404, path
            assert_security_headers(response)


# --- access log ---------------------------------------------------------------------------------------------


def read_access_log(gateway: Gateway, *, lines: int) -> str:
    """nginx writes a request's line in its log phase, after the client has the response: wait for the lines."""
    deadline = time.monotonic() + 5
    while True:
        log = gateway.access_log.read_text()
        if log.count("\n") >= lines or time.monotonic() > deadline:
            return log
        time.sleep(0.02)


def test_access_log_holds_no_personal_data(make_gateway: GatewayFactory) -> None:
    gateway = make_gateway()
    query = {"email": EMAIL, "from": "2026-06-01"}
    with direct(gateway) as http:
        http.get(f"/api/meterdata/partners/{PARTNER}/intervals", params=query)
        http.post(f"/api/meterdata/partners/{PARTNER}/export", params=query, json={"email": EMAIL})
        http.post("/api/identity/access-requests", params=query, json={"partner_number": PARTNER, "email": EMAIL})
        http.get(f"/api/identity/lookup/{EMAIL}")
        http.get(f"/api/letters/backoffice/partners/{PARTNER}")
        http.post(f"/api/meterdata/partners/{PARTNER}/export", params=query, content=b"x" * (LIMIT + 1))  # 413
        http.get("/zugang/bestaetigen", params=query)
        http.get("/", params=query, headers={"Host": "example.org"})
    log = read_access_log(gateway, lines=8)
    for secret in (PARTNER, "erika", "example.org", "@", "%40", "127.0.0.1"):
        assert secret not in log, secret
    errors = gateway.error_log.read_text()
    assert all(secret not in errors for secret in (PARTNER, "erika", "@")), errors
    lines = [json.loads(line) for line in log.splitlines()]
    assert [(line["method"], line["path"], line["status"]) for line in lines] == [
        ("GET", "/api/meterdata/partners/*/intervals", 200),
        ("POST", "/api/meterdata/partners/*/export", 200),
        ("POST", "/api/identity/access-requests", 200),
        ("GET", "/api/identity/[masked]", 200),
        ("GET", "/api/letters/[masked]", 200),
        ("POST", "/api/meterdata/partners/*/export", 413),
        ("GET", "/index.html", 200),  # the UI route after try_files
        ("GET", "/", 404),
    ]
    assert lines[-1]["host"] == "[other]"  # an unknown host is client input: not logged
    first = lines[0]
    assert set(first) == {"time", "host", "method", "path", "status", "bytes", "duration", "upstream_duration"}
    assert first["host"] == PORTAL
    assert first["bytes"] > 0


# --- lifecycle and configuration ----------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def test_stop_leaves_nothing_running(make_gateway: GatewayFactory) -> None:
    gateway = make_gateway()
    master = gateway.pid
    assert master is not None
    assert int(gateway.pid_file.read_text()) == master
    workers = _children(master)
    assert len(workers) == 2
    gateway.stop()
    assert gateway.pid is None
    assert not port_open(gateway.port)
    for pid in (master, *workers):
        assert not os.path.exists(f"/proc/{pid}"), pid


def test_missing_nginx_names_the_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(gateway_module.shutil, "which", lambda name: None)
    monkeypatch.setattr(gateway_module, "_NGINX_FALLBACKS", ())
    gateway = Gateway(tmp_path, 1, {"onboarding": 2, "letters": 3, "identity": 4, "meterdata": 5}, tmp_path)
    with pytest.raises(StackError, match=r"apt-get install -y nginx-light"):
        gateway.start()


def test_configuration_is_rendered_strictly(tmp_path: Path) -> None:
    assert render("a {{x}}\n# {{#dev}}\nb\n# {{/dev}}\nc\n", {"x": "1"}, {"dev": False}) == "a 1\nc\n"
    assert render("# {{#dev}}\nb {{y}}\n# {{/dev}}\n", {"y": "2"}, {"dev": True}) == "b 2\n"
    with pytest.raises(ValueError, match="without a value: y"):
        render("{{y}}", {}, {})
    with pytest.raises(ValueError, match="auth_rate"):
        retry_after_seconds("10/m")
    assert (retry_after_seconds("10r/m"), retry_after_seconds("1r/m"), retry_after_seconds("5r/s")) == (6, 60, 1)
    with pytest.raises(ValueError, match="missing"):
        Gateway(tmp_path, 8080, {"onboarding": 1}, tmp_path)
    unsafe = Gateway(tmp_path, 8080, {"onboarding": 1, "letters": 2, "identity": 3, "meterdata": 4}, Path("/a$b"))
    with pytest.raises(ValueError, match="not usable"):
        unsafe.render_config()
