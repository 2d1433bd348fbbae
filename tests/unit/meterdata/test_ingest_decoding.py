"""The ingest path decodes with msgspec structs for speed; they must accept and refuse what the pydantic
contract accepts and refuses."""

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from pydantic import ValidationError

from contracts.meterdata import LoadProfileDay
from services.meterdata.handlers import _decode_day, _decode_envelope

EXAMPLE = json.loads(Path("contracts/examples/LoadProfileDay/v1.json").read_text())


def test_the_stored_example_decodes_to_the_same_values_both_ways() -> None:
    envelope = _decode_envelope(json.dumps(EXAMPLE).encode())
    fast = _decode_day(envelope.payload)
    contract = LoadProfileDay.model_validate(EXAMPLE["payload"])
    assert (fast.meter_number, fast.obis, fast.day, fast.revision) == (
        contract.meter_number,
        contract.obis,
        contract.day,
        contract.revision,
    )
    assert tuple(fast.values) == contract.values
    assert tuple(fast.qualities) == tuple(q.value for q in contract.qualities)


@pytest.mark.parametrize(
    "change",
    [
        {"meter_number": "1EMH00059"},
        {"qualities": ["999"] * 96},
        {"revision": -1},
        {"day": "2026-13-01"},
        {"values": "nope"},
    ],
)
def test_what_the_contract_refuses_the_fast_decoder_refuses(change: dict[str, Any]) -> None:
    payload = {**EXAMPLE["payload"], **change}
    with pytest.raises(ValidationError):
        LoadProfileDay.model_validate(payload)
    with pytest.raises(msgspec.ValidationError):
        _decode_day(json.dumps(payload).encode())


def test_unknown_fields_are_ignored_both_ways() -> None:
    payload = {**EXAMPLE["payload"], "future_field": 1}
    assert LoadProfileDay.model_validate(payload).meter_number == _decode_day(json.dumps(payload).encode()).meter_number
