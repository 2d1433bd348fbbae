"""Personal access tokens ([11 of 11] §1): the rules of token_domain and the use cases of token_handlers, on a
fake store (the real one, the routes and the attacks: tests/e2e/test_personal_tokens.py)."""

import hashlib
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from services.meterdata import token_domain, token_handlers
from services.meterdata.token_domain import InvalidPersonalToken, PersonalToken, TokenRefused
from tests.unit.fakes import FakeClock, FakeUnits

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)  # 10:00 in Berlin
TODAY = date(2026, 12, 7)


class FakeTokens:
    """token_handlers.Tokens and TokenLookup in memory."""

    def __init__(self) -> None:
        self.rows: dict[UUID, PersonalToken] = {}
        self.uses: list[tuple[UUID, datetime]] = []

    async def add(self, token: PersonalToken) -> None:
        self.rows[token.id] = token

    async def tokens_of(self, tenant: str, partner_number: str) -> list[PersonalToken]:
        found = [t for t in self.rows.values() if (t.tenant, t.partner_number) == (tenant, partner_number)]
        return sorted((t for t in found if t.revoked_at is None), key=lambda t: t.created_at, reverse=True)

    async def live_count(self, tenant: str, partner_number: str, now: datetime) -> int:
        return sum(1 for t in await self.tokens_of(tenant, partner_number) if not t.expired(now))

    async def token_for_update(self, tenant: str, partner_number: str, token_id: UUID) -> PersonalToken | None:
        token = self.rows.get(token_id)
        return token if token and (token.tenant, token.partner_number) == (tenant, partner_number) else None

    async def save(self, token: PersonalToken) -> None:
        self.rows[token.id] = token

    async def by_hash(self, secret_hash: str) -> PersonalToken | None:
        return next((t for t in self.rows.values() if t.secret_hash == secret_hash), None)

    async def record_use(self, token_id: UUID, at: datetime) -> None:
        self.uses.append((token_id, at))
        self.rows[token_id] = replace(self.rows[token_id], last_used_at=at)


@pytest.fixture
def units() -> FakeUnits[FakeTokens]:
    return FakeUnits(FakeTokens(), FakeClock(NOW))


def create(name: str = "Heimautomation", expires_on: date = TODAY + timedelta(days=90), partner: str = "3236513735"):
    return token_handlers.CreateToken("000328", partner, "consumption", "account-1", name, expires_on)


def issue(**changes: object) -> tuple[PersonalToken, str]:
    arguments: dict[str, object] = {
        "token_id": uuid4(),
        "tenant": "000328",
        "partner_number": "3236513735",
        "role": "consumption",
        "account_id": "account-1",
        "name": "Heimautomation",
        "expires_on": TODAY + timedelta(days=30),
        "live_tokens": 0,
        "random_bytes": bytes(range(32)),
        "now": NOW,
    }
    return token_domain.issue(**{**arguments, **changes})  # type: ignore[arg-type]


def test_a_secret_has_the_prefix_and_only_its_sha256_is_kept() -> None:
    token, secret = issue()
    assert secret.startswith("ppt_") and len(secret) == 4 + 43
    assert token.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in repr(token).replace(token.prefix, "")  # nothing but the shown prefix
    assert token.prefix == secret[:12]
    assert token_domain.is_personal_token(secret) and not token_domain.is_personal_token("eyJhbGciOiJFUzI1NiJ9.x.y")


def test_different_random_bytes_make_different_secrets() -> None:
    assert issue(random_bytes=b"\x01" * 32)[1] != issue(random_bytes=b"\x02" * 32)[1]
    with pytest.raises(ValueError):
        token_domain.secret_of(b"short")


def test_valid_through_the_chosen_day_in_berlin_and_at_most_a_year_ahead() -> None:
    token, _ = issue(expires_on=date(2027, 1, 31))
    assert token.expires_at == datetime(2027, 1, 31, 23, 0, tzinfo=UTC)  # 1 Feb 00:00 in Berlin (CET)
    assert not token.expired(datetime(2027, 1, 31, 22, 59, 59, tzinfo=UTC))
    assert token.expired(token.expires_at)
    assert issue(expires_on=TODAY + timedelta(days=token_domain.MAX_VALID_DAYS))[0]
    for too_far in (TODAY + timedelta(days=token_domain.MAX_VALID_DAYS + 1), date(2030, 1, 1)):
        with pytest.raises(TokenRefused, match="höchstens 366 Tage"):
            issue(expires_on=too_far)
    for past in (TODAY, TODAY - timedelta(days=1)):
        with pytest.raises(TokenRefused, match="nach dem heutigen Tag"):
            issue(expires_on=past)


def test_names_are_required_short_and_printable() -> None:
    assert issue(name="  Home   Assistant ")[0].name == "Home Assistant"
    for name, reason in (("   ", "Namen"), ("x" * 61, "höchstens 60"), ("a\u0000b", "Steuerzeichen")):
        with pytest.raises(TokenRefused, match=reason):
            issue(name=name)


def test_no_more_than_twenty_live_tokens_per_partner() -> None:
    issue(live_tokens=token_domain.MAX_LIVE_TOKENS - 1)
    with pytest.raises(TokenRefused, match="bereits 20"):
        issue(live_tokens=token_domain.MAX_LIVE_TOKENS)


def test_revoked_expired_and_other_tenants_tokens_are_refused() -> None:
    token, _ = issue()
    token.check_usable("000328", NOW)
    with pytest.raises(InvalidPersonalToken, match="other tenant"):
        token.check_usable("000512", NOW)
    with pytest.raises(InvalidPersonalToken, match="expired"):
        token.check_usable("000328", token.expires_at)
    revoked = token.revoke(NOW)
    with pytest.raises(InvalidPersonalToken, match="revoked"):
        revoked.check_usable("000328", NOW)
    assert revoked.revoke(NOW + timedelta(hours=1)).revoked_at == NOW  # revoked once, at its first time


def test_a_use_is_recorded_at_most_once_a_minute() -> None:
    token, _ = issue()
    assert token.use_to_record(NOW)
    used = replace(token, last_used_at=NOW)
    assert not used.use_to_record(NOW + timedelta(seconds=59))
    assert used.use_to_record(NOW + timedelta(minutes=1))


async def test_made_listed_used_and_revoked(units: FakeUnits[FakeTokens]) -> None:
    issued = await token_handlers.create_token(create(), units.unit())
    assert issued.secret.startswith("ppt_")
    assert issued.token.created_at == NOW and issued.token.role == "consumption"
    listed = await token_handlers.tokens(token_handlers.ListTokens("000328", "3236513735"), units.unit())
    assert [t.id for t in listed] == [issued.token.id]

    found = await token_handlers.authenticate(issued.secret, "000328", NOW, units.store)
    assert found.id == issued.token.id
    await token_handlers.authenticate(issued.secret, "000328", NOW + timedelta(seconds=30), units.store)
    assert units.store.uses == [(issued.token.id, NOW)]  # the second use within the minute is not written

    revoke = token_handlers.RevokeToken("000328", "3236513735", issued.token.id)
    await token_handlers.revoke_token(revoke, units.unit())
    with pytest.raises(InvalidPersonalToken, match="revoked"):
        await token_handlers.authenticate(issued.secret, "000328", NOW, units.store)
    assert await token_handlers.tokens(token_handlers.ListTokens("000328", "3236513735"), units.unit()) == []
    with pytest.raises(token_handlers.TokenNotFound):  # revoked twice: gone
        await token_handlers.revoke_token(revoke, units.unit())


async def test_an_altered_secret_or_another_partners_token_id_finds_nothing(units: FakeUnits[FakeTokens]) -> None:
    issued = await token_handlers.create_token(create(), units.unit())
    altered = issued.secret[:-1] + ("A" if issued.secret[-1] != "A" else "B")
    with pytest.raises(InvalidPersonalToken, match="unknown"):
        await token_handlers.authenticate(altered, "000328", NOW, units.store)
    with pytest.raises(InvalidPersonalToken, match="other tenant"):
        await token_handlers.authenticate(issued.secret, "000512", NOW, units.store)
    with pytest.raises(token_handlers.TokenNotFound):
        await token_handlers.revoke_token(
            token_handlers.RevokeToken("000328", "9115994164", issued.token.id), units.unit()
        )
    with pytest.raises(token_handlers.TokenNotFound):
        await token_handlers.revoke_token(
            token_handlers.RevokeToken("000512", "3236513735", issued.token.id), units.unit()
        )
    assert units.store.rows[issued.token.id].revoked_at is None


async def test_expired_tokens_are_listed_but_refused_and_do_not_count_as_live(units: FakeUnits[FakeTokens]) -> None:
    issued = await token_handlers.create_token(create(expires_on=TODAY + timedelta(days=1)), units.unit())
    later = issued.token.expires_at
    with pytest.raises(InvalidPersonalToken, match="expired"):
        await token_handlers.authenticate(issued.secret, "000328", later, units.store)
    assert await units.store.live_count("000328", "3236513735", later) == 0
    listed = await token_handlers.tokens(token_handlers.ListTokens("000328", "3236513735"), units.unit())
    assert listed[0].expired(later)
