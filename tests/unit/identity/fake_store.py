"""Identity's store in memory (handlers.Identities), for unit tests of the use cases."""

from dataclasses import replace
from datetime import datetime
from uuid import UUID

from services.identity.domain import (
    AccessAttempt,
    AccessFailures,
    Account,
    BrowserSession,
    HoldScope,
    KnownDevice,
    LinkPurpose,
    LiveSince,
    LoginThrottle,
    OneTimeLink,
)


class FakeIdentityStore:
    def __init__(self) -> None:
        self.accounts: dict[UUID, Account] = {}
        self.failures: list[tuple[str, AccessAttempt, datetime]] = []
        self.codes: dict[str, tuple[str, str, str, datetime]] = {}  # hash → tenant, meter, partner, expiry
        self.used_codes: set[str] = set()
        self.alerts: dict[tuple[str, HoldScope, str], tuple[datetime, int]] = {}  # → raised at, held requests
        self.links: dict[str, OneTimeLink] = {}
        self.used_links: dict[str, datetime] = {}
        self.throttles: dict[tuple[str, str], LoginThrottle] = {}
        self.devices: dict[str, KnownDevice] = {}
        self.sessions: dict[str, BrowserSession] = {}

    # --- accounts ---

    async def account_by_email(self, tenant: str, email: str) -> Account | None:
        return next((_copy(a) for a in self.accounts.values() if (a.tenant, a.email) == (tenant, email)), None)

    async def account(self, tenant: str, account_id: UUID) -> Account | None:
        found = self.accounts.get(account_id)
        return _copy(found) if found and found.tenant == tenant else None

    async def owner_of(self, tenant: str, partner_number: str) -> Account | None:
        return next(
            (_copy(a) for a in self.accounts.values() if a.tenant == tenant and a.link_of(partner_number)), None
        )

    async def add_account(self, account: Account) -> None:
        if await self.account_by_email(account.tenant, account.email):
            raise ValueError("unique (tenant, email) violated")
        self.accounts[account.id] = _copy(account)

    async def save_account(self, account: Account) -> None:
        self.accounts[account.id] = _copy(account)

    async def delete_account(self, account: Account) -> None:
        del self.accounts[account.id]
        await self.end_sessions(account.tenant, account.id)

    async def partner_linked(self, tenant: str, partner_number: str) -> bool:
        return await self.owner_of(tenant, partner_number) is not None

    # --- invalid pairs ---

    async def recent_failures(self, tenant: str, attempt: AccessAttempt, since: datetime) -> AccessFailures:
        recent = [a for t, a, at in self.failures if t == tenant and at > since]
        return AccessFailures(
            partner=sum(a.partner_number == attempt.partner_number for a in recent),
            meter=sum(a.meter_number == attempt.meter_number for a in recent),
            email=sum(a.email_key == attempt.email_key for a in recent),
            tenant=len(recent),
        )

    async def add_failure(self, tenant: str, attempt: AccessAttempt, now: datetime) -> None:
        self.failures.append((tenant, attempt, now))

    async def use_registration_code(self, tenant: str, code_hash: str, attempt: AccessAttempt, now: datetime) -> bool:
        known = self.codes.get(code_hash)
        if known is None or code_hash in self.used_codes or known[3] <= now:
            return False
        if known[:3] != (tenant, attempt.meter_number, attempt.partner_number):
            return False
        self.used_codes.add(code_hash)
        return True

    async def add_registration_code(
        self, tenant: str, code_hash: str, meter_number: str, partner_number: str, expires_at: datetime
    ) -> None:
        self.codes.setdefault(code_hash, (tenant, meter_number, partner_number, expires_at))

    async def record_hold(
        self, tenant: str, scope: HoldScope, meter_number: str, now: datetime, *, raised: bool
    ) -> None:
        key = (tenant, scope, meter_number if scope is HoldScope.METER else "")
        raised_at, held = self.alerts.get(key, (now, 0))
        self.alerts[key] = (now if raised else raised_at, held if raised else held + 1)

    # --- one-time links ---

    def add_link(self, link: OneTimeLink) -> None:
        self.links[link.token_hash] = link

    async def retire_open_links(
        self, tenant: str, purpose: LinkPurpose, email: str, now: datetime, partner_number: str | None = None
    ) -> None:
        for link in self.links.values():
            same = link.partner_number == partner_number if partner_number else link.email == email
            if (link.tenant, link.purpose) == (tenant, purpose) and same and link.token_hash not in self.used_links:
                self.used_links[link.token_hash] = now

    async def use_link(self, tenant: str, token_hash: str, purpose: LinkPurpose, now: datetime) -> OneTimeLink | None:
        link = await self.peek_link(tenant, token_hash, now)
        if link is None or link.purpose != purpose:
            return None
        self.used_links[token_hash] = now
        return link

    async def peek_link(self, tenant: str, token_hash: str, now: datetime) -> OneTimeLink | None:
        link = self.links.get(token_hash)
        if link is None or link.tenant != tenant or token_hash in self.used_links or link.expires_at <= now:
            return None
        return link

    # --- login back-off ---

    async def throttle_for_update(self, tenant: str, key: str) -> LoginThrottle:
        stored = self.throttles.setdefault((tenant, key), LoginThrottle(tenant, key))
        return replace(stored)

    async def save_throttle(self, throttle: LoginThrottle) -> None:
        self.throttles[(throttle.tenant, throttle.email_key)] = replace(throttle)

    async def device(self, device_id: str) -> KnownDevice | None:
        stored = self.devices.get(device_id)
        return replace(stored) if stored else None

    async def save_device(self, device: KnownDevice) -> None:
        self.devices[device.device_id] = replace(device)

    # --- browser sessions ---

    async def add_session(self, browser: BrowserSession) -> None:
        self.sessions[browser.id_hash] = browser

    async def touch_session(self, tenant: str, id_hash: str, now: datetime, live: LiveSince) -> BrowserSession | None:
        found = self.sessions.get(id_hash)
        if found is None or found.tenant != tenant:
            return None
        if found.last_seen_at < live.last_seen or found.created_at < live.created:
            del self.sessions[id_hash]
            return None
        self.sessions[id_hash] = touched = replace(found, last_seen_at=now)
        return touched

    async def end_session(self, tenant: str, id_hash: str) -> None:
        if (found := self.sessions.get(id_hash)) and found.tenant == tenant:
            del self.sessions[id_hash]

    async def sessions_of(self, tenant: str, account_id: UUID) -> list[BrowserSession]:
        found = [s for s in self.sessions.values() if (s.tenant, s.account_id) == (tenant, account_id)]
        return sorted(found, key=lambda s: s.created_at)

    async def end_sessions(self, tenant: str, account_id: UUID, keep: str | None = None) -> None:
        for session in await self.sessions_of(tenant, account_id):
            if session.id_hash != keep:
                del self.sessions[session.id_hash]


def _copy(account: Account) -> Account:
    """What a database would give back: a new object, without the events already published."""
    return replace(account, links=list(account.links), events=[])
