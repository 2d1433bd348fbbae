"""Inputs the fuzz properties share: any JSON, odd values, and mutations of a valid document or byte string."""

import json
from typing import Any

from hypothesis import strategies as st

# Values that break parsers: huge and non-finite numbers, long and exotic text, the other JSON types.
ODD_NUMBERS = st.sampled_from(
    [0, -1, 2**31, 2**63, 2**64, -(2**63) - 1, 10**400, 1e308, -1e308, 5e-324, float("nan"), float("inf"),
     float("-inf"), -0.0]
)  # fmt: skip
ODD_TEXT = st.one_of(
    st.sampled_from(
        ["", " ", "\x00", "\ufeff", "\u202e", "💡", "ß", "İ", "１２３４５", "²³⁴⁵⁶", "٠١٢٣٤", "\n", "a" * 100_001]
    ),
    st.text(max_size=50),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=200, max_size=2000),
)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=30), ODD_NUMBERS, ODD_TEXT)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=12), inner, max_size=5)),
    max_leaves=20,
)


def paths(document: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON document (keys of objects, indexes of arrays), the root included."""
    found = [prefix]
    if isinstance(document, dict):
        for key, value in document.items():
            found += paths(value, (*prefix, key))
    elif isinstance(document, list):
        for index, value in enumerate(document[:3]):  # the first few items stand for the rest
            found += paths(value, (*prefix, index))
    return found


def replaced(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(document, dict):
        return {**document, head: replaced(document[head], rest, value)}
    return [replaced(item, rest, value) if index == head else item for index, item in enumerate(document)]


def removed(document: Any, path: tuple[Any, ...]) -> Any:
    if len(path) == 1:
        if isinstance(document, dict):
            return {key: value for key, value in document.items() if key != path[0]}
        return [item for index, item in enumerate(document) if index != path[0]]
    return (
        {**document, path[0]: removed(document[path[0]], path[1:])}
        if isinstance(document, dict)
        else [removed(item, path[1:]) if index == path[0] else item for index, item in enumerate(document)]
    )


@st.composite
def mutated_json(draw: st.DrawFn, document: Any) -> Any:
    """``document`` with one to three places replaced by other JSON (or removed)."""
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths(document)))
        if path and draw(st.integers(0, 4)) == 0:
            document = removed(document, path)
        else:
            document = replaced(document, path, draw(JSON))
    return document


def dumps(document: Any) -> bytes:
    """JSON as a careless producer writes it: NaN and Infinity as the bare words Python's json emits."""
    return json.dumps(document, ensure_ascii=False).encode("utf-8", "surrogatepass")


@st.composite
def mutated_bytes(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` with a few bytes flipped, inserted or deleted, or cut off."""
    buffer = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        at = draw(st.integers(0, max(len(buffer) - 1, 0)))
        if action == "flip" and buffer:
            buffer[at] ^= 1 << draw(st.integers(0, 7))
        elif action == "insert":
            buffer[at:at] = draw(st.binary(min_size=1, max_size=4))
        elif action == "delete" and buffer:
            del buffer[at : at + draw(st.integers(1, 8))]
        elif action == "truncate":
            del buffer[at:]
    return bytes(buffer)
