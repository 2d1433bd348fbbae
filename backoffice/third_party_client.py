"""A sample third party (an energy service company's app) that reads a customer's meter data with their consent:
OAuth 2.0 authorisation code with PKCE (RFC 6749, RFC 7636), as README "Daten für Dritte" describes. Only the
portal's public HTTP interface is used; the tests drive the whole flow with it.

    client = ThirdPartyClient("https://000328.plusportal.de", client_id, client_secret, redirect_uri)
    start = client.authorisation("meterdata:month", data_from=date(2026, 6, 1), days=90)
    # send the customer's browser to start.url; the portal sends it back to redirect_uri?code=…&state=…
    tokens = await client.exchange(code, start)
    answer = await client.read(tokens, partner_number, "/intervals", {"from": …, "to": …, "resolution": "month"})
    tokens = await client.refresh(tokens)   # a new refresh token each time: the old one is spent
"""

import argparse
import asyncio
import base64
import hashlib
import secrets
from dataclasses import dataclass
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from contracts.consent import GRANT_SCOPES


@dataclass(frozen=True)
class AuthorisationStart:
    url: str  # where the customer's browser goes: the portal's consent page
    state: str  # the client checks it comes back unchanged (CSRF of the redirect)
    code_verifier: str  # kept by the client; its S256 hash went with the request


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str
    expires_in: int
    scope: str


class ThirdPartyError(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(f"{status}: {body.get('error')} {body.get('error_description', '')}".strip())
        self.status, self.error = status, body.get("error")


class ThirdPartyClient:
    def __init__(
        self,
        portal_url: str,
        client_id: str,
        client_secret: str | None,
        redirect_uri: str,
        *,
        identity_url: str | None = None,
        meterdata_url: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """``portal_url``: the operator's portal (its consent page ``/freigabe``); identity's and meter data's APIs
        answer behind its gateway (``/api/identity``, ``/api/meterdata``) unless named; ``headers`` go with every
        API call (the tests name the host)."""
        self.portal_url = portal_url.rstrip("/")
        self.identity_url = (identity_url or f"{self.portal_url}/api/identity").rstrip("/")
        self.meterdata_url = (meterdata_url or f"{self.portal_url}/api/meterdata").rstrip("/")
        self.client_id, self.client_secret, self.redirect_uri = client_id, client_secret, redirect_uri
        self.headers = headers or {}

    def authorisation(
        self, scope: str, *, data_from: date | None = None, days: int | None = None
    ) -> AuthorisationStart:
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        state = secrets.token_urlsafe(16)
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": scope,
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        if data_from is not None:
            query["data_from"] = data_from.isoformat()
        if days is not None:
            query["days"] = str(days)
        return AuthorisationStart(f"{self.portal_url}/freigabe?{urlencode(query)}", state, verifier)

    @staticmethod
    def code_from(redirected_to: str, start: AuthorisationStart) -> str:
        """The code of the redirect back; ThirdPartyError when the customer refused or the state differs."""
        params = {name: values[0] for name, values in parse_qs(urlsplit(redirected_to).query).items()}
        if params.get("state") != start.state:
            raise ThirdPartyError(400, {"error": "state_mismatch"})
        if "error" in params:
            raise ThirdPartyError(400, params)
        return params["code"]

    async def exchange(self, code: str, start: AuthorisationStart) -> Tokens:
        return await self._token(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self.redirect_uri,
                "code_verifier": start.code_verifier,
            }
        )

    async def refresh(self, tokens: Tokens) -> Tokens:
        return await self._token({"grant_type": "refresh_token", "refresh_token": tokens.refresh_token})

    async def _token(self, form: dict[str, str]) -> Tokens:
        headers = dict(self.headers)
        if self.client_secret is None:  # a public client names itself; PKCE proves it started the flow
            form = {**form, "client_id": self.client_id}
        else:  # client_secret_basic
            basic = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
            headers["Authorization"] = f"Basic {basic}"
        async with httpx.AsyncClient(timeout=30) as http:
            answer = await http.post(f"{self.identity_url}/oauth/token", data=form, headers=headers)
        body = answer.json()
        if answer.status_code != 200:
            raise ThirdPartyError(answer.status_code, body)
        return Tokens(body["access_token"], body["refresh_token"], body["expires_in"], body["scope"])

    async def read(self, tokens: Tokens, partner_number: str, path: str, params: dict[str, str]) -> httpx.Response:
        """A meter-data read with the grant's access token (``path``: ``/intervals`` or ``/registers``)."""
        headers = {**self.headers, "Authorization": f"Bearer {tokens.access_token}"}
        async with httpx.AsyncClient(timeout=30) as http:
            return await http.get(
                f"{self.meterdata_url}/partners/{partner_number}{path}", params=params, headers=headers
            )


# --- a try-out for developers: the whole flow against a running portal (README "Daten für Dritte") -----------------


def _catch_redirect(port: int) -> str:
    """Serves the redirect URI on the loopback once: the URL the customer's browser came back with."""
    arrived: list[str] = []

    class Callback(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            arrived.append(f"http://127.0.0.1:{port}{self.path}")
            body = "Danke – Sie können dieses Fenster schließen.".encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    with HTTPServer(("127.0.0.1", port), Callback) as server:
        while not arrived:
            server.handle_request()
    return arrived[0]


async def _try_out(args: argparse.Namespace) -> None:
    redirect = f"http://127.0.0.1:{args.port}/callback"
    portal = urlsplit(args.portal)
    api: dict[str, Any] = {}
    if (portal.hostname or "").endswith(".localhost"):  # browsers resolve *.localhost, Python's resolver may not
        gateway = f"{portal.scheme}://127.0.0.1:{portal.port or 80}/api"
        api = {"identity_url": f"{gateway}/identity", "meterdata_url": f"{gateway}/meterdata"}
        api["headers"] = {"Host": portal.netloc}
    client = ThirdPartyClient(args.portal, args.client_id, args.client_secret, redirect, **api)
    start = client.authorisation(args.scope, data_from=args.data_from, days=args.days)
    print("Öffnen Sie im Browser (als Kundin oder Kunde angemeldet):")
    print(f"  {start.url}")
    print(f"Warte auf die Rückkehr nach {redirect} …", flush=True)
    back = await asyncio.to_thread(_catch_redirect, args.port)
    tokens = await client.exchange(client.code_from(back, start), start)
    print(f"Freigabe erhalten: {tokens.scope}, Zugriffstoken für {tokens.expires_in} s")
    first = args.data_from or date.today() - timedelta(days=7)
    resolution = "month" if "day" not in GRANT_SCOPES[tokens.scope] else "day"
    period = {"from": first.isoformat(), "to": date.today().isoformat(), "resolution": resolution}
    answer = await client.read(tokens, args.partner, "/intervals", period)
    print(f"GET /intervals {period} → {answer.status_code}")
    print(answer.text[:2000])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m backoffice.third_party_client",
        description="Tries the consent flow as a third party: prints the consent page's address, catches the "
        "redirect on the loopback, exchanges the code and reads the granted values. Register the client first with "
        "redirect URI http://127.0.0.1:<port>/callback (plusportal-staff register-third-party).",
    )
    parser.add_argument("--portal", required=True, help="e.g. http://000328.localhost:8080")
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", default=None, help="omit for a public client")
    parser.add_argument("--partner", required=True, help="the partner number the customer will choose")
    parser.add_argument(
        "--scope", default="meterdata:day", choices=("meterdata:15min", "meterdata:day", "meterdata:month")
    )
    parser.add_argument("--data-from", type=date.fromisoformat, default=None)
    parser.add_argument("--days", type=int, default=None)
    parser.add_argument("--port", type=int, default=8765)
    try:
        asyncio.run(_try_out(parser.parse_args(argv)))
    except ThirdPartyError as error:
        raise SystemExit(f"Abgelehnt oder fehlgeschlagen: {error}") from None


if __name__ == "__main__":
    main()
