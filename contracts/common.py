"""Value types shared by several events."""

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

# DIN 43863-5: division (1 digit) + manufacturer (3 letters) + block (2 digits) + serial (8 digits).
METER_NUMBER_PATTERN = r"^[0-9][A-Z]{3}[0-9]{10}$"
PARTNER_NUMBER_PATTERN = r"^[0-9]{4,20}$"

MeterNumber = Annotated[
    str,
    Field(
        pattern=METER_NUMBER_PATTERN,
        description="Zählernummer per DIN 43863-5, normalised: no spaces, upper case, 14 characters",
        examples=["1EMH0005939068"],
    ),
]
PartnerNumber = Annotated[
    str,
    Field(pattern=PARTNER_NUMBER_PATTERN, description="Geschäftspartner-Nr. Netz from the operator's billing system"),
]
# The one-time code a letter's link carries (kit.registration: 160 bits, base64url without padding).
RegistrationCode = Annotated[
    str, Field(pattern=r"^[A-Za-z0-9_-]{22,64}$", description="Registrierungscode aus dem Link des Briefs")
]
RegistrationCodeHash = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the code, hex")]
MaLoId = Annotated[str, Field(pattern=r"^[1-9][0-9]{10}$", description="Marktlokations-ID")]
Postcode = Annotated[str, Field(pattern=r"^[0-9]{5}$")]


class PartnerRole(StrEnum):
    CONSUMPTION = "consumption"  # Bezug
    FEED_IN = "feed_in"  # Einspeisung


# What customers and clerks read for each role: portal, back-office, letters, identity's mails.
ROLE_LABELS: dict[PartnerRole, str] = {
    PartnerRole.CONSUMPTION: "Bezug (Verbrauch)",
    PartnerRole.FEED_IN: "Einspeisung",
}


class PostalAddress(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    street: str = Field(min_length=1, max_length=100)
    house_number: str = Field(min_length=1, max_length=20)
    postcode: Postcode
    city: str = Field(min_length=1, max_length=100)
    addition: str | None = Field(default=None, max_length=100, description="c/o, Hinterhaus, …")
    country: str = Field(default="DE", pattern=r"^[A-Z]{2}$")


class PartnerNumberGrant(BaseModel):
    """A partner number and what it is for."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    partner_number: PartnerNumber
    role: PartnerRole
