"""The energy market's identifiers, normalised and checked the same way everywhere.

``location_kind`` tells which kind of market location id a string is (BRIEF §2 and §11): the MaLo check digit
and the MeLo shape live here and nowhere else.

``MeterNumberInput`` and ``PartnerNumberInput`` are what forms declare: what people type, normalised,
and refused with a plain German reason (kit.http turns it into the 422 answer).
"""

import re
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator

from contracts.common import METER_NUMBER_PATTERN, PARTNER_NUMBER_PATTERN

_METER_NUMBER = re.compile(METER_NUMBER_PATTERN)
_PARTNER_NUMBER = re.compile(PARTNER_NUMBER_PATTERN)


def normalise_meter_number(raw: str) -> str:
    """People type meter numbers with spaces, dots, dashes and in lower case."""
    return re.sub(r"[\s.\-]", "", raw).upper()


def meter_number_problem(normalised: str) -> str | None:
    """What is wrong with a normalised meter number, in plain German — or None."""
    if len(normalised) != 14:
        return "Die Zählernummer hat 14 Zeichen, zum Beispiel 1EMH0005939068."
    if not _METER_NUMBER.match(normalised):
        return "Die Zählernummer besteht aus 1 Ziffer, 3 Buchstaben und 10 Ziffern, zum Beispiel 1EMH0005939068."
    return None


def _typed_meter_number(value: str) -> str:
    normalised = normalise_meter_number(value)
    problem = meter_number_problem(normalised)
    if problem:
        raise ValueError(problem)
    return normalised


def _typed_partner_number(value: str) -> str:
    value = value.replace(" ", "")
    if not _PARTNER_NUMBER.match(value):
        raise ValueError("Die Geschäftspartner-Nr. besteht aus Ziffern, wie im Brief angegeben.")
    return value


MeterNumberInput = Annotated[str, AfterValidator(_typed_meter_number)]
PartnerNumberInput = Annotated[str, AfterValidator(_typed_partner_number)]


class LocationKind(StrEnum):
    """The location ids of current market communication (LOC+172 in MSCONS can carry any of them)."""

    MALO = "Marktlokation"  # a Tranche's id has the same shape and check digit: only master data tells them apart
    MELO = "Messlokation"
    NELO = "Netzlokation"
    SR = "Steuerbare Ressource"
    TR = "Technische Ressource"


# Only these name a customer's metering point; the others are grid or resource objects.
CUSTOMER_LOCATION_KINDS = frozenset({LocationKind.MALO, LocationKind.MELO})

_MALO = re.compile(r"^[1-9]\d{10}$")
_MELO_DE = re.compile(r"^DE\d{6}\d{5}[A-Z\d]{20}$")
_MELO_ANY = re.compile(r"^[A-Z]{2}[A-Z\d]{31}$")
# Netzlokation E…, Steuerbare Ressource C…, Technische Ressource D…: 11 characters, the last a check digit. Only
# the shape is checked: the check-digit rule of these ids is not public in the documents we have.
_RESOURCE = re.compile(r"^([ECD])[A-Z\d]{9}\d$")
_RESOURCE_KINDS = {"E": LocationKind.NELO, "C": LocationKind.SR, "D": LocationKind.TR}


def malo_check_digit(first_ten: str) -> int:
    """BRIEF §2: a = sum of digits 1,3,5,7,9; b = 2 × sum of digits 2,4,6,8,10; (10 − (a+b) mod 10) mod 10."""
    a = sum(int(first_ten[i]) for i in range(0, 10, 2))
    b = 2 * sum(int(first_ten[i]) for i in range(1, 10, 2))
    return (10 - (a + b) % 10) % 10


def is_valid_malo(malo: str) -> bool:
    return bool(_MALO.match(malo)) and malo_check_digit(malo[:10]) == int(malo[10])


def location_kind(location_id: str) -> LocationKind | None:
    """The kind of a location id, or None when it is no valid id of any kind (e.g. a MaLo's wrong check digit)."""
    if len(location_id) == 11:
        if location_id.isdigit():
            return LocationKind.MALO if is_valid_malo(location_id) else None
        match = _RESOURCE.match(location_id)
        return _RESOURCE_KINDS[match.group(1)] if match else None
    if len(location_id) == 33 and _MELO_ANY.match(location_id):
        # Other countries' metering points share the shape; a German one follows DE + grid operator + postcode.
        return LocationKind.MELO if not location_id.startswith("DE") or _MELO_DE.match(location_id) else None
    return None


def location_problem(location_id: str) -> str:
    """Why ``location_kind`` found no kind (English: for reports to the sender, not for a customer)."""
    if len(location_id) == 11 and location_id.isdigit():
        return (
            f"{location_id} has a wrong check digit for a MaLo or Tranche"
            if _MALO.match(location_id)
            else (f"{location_id} is no MaLo or Tranche (it starts with 0)")
        )
    if len(location_id) == 33 and location_id.startswith("DE"):
        return f"{location_id} is not a German MeLo (DE + 6 + 5 digits + 20 characters)"
    return (
        f"{location_id!r} is no location id of any kind (MaLo/Tranche 11 digits, MeLo 33 characters, "
        "Netzlokation E…, Steuerbare Ressource C…, Technische Ressource D…, 11 characters)"
    )
