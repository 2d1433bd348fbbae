"""Identity's events: access and reset requests (handled asynchronously), and what happened to accounts."""

from pydantic import AwareDatetime, BaseModel, ConfigDict, EmailStr, Field

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
    """A public key (JWK) that verifies access tokens signed by identity, and when it does.

    Identity publishes a key ahead of its use (``not_before`` lies ahead) and keeps publishing it until tokens
    signed with it have expired (``expires_at``). A receiver refuses a token signed before ``not_before`` or
    presented from ``expires_at`` on. Version 1 events had no period: they verify without bounds.
    """

    EVENT_TYPE = "SigningKeyPublished"
    SCHEMA_VERSION = 2

    kid: str
    jwk: PublicJwk
    not_before: AwareDatetime | None = Field(
        default=None, description="Identity signs with the key from then on; earlier tokens (iat) are refused"
    )
    expires_at: AwareDatetime | None = Field(
        default=None, description="From then on nothing the key signed is valid (after its last tokens expired)"
    )


class SigningKeyRevoked(EventPayload):
    """The key must not verify anything any more, whatever its period (compromised or retired early).

    Final: a later ``SigningKeyPublished`` of the same key (its kid is its thumbprint) does not bring it back."""

    EVENT_TYPE = "SigningKeyRevoked"

    kid: str
    reason: str = Field(default="", description="For people reading the topic, e.g. 'compromised'")


class SessionEnded(EventPayload):
    """A customer's session ended before its time (logout, password change or reset, account deleted, other
    devices signed out): access tokens that carry its ``sid`` are refused from now on, though not yet expired."""

    EVENT_TYPE = "SessionEnded"

    sid: str = Field(description="The `sid` claim of the session's access tokens")
    reason: str = Field(description="logout | password-changed | account-deleted | signed-out-elsewhere | switched")
    tokens_valid_until: AwareDatetime = Field(
        description="The session's last token expires by then; afterwards the record may be forgotten"
    )
