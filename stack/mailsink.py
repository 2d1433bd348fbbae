"""Local SMTP mail sink for development and tests.

Accepts every message over real SMTP (aiosmtpd), stores it as `<store_dir>/<id>.eml` (raw bytes as received)
plus a sidecar `<id>.json` with the envelope, and offers a small German web UI and JSON API to read them.

    with MailSink(tmp_path, web_port=0) as sink:
        ...  # send to sink.smtp_host:sink.smtp_port
        mail = await sink.wait_for(lambda m: m.envelope_to == ["kunde@example.org"])

Run standalone: `python -m stack.mailsink --store var/mail --smtp-port 2525 --web-port 8025`.
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import html
import itertools
import json
import os
import re
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Self, cast
from urllib.parse import urlsplit

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

# `20250131T235959.123456Z-000001`: sortable by time, and strict enough that an id from a URL can never
# name anything but a mail file in the store.
_ID_TIME_FORMAT = "%Y%m%dT%H%M%S.%fZ"
_ID_PATTERN = r"[0-9]{8}T[0-9]{6}\.[0-9]{6}Z-[0-9]{6}"
_ID_RE = re.compile(_ID_PATTERN)
# Trailing punctuation is almost always sentence punctuation, not part of the URL.
_URL_RE = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
_URL_TRAILING = ".,;:!?)]}»“”’"
_SMTP_HOSTNAME = "plusportal-mailsink"  # fixed, so aiosmtpd skips a possibly slow socket.getfqdn()


def _find_links(text: str) -> list[str]:
    links: list[str] = []
    for match in _URL_RE.finditer(text):
        url = match.group(0)
        while url and url[-1] in _URL_TRAILING:
            # Keep a closing parenthesis that belongs to the URL, e.g. Wikipedia-style links.
            if url[-1] == ")" and url.count("(") >= url.count(")"):
                break
            url = url[:-1]
        if url not in links and len(url) > len("https://"):
            links.append(url)
    return links


@dataclass(frozen=True)
class StoredMail:
    """One received mail, decoded for reading; `raw` holds the exact bytes received."""

    id: str
    received_at: datetime
    envelope_from: str
    envelope_to: list[str]
    subject: str
    sender: str
    to: str
    text: str
    html: str | None
    raw: bytes = field(repr=False)

    def links(self) -> list[str]:
        """http/https URLs in the plain text body, in order, without duplicates."""
        return _find_links(self.text)

    def message(self) -> EmailMessage:
        """The parsed message, for anything beyond the common fields (attachments, other headers)."""
        return cast(EmailMessage, email.message_from_bytes(self.raw, policy=email.policy.default))

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "received_at": self.received_at.isoformat(),
            "envelope_from": self.envelope_from,
            "envelope_to": list(self.envelope_to),
            "from": self.sender,
            "to": self.to,
            "subject": self.subject,
            "text": self.text,
            "links": self.links(),
        }


def _header(msg: EmailMessage, name: str) -> str:
    try:
        value = msg.get(name)
        return "" if value is None else str(value)
    except Exception:
        # Customer-supplied headers can be malformed beyond what the parser tolerates; show them raw.
        return " ".join(str(v) for k, v in msg.raw_items() if k.lower() == name.lower())


def _part_content(msg: EmailMessage, subtype: str) -> str | None:
    try:
        part = msg.get_body(preferencelist=(subtype,))
    except Exception:
        return None
    if part is None:
        return None
    try:
        content = part.get_content()
    except Exception:
        # Unknown charset or broken transfer encoding: better a lossy body than no mail at all.
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else str(payload)
    text = content if isinstance(content, str) else content.decode("utf-8", errors="replace")
    # SMTP delivers CRLF line ends; callers compare and print text, where plain "\n" is what they expect.
    return text.replace("\r\n", "\n")


def _parse_mail(mail_id: str, raw: bytes, meta: dict[str, Any]) -> StoredMail:
    msg = cast(EmailMessage, email.message_from_bytes(raw, policy=email.policy.default))
    received = meta.get("received_at")
    if isinstance(received, str):
        received_at = datetime.fromisoformat(received).astimezone(UTC)
    else:
        # No sidecar (writer crashed, or file copied in by hand): the id carries the receive time.
        received_at = datetime.strptime(mail_id.split("-")[0], _ID_TIME_FORMAT).replace(tzinfo=UTC)
    envelope_to = meta.get("envelope_to")
    return StoredMail(
        id=mail_id,
        received_at=received_at,
        envelope_from=str(meta.get("envelope_from") or ""),
        envelope_to=[str(r) for r in envelope_to] if isinstance(envelope_to, list) else [],
        subject=_header(msg, "Subject"),
        sender=_header(msg, "From"),
        to=_header(msg, "To"),
        text=_part_content(msg, "plain") or "",
        html=_part_content(msg, "html"),
        raw=raw,
    )


class _Handler:
    """aiosmtpd handler: accept every recipient, store every message."""

    def __init__(self, sink: MailSink) -> None:
        self._sink = sink

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content
        if raw is None:
            raw = envelope.content.encode("utf-8") if isinstance(envelope.content, str) else envelope.content
        try:
            self._sink._store(raw or b"", envelope.mail_from or "", list(envelope.rcpt_tos))
        except Exception as exc:
            # A transient failure makes the sending code retry or log, instead of silently losing the mail.
            return f"451 Requested action aborted: could not store message ({type(exc).__name__})"
        return "250 Message accepted for delivery"


def _free_port(host: str) -> int:
    # aiosmtpd's Controller cannot report the port the OS picked for port 0, so we pick one first.
    # Small race (another process may take it before we bind); acceptable for a dev/test tool.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _check_bindable(host: str, port: int, what: str) -> None:
    # aiosmtpd only notices a busy port after its 5 s ready timeout; fail at once, with the port named.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the real servers do
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise OSError(exc.errno, f"cannot listen for {what} on {host}:{port}: {exc.strerror}") from exc


class MailSink:
    """SMTP server that stores every message it receives in `store_dir`, plus an optional web UI.

    Start/stop are synchronous (server and web UI run in their own threads), so a sink can be used as a plain
    `with` block inside async tests as well as in scripts.
    """

    def __init__(
        self,
        store_dir: Path | str,
        host: str = "127.0.0.1",
        smtp_port: int = 0,
        web_port: int | None = None,
    ) -> None:
        self.store_dir = Path(store_dir)
        self.smtp_host = host
        self._requested_smtp_port = smtp_port
        self.smtp_port = smtp_port
        self._web_port = web_port
        self.web_url: str | None = None
        self._controller: Controller | None = None
        self._web: _WebServer | None = None
        self._web_thread: threading.Thread | None = None
        self._seq = itertools.count(1)
        self._lock = threading.Lock()
        # Mail files never change after they appear, so parsed mails can be reused across polls.
        self._cache: dict[str, tuple[tuple[int, int], StoredMail]] = {}

    # --- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> Self:
        if self._controller is not None:
            raise RuntimeError("MailSink already started")
        self.store_dir.mkdir(parents=True, exist_ok=True)
        port = self._requested_smtp_port or _free_port(self.smtp_host)
        _check_bindable(self.smtp_host, port, "SMTP")
        controller = Controller(_Handler(self), hostname=self.smtp_host, port=port, server_hostname=_SMTP_HOSTNAME)
        try:
            controller.start()
        except BaseException:
            # A failed start leaves the controller's private loop open; close it so nothing leaks.
            controller.stop(no_assert=True)
            if not controller.loop.is_closed():
                controller.loop.close()
            raise
        self._controller = controller
        self.smtp_port = port
        if self._web_port is not None:
            try:
                self._start_web(self._web_port)
            except BaseException:
                self.stop()
                raise
        return self

    def _start_web(self, port: int) -> None:
        if port:
            _check_bindable(self.smtp_host, port, "the web UI")
        server = _WebServer((self.smtp_host, port), _WebHandler, sink=self)
        bound_port = int(server.server_address[1])
        web_host = f"[{self.smtp_host}]" if ":" in self.smtp_host else self.smtp_host
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="mailsink-web", daemon=True
        )
        thread.start()
        self._web, self._web_thread = server, thread
        self.web_url = f"http://{web_host}:{bound_port}"

    def stop(self) -> None:
        """Stop web UI and SMTP server and wait for their threads; safe to call more than once."""
        if self._web is not None:
            self._web.shutdown()
            self._web.server_close()
            self._web = None
        if self._web_thread is not None:
            self._web_thread.join(timeout=5)
            self._web_thread = None
        self.web_url = None
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
        self.smtp_port = self._requested_smtp_port

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- storage ---------------------------------------------------------------------------------------

    def _store(self, raw: bytes, envelope_from: str, envelope_to: list[str]) -> str:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        received_at = datetime.now(UTC)
        stamp = received_at.strftime(_ID_TIME_FORMAT)
        meta = {
            "received_at": received_at.isoformat(),
            "envelope_from": envelope_from,
            "envelope_to": envelope_to,
        }
        with self._lock:
            # Reserve the id by creating the sidecar exclusively: another sink process may share the folder.
            for _ in range(10_000):
                mail_id = f"{stamp}-{next(self._seq):06d}"
                try:
                    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
                    fd = os.open(self.store_dir / f"{mail_id}.json", flags, 0o644)
                    break
                except FileExistsError:
                    continue
            else:
                raise RuntimeError("no free mail id")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"id": mail_id, **meta}, fh, ensure_ascii=False, indent=2)
        # The .eml appears atomically and only after its sidecar, so readers never see half a mail.
        tmp = self.store_dir / f".{mail_id}.eml.tmp"
        tmp.write_bytes(raw)
        os.replace(tmp, self.store_dir / f"{mail_id}.eml")
        return mail_id

    def get(self, mail_id: str) -> StoredMail | None:
        """The mail with this id, or None (also for anything that is not a well-formed id)."""
        if not _ID_RE.fullmatch(mail_id):
            return None
        path = self.store_dir / f"{mail_id}.eml"
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        key = (st.st_mtime_ns, st.st_size)
        with self._lock:
            cached = self._cache.get(mail_id)
        if cached is not None and cached[0] == key:
            return cached[1]
        try:
            raw = path.read_bytes()
        except FileNotFoundError:  # cleared meanwhile
            return None
        try:
            meta = json.loads((self.store_dir / f"{mail_id}.json").read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            meta = {}
        mail = _parse_mail(mail_id, raw, meta if isinstance(meta, dict) else {})
        with self._lock:
            self._cache[mail_id] = (key, mail)
        return mail

    def messages(self) -> list[StoredMail]:
        """All stored mails, oldest first, read from disk (so mails stored by other processes count too)."""
        if not self.store_dir.is_dir():
            return []
        ids = [p.stem for p in self.store_dir.glob("*.eml") if _ID_RE.fullmatch(p.stem)]
        mails = [m for m in (self.get(i) for i in ids) if m is not None]
        with self._lock:
            for stale in set(self._cache) - set(ids):
                del self._cache[stale]
        return sorted(mails, key=lambda m: (m.received_at, m.id))

    def clear(self) -> None:
        """Delete all stored mails (and their sidecars)."""
        if not self.store_dir.is_dir():
            return
        for path in self.store_dir.iterdir():
            name = path.name
            stem, dot, suffix = name.rpartition(".")
            if dot and suffix in ("eml", "json") and _ID_RE.fullmatch(stem):
                path.unlink(missing_ok=True)
        with self._lock:
            self._cache.clear()

    # A timeout parameter (not asyncio.timeout) so the error can list what was seen instead of a bare cancel.
    async def wait_for(
        self,
        predicate: Callable[[StoredMail], bool],
        timeout: float = 10.0,
    ) -> StoredMail:
        """Poll the store until a mail matches `predicate` (the oldest matching one is returned).

        Raises TimeoutError naming the mails seen (recipients and subjects only: bodies may hold tokens).
        """
        deadline = time.monotonic() + timeout
        while True:
            # Reading the store is blocking file I/O; keep it off the test's event loop.
            mails = await asyncio.to_thread(self.messages)
            for mail in mails:
                if predicate(mail):
                    return mail
            if time.monotonic() >= deadline:
                raise TimeoutError(_timeout_message(timeout, mails))
            await asyncio.sleep(min(0.05, max(0.0, deadline - time.monotonic())))


def _timeout_message(timeout: float, mails: Sequence[StoredMail], limit: int = 20) -> str:
    if not mails:
        return f"no matching mail within {timeout:g}s; the sink has received no mails"
    lines = [f"no matching mail within {timeout:g}s; {len(mails)} mail(s) seen:"]
    shown = mails[-limit:]
    if len(mails) > limit:
        lines.append(f"  ... {len(mails) - limit} older mail(s) not shown")
    lines += [f"  - to={', '.join(m.envelope_to) or m.to!r} subject={m.subject!r}" for m in shown]
    return "\n".join(lines)


# --- web UI ----------------------------------------------------------------------------------------------

_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #1a1a1a; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid #ddd; vertical-align: top; }
th { background: #f3f3f3; }
pre { background: #f7f7f7; padding: 1rem; white-space: pre-wrap; word-break: break-word; }
.meta th { width: 12rem; background: none; }
.muted { color: #666; }
"""
_MAIL_PATH_RE = re.compile(rf"/mails/(?P<id>{_ID_PATTERN})(?P<eml>\.eml)?")


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _page(title: str, body: str) -> bytes:
    return (
        '<!doctype html>\n<html lang="de"><head><meta charset="utf-8">'
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head>"
        f"<body>{body}</body></html>\n"
    ).encode()


def _format_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%d.%m.%Y %H:%M:%S UTC")


def _linkify(text: str) -> str:
    """Escape text, turning http/https URLs into links (only those: no javascript: or data: URLs)."""
    out: list[str] = []
    pos = 0
    for match in _URL_RE.finditer(text):
        url = _find_links(match.group(0))
        if not url:
            continue
        start, end = match.start(), match.start() + len(url[0])
        out.append(_e(text[pos:start]))
        out.append(f'<a href="{_e(url[0])}" rel="noopener noreferrer">{_e(url[0])}</a>')
        pos = end
    out.append(_e(text[pos:]))
    return "".join(out)


def _render_index(mails: list[StoredMail]) -> bytes:
    rows = "".join(
        f"<tr><td>{_e(_format_time(m.received_at))}</td>"
        f"<td>{_e(m.to or ', '.join(m.envelope_to))}</td>"
        f'<td><a href="/mails/{_e(m.id)}">{_e(m.subject or "(kein Betreff)")}</a></td></tr>'
        for m in reversed(mails)
    )
    table = (
        f"<table><thead><tr><th>Zeit</th><th>An</th><th>Betreff</th></tr></thead><tbody>{rows}</tbody></table>"
        if mails
        else '<p class="muted">Noch keine Mails eingegangen.</p>'
    )
    body = (
        "<h1>Postfach (Entwicklung)</h1>"
        f'<p class="muted">{len(mails)} Mail(s) · neueste zuerst · '
        '<a href="/api/mails">JSON</a></p>'
        f"{table}"
    )
    return _page("Postfach (Entwicklung)", body)


def _render_mail(mail: StoredMail) -> bytes:
    meta_rows = [
        ("Empfangen", _format_time(mail.received_at)),
        ("Von", mail.sender),
        ("An", mail.to),
        ("Betreff", mail.subject),
        ("Envelope-Absender", mail.envelope_from),
        ("Envelope-Empfänger", ", ".join(mail.envelope_to)),
    ]
    meta = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in meta_rows)
    text = _linkify(mail.text) or '<span class="muted">(kein Textteil)</span>'
    try:
        headers = "\n".join(f"{k}: {v}" for k, v in mail.message().items())
    except Exception:
        headers = "(Kopfzeilen nicht lesbar)"
    # The HTML part is shown as source only: rendering customer-influenced HTML here would be an XSS hole.
    html_part = (
        f"<details><summary>HTML-Teil (Quelltext)</summary><pre>{_e(mail.html)}</pre></details>"
        if mail.html is not None
        else ""
    )
    body = (
        '<p><a href="/">← Zurück zum Postfach</a></p>'
        f"<h1>{_e(mail.subject or '(kein Betreff)')}</h1>"
        f'<table class="meta">{meta}</table>'
        f'<p><a href="/mails/{_e(mail.id)}.eml" download>Rohdaten herunterladen (.eml)</a></p>'
        f"<h2>Text</h2><pre>{text}</pre>"
        f"{html_part}"
        f"<details><summary>Alle Kopfzeilen</summary><pre>{_e(headers)}</pre></details>"
    )
    return _page(mail.subject or "Mail", body)


class _WebServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], sink: MailSink) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.sink = sink
        super().__init__(address, handler)


class _WebHandler(BaseHTTPRequestHandler):
    server_version = "PlusportalMailSink"

    def version_string(self) -> str:
        return self.server_version  # no Python version in the Server header

    @property
    def sink(self) -> MailSink:
        return cast(_WebServer, self.server).sink

    def log_message(self, format: str, *args: Any) -> None:
        # Quiet by default: request logs would drown test output; the CLI prints what matters.
        pass

    def _send(self, status: HTTPStatus, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Security-Policy", _CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        # Mails carry confirmation tokens in links; don't leak this page's URL or cache the content.
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cache-Control", "no-store")
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _not_found(self) -> None:
        self._send(
            HTTPStatus.NOT_FOUND,
            _page("Nicht gefunden", '<h1>Nicht gefunden</h1><p><a href="/">Zum Postfach</a></p>'),
            "text/html; charset=utf-8",
        )

    def do_GET(self) -> None:
        # Match the raw path (no unquoting): `%2e%2e` and friends simply don't match and end as 404.
        path = urlsplit(self.path).path
        if path == "/":
            self._send(HTTPStatus.OK, _render_index(self.sink.messages()), "text/html; charset=utf-8")
            return
        if path == "/api/mails":
            data = [m.to_json() for m in self.sink.messages()]
            self._send(
                HTTPStatus.OK,
                json.dumps(data, ensure_ascii=False).encode(),
                "application/json; charset=utf-8",
            )
            return
        match = _MAIL_PATH_RE.fullmatch(path)
        mail = self.sink.get(match["id"]) if match else None
        if match is None or mail is None:
            self._not_found()
        elif match["eml"]:
            self._send(
                HTTPStatus.OK,
                mail.raw,
                "message/rfc822",
                {"Content-Disposition": f'attachment; filename="{mail.id}.eml"'},
            )
        else:
            self._send(HTTPStatus.OK, _render_mail(mail), "text/html; charset=utf-8")

    do_HEAD = do_GET

    def do_DELETE(self) -> None:
        if urlsplit(self.path).path == "/api/mails":
            self.sink.clear()
            self.send_response(HTTPStatus.NO_CONTENT)
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self._not_found()


# --- CLI ---------------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m stack.mailsink", description="Local SMTP mail sink with a web UI, for development."
    )
    parser.add_argument("--store", type=Path, default=Path("var/mail"), help="folder for the .eml files")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--smtp-port", type=int, default=2525, help="SMTP port (0: any free port)")
    parser.add_argument("--web-port", type=int, default=8025, help="web UI port (0: any free port)")
    parser.add_argument("--no-web", action="store_true", help="run without the web UI")
    args = parser.parse_args(argv)

    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    # SIGTERM (docker stop, process managers) should shut down as cleanly as Ctrl-C.
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    sink = MailSink(
        args.store, host=args.host, smtp_port=args.smtp_port, web_port=None if args.no_web else args.web_port
    )
    with sink:
        # German like the rest of the stack's operator output.
        print(f"Mail-Sink SMTP: {sink.smtp_host}:{sink.smtp_port}")
        if sink.web_url:
            print(f"Postfach (Web): {sink.web_url}/")
        print(f"Mails (.eml):   {sink.store_dir.resolve()}  (Envelope je Mail in <id>.json)")
        print("Beenden mit Strg-C.", flush=True)
        while not stop.wait(0.5):
            pass
    print("Mail-Sink beendet.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
