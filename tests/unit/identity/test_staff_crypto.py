"""The staff's TOTP secrets are sealed for the database with the installation's key."""

import pytest
from cryptography.fernet import InvalidToken

from services.identity.staff_crypto import TotpSecrets, new_totp_secret


def test_a_sealed_secret_opens_only_with_its_key() -> None:
    secret = new_totp_secret()
    sealed = TotpSecrets(b"this installation's key").seal(secret)
    assert sealed.startswith(TotpSecrets.PREFIX) and secret not in sealed
    assert TotpSecrets(b"this installation's key").open(sealed) == secret
    with pytest.raises(InvalidToken):
        TotpSecrets(b"another installation's key").open(sealed)


def test_a_secret_stored_before_sealing_is_read_as_it_is() -> None:
    legacy = new_totp_secret()
    assert TotpSecrets(b"key").open(legacy) == legacy
