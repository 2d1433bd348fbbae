"""The energy market's identifiers, normalised and checked the same way everywhere (pure functions)."""

import re

# DIN 43863-5: division (1 digit) + manufacturer (3 letters) + block (2 digits) + serial (8 digits).
_METER_NUMBER = re.compile(r"^[0-9][A-Z]{3}[0-9]{10}$")


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
