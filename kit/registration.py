"""The one-time registration code of a letter: derived, never stored in plain.

Letters derives each code from its key and the letter (so a PDF rendered later, in another process, prints
the same code without keeping it) and publishes only the hash; identity keeps the hash and admits one access
request with the code.
"""

import base64
import hashlib
import hmac
from uuid import UUID

CODE_BYTES = 20  # 160 bits (at least 128: BRIEF §10 / issue [6 of 11])


def registration_code(key: bytes, tenant: str, letter_id: UUID, partner_number: str) -> str:
    digest = hmac.new(key, f"{tenant}|{letter_id}|{partner_number}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:CODE_BYTES]).rstrip(b"=").decode()


def registration_code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()
