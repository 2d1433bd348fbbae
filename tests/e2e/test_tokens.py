"""Tokens as an attacker would bend them (ASVS 5.0 V9): the algorithm, the expiry and the audience are fixed by
the receiver, not by the token. Made with identity's real signing key where a signature is needed."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import httpx

from contracts.identity import ACCESS_TOKEN_AUDIENCE, ACCESS_TOKEN_ISSUER
from services.identity.crypto import TokenSigner
from tests.conftest import System
from tests.journeys import register_by_hand, staff, submit_matching_request

TENANT = "000328"
PARTNER = "3236513735"


def _b64(part: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()


def claims(now: datetime) -> dict[str, object]:
    return {"iss": ACCESS_TOKEN_ISSUER, "aud": ACCESS_TOKEN_AUDIENCE, "sub": "someone", "tenant": TENANT,
            "partner": PARTNER, "role": "consumption", "sid": "a-session", "iat": int(now.timestamp())}  # fmt: skip


async def readings_with(system: System, token: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=system.meterdata.url, timeout=10) as client:
        return await client.get(
            f"/partners/{PARTNER}/intervals",
            headers={"Authorization": f"Bearer {token}", "Host": f"{TENANT}.localhost"},
            params={"from": "2026-01-01", "to": "2026-01-02", "resolution": "15min"},
        )


async def test_no_algorithm_a_shared_secret_and_an_expired_token_are_refused(system: System) -> None:
    signer = TokenSigner(system.signing_key)
    now = datetime.now(UTC)
    body = {**claims(now), "exp": int((now + timedelta(minutes=5)).timestamp())}
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': signer.kid})}.{_b64(body)}."
    # HS256 keyed with the public key (the classic confusion): anyone has that "secret". Made by hand, as PyJWT
    # itself refuses to.
    signed_part = f"{_b64({'alg': 'HS256', 'typ': 'JWT', 'kid': signer.kid})}.{_b64(body)}"
    mac = hmac.new(json.dumps(signer.public_jwk).encode(), signed_part.encode(), hashlib.sha256).digest()
    public_as_secret = f"{signed_part}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    expired = signer.sign(claims(now - timedelta(minutes=10)), now - timedelta(minutes=5))
    for token in (unsigned, public_as_secret, expired):
        answer = await readings_with(system, token)
        assert answer.status_code in (401, 403), (token[:20], answer.status_code)
        assert "Kein Zugriff" in answer.text or "anmelden" in answer.text
    assert (await readings_with(system, signer.sign(claims(now), now + timedelta(minutes=5)))).status_code != 401


async def test_a_customers_token_is_no_staff_token(system: System) -> None:
    signer = TokenSigner(system.signing_key)
    now = datetime.now(UTC)
    customer = signer.sign(claims(now), now + timedelta(minutes=5))  # genuine, but audience "plusportal"
    async with httpx.AsyncClient(base_url=system.onboarding.url, timeout=10) as client:
        refused = await client.get(
            "/backoffice/requests", headers={"Authorization": f"Bearer {customer}", "Host": f"{TENANT}.localhost"}
        )
        assert refused.status_code == 401
        assert (await client.get("/backoffice/requests", headers=await staff(TENANT))).status_code == 200


async def test_a_state_change_without_the_csrf_token_is_refused(system: System) -> None:
    _, point, email = await submit_matching_request(system.kafka, system.onboarding.url, TENANT)
    meter, partner = point.meter_number, point.partners[0].partner_number
    async with await register_by_hand(system.identity.url, system.mail, TENANT, meter, partner, email) as browser:
        token = browser.csrf
        browser.csrf = None  # a forged form elsewhere has the cookie (sent by the browser), not the token
        refused = await browser.call("POST", "/session/partner", json={"partner_number": partner})
        assert refused.status_code == 403, refused.text
        browser.csrf = token
        assert (await browser.call("POST", "/session/partner", json={"partner_number": partner})).status_code == 200
