"""The platform operator's staff token at a service other than identity ([7 of 11] §5: platform-wide dead letters).

Identity signs it with the platform's key, which it publishes once per operator (every event names one): a
service verifies the token with any operator's copy of the key, and refuses it once any copy is revoked.
"""

import time
from datetime import UTC, datetime

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import update
from sqlmodel import col

from contracts.identity import ACCESS_TOKEN_ISSUER
from contracts.staff import PLATFORM_PORTAL, STAFF_TOKEN_AUDIENCE
from kit import auth
from kit.auth import InvalidToken, SigningKeyRow, jwk_thumbprint, verify_staff
from kit.db import Database


def _platform_key() -> tuple[ec.EllipticCurvePrivateKey, dict[str, str], str]:
    private = ec.generate_private_key(ec.SECP256R1())
    jwk = jwt.algorithms.ECAlgorithm.to_jwk(private.public_key(), as_dict=True)
    return private, jwk, jwk_thumbprint(jwk)


def _token(private: ec.EllipticCurvePrivateKey, kid: str, tenant: str) -> str:
    claims = {
        "iss": ACCESS_TOKEN_ISSUER,
        "aud": STAFF_TOKEN_AUDIENCE,
        "sub": "platform-1",
        "tenant": tenant,
        "name": "Paul Plattform",
        "role": "platform",
        "exp": int(time.time()) + 300,
    }
    return jwt.encode(claims, private, algorithm="ES256", headers={"kid": kid})


async def test_a_platform_token_verifies_with_any_operators_copy_of_the_key_until_one_is_revoked(db: Database) -> None:
    private, jwk, kid = _platform_key()
    async with db.transaction() as session:
        for operator in ("000328", "000512"):
            session.add(SigningKeyRow(tenant=operator, kid=kid, jwk=jwk, published_at=datetime.now(UTC)))
    token = _token(private, kid, PLATFORM_PORTAL)
    async with db.transaction(read_only=True) as session:
        claims = await verify_staff(session, token, PLATFORM_PORTAL)
        assert (claims.tenant, claims.role) == (PLATFORM_PORTAL, "platform")
        with pytest.raises(InvalidToken, match="other tenant"):  # the platform's token is no operator's
            await verify_staff(session, token, "000328")

    async with db.transaction() as session:
        revoked = {"revoked_at": datetime.now(UTC)}
        await session.exec(update(SigningKeyRow).where(col(SigningKeyRow.tenant) == "000512").values(**revoked))
    auth._KEYS.clear()  # as after KEY_RECHECK_S: the cached copy is read again
    async with db.transaction(read_only=True) as session:
        with pytest.raises(InvalidToken, match="revoked"):
            await verify_staff(session, token, PLATFORM_PORTAL)


async def test_an_operators_token_is_not_verified_with_another_operators_key(db: Database) -> None:
    """What the platform's lookup across copies must not open up: an operator's token needs its own copy."""
    private, jwk, kid = _platform_key()
    async with db.transaction() as session:
        session.add(SigningKeyRow(tenant="000512", kid=kid, jwk=jwk, published_at=datetime.now(UTC)))
    async with db.transaction(read_only=True) as session:
        with pytest.raises(InvalidToken, match="unknown key"):
            await verify_staff(session, _token(private, kid, "000328"), "000328")
