"""The sample third party's own steps (backoffice.third_party_client): PKCE and state as RFC 7636/6749 say, and the
try-out's catch of the redirect. The flow against the services: tests/e2e/test_consent.py."""

import base64
import hashlib
import socket
import threading
import urllib.request
from datetime import date
from urllib.parse import parse_qs, urlsplit

import pytest

from backoffice.third_party_client import ThirdPartyClient, ThirdPartyError, _catch_redirect

CLIENT = ThirdPartyClient("https://000328.plusportal.example", "tp_x", None, "http://127.0.0.1:8765/callback")


def test_the_request_carries_the_s256_challenge_of_the_kept_verifier_and_a_fresh_state() -> None:
    start = CLIENT.authorisation("meterdata:day", data_from=date(2026, 6, 1), days=30)
    url = urlsplit(start.url)
    query = {name: values[0] for name, values in parse_qs(url.query).items()}
    assert (url.netloc, url.path) == ("000328.plusportal.example", "/freigabe")
    digest = hashlib.sha256(start.code_verifier.encode()).digest()
    assert query["code_challenge"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert query | {"code_challenge": ""} == {
        "response_type": "code", "client_id": "tp_x", "redirect_uri": "http://127.0.0.1:8765/callback",
        "scope": "meterdata:day", "state": start.state, "code_challenge": "", "code_challenge_method": "S256",
        "data_from": "2026-06-01", "days": "30",
    }  # fmt: skip
    assert 43 <= len(start.code_verifier) <= 128
    assert CLIENT.authorisation("meterdata:day").state != start.state


def test_the_code_comes_back_only_with_its_own_state_and_a_refusal_is_an_error() -> None:
    start = CLIENT.authorisation("meterdata:month")
    assert CLIENT.code_from(f"http://127.0.0.1:8765/callback?code=abc&state={start.state}", start) == "abc"
    with pytest.raises(ThirdPartyError, match="state_mismatch"):
        CLIENT.code_from("http://127.0.0.1:8765/callback?code=abc&state=someone-elses", start)
    with pytest.raises(ThirdPartyError) as refused:
        CLIENT.code_from(f"http://127.0.0.1:8765/callback?error=access_denied&state={start.state}", start)
    assert refused.value.error == "access_denied"


def test_the_try_out_catches_the_browsers_return_on_the_loopback() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    caught: list[str] = []
    catcher = threading.Thread(target=lambda: caught.append(_catch_redirect(port)))
    catcher.start()
    for _ in range(50):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/callback?code=c1&state=s1", timeout=2) as page:
                assert "schließen" in page.read().decode()
            break
        except OSError:
            threading.Event().wait(0.05)
    catcher.join(timeout=5)
    assert caught == [f"http://127.0.0.1:{port}/callback?code=c1&state=s1"]
