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

import base64
import hashlib
import secrets
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx


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
