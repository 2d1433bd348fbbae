"""Identity's signing keys on a schedule: the unit of work's clock decides (a fake one here), the private keys are
files in a temporary folder, the schedule and the outbox are in memory."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest

from contracts.identity import SigningKeyPublished, SigningKeyRevoked
from contracts.topics import IDENTITY_KEYS
from kit.tenants import load_tenants
from services.identity import crypto, domain, handlers
from services.identity.domain import (
    KEY_OUTLIVES_SIGNING,
    KEY_PUBLISHED_AHEAD,
    KEY_SIGNS_FOR,
    SigningKey,
)
from tests.unit.fakes import FakeClock, FakeUnits

TENANTS = tuple(load_tenants())


class FakeSigningKeys:
    def __init__(self) -> None:
        self.keys: dict[str, SigningKey] = {}
        self.locked = 0

    async def lock_signing_keys(self) -> None:
        self.locked += 1

    async def signing_keys(self) -> list[SigningKey]:
        return sorted((SigningKey(**vars(key)) for key in self.keys.values()), key=lambda key: key.not_before)

    async def save_signing_key(self, key: SigningKey) -> None:
        self.keys[key.kid] = SigningKey(**vars(key))


Units = FakeUnits[FakeSigningKeys]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))


@pytest.fixture
def units(clock: FakeClock) -> Units:
    return FakeUnits(FakeSigningKeys(), clock)


@pytest.fixture
def keyring(tmp_path: Path) -> crypto.Keyring:
    return crypto.Keyring(tmp_path / "identity" / "signing-key.pem")


async def rotate(units: Units, keyring: crypto.Keyring, *, publish_all: bool = False) -> list[SigningKey]:
    """What the service's KeyRotation does every few seconds: one step, then the keyring uses the schedule."""
    async with units() as uow:
        keys = await handlers.rotate_signing_keys(
            handlers.RotateSigningKeys(TENANTS, publish_all), uow, keyring=keyring
        )
    keyring.use(keys, units.clock())
    return keys


async def revoke(units: Units, keyring: crypto.Keyring, kid: str) -> handlers.RevokedKey:
    async with units() as uow:
        revoked = await handlers.revoke_signing_key(handlers.RevokeSigningKey(TENANTS, kid), uow, keyring=keyring)
    keyring.use(revoked.schedule, units.clock())
    return revoked


def published_keys(units: Units) -> list[SigningKeyPublished]:
    keys: list[SigningKeyPublished] = units.outbox.of_type(SigningKeyPublished)
    units.outbox.events.clear()
    return keys


def kid_of_token(keyring: crypto.Keyring, now: datetime) -> str:
    token = keyring.sign({"sub": "x", "iat": now}, now + timedelta(minutes=5))
    kid: str = jwt.get_unverified_header(token)["kid"]
    return kid


async def test_the_first_start_adopts_the_key_identity_signed_with_and_publishes_it_with_its_period(
    units: Units, keyring: crypto.Keyring, clock: FakeClock
) -> None:
    [first] = await rotate(units, keyring, publish_all=True)
    assert first.kid == crypto.TokenSigner(keyring.folder.parent / "signing-key.pem").kid
    published = published_keys(units)
    assert len(published) == len(TENANTS)  # one event per operator, the same key
    assert {(p.kid, p.not_before, p.expires_at) for p in published} == {(first.kid, first.not_before, first.expires_at)}
    assert first.not_before <= clock() and first.signs_until == first.not_before + KEY_SIGNS_FOR
    assert first.expires_at == first.signs_until + KEY_OUTLIVES_SIGNING
    assert kid_of_token(keyring, clock()) == first.kid
    # Every few seconds: nothing new while no successor is due.
    assert [key.kid for key in await rotate(units, keyring)] == [first.kid]
    assert published_keys(units) == []


async def test_a_successor_is_published_ahead_and_the_previous_key_verifies_until_its_tokens_expired(
    units: Units, keyring: crypto.Keyring, clock: FakeClock
) -> None:
    [first] = await rotate(units, keyring, publish_all=True)
    published_keys(units)
    clock.current = first.signs_until - KEY_PUBLISHED_AHEAD - timedelta(seconds=1)
    assert len(await rotate(units, keyring)) == 1

    clock.current = first.signs_until - KEY_PUBLISHED_AHEAD
    old, new = await rotate(units, keyring)
    assert old.kid == first.kid
    [announced] = {(p.kid, p.not_before, p.expires_at) for p in published_keys(units)}
    assert announced == (new.kid, first.signs_until, first.signs_until + KEY_SIGNS_FOR + KEY_OUTLIVES_SIGNING)
    assert (keyring.folder / f"{new.kid}.pem").stat().st_mode & 0o777 == 0o600  # the private half, identity's only
    assert kid_of_token(keyring, clock()) == first.kid  # published ahead, not used yet
    assert {jwk["kid"] for jwk in keyring.public_jwks()} == {first.kid, new.kid}
    assert len(await rotate(units, keyring)) == 2  # one successor only, however often the step runs

    clock.current = first.signs_until
    await rotate(units, keyring)
    assert kid_of_token(keyring, clock()) == new.kid
    just_before = first.signs_until - timedelta(microseconds=1)
    assert kid_of_token(keyring, just_before) == first.kid  # a token issued a moment earlier: the old key

    clock.current = first.expires_at - timedelta(seconds=1)  # the last tokens of the old key have expired by then
    await rotate(units, keyring)
    assert first.kid in {key.kid for key in keyring.schedule}
    clock.current = first.expires_at
    await rotate(units, keyring)
    assert [key.kid for key in keyring.schedule] == [new.kid]
    assert not (keyring.folder.parent / "signing-key.pem").exists()  # verifies nothing any more: the private half goes
    assert published_keys(units) == []


async def test_revoking_the_signing_key_publishes_the_revocation_and_a_new_key_that_signs_at_once(
    units: Units, keyring: crypto.Keyring, clock: FakeClock
) -> None:
    [first] = await rotate(units, keyring, publish_all=True)
    published_keys(units)
    clock.advance(timedelta(days=3))
    done = await revoke(units, keyring, first.kid)
    assert done.own and done.replaced_by is not None and done.replaced_by != first.kid
    revocations = units.outbox.of_type(SigningKeyRevoked)
    assert {(e.topic, e.key) for e in units.outbox.events} == {
        (IDENTITY_KEYS.name, first.kid),
        (IDENTITY_KEYS.name, done.replaced_by),
    }
    assert {r.kid for r in revocations} == {first.kid} and len(revocations) == len(TENANTS)
    [replacement] = {(p.kid, p.not_before) for p in published_keys(units)}
    assert replacement == (done.replaced_by, clock())
    assert kid_of_token(keyring, clock()) == done.replaced_by
    assert not (keyring.folder.parent / "signing-key.pem").exists()
    # The schedule stays revoked: a later step neither brings the key back nor publishes it again.
    await rotate(units, keyring, publish_all=True)
    assert {p.kid for p in published_keys(units)} == {done.replaced_by}


async def test_revoking_a_key_that_is_not_identitys_only_publishes_the_revocation(
    units: Units, keyring: crypto.Keyring
) -> None:
    [first] = await rotate(units, keyring, publish_all=True)
    published_keys(units)
    done = await revoke(units, keyring, "x" * 43)
    assert (done.own, done.replaced_by) == (False, None)
    assert {(e.key, type(e.event)) for e in units.outbox.events} == {("x" * 43, SigningKeyRevoked)}
    assert [key.kid for key in keyring.schedule] == [first.kid]


def test_the_schedule_without_storage() -> None:
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert domain.next_key_starts([], now) == now
    current = SigningKey.starting("a", now, now)
    assert domain.next_key_starts([current], now) is None
    at = current.signs_until - KEY_PUBLISHED_AHEAD
    assert domain.next_key_starts([current], at) == current.signs_until
    successor = SigningKey.starting("b", current.signs_until, at)
    assert domain.next_key_starts([current, successor], at) is None
    current.revoke(at)
    assert domain.signing_key_at([current, successor], at) is None
    assert domain.next_key_starts([current, successor], at) == at  # nothing signs: a key at once
    # An adopted old key keeps signing long enough for its successor to be published ahead.
    adopted = SigningKey.adopted("old", now - timedelta(days=400), now)
    assert (
        adopted.signs_until == now + KEY_PUBLISHED_AHEAD
        and domain.next_key_starts([adopted], now) == now + KEY_PUBLISHED_AHEAD
    )


async def test_revoking_the_published_successor_publishes_another_one_ahead(
    units: Units, keyring: crypto.Keyring, clock: FakeClock
) -> None:
    [first] = await rotate(units, keyring, publish_all=True)
    clock.current = first.signs_until - KEY_PUBLISHED_AHEAD
    _, successor = await rotate(units, keyring)
    published_keys(units)
    done = await revoke(units, keyring, successor.kid)
    assert done.own and done.replaced_by is None  # the signing key goes on
    [(kid, not_before)] = {(p.kid, p.not_before) for p in published_keys(units)}
    assert kid != successor.kid and not_before == first.signs_until
    assert kid_of_token(keyring, clock()) == first.kid
    assert not (keyring.folder / f"{successor.kid}.pem").exists()
