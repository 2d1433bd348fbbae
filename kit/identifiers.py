"""The energy market's identifiers, normalised and checked the same way everywhere.

``MeterNumberInput`` and ``PartnerNumberInput`` are what forms declare: what people type, normalised,
and refused with a plain German reason (kit.http turns it into the 422 answer).
"""

import re
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
