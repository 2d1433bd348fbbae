"""Key ids are RFC 7638 thumbprints: computed once (kit.auth), by identity when it names its key and by every
service that receives one."""

from pathlib import Path

from kit.auth import jwk_thumbprint
from services.identity.crypto import TokenSigner

# RFC 7638 §3.1: the example RSA key and its thumbprint.
RFC_7638_KEY = {
    "kty": "RSA",
    "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiF"
    "V4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgd"
    "AZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kE"
    "gU8awapJzKnqDKgw",
    "e": "AQAB",
    "alg": "RS256",
    "kid": "2011-04-29",
}


def test_the_thumbprint_of_rfc_7638s_example_key() -> None:
    assert jwk_thumbprint(RFC_7638_KEY) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_identity_names_its_key_by_the_thumbprint(tmp_path: Path) -> None:
    signer = TokenSigner(tmp_path / "key.pem")
    assert signer.kid == jwk_thumbprint(signer.public_jwk) == signer.public_jwk["kid"]
    other = TokenSigner(tmp_path / "other.pem")
    assert other.kid != signer.kid
