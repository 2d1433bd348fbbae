"""Identity's time-dependent rules on the real database, with an injected clock instead of sleeps."""

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import pytest
from pydantic import SecretStr
from sqlmodel import col, select

from kit.db import Database
from kit.outbox import OutboxMessage
from kit.tenants import Tenant, load_tenants
from kit.uow import UnitsOfWork
from services.identity import crypto, handlers, store
from services.identity.domain import Account, BrowserSession
from services.identity.handlers import Deps, LoginRefused, NewSession
from services.identity.settings import IdentitySettings
from services.identity.store import IdentityStore
from tests.unit.fakes import FakeClock

pytestmark = pytest.mark.stack
PASSWORD = "Sonnenblumen am Deich 2026"


@dataclass
class World:
    db: Database
    units: UnitsOfWork[IdentityStore]
    deps: Deps
    clock: FakeClock
    tenant: Tenant


@pytest.fixture
async def world(identity_db: Database, tmp_path: Path) -> AsyncIterator[World]:
    db = identity_db
    clock = FakeClock(datetime(2026, 11, 25, 9, 0, tzinfo=UTC))
    tenants = load_tenants()
    settings = IdentitySettings.model_construct(signing_key_file=tmp_path / "key.pem")
    deps = Deps(settings, crypto.TokenSigner(tmp_path / "key.pem"), crypto.DeviceCookies(SecretStr("test-cookie-key")))
    yield World(db, UnitsOfWork(db, IdentityStore, clock=clock), deps, clock, tenants.get("000328"))


async def _account(world: World, email: str) -> None:
    async with world.db.transaction() as session:
        account_id = uuid4()
        session.add(
            store.AccountRow(
                id=account_id,
                tenant="000328",
                email=email,
                password_hash=await crypto.hash_password(PASSWORD),
                created_at=world.clock(),
                password_changed_at=world.clock(),
            )
        )
        session.add(
            store.PartnerLinkRow(
                tenant="000328",
                partner_number="3236513735",
                account_id=account_id,
                meter_number="1EMH0005939068",
                role="consumption",
                linked_at=world.clock(),
            )
        )


async def _token(world: World, purpose: str, email: str, valid: timedelta) -> str:
    token = crypto.new_token()
    async with world.db.transaction() as session:
        session.add(
            store.TokenRow(
                hash=crypto.token_hash(token),
                tenant="000328",
                purpose=purpose,
                email=email,
                meter_number="1EMH0005939069",
                partner_number="5344863893",
                role="feed_in",
                created_at=world.clock(),
                expires_at=world.clock() + valid,
            )
        )
    return token


async def _login(world: World, email: str, password: str, device: str | None = None) -> NewSession | LoginRefused:
    async with world.units() as uow:
        return await handlers.login(handlers.Login(world.tenant, email, password, device, "test"), uow, deps=world.deps)


async def _complete_access(world: World, token: str) -> None:
    async with world.units() as uow:
        await handlers.complete_access(handlers.CompleteAccess(world.tenant, token, PASSWORD), uow, deps=world.deps)


async def _complete_reset(world: World, token: str, password: str) -> None:
    async with world.units() as uow:
        await handlers.complete_reset(handlers.CompleteReset(world.tenant, token, password), uow, deps=world.deps)


async def _current_session(world: World, token: str) -> BrowserSession | None:
    async with world.units() as uow:
        return await handlers.current_session(handlers.CurrentSession(world.tenant, token), uow)


async def _account_by_email(world: World, email: str) -> Account | None:
    async with world.db.transaction() as session:
        return await IdentityStore(session).account_by_email("000328", email)


async def test_an_expired_confirmation_link_is_refused(world: World) -> None:
    token = await _token(world, "access", "neu@example.org", timedelta(hours=24))
    world.clock.advance(timedelta(hours=24, seconds=1))
    with pytest.raises(handlers.InvalidLink):
        await _complete_access(world, token)
    fresh = await _token(world, "access", "neu@example.org", timedelta(hours=24))
    world.clock.advance(timedelta(hours=23, minutes=59))
    await _complete_access(world, fresh)
    account = await _account_by_email(world, "neu@example.org")
    assert account and [link.partner_number for link in account.links] == ["5344863893"]


async def test_fifty_parallel_uses_of_one_link_make_exactly_one_login(world: World) -> None:
    import asyncio

    token = await _token(world, "access", "parallel@example.org", timedelta(hours=24))

    async def use() -> bool:
        try:
            await _complete_access(world, token)
        except handlers.InvalidLink:
            return False
        return True

    results = await asyncio.gather(*(use() for _ in range(50)))
    assert results.count(True) == 1
    assert await _account_by_email(world, "parallel@example.org") is not None


async def test_a_thousand_wrong_passwords_slow_down_but_never_lock_out(world: World) -> None:
    email = "erika@example.org"
    await _account(world, email)
    known_browser = await _login(world, email, PASSWORD)
    assert isinstance(known_browser, NewSession) and known_browser.device_cookie

    waits = []
    for _ in range(1000):
        outcome = await _login(world, email, "falsch-falsch-falsch")
        assert isinstance(outcome, LoginRefused)
        if outcome.retry_after:
            waits.append(outcome.retry_after)
            world.clock.advance(timedelta(seconds=outcome.retry_after // 4 + 1))  # an attacker retrying
    assert waits and max(waits) <= 15 * 60  # the back-off engaged, growing to at most 15 minutes

    # The customer's own browser is not slowed by the failures from elsewhere.
    at_once = await _login(world, email, PASSWORD, device=known_browser.device_cookie)
    assert isinstance(at_once, NewSession)

    # A new browser waits — then the right password works again (no permanent lock).
    refused = await _login(world, email, PASSWORD)
    if isinstance(refused, LoginRefused):
        assert refused.retry_after
        world.clock.advance(timedelta(seconds=refused.retry_after))
    assert isinstance(await _login(world, email, PASSWORD), NewSession)


async def test_a_reset_works_during_the_back_off_and_ends_it(world: World) -> None:
    email = "reset@example.org"
    await _account(world, email)
    for _ in range(8):
        await _login(world, email, "falsch-falsch-falsch")
    assert isinstance(await _login(world, email, PASSWORD), LoginRefused)
    token = await _token(world, "reset", email, timedelta(hours=1))
    await _complete_reset(world, token, "Ein ganz neues Passwort 77")
    assert isinstance(await _login(world, email, "Ein ganz neues Passwort 77"), NewSession)


async def test_an_expired_reset_link_is_refused(world: World) -> None:
    email = "late@example.org"
    await _account(world, email)
    token = await _token(world, "reset", email, timedelta(hours=1))
    world.clock.advance(timedelta(hours=1, seconds=1))
    with pytest.raises(handlers.InvalidLink):
        await _complete_reset(world, token, "Ein ganz neues Passwort 77")


async def test_sessions_end_after_30_minutes_idle_and_12_hours_in_all(world: World) -> None:
    email = "idle@example.org"
    await _account(world, email)
    new = await _login(world, email, PASSWORD)
    assert isinstance(new, NewSession)
    for _ in range(30):  # active every 25 minutes: fine until the absolute limit
        world.clock.advance(timedelta(minutes=25))
        if world.clock.current - new.session.created_at > timedelta(hours=12):
            assert await _current_session(world, new.token) is None
            break
        seen = await _current_session(world, new.token)
        assert seen and seen.last_seen_at == world.clock.current
    else:
        pytest.fail("the absolute limit never ended the session")
    again = await _login(world, email, PASSWORD)
    assert isinstance(again, NewSession)
    world.clock.advance(timedelta(minutes=31))
    assert await _current_session(world, again.token) is None
    async with world.db.transaction() as session:  # the expired sessions were ended, not just refused
        assert await IdentityStore(session).sessions_of("000328", again.session.account_id) == []


async def test_a_weaker_hash_is_upgraded_at_login(world: World) -> None:
    from argon2 import PasswordHasher

    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PASSWORD)
    async with world.db.transaction() as session:
        session.add(
            store.AccountRow(
                id=uuid4(),
                tenant="000328",
                email="old@example.org",
                password_hash=weak,
                created_at=world.clock(),
                password_changed_at=world.clock(),
            )
        )
    assert isinstance(await _login(world, "old@example.org", PASSWORD), NewSession)
    account = await _account_by_email(world, "old@example.org")
    assert account and account.password_hash != weak and not crypto.needs_rehash(account.password_hash)
    assert "m=19456,t=2" in account.password_hash


async def test_parallel_first_logins_for_one_email_all_get_the_same_answer(world: World) -> None:
    import asyncio

    await _account(world, "used@example.org")
    for email in ("never-seen@example.org", "used@example.org"):
        outcomes = await asyncio.gather(
            *(_login(world, email, "ganz sicher falsch 1") for _ in range(8)), return_exceptions=True
        )
        assert all(isinstance(o, LoginRefused) for o in outcomes), outcomes  # no error tells them apart


# --- the signing keys' schedule on the database -------------------------------------------------------------


async def test_the_key_schedule_rotates_and_revokes_on_the_database_with_one_successor_only(world: World) -> None:
    """Two processes keeping the schedule at the same moment (the service and the platform's CLI, or two
    replicas) create one successor between them: the schedule is changed under a transaction lock."""
    keyring = crypto.Keyring(world.deps.settings.signing_key_file)
    keys_units = UnitsOfWork(world.db, store.SigningKeyStore, clock=world.clock)
    tenants = (world.tenant,)

    async def step() -> list[handlers.domain.SigningKey]:
        async with keys_units() as uow:
            return await handlers.rotate_signing_keys(handlers.RotateSigningKeys(tenants), uow, keyring=keyring)

    [first] = await step()
    world.clock.current = first.signs_until - handlers.domain.KEY_PUBLISHED_AHEAD
    results = await asyncio.gather(step(), step(), step())
    assert [len(keys) for keys in results] == [2, 2, 2]
    async with keys_units.read() as uow:
        stored = await uow.store.signing_keys()
    assert [key.kid for key in stored] == [first.kid, results[0][1].kid]
    assert stored[1].not_before == first.signs_until

    async with keys_units() as uow:
        revoked = await handlers.revoke_signing_key(handlers.RevokeSigningKey(tenants, first.kid), uow, keyring=keyring)
    assert revoked.own and revoked.replaced_by not in (None, first.kid, stored[1].kid)
    async with keys_units.read() as uow:
        after = {key.kid: key for key in await uow.store.signing_keys()}
    assert after[first.kid].revoked_at == world.clock() and len(after) == 3
    async with world.db.transaction() as session:
        rows = await session.exec(
            select(OutboxMessage.event_type, OutboxMessage.message_key).order_by(col(OutboxMessage.seq))
        )
        outbox = rows.all()
    assert [tuple(row) for row in outbox][-2:] == [
        ("SigningKeyRevoked", first.kid),
        ("SigningKeyPublished", revoked.replaced_by),
    ]
