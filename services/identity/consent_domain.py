"""Consent for third parties: the rules of a grant, plain Python.

A third party (an energy service company) is registered per tenant by the platform operator. It asks a customer
for access through OAuth 2.0 (services.identity.consent_oauth); the customer sees who asks, for which data and
for how long, and approves (a grant) or refuses. The customer may narrow what was asked — a coarser resolution,
a later first day, a shorter time — never widen it.

A grant's life: approved (pending until the third party fetched its first tokens) → active → ended (revoked by the
customer, refresh token replayed, login deleted, or expired). Each step is an event (contracts.consent).
"""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum

from contracts.consent import (
    DEFAULT_GRANT_DAYS,
    GRANT_ACCESS_TOKEN_SECONDS,
    GRANT_SCOPES,
    GRANT_SESSION_PREFIX,
    MAX_GRANT_DAYS,
    GrantExpired,
    GrantGiven,
    GrantRevoked,
)
from contracts.envelope import EventPayload

# An authorisation code is used once and within minutes (RFC 6749 §4.1.2: at most 10 recommended).
CODE_VALID = timedelta(minutes=5)
# How long a third party may keep data access without the customer's session: the grant's own end.
ACCESS_TOKEN_VALID = timedelta(seconds=GRANT_ACCESS_TOKEN_SECONDS)


class ConsentRefused(ValueError):
    """What the customer chose does not fit the request; the message says why, in German."""


@dataclass(frozen=True)
class ThirdParty:
    """A registered client: confidential (a secret, stored as its hash) or public (PKCE alone). Disabled by the
    platform operator (``disabled_at``): it asks nobody and gets no token any more; its grants end."""

    client_id: str
    tenant: str
    name: str
    contact: str
    redirect_uris: tuple[str, ...]
    secret_hash: str | None
    created_at: datetime
    disabled_at: datetime | None = None


@dataclass(frozen=True)
class Asked:
    """What the third party asked for: one scope, the first day, how many days the grant should run."""

    scope: str
    data_from: date
    days: int


@dataclass(frozen=True)
class Chosen:
    """What the customer approves: one of their partner numbers, and what was asked or less."""

    partner_number: str
    scope: str
    data_from: date
    days: int


class GrantStatus(StrEnum):
    PENDING = "pending"  # approved; the third party has not fetched its tokens yet
    ACTIVE = "active"
    ENDED = "ended"


@dataclass
class Grant:
    id: str
    tenant: str
    client_id: str
    client_name: str
    account_id: str
    partner_number: str
    role: str
    scope: str
    data_from: date
    valid_until: datetime
    created_at: datetime
    activated_at: datetime | None = None
    ended_at: datetime | None = None
    end_reason: str | None = None  # customer | replayed | account-deleted | third-party-disabled | expired
    events: list[EventPayload] = field(default_factory=list)

    def status(self, now: datetime) -> GrantStatus:
        if self.ended_at is not None or now >= self.valid_until:
            return GrantStatus.ENDED
        return GrantStatus.PENDING if self.activated_at is None else GrantStatus.ACTIVE

    def usable(self, now: datetime) -> bool:
        return self.status(now) != GrantStatus.ENDED

    def activate(self, now: datetime) -> None:
        if self.activated_at is None:
            self.activated_at = now

    def revoke(self, now: datetime, reason: str) -> None:
        """Ends the grant (once): its access tokens are refused from now on."""
        if self.ended_at is not None or now >= self.valid_until:
            return
        self.ended_at, self.end_reason = now, reason
        self.events.append(
            GrantRevoked(
                grant_id=self.id,
                partner_number=self.partner_number,
                reason=reason,
                tokens_valid_until=now + ACCESS_TOKEN_VALID,
            )
        )

    def expire(self, now: datetime) -> None:
        """Records the end of a grant whose time is up (once)."""
        if self.ended_at is None and now >= self.valid_until:
            self.ended_at, self.end_reason = self.valid_until, "expired"
            self.events.append(GrantExpired(grant_id=self.id, partner_number=self.partner_number))


def asked(scope: str, data_from: date | None, days: int | None, today: date) -> Asked:
    """The third party's request read with its defaults: from today on, for DEFAULT_GRANT_DAYS."""
    scopes = scope.split()
    if len(scopes) != 1 or scopes[0] not in GRANT_SCOPES:
        raise ConsentRefused(f"Unbekannter Umfang „{scope}“: erlaubt ist genau einer von {', '.join(GRANT_SCOPES)}.")
    chosen_days = DEFAULT_GRANT_DAYS if days is None else days
    if not 1 <= chosen_days <= MAX_GRANT_DAYS:
        raise ConsentRefused(f"Die Dauer muss zwischen 1 und {MAX_GRANT_DAYS} Tagen liegen.")
    return Asked(scopes[0], data_from or today, chosen_days)


def narrower_scopes(scope: str) -> list[str]:
    """The scopes a customer may approve for ``scope``: itself and every coarser one (finest first)."""
    return [other for other in GRANT_SCOPES if set(GRANT_SCOPES[other]) <= set(GRANT_SCOPES[scope])]


def approve(
    grant_id: str,
    request: Asked,
    choice: Chosen,
    party: ThirdParty,
    account_id: str,
    partners: dict[str, str],
    now: datetime,
) -> Grant:
    """A new grant for what the customer chose (``partners``: the login's partner numbers and their roles)."""
    role = partners.get(choice.partner_number)
    if role is None:
        raise ConsentRefused("Diese Geschäftspartner-Nr. gehört nicht zu Ihrem Zugang.")
    if choice.scope not in narrower_scopes(request.scope):
        raise ConsentRefused("Sie können nur so fein oder gröber freigeben, wie angefragt wurde.")
    if choice.data_from < request.data_from:
        raise ConsentRefused("Sie können Daten erst ab dem angefragten Tag oder später freigeben.")
    if not 1 <= choice.days <= request.days:
        raise ConsentRefused(f"Die Freigabe kann höchstens {request.days} Tage gelten.")
    grant = Grant(
        id=grant_id,
        tenant=party.tenant,
        client_id=party.client_id,
        client_name=party.name,
        account_id=account_id,
        partner_number=choice.partner_number,
        role=role,
        scope=choice.scope,
        data_from=choice.data_from,
        valid_until=now + timedelta(days=choice.days),
        created_at=now,
    )
    grant.events.append(
        GrantGiven(
            grant_id=grant.id,
            client_id=grant.client_id,
            client_name=grant.client_name,
            account_id=account_id,
            partner_number=grant.partner_number,
            role=role,  # type: ignore[arg-type]  # a PartnerRole value from the login's links
            scope=grant.scope,
            data_from=grant.data_from,
            valid_until=grant.valid_until,
        )
    )
    return grant


def access_token_claims(grant: Grant, now: datetime) -> tuple[dict[str, object], datetime]:
    """What a grant's access token says (kit.auth reads it), and when it expires: minutes, never after the grant."""
    session = f"{GRANT_SESSION_PREFIX}{grant.id}"
    claims: dict[str, object] = {
        "sub": session,
        "sid": session,
        "tenant": grant.tenant,
        "partner": grant.partner_number,
        "role": grant.role,
        "grant": {
            "id": grant.id,
            "client": grant.client_id,
            "scope": grant.scope,
            "from": grant.data_from.isoformat(),
        },
    }
    return claims, min(now + ACCESS_TOKEN_VALID, grant.valid_until)


@dataclass(frozen=True)
class IssuedCode:
    """An authorisation code, as stored: its hash, what it was bound to (client, redirect URI, PKCE challenge)."""

    code_hash: str
    tenant: str
    grant_id: str
    client_id: str
    redirect_uri: str
    scope: str
    code_challenge: str
    code_challenge_method: str
    expires_at: datetime
    used_at: datetime | None = None


@dataclass(frozen=True)
class IssuedRefreshToken:
    """A refresh token, as stored: its hash and grant. Used once: the next one replaces it (rotation)."""

    token_hash: str
    tenant: str
    grant_id: str
    client_id: str
    issued_at: datetime
    used_at: datetime | None = None
