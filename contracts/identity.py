"""Identity's events: access and reset requests (handled asynchronously), and what happened to accounts."""

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from contracts.common import MeterNumber, PartnerNumber, PartnerRole, RegistrationCode
from contracts.envelope import EventPayload

# The access tokens identity signs: who issued them, and for whom (the other services check both).
ACCESS_TOKEN_ISSUER = "plusportal-identity"
ACCESS_TOKEN_AUDIENCE = "plusportal"


class AccessRequested(EventPayload):
    """Someone asked for access with meter number, partner number and e-mail ("Zugang beantragen").

    Not yet checked: identity answers every request the same and decides afterwards."""

    EVENT_TYPE = "AccessRequested"

    meter_number: MeterNumber
    partner_number: PartnerNumber
    email: EmailStr
    # From the letter's link: admits the request even while guesses hold its meter (domain.decide_access).
    registration_code: RegistrationCode | None = None


class PasswordResetRequested(EventPayload):
    """Someone asked for a reset link for this e-mail (known or not: decided afterwards)."""

    EVENT_TYPE = "PasswordResetRequested"

    email: EmailStr


class EmailConfirmed(EventPayload):
    EVENT_TYPE = "EmailConfirmed"

    account_id: str


class PartnerLinked(EventPayload):
    """A partner number now belongs to a login: the customer is registered for it."""

    EVENT_TYPE = "PartnerLinked"

    account_id: str
    meter_number: MeterNumber
    partner_number: PartnerNumber
    role: PartnerRole


class PasswordChanged(EventPayload):
    EVENT_TYPE = "PasswordChanged"

    account_id: str
    reason: str = Field(description="reset | change")


class AccountDeleted(EventPayload):
    EVENT_TYPE = "AccountDeleted"

    account_id: str
    partner_numbers: tuple[PartnerNumber, ...]


class PublicJwk(BaseModel):
    """An EC P-256 public key as JSON Web Key (RFC 7517)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    kty: str = "EC"
    crv: str = "P-256"
    x: str
    y: str
    kid: str
    alg: str = "ES256"
    use: str = "sig"


class SigningKeyPublished(EventPayload):
    """A public key (JWK) that verifies access tokens signed by identity."""

    EVENT_TYPE = "SigningKeyPublished"

    kid: str
    jwk: PublicJwk
