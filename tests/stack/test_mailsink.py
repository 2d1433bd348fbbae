"""MailSink: real SMTP in, mails read back from disk, web UI/API out."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import pytest

from stack.mailsink import MailSink, StoredMail

REPO_ROOT = Path(__file__).resolve().parents[2]
SUBJECT = "Ihre Zählerstände für März – Bestätigung"
CONFIRM_URL = "https://portal.example.de/bestaetigen?token=abc123&mandant=süd"


def _multipart_mail(subject: str = SUBJECT, to: str = "jürgen@example.org") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Plusportal <noreply@plusportal.example>"
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content(
        "Grüß Gott Herr Müller,\n\n"
        f"bitte bestätigen Sie Ihre Adresse: {CONFIRM_URL}.\n"
        "Hilfe finden Sie unter (http://hilfe.example.de/faq) – schöne Grüße.\n"
    )
    msg.add_alternative(
        f'<p>Grüß Gott Herr Müller,</p><p><a href="{CONFIRM_URL}">Adresse bestätigen</a></p>',
        subtype="html",
    )
    return msg


async def _send(sink: MailSink, msg: EmailMessage, recipients: list[str] | None = None) -> None:
    await aiosmtplib.send(
        msg,
        hostname=sink.smtp_host,
        port=sink.smtp_port,
        sender="bounce@plusportal.example",
        recipients=recipients or ["juergen@example.org"],
        timeout=10,
    )


def _get(url: str) -> tuple[int, dict[str, str], bytes]:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.status, dict(resp.headers.items()), resp.read()


def _delete(url: str) -> int:
    with urllib.request.urlopen(urllib.request.Request(url, method="DELETE"), timeout=5) as resp:
        return int(resp.status)


def _raw_get(sink: MailSink, path: str) -> int:
    # http.client sends the path byte for byte; urllib might normalise what we want to attack with.
    assert sink.web_url is not None
    host, port = sink.web_url.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[MailSink]:
    with MailSink(tmp_path / "mail", web_port=0) as started:
        yield started


async def test_roundtrip_decodes_umlauts_body_html_and_links(sink: MailSink) -> None:
    await _send(sink, _multipart_mail(), recipients=["juergen@example.org", "kopie@example.org"])

    mail = await sink.wait_for(lambda m: "Zählerstände" in m.subject, timeout=5)

    assert mail.subject == SUBJECT
    assert mail.sender == "Plusportal <noreply@plusportal.example>"
    assert mail.to == "jürgen@example.org"
    assert mail.envelope_from == "bounce@plusportal.example"
    assert mail.envelope_to == ["juergen@example.org", "kopie@example.org"]
    assert mail.text.startswith("Grüß Gott Herr Müller,\n\nbitte bestätigen")
    assert b"\r\n" in mail.raw and "\r" not in mail.text  # raw as received, text with plain newlines
    assert mail.html is not None and "Adresse bestätigen" in mail.html
    # Sentence punctuation and the surrounding parenthesis are not part of the URLs.
    assert mail.links() == [CONFIRM_URL, "http://hilfe.example.de/faq"]
    assert mail.received_at.utcoffset() == timedelta(0)

    # Scripts read the folder directly: raw .eml plus envelope sidecar.
    eml = sink.store_dir / f"{mail.id}.eml"
    assert eml.read_bytes() == mail.raw
    assert b"Subject:" in mail.raw
    sidecar = json.loads((sink.store_dir / f"{mail.id}.json").read_text(encoding="utf-8"))
    assert sidecar["envelope_to"] == ["juergen@example.org", "kopie@example.org"]
    assert sidecar["envelope_from"] == "bounce@plusportal.example"
    assert [m.id for m in sink.messages()] == [mail.id]


async def test_messages_oldest_first_and_visible_to_other_instances(sink: MailSink) -> None:
    for n in range(3):
        await _send(sink, _multipart_mail(subject=f"Mail {n}"))
    await sink.wait_for(lambda m: m.subject == "Mail 2", timeout=5)

    assert [m.subject for m in sink.messages()] == ["Mail 0", "Mail 1", "Mail 2"]
    # A never-started sink on the same folder (e.g. another process) sees the same mails.
    reader = MailSink(sink.store_dir)
    assert [m.subject for m in reader.messages()] == ["Mail 0", "Mail 1", "Mail 2"]
    assert reader.web_url is None


async def test_wait_for_times_out_listing_subjects_not_bodies(sink: MailSink) -> None:
    await _send(sink, _multipart_mail())
    await sink.wait_for(lambda m: True, timeout=5)

    started = time.monotonic()
    with pytest.raises(TimeoutError) as info:
        await sink.wait_for(lambda m: m.subject == "gibt es nicht", timeout=0.3)
    assert time.monotonic() - started < 3

    message = str(info.value)
    assert "0.3s" in message
    assert SUBJECT in message
    assert "juergen@example.org" in message
    assert "token=abc123" not in message and "Grüß Gott" not in message


async def test_wait_for_on_empty_sink_says_so(tmp_path: Path) -> None:
    # Started from inside the running test loop: the sink's threads must not need this loop.
    with MailSink(tmp_path) as sink:
        assert sink.smtp_port != 0
        with pytest.raises(TimeoutError, match="no mails"):
            await sink.wait_for(lambda m: True, timeout=0.1)


async def test_clear_removes_mails(sink: MailSink) -> None:
    await _send(sink, _multipart_mail())
    await sink.wait_for(lambda m: True, timeout=5)

    sink.clear()

    assert sink.messages() == []
    assert list(sink.store_dir.iterdir()) == []


async def test_web_api_returns_mails_as_json(sink: MailSink) -> None:
    await _send(sink, _multipart_mail())
    mail = await sink.wait_for(lambda m: True, timeout=5)
    assert sink.web_url is not None

    status, headers, body = _get(f"{sink.web_url}/api/mails")

    assert status == 200
    assert headers["Content-Type"].startswith("application/json")
    [item] = json.loads(body)
    assert item == {
        "id": mail.id,
        "received_at": mail.received_at.isoformat(),
        "envelope_from": "bounce@plusportal.example",
        "envelope_to": ["juergen@example.org"],
        "from": "Plusportal <noreply@plusportal.example>",
        "to": "jürgen@example.org",
        "subject": SUBJECT,
        "text": mail.text,
        "links": [CONFIRM_URL, "http://hilfe.example.de/faq"],
    }


async def test_web_delete_clears(sink: MailSink) -> None:
    await _send(sink, _multipart_mail())
    await sink.wait_for(lambda m: True, timeout=5)
    assert sink.web_url is not None

    assert _delete(f"{sink.web_url}/api/mails") == 204

    assert sink.messages() == []


async def test_web_pages_escape_customer_values(sink: MailSink) -> None:
    evil = '<script>alert("x")</script>'
    msg = _multipart_mail(subject=f"Hallo {evil}", to="Eve <eve@example.org>")
    msg.get_body(preferencelist=("plain",)).set_content(  # type: ignore[union-attr]
        f"Text mit {evil} und Link https://example.org/a?b=1&c=<2> ende\n"
    )
    await _send(sink, msg)
    mail = await sink.wait_for(lambda m: "Hallo" in m.subject, timeout=5)
    assert sink.web_url is not None

    status, headers, index = _get(f"{sink.web_url}/")
    page = index.decode()
    assert status == 200
    assert "Postfach (Entwicklung)" in page
    assert "<script" not in page
    assert "&lt;script&gt;" in page
    assert f'href="/mails/{mail.id}"' in page
    assert "default-src 'none'" in headers["Content-Security-Policy"]

    status, _, detail = _get(f"{sink.web_url}/mails/{mail.id}")
    page = detail.decode()
    assert status == 200
    assert "<script" not in page
    assert "&lt;script&gt;" in page
    assert "Eve &lt;eve@example.org&gt;" in page
    # The URL in the body is a link, with the query's & escaped in the attribute.
    assert '<a href="https://example.org/a?b=1&amp;c=" rel="noopener noreferrer">' in page
    assert f'href="/mails/{mail.id}.eml"' in page


async def test_eml_download_is_the_raw_message(sink: MailSink) -> None:
    await _send(sink, _multipart_mail())
    mail = await sink.wait_for(lambda m: True, timeout=5)
    assert sink.web_url is not None

    status, headers, body = _get(f"{sink.web_url}/mails/{mail.id}.eml")

    assert status == 200
    assert headers["Content-Type"] == "message/rfc822"
    assert body == mail.raw == (sink.store_dir / f"{mail.id}.eml").read_bytes()


@pytest.mark.parametrize(
    "path",
    [
        "/nope",
        "/mails/",
        "/mails/../../etc/passwd",
        "/mails/..%2F..%2Fetc%2Fpasswd",
        "/mails/%2e%2e%2f%2e%2e%2fetc%2fpasswd.eml",
        "/mails/20250101T000000.000000Z-000001",  # well-formed but unknown
        "/mails/20250101T000000.000000Z-000001.json",
        "/mails/20250101T000000.000000Z-000001/../../../etc/passwd",
        "/api/mails/../../etc/passwd",
    ],
)
async def test_unknown_paths_and_traversal_are_404(sink: MailSink, path: str) -> None:
    # A real mail and a file outside the store exist, so a traversal would have something to find.
    await _send(sink, _multipart_mail())
    await sink.wait_for(lambda m: True, timeout=5)
    (sink.store_dir.parent / "secret.eml").write_text("geheim")

    assert _raw_get(sink, path) == 404


def test_get_rejects_malformed_ids(sink: MailSink) -> None:
    (sink.store_dir.parent / "secret.eml").write_text("geheim")
    assert sink.get("../secret") is None
    assert sink.get("") is None


def test_stop_releases_ports_and_threads(tmp_path: Path) -> None:
    before = set(threading.enumerate())
    sink = MailSink(tmp_path, web_port=0).start()
    smtp_port, web_url = sink.smtp_port, sink.web_url
    assert web_url is not None

    sink.stop()
    sink.stop()  # idempotent

    assert set(threading.enumerate()) <= before
    assert sink.web_url is None
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", smtp_port), timeout=1).close()
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{web_url}/", timeout=1)


@pytest.mark.parametrize("which", ["smtp_port", "web_port"])
def test_busy_port_fails_fast_and_cleanly(tmp_path: Path, which: str) -> None:
    before = set(threading.enumerate())
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(OSError, match=f"127.0.0.1:{port}"):
            MailSink(tmp_path, **{which: port}).start()
    assert time.monotonic() - started < 2
    assert set(threading.enumerate()) <= before


def test_stored_mail_links_deduplicate() -> None:
    mail = StoredMail(
        id="20250101T000000.000000Z-000001",
        received_at=datetime.now(UTC),
        envelope_from="",
        envelope_to=[],
        subject="",
        sender="",
        to="",
        text="a https://x.example/1, b <https://x.example/1> c ftp://no.example javascript:alert(1)",
        html=None,
        raw=b"",
    )
    assert mail.links() == ["https://x.example/1"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_cli_runs_until_interrupted(tmp_path: Path) -> None:
    smtp_port, web_port = _free_port(), _free_port()
    store = tmp_path / "mail"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stack.mailsink",
            "--store",
            str(store),
            "--smtp-port",
            str(smtp_port),
            "--web-port",
            str(web_port),
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(4)]
        output = "".join(lines)
        assert f"127.0.0.1:{smtp_port}" in output
        assert f"http://127.0.0.1:{web_port}/" in output
        assert str(store.resolve()) in output

        status, _, _ = _get(f"http://127.0.0.1:{web_port}/api/mails")
        assert status == 200

        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
        assert "beendet" in rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
