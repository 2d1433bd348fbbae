"""Identity's cryptography: password hashes, one-time tokens, signed access tokens, device cookies."""

import asyncio
import gzip
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import SecretStr

from kit.auth import jwk_thumbprint
from services.identity import domain

# argon2id, m = 19 MiB, t = 2, p = 1 (OWASP's minimum); older hashes are upgraded at login.
HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Verified when the e-mail is unknown, so that unknown and known e-mails take the same time.
_DUMMY_HASH = HASHER.hash(secrets.token_urlsafe(16))


# argon2 (tens of ms of CPU each) runs off the event loop, on fewer threads than there are CPUs: the loop keeps a
# CPU for every other request (benchmarks/README.md, "Choices in the code").
_COMMON_PASSWORDS = Path(__file__).resolve().parent / "common-passwords.txt.gz"


@cache
def common_passwords() -> frozenset[str]:
    """The common-password list that domain.password_problem refuses (read once)."""
    with gzip.open(_COMMON_PASSWORDS, "rt", encoding="utf-8") as file:
        return frozenset(line.strip() for line in file if line.strip())


_HASHING = ThreadPoolExecutor(max_workers=max(1, (os.cpu_count() or 2) - 1), thread_name_prefix="argon2")


async def hash_password(password: str) -> str:
    return await asyncio.get_running_loop().run_in_executor(_HASHING, HASHER.hash, password)


async def verify_password(stored_hash: str | None, password: str) -> bool:
    def verify() -> bool:
        try:
            return HASHER.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.get_running_loop().run_in_executor(_HASHING, verify)


def needs_rehash(stored_hash: str) -> bool:
    return HASHER.check_needs_rehash(stored_hash)


def new_token() -> str:
    """256 random bits for a link; only its hash is stored."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def email_key(tenant: str, email: str) -> str:
    """A stable key for an e-mail that is not the e-mail itself (throttling rows, Kafka keys)."""
    return hashlib.sha256(f"{tenant}/{email}".encode()).hexdigest()[:32]


class DeviceCookies:
    """OWASP device cookies: a browser that logged in to an account before carries a signed proof."""

    def __init__(self, secret: SecretStr | None) -> None:
        # Without a configured secret (development only: production refuses to start) this process draws its own.
        raw = secret.get_secret_value() if secret is not None else secrets.token_urlsafe(32)
        self._key = hashlib.sha256(raw.encode()).digest()

    def issue(self, tenant: str, email: str) -> str:
        body = f"{tenant}|{email_key(tenant, email)}|{secrets.token_hex(8)}"
        return f"{body}|{self._sign(body)}"

    def device_id(self, cookie: str | None, tenant: str, email: str) -> str | None:
        """The device id if the cookie is genuine and belongs to this tenant and e-mail."""
        if not cookie or cookie.count("|") != 3:
            return None
        body, signature = cookie.rsplit("|", 1)
        cookie_tenant, key, device = body.split("|")
        genuine = hmac.compare_digest(signature, self._sign(body))
        return device if genuine and cookie_tenant == tenant and key == email_key(tenant, email) else None

    def _sign(self, body: str) -> str:
        return hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()[:32]


class TokenSigner:
    """Signs short-lived access tokens (ES256) with one key. Other services verify them with the public JWK,
    which identity publishes on its keys topic and at /.well-known/jwks.json."""

    def __init__(self, key_file: Path) -> None:
        if not key_file.exists():
            _write_private_key(key_file, ec.generate_private_key(ec.SECP256R1()))
        loaded = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
        assert isinstance(loaded, ec.EllipticCurvePrivateKey)
        self.key_file = key_file
        self._private = loaded
        self.public_jwk: dict[str, Any] = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(loaded.public_key()))
        self.kid = jwk_thumbprint(self.public_jwk)
        self.public_jwk |= {"kid": self.kid, "alg": "ES256", "use": "sig"}

    def sign(self, claims: dict[str, Any], expires_at: datetime) -> str:
        return jwt.encode({**claims, "exp": expires_at}, self._private, algorithm="ES256", headers={"kid": self.kid})

    def public_jwks(self) -> list[dict[str, Any]]:
        return [self.public_jwk]


def _write_private_key(key_file: Path, private: ec.EllipticCurvePrivateKey) -> None:
    """PKCS#8 PEM, readable by identity's user only; written whole (a new name, then renamed into place)."""
    key_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    partial = key_file.with_name(f".{key_file.name}.{secrets.token_hex(4)}")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(pem)
    partial.rename(key_file)


class NoSigningKey(Exception):
    """No key signs at this moment (its schedule was not loaded yet, or the signing key was just revoked)."""


class Keyring:
    """Identity's private signing keys, never in the repository: ``settings.signing_key_file`` (the key from
    before keys were rotated, adopted as the first) and the folder ``signing-keys/`` next to it, one
    ``<kid>.pem`` per key (mode 0600). Which key signs when is the database's (domain.SigningKey,
    handlers.rotate_signing_keys); ``use`` hands that schedule to the process after each commit."""

    FOLDER = "signing-keys"

    def __init__(self, key_file: Path) -> None:
        self._first = key_file
        self.folder = key_file.parent / self.FOLDER
        self._signers: dict[str, TokenSigner] = {}
        self._schedule: tuple[domain.SigningKey, ...] = ()
        self._gone: set[str] = set()  # kids whose private half was deleted (or never here)

    def first(self) -> tuple[TokenSigner, datetime]:
        """The key of ``signing_key_file`` (created when missing) and since when it exists."""
        signer = TokenSigner(self._first)
        self._signers[signer.kid] = signer
        return signer, datetime.fromtimestamp(self._first.stat().st_mtime, UTC)

    def create(self) -> TokenSigner:
        """A new key in the folder, named by its kid."""
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        made = self.folder / f".new-{secrets.token_hex(8)}.pem"
        _write_private_key(made, ec.generate_private_key(ec.SECP256R1()))
        kid = TokenSigner(made).kid
        made.rename(self.folder / f"{kid}.pem")
        signer = self._signers[kid] = TokenSigner(self.folder / f"{kid}.pem")
        return signer

    def signer(self, kid: str) -> TokenSigner:
        known = self._signers.get(kid)
        if known is not None:
            return known
        path = self.folder / f"{kid}.pem"
        if path.exists():
            found = TokenSigner(path)
        elif self._first.exists() and (first := TokenSigner(self._first)).kid == kid:
            found = first
        else:
            raise NoSigningKey(kid)
        if found.kid != kid:
            raise NoSigningKey(kid)  # a file under another key's name
        self._signers[kid] = found
        return found

    def destroy(self, kid: str) -> bool:
        """Deletes a revoked or expired key's private half; True if there was one here."""
        self._signers.pop(kid, None)
        self._gone.add(kid)
        for path in (self.folder / f"{kid}.pem", self._first):
            if path.exists() and (path != self._first or TokenSigner(path).kid == kid):
                path.unlink()
                return True
        return False

    def use(self, keys: Collection[domain.SigningKey], now: datetime) -> None:
        """The schedule to sign by (the live keys); the private halves of keys that verify nothing any more go."""
        self._schedule = tuple(key for key in keys if key.live(now))
        for key in keys:
            if not key.live(now) and key.kid not in self._gone:
                self.destroy(key.kid)

    @property
    def schedule(self) -> tuple[domain.SigningKey, ...]:
        return self._schedule

    def public_jwks(self) -> list[dict[str, Any]]:
        """The public keys that verify now or soon (for /.well-known/jwks.json)."""
        return [self.signer(key.kid).public_jwk for key in self._schedule]

    def sign(self, claims: dict[str, Any], expires_at: datetime) -> str:
        """Signs with the key whose period holds the token's ``iat``."""
        key = domain.signing_key_at(self._schedule, claims["iat"])
        if key is None:
            raise NoSigningKey("no key signs now")
        return self.signer(key.kid).sign(claims, expires_at)
