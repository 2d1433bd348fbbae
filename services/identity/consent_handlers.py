"""Consent's use cases, each ``handle(command, uow) -> view``: register a third party (platform operator), show
and decide a third party's request (customer), exchange codes and refresh tokens (third party), list and revoke
grants (customer), expire grants (worker). The protocol is Authlib's (consent_oauth); the rules are the domain's
(consent_domain); the events go out on the identity topic with the change."""

import secrets
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol
from uuid import uuid4

from authlib.oauth2.rfc6749 import OAuth2Error

from contracts.consent import GRANT_SCOPE_LABELS
from contracts.identity import ACCESS_TOKEN_AUDIENCE, ACCESS_TOKEN_ISSUER, AccountDeleted
from contracts.topics import IDENTITY
from kit import energy_day
from kit.consumer import Delivered
from kit.uow import UnitOfWork
from services.identity import consent_oauth
from services.identity.consent_domain import (
    Asked,
    Chosen,
    Grant,
    GrantStatus,
    IssuedCode,
    IssuedRefreshToken,
    ThirdParty,
    approve,
    asked,
    narrower_scopes,
)
from services.identity.consent_oauth import ConsentProtocol, Loaded, ProtocolRequest
from services.identity.handlers import Identities, SignedIn, Signer


class Consents(Identities, Protocol):
    """What consent's use cases need of the store (consent_store.ConsentStore)."""

    async def add_third_party(self, party: ThirdParty) -> None: ...
    async def third_party(self, tenant: str, client_id: str) -> ThirdParty | None: ...
    async def disable_third_party(self, tenant: str, client_id: str, at: datetime) -> bool: ...
    async def grants_of_client(self, tenant: str, client_id: str) -> list[Grant]: ...
    async def add_grant(self, grant: Grant) -> None: ...
    async def save_grant(self, grant: Grant) -> None: ...
    async def grant(self, tenant: str, grant_id: str, *, lock: bool = False) -> Grant | None: ...
    async def grants_of(self, tenant: str, account_id: str) -> list[Grant]: ...
    async def grants_past_their_end(self, now: datetime, limit: int) -> list[Grant]: ...
    async def add_code(self, code: IssuedCode) -> None: ...
    async def code(self, tenant: str, code_hash: str) -> IssuedCode | None: ...
    async def use_code(self, code_hash: str, now: datetime) -> None: ...
    async def add_refresh_token(self, token: IssuedRefreshToken) -> None: ...
    async def refresh_token(self, tenant: str, token_hash: str) -> IssuedRefreshToken | None: ...
    async def use_refresh_token(self, token_hash: str, now: datetime) -> None: ...


Uow = UnitOfWork[Consents]


class ProtocolRefused(Exception):
    """The authorisation request itself is wrong (unknown client, redirect URI not registered, no PKCE, …): said to
    the customer, never redirected. ``redirect_to`` is the client's error redirect where one may be given."""

    def __init__(self, message: str, redirect_to: str | None = None) -> None:
        super().__init__(message)
        self.redirect_to = redirect_to


def _publish(uow: Uow, grant: Grant) -> None:
    # Keyed like the account's other events (the identity topic's key): one partition keeps them in order.
    uow.publish_recorded(grant, lambda _: (IDENTITY, grant.account_id), tenant=grant.tenant, correlation_id=uuid4())


def _signing(signer: Signer, now: datetime) -> Any:
    def sign(claims: dict[str, Any], expires_at: datetime) -> str:
        return signer.sign({**claims, "iss": ACCESS_TOKEN_ISSUER, "aud": ACCESS_TOKEN_AUDIENCE, "iat": now}, expires_at)

    return sign


# --- the platform operator registers a third party ---------------------------------------------------------


@dataclass(frozen=True)
class RegisterThirdParty:
    tenant: str
    name: str
    contact: str
    redirect_uris: tuple[str, ...]
    public: bool  # a public client (an app on the customer's device): PKCE alone, no secret


@dataclass(frozen=True)
class Registered:
    client_id: str
    client_secret: str | None  # shown once


async def register_third_party(command: RegisterThirdParty, uow: Uow) -> Registered:
    secret = None if command.public else consent_oauth.new_secret(consent_oauth.CLIENT_SECRET_PREFIX)
    client_id = "tp_" + secrets.token_urlsafe(12)
    await uow.store.add_third_party(
        ThirdParty(
            client_id=client_id,
            tenant=command.tenant,
            name=command.name,
            contact=command.contact,
            redirect_uris=command.redirect_uris,
            secret_hash=None if secret is None else consent_oauth.secret_hash(secret),
            created_at=uow.now(),
        )
    )
    return Registered(client_id, secret)


# --- the customer sees and decides a third party's request --------------------------------------------------


@dataclass(frozen=True)
class ShowConsent:
    signed_in: SignedIn
    query: str  # the authorisation request's query string, as the third party sent the browser


@dataclass(frozen=True)
class ConsentView:
    client_id: str
    client_name: str
    contact: str
    redirect_host: str
    scope: str
    scope_label: str
    scope_choices: list[dict[str, str]]  # the asked scope and the coarser ones: what the customer may approve
    data_from: date
    days: int
    partners: list[dict[str, str]]


async def _validated(query: str, signed_in: SignedIn, uow: Uow) -> tuple[ConsentProtocol, ProtocolRequest, Asked]:
    tenant = signed_in.session.tenant
    request = ProtocolRequest("GET", query)
    client_id = request.args.get("client_id", "")
    party = await uow.store.third_party(tenant, client_id) if client_id else None
    if party is None or party.disabled_at is not None:
        raise ProtocolRefused("Dieser Anbieter ist bei Ihrem Netzbetreiber nicht registriert.")
    protocol = ConsentProtocol(Loaded(tenant, uow.now(), client=party), lambda claims, until: "")
    try:
        consent_oauth.validate_consent(protocol, request)
    except OAuth2Error as error:
        if not getattr(error, "redirect_uri", None):  # the redirect URI itself is wrong: never follow it
            raise ProtocolRefused(
                "Die Anfrage des Anbieters ist ungültig (Weiterleitungsadresse nicht registriert). "
                "Bitte wenden Sie sich an den Anbieter."
            ) from None
        raise ProtocolRefused(
            f"Die Anfrage des Anbieters ist ungültig: {error.description or error.error}",
            dict(error(None)[2]).get("Location"),
        ) from None
    try:
        raw_from, raw_days = request.args.get("data_from"), request.args.get("days")
        requested = asked(
            request.args.get("scope", ""),
            date.fromisoformat(raw_from) if raw_from else None,
            int(raw_days) if raw_days else None,
            energy_day.day_of(uow.now()),
        )
    except ValueError as error:
        raise ProtocolRefused(f"Die Anfrage des Anbieters ist ungültig: {error}") from None
    return protocol, request, requested


async def show_consent(query: ShowConsent, uow: Uow) -> ConsentView:
    protocol, request, requested = await _validated(query.query, query.signed_in, uow)
    party = protocol.loaded.client
    assert party is not None
    return ConsentView(
        client_id=party.client_id,
        client_name=party.name,
        contact=party.contact,
        redirect_host=consent_oauth.redirect_host(request.args.get("redirect_uri") or party.redirect_uris[0]),
        scope=requested.scope,
        scope_label=GRANT_SCOPE_LABELS[requested.scope],
        scope_choices=[
            {"scope": scope, "label": GRANT_SCOPE_LABELS[scope]} for scope in narrower_scopes(requested.scope)
        ],
        data_from=requested.data_from,
        days=requested.days,
        partners=[{"partner_number": link.partner_number, "role": link.role} for link in query.signed_in.account.links],
    )


@dataclass(frozen=True)
class DecideConsent:
    signed_in: SignedIn
    query: str
    choice: Chosen | None  # None: refused


async def decide_consent(command: DecideConsent, uow: Uow) -> str:
    """Where the browser goes next: the third party's redirect URI with a code, or with ``access_denied``."""
    protocol, request, requested = await _validated(command.query, command.signed_in, uow)
    party, account = protocol.loaded.client, command.signed_in.account
    assert party is not None
    approved: Grant | None = None
    if command.choice is not None:
        partners = {link.partner_number: link.role for link in account.links}
        approved = approve(str(uuid4()), requested, command.choice, party, str(account.id), partners, uow.now())
        protocol.loaded.grant = approved
    location = consent_oauth.authorisation_redirect(protocol, request, approved)
    if approved is not None:
        await uow.store.add_grant(approved)
        for code in protocol.issued.codes:
            await uow.store.add_code(code)
        _publish(uow, approved)
    return location


@dataclass(frozen=True)
class DisableThirdParty:
    tenant: str
    client_id: str


async def disable_third_party(command: DisableThirdParty, uow: Uow) -> int:
    """The platform operator stops a third party (misuse, end of contract): it asks nobody and gets no token any
    more, and every grant to it ends now (GrantRevoked, "third-party-disabled"). How many grants ended; LookupError
    when no such third party is registered with the operator."""
    if await uow.store.third_party(command.tenant, command.client_id) is None:
        raise LookupError(command.client_id)
    now = uow.now()
    await uow.store.disable_third_party(command.tenant, command.client_id, now)
    ended = 0
    for grant in await uow.store.grants_of_client(command.tenant, command.client_id):
        if grant.usable(now):
            grant.revoke(now, "third-party-disabled")
            await uow.store.save_grant(grant)
            _publish(uow, grant)
            ended += 1
    return ended


# --- the third party exchanges a code or a refresh token -----------------------------------------------------


@dataclass(frozen=True)
class ExchangeToken:
    tenant: str
    form: tuple[tuple[str, str], ...]
    authorization: str  # the Authorization header (client_secret_basic), or ""


@dataclass(frozen=True)
class TokenAnswer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]


async def exchange_token(command: ExchangeToken, uow: Uow, *, signer: Signer) -> TokenAnswer:
    """RFC 6749 §4.1.3 and §6 by Authlib. A code or refresh token used a second time ends its grant: someone
    else may hold it (RFC 6749 §4.1.2, RFC 9700 §4.14.2)."""
    now, tenant = uow.now(), command.tenant
    request = ProtocolRequest("POST", "", command.form, command.authorization)
    loaded = Loaded(tenant, now)
    client_id = request.form.get("client_id") or _basic_client_id(command.authorization)
    if client_id:
        party = await uow.store.third_party(tenant, client_id)
        loaded.client = party if party is not None and party.disabled_at is None else None
    replayed: Grant | None = None
    credential: IssuedCode | IssuedRefreshToken | None = None
    grant_type = request.form.get("grant_type")
    if grant_type == "authorization_code" and (code := request.form.get("code")):
        loaded.code = credential = await uow.store.code(tenant, consent_oauth.secret_hash(code))
    elif grant_type == "refresh_token" and (refresh := request.form.get("refresh_token")):
        loaded.refresh_token = credential = await uow.store.refresh_token(tenant, consent_oauth.secret_hash(refresh))
    if credential is not None:
        grant = await uow.store.grant(tenant, credential.grant_id, lock=True)
        if credential.used_at is not None:
            replayed = grant
        elif grant is not None and grant.usable(now):
            loaded.grant = grant
    protocol = ConsentProtocol(loaded, _signing(signer, now))
    status, body, headers = consent_oauth.token_response(protocol, request)
    client_known = status != 401 and body.get("error") != "invalid_client"  # the client authenticated itself
    if replayed is not None and client_known and loaded.client and replayed.client_id == loaded.client.client_id:
        replayed.revoke(now, "replayed")
        await uow.store.save_grant(replayed)
        _publish(uow, replayed)
    issued = protocol.issued
    if status == 200 and loaded.grant is not None:
        if issued.used_code:
            await uow.store.use_code(issued.used_code, now)
        if issued.used_refresh_token:
            await uow.store.use_refresh_token(issued.used_refresh_token, now)
        for token in issued.refresh_tokens:
            await uow.store.add_refresh_token(token)
        loaded.grant.activate(now)
        await uow.store.save_grant(loaded.grant)
    return TokenAnswer(status, body if isinstance(body, dict) else {}, headers)


def _basic_client_id(authorization: str) -> str | None:
    from authlib.oauth2.rfc6749.util import extract_basic_authorization

    client_id, _ = extract_basic_authorization({"Authorization": authorization})
    return client_id


# --- the customer's grants ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OwnGrants:
    tenant: str
    account_id: str


@dataclass(frozen=True)
class GrantView:
    id: str
    client_id: str
    client_name: str
    partner_number: str
    scope: str
    scope_label: str
    data_from: date
    valid_until: datetime
    created_at: datetime
    status: GrantStatus
    ended_at: datetime | None
    end_reason: str | None


async def grants(query: OwnGrants, uow: Uow) -> list[GrantView]:
    now = uow.now()
    return [
        GrantView(
            id=grant.id,
            client_id=grant.client_id,
            client_name=grant.client_name,
            partner_number=grant.partner_number,
            scope=grant.scope,
            scope_label=GRANT_SCOPE_LABELS[grant.scope],
            data_from=grant.data_from,
            valid_until=grant.valid_until,
            created_at=grant.created_at,
            status=grant.status(now),
            ended_at=grant.ended_at or (grant.valid_until if grant.status(now) == GrantStatus.ENDED else None),
            end_reason=grant.end_reason or ("expired" if grant.status(now) == GrantStatus.ENDED else None),
        )
        for grant in await uow.store.grants_of(query.tenant, query.account_id)
    ]


class UnknownGrant(LookupError):
    pass


@dataclass(frozen=True)
class RevokeGrant:
    tenant: str
    account_id: str
    grant_id: str


async def revoke_grant(command: RevokeGrant, uow: Uow) -> None:
    """Ends the grant at once (the third party's tokens are refused within seconds everywhere)."""
    grant = await uow.store.grant(command.tenant, command.grant_id, lock=True)
    if grant is None or grant.account_id != command.account_id:
        raise UnknownGrant
    grant.revoke(uow.now(), "customer")
    await uow.store.save_grant(grant)
    _publish(uow, grant)


async def end_grants_of_deleted_account(event: Delivered[AccountDeleted], uow: Uow) -> None:
    """A deleted login's grants end (GrantRevoked, "account-deleted"): each once, also when delivered again."""
    now = uow.now()
    for grant in await uow.store.grants_of(event.envelope.tenant, event.payload.account_id):
        if grant.usable(now):
            grant.revoke(now, "account-deleted")
            await uow.store.save_grant(grant)
            _publish(uow, grant)


@dataclass(frozen=True)
class ExpireGrants:
    limit: int = 100


async def expire_grants(command: ExpireGrants, uow: Uow) -> int:
    """GrantExpired for the grants whose time is up (each once)."""
    ended = await uow.store.grants_past_their_end(uow.now(), command.limit)
    for grant in ended:
        grant.expire(uow.now())
        await uow.store.save_grant(grant)
        _publish(uow, grant)
    return len(ended)
