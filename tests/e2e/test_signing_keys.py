"""Signing keys' lifecycle and ended sessions on the real stack: keys with a validity period, rotation with overlap,
revocation by the platform's command, and tokens of a session that ended refused by meter data within seconds.

The keys made here are published on the keys topic as identity publishes its own (identity's credential: only
identity may write that topic); revocation goes through identity's own command against its database and its
outbox. Identity's own key is never revoked here: the other tests sign with it.
"""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import httpx
import jwt
import pytest

from contracts import topics
from contracts.common import PartnerRole
from contracts.identity import PublicJwk, SigningKeyPublished
from kit.events import encode, envelope_for
from services.identity import staff_cli
from services.identity.crypto import TokenSigner
from services.identity.settings import IdentitySettings
from tests.conftest import System
from tests.e2e.test_identity_journey import PASSWORD, _known_to_identity, _register
from tests.journeys import PortalClient, envelopes, eventually, produce, random_partner_number, read_topic
from tests.journeys import wait_until_consumed as consumed

pytestmark = pytest.mark.stack
TENANT = "000328"
PERIOD = {"from": "2026-01-01", "to": "2026-01-02"}
# Every service that verifies identity's tokens: meter data (customers'), onboarding and letters (staff tokens).
KEYS_CONSUMED: dict[str, tuple[str, ...]] = {
    group: (topics.IDENTITY_KEYS.name,) for group in ("meterdata", "onboarding", "letters")
}


async def publish_key(
    system: System, signer: TokenSigner, not_before: datetime | None = None, expires_at: datetime | None = None
) -> None:
    """What identity's rotation publishes for a key (here for one operator), until every receiver has it."""
    jwk = PublicJwk.model_validate(signer.public_jwk)
    payload = SigningKeyPublished(kid=signer.kid, jwk=jwk, not_before=not_before, expires_at=expires_at)
    envelope = envelope_for(payload, tenant=TENANT, correlation_id=uuid4())
    await produce(system.kafka, topics.IDENTITY_KEYS.name, encode(envelope), key=signer.kid.encode())
    await consumed(system.kafka, KEYS_CONSUMED)


def token(signer: TokenSigner, partner: str, issued: datetime | None = None, sid: str = "test") -> str:
    issued = issued or datetime.now(UTC)
    claims = {"iss": "plusportal-identity", "aud": "plusportal", "sub": "test", "tenant": TENANT,
              "partner": partner, "role": "consumption", "sid": sid, "iat": issued}  # fmt: skip
    return signer.sign(claims, issued + timedelta(minutes=5))


async def status_at_meterdata(system: System, access_token: str, partner: str) -> int:
    async with httpx.AsyncClient(base_url=system.meterdata.url, timeout=10) as client:
        answer = await client.get(
            f"/partners/{partner}/intervals",
            headers={"Authorization": f"Bearer {access_token}", "Host": f"{TENANT}.localhost"},
            params=PERIOD,
        )
    return answer.status_code


def staff_token(signer: TokenSigner) -> str:
    issued = datetime.now(UTC)
    claims = {"iss": "plusportal-identity", "aud": "plusportal-backoffice", "sub": str(uuid4()), "tenant": TENANT,
              "name": "Klara Clerk", "role": "clerk", "sid": "test", "iat": issued}  # fmt: skip
    return signer.sign(claims, issued + timedelta(minutes=5))


async def status_at_backoffice(system: System, access_token: str) -> tuple[int, int]:
    """What onboarding's and letters' back-office answer a staff token."""
    headers = {"Authorization": f"Bearer {access_token}", "Host": f"{TENANT}.localhost"}
    async with (
        httpx.AsyncClient(base_url=system.onboarding.url, timeout=10) as onboarding,
        httpx.AsyncClient(base_url=system.letters.url, timeout=10) as letters,
    ):
        requests = await onboarding.get("/backoffice/requests", headers=headers, params={"limit": 1})
        jobs = await letters.get("/backoffice/letters", headers=headers, params={"limit": 1})
    return requests.status_code, jobs.status_code


async def becomes(system: System, access_token: str, partner: str, status: int, timeout: float, what: str) -> None:
    async def answered() -> bool:
        return await status_at_meterdata(system, access_token, partner) == status

    await eventually(answered, timeout=timeout, what=what)


# --- revocation ---------------------------------------------------------------------------------------------


async def test_a_revoked_key_stops_verifying_within_a_minute_and_never_verifies_again(
    system: System, tmp_path: Path
) -> None:
    leaked = TokenSigner(tmp_path / "leaked.pem")
    partner = random_partner_number()
    await publish_key(system, leaked)
    signed, staff_signed = token(leaked, partner), staff_token(leaked)
    assert await status_at_meterdata(system, signed, partner) == 200  # verified, and now in meter data's caches
    assert await status_at_backoffice(system, staff_signed) == (200, 200)

    settings = IdentitySettings(database_url=system.identity_db, signing_key_file=system.signing_key)
    done = await staff_cli.revoke_key(settings, leaked.kid)
    assert (done.own, done.replaced_by) == (False, None)  # not identity's key: only the revocation went out
    revoked_at = datetime.now(UTC)
    await becomes(system, signed, partner, 403, timeout=60, what="meter data to refuse the revoked key's token")

    async def refused_by_the_backoffice() -> bool:
        return await status_at_backoffice(system, staff_signed) == (401, 401)

    await eventually(refused_by_the_backoffice, timeout=60, what="onboarding and letters to refuse the staff token")
    assert datetime.now(UTC) - revoked_at < timedelta(minutes=1)

    # Published again (a replay, or someone who holds identity's credential): the revocation is final.
    await publish_key(system, leaked)
    assert await status_at_meterdata(system, signed, partner) == 403
    assert await status_at_meterdata(system, token(leaked, partner), partner) == 403
    assert await status_at_backoffice(system, staff_token(leaked)) == (401, 401)
    records = envelopes(await read_topic(system.kafka, topics.IDENTITY_KEYS.name))
    revocations = [
        e for _, e in records if e["event_type"] == "SigningKeyRevoked" and e["payload"]["kid"] == leaked.kid
    ]
    assert {e["tenant"] for e in revocations} == {"000328", "000512"}  # for every operator, by identity


# --- rotation -------------------------------------------------------------------------------------------------


async def test_identity_publishes_its_key_with_its_validity_period(system: System) -> None:
    signer = TokenSigner(system.signing_key)
    kid = signer.kid
    records = envelopes(await read_topic(system.kafka, topics.IDENTITY_KEYS.name))
    # Identity's own publications: the forgery tests (test_bus_access) publish other keys under this kid.
    published = [
        e
        for _, e in records
        if e["event_type"] == "SigningKeyPublished"
        and e["payload"]["kid"] == kid
        and e["payload"]["jwk"]["x"] == signer.public_jwk["x"]
    ]
    assert published and all(e["schema_version"] == 2 for e in published)
    not_before = datetime.fromisoformat(published[-1]["payload"]["not_before"])
    expires_at = datetime.fromisoformat(published[-1]["payload"]["expires_at"])
    assert not_before <= datetime.now(UTC) < expires_at
    async with httpx.AsyncClient(base_url=system.identity.url) as client:
        jwks = (await client.get("/.well-known/jwks.json", headers={"Host": f"{TENANT}.localhost"})).json()
    assert kid in {key["kid"] for key in jwks["keys"]}


async def test_rotation_keeps_the_old_keys_tokens_during_the_overlap_and_the_new_key_verifies(
    system: System, tmp_path: Path
) -> None:
    """As identity rotates: the new key was published ahead and signs from ``takeover``; the old one stopped signing
    then and verifies until its last tokens have expired (here: a few seconds later)."""
    old, new, upcoming = (TokenSigner(tmp_path / f"{name}.pem") for name in ("old", "new", "upcoming"))
    partner = random_partner_number()
    takeover = datetime.now(UTC)
    old_expires = takeover + timedelta(seconds=30)
    await publish_key(system, old, takeover - timedelta(days=30), old_expires)
    await publish_key(system, new, takeover, takeover + timedelta(days=30))
    await publish_key(system, upcoming, takeover + timedelta(days=30), takeover + timedelta(days=60))

    by_old = token(old, partner, issued=takeover - timedelta(seconds=5))
    by_new = token(new, partner, issued=takeover)  # the first moment it signs (iat: whole seconds, truncated)
    assert datetime.now(UTC) < old_expires - timedelta(seconds=5), "the test machine was too slow for the overlap"
    assert await status_at_meterdata(system, by_old, partner) == 200  # during the overlap
    assert await status_at_meterdata(system, by_new, partner) == 200
    # Outside a key's period: signed before the new key took over, or with a key published ahead of its time.
    assert (
        await status_at_meterdata(system, token(new, partner, issued=takeover - timedelta(minutes=1)), partner) == 403
    )
    assert await status_at_meterdata(system, token(upcoming, partner), partner) == 403

    await becomes(system, by_old, partner, 403, timeout=60, what="the old key's token refused after its period")
    assert datetime.now(UTC) >= old_expires
    assert await status_at_meterdata(system, by_new, partner) == 200


# --- sessions that end --------------------------------------------------------------------------------------


async def test_after_logout_password_change_or_deletion_the_old_access_token_gets_401_at_meter_data_in_seconds(
    system: System,
) -> None:
    meter, [partner] = await _known_to_identity(system, TENANT, (PartnerRole.CONSUMPTION,))
    email = f"ende.{meter.lower()}@example.org"
    async with (
        PortalClient(system.identity.url, TENANT) as laptop,
        PortalClient(system.identity.url, TENANT) as phone,
        PortalClient(system.identity.url, TENANT) as tablet,
    ):
        await _register(laptop, system, meter, partner, email, 1)
        tokens = {}
        for name, browser in (("laptop", laptop), ("phone", phone), ("tablet", tablet)):
            assert (await browser.call("POST", "/sessions", json={"email": email, "password": PASSWORD})).is_success
            tokens[name] = (await browser.call("POST", "/session/token")).json()["access_token"]
            assert await status_at_meterdata(system, tokens[name], partner) == 200
        assert len({jwt.decode(t, options={"verify_signature": False})["sid"] for t in tokens.values()}) == 3

        assert (await laptop.call("DELETE", "/session")).status_code == 204
        await becomes(system, tokens["laptop"], partner, 401, timeout=10, what="the logged-out token refused")

        changed = await phone.call(
            "POST", "/account/password", json={"current_password": PASSWORD, "new_password": "Neue Sonnenblumen 2027!"}
        )
        assert changed.status_code == 204, changed.text
        await becomes(system, tokens["tablet"], partner, 401, timeout=10, what="the other session's token refused")
        assert await status_at_meterdata(system, tokens["phone"], partner) == 200  # the session that changed it

        deleted = await phone.call("POST", "/account/delete", json={"password": "Neue Sonnenblumen 2027!"})
        assert deleted.status_code == 204, deleted.text
        await becomes(system, tokens["phone"], partner, 401, timeout=10, what="the deleted login's token refused")
