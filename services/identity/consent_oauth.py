"""The OAuth 2.0 protocol of third parties' consent, by Authlib: authorisation code with PKCE (S256, required for
every client, RFC 9700 §2.1.1), exact redirect URIs, rotating refresh tokens.

Authlib's server calls back synchronously (find the client, the code, the refresh token; save what it issued).
Identity's store is asynchronous, so a use case (consent_handlers) reads what one request can need first and
hands it to a :class:`ConsentProtocol` made for that request; Authlib's callbacks read from it and note what to
save in ``issued``, which the use case writes in its transaction afterwards. No I/O happens in here.
"""

import hmac
import secrets
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

from authlib.oauth2 import AuthorizationServer, OAuth2Request
from authlib.oauth2.rfc6749 import (
    AuthorizationCodeMixin,
    ClientMixin,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Error,
    OAuth2Payload,
    TokenMixin,
    grants,
)
from authlib.oauth2.rfc7636 import CodeChallenge

from contracts.consent import GRANT_SCOPES
from services.identity.consent_domain import (
    CODE_VALID,
    Grant,
    IssuedCode,
    IssuedRefreshToken,
    ThirdParty,
    access_token_claims,
)
from services.identity.crypto import token_hash

# Recognisable prefixes, so that secret scanners find leaked ones (and people tell them apart).
CLIENT_SECRET_PREFIX = "pps_"
REFRESH_TOKEN_PREFIX = "ppr_"


# A random secret's SHA-256, as identity keeps its one-time links' tokens (high-entropy values need no slow hash).
secret_hash = token_hash


def new_secret(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


class _Payload(OAuth2Payload):
    def __init__(self, pairs: Sequence[tuple[str, str]]) -> None:
        self._pairs = pairs

    @property
    def data(self) -> dict[str, str]:
        return dict(self._pairs)

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        values: defaultdict[str, list[str]] = defaultdict(list)
        for name, value in self._pairs:
            values[name].append(value)
        return values


class ProtocolRequest(OAuth2Request):
    """An HTTP request as Authlib reads it: the query's and the form's parameters, and the headers."""

    def __init__(self, method: str, query: str, form: Sequence[tuple[str, str]] = (), authorization: str = "") -> None:
        # The gateway terminates TLS; behind it the service sees http. Authlib only wants to know it was https.
        super().__init__(method, "https://portal.invalid/oauth?" + query, headers={"Authorization": authorization})
        self._args = parse_qsl(query, keep_blank_values=True)
        self._form = list(form)
        self.payload = _Payload(self._args + self._form)

    @property
    def args(self) -> dict[str, str]:
        return dict(self._args)

    @property
    def form(self) -> dict[str, str]:
        return dict(self._form)


@dataclass(frozen=True)
class Client(ClientMixin):
    party: ThirdParty

    def get_client_id(self) -> str:
        return self.party.client_id

    def get_default_redirect_uri(self) -> str | None:
        uris = self.party.redirect_uris
        return uris[0] if len(uris) == 1 else None

    def get_allowed_scope(self, scope: str) -> str:
        return " ".join(s for s in scope.split() if s in GRANT_SCOPES)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.party.redirect_uris  # exact string match (RFC 9700 §4.1.3)

    def check_client_secret(self, client_secret: str) -> bool:
        expected = self.party.secret_hash
        return expected is not None and hmac.compare_digest(secret_hash(client_secret), expected)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.party.secret_hash is None:
            return method == "none"
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in ("authorization_code", "refresh_token")


@dataclass(frozen=True)
class Code(AuthorizationCodeMixin):
    issued: IssuedCode

    def get_redirect_uri(self) -> str:
        return self.issued.redirect_uri

    def get_scope(self) -> str:
        return self.issued.scope


@dataclass(frozen=True)
class RefreshToken(TokenMixin):
    issued: IssuedRefreshToken
    grant: Grant

    def check_client(self, client: Client) -> bool:
        return client.get_client_id() == self.issued.client_id

    def get_scope(self) -> str:
        return self.grant.scope

    def get_expires_in(self) -> int:
        return 0

    def is_expired(self) -> bool:
        return False  # the grant's end is checked where it is loaded

    def is_revoked(self) -> bool:
        return self.issued.used_at is not None


class _S256Only(CodeChallenge):
    """PKCE with S256, for every client: a request without a challenge is refused (Authlib lets it pass)."""

    SUPPORTED_CODE_CHALLENGE_METHOD: ClassVar[list[str]] = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send 'code_challenge' with 'code_challenge_method=S256'.")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("Only 'code_challenge_method=S256' is supported.")
        super().validate_code_challenge(grant, redirect_uri)

    def get_authorization_code_challenge(self, authorization_code: Code) -> str:
        return authorization_code.issued.code_challenge

    def get_authorization_code_challenge_method(self, authorization_code: Code) -> str:
        return authorization_code.issued.code_challenge_method


@dataclass
class Loaded:
    """What one request can need, read by the use case before the protocol runs."""

    tenant: str
    now: datetime
    client: ThirdParty | None = None
    code: IssuedCode | None = None
    refresh_token: IssuedRefreshToken | None = None
    grant: Grant | None = None  # the code's or refresh token's (usable), or the one being approved


@dataclass
class Issued:
    """What the protocol issued in this request, for the use case to save."""

    codes: list[IssuedCode] = field(default_factory=list)
    refresh_tokens: list[IssuedRefreshToken] = field(default_factory=list)
    used_code: str | None = None
    used_refresh_token: str | None = None


class _CodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["client_secret_basic", "client_secret_post", "none"]
    server: "ConsentProtocol"

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        protocol, data = self.server, request.payload.data
        assert protocol.loaded.grant is not None
        protocol.issued.codes.append(
            IssuedCode(
                code_hash=secret_hash(code),
                tenant=protocol.loaded.tenant,
                grant_id=protocol.loaded.grant.id,
                client_id=request.client.get_client_id(),
                redirect_uri=request.payload.redirect_uri or "",
                scope=protocol.loaded.grant.scope,
                code_challenge=data["code_challenge"],
                code_challenge_method=data["code_challenge_method"],
                expires_at=protocol.loaded.now + CODE_VALID,
            )
        )

    def query_authorization_code(self, code: str, client: Client) -> Code | None:
        found, now = self.server.loaded.code, self.server.loaded.now
        if found is None or found.code_hash != secret_hash(code) or found.client_id != client.get_client_id():
            return None
        if found.used_at is not None or found.expires_at <= now or self.server.loaded.grant is None:
            return None
        return Code(found)

    def delete_authorization_code(self, authorization_code: Code) -> None:
        self.server.issued.used_code = authorization_code.issued.code_hash

    def authenticate_user(self, authorization_code: Code) -> Grant | None:
        return self.server.loaded.grant


class _RefreshGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["client_secret_basic", "client_secret_post", "none"]
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotation: every refresh token is used once
    server: "ConsentProtocol"

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshToken | None:
        found, grant = self.server.loaded.refresh_token, self.server.loaded.grant
        if found is None or grant is None or found.token_hash != secret_hash(refresh_token):
            return None
        token = RefreshToken(found, grant)
        return None if token.is_revoked() else token

    def authenticate_user(self, refresh_token: RefreshToken) -> Grant:
        return refresh_token.grant

    def revoke_old_credential(self, refresh_token: RefreshToken) -> None:
        self.server.issued.used_refresh_token = refresh_token.issued.token_hash


class ConsentProtocol(AuthorizationServer):
    """Authlib's authorisation server for one request, on what the use case loaded (``loaded``)."""

    def __init__(self, loaded: Loaded, sign: Callable[[dict[str, Any], datetime], str]) -> None:
        super().__init__(scopes_supported=list(GRANT_SCOPES))
        self.loaded = loaded
        self.issued = Issued()
        self._sign = sign
        self.register_grant(_CodeGrant, [_S256Only(required=True)])
        self.register_grant(_RefreshGrant)
        self.register_token_generator("default", self._tokens)

    # --- what Authlib asks of a framework integration ---

    def query_client(self, client_id: str) -> Client | None:
        party = self.loaded.client
        return Client(party) if party is not None and party.client_id == client_id else None

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        grant = self.loaded.grant
        assert grant is not None
        self.issued.refresh_tokens.append(
            IssuedRefreshToken(
                token_hash=secret_hash(token["refresh_token"]),
                tenant=self.loaded.tenant,
                grant_id=grant.id,
                client_id=request.client.get_client_id(),
                issued_at=self.loaded.now,
            )
        )

    def create_oauth2_request(self, request: ProtocolRequest) -> ProtocolRequest:
        return request

    def handle_response(
        self, status: int, body: Any, headers: list[tuple[str, str]]
    ) -> tuple[int, Any, dict[str, str]]:
        return status, body, dict(headers)

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        pass

    def validate_requested_scope(self, scope: str) -> None:
        if len(scope.split()) != 1 or scope not in GRANT_SCOPES:
            raise InvalidScopeError(f"Ask for exactly one of: {', '.join(GRANT_SCOPES)}.")

    # --- tokens ---

    def _tokens(
        self,
        grant_type: str,
        client: Client,
        user: Grant,
        scope: str,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        now = self.loaded.now
        claims, expires_at = access_token_claims(user, now)
        token: dict[str, Any] = {
            "token_type": "Bearer",
            "access_token": self._sign(claims, expires_at),
            "expires_in": max(1, int((expires_at - now).total_seconds())),
            "scope": user.scope,
        }
        if include_refresh_token:
            token["refresh_token"] = new_secret(REFRESH_TOKEN_PREFIX)
        return token


def validate_consent(protocol: ConsentProtocol, request: ProtocolRequest) -> Client:
    """The authorisation request checked (client, exact redirect URI, response type, one scope, PKCE S256):
    the client, or OAuth2Error."""
    grant = protocol.get_consent_grant(request)
    return grant.client


def authorisation_redirect(protocol: ConsentProtocol, request: ProtocolRequest, approved: Grant | None) -> str:
    """Where the customer's browser goes next: the client's redirect URI with a code (approved) or an error."""
    grant = protocol.get_consent_grant(request)
    status, _, headers = protocol.create_authorization_response(request, grant_user=approved, grant=grant)
    location = headers.get("Location")
    if status != 302 or not location:
        raise OAuth2Error("no redirect")
    return location


def token_response(protocol: ConsentProtocol, request: ProtocolRequest) -> tuple[int, Any, dict[str, str]]:
    return protocol.create_token_response(request)


def form_value(request: ProtocolRequest, name: str) -> str | None:
    return request.form.get(name)


def redirect_host(uri: str) -> str:
    return urlsplit(uri).netloc
