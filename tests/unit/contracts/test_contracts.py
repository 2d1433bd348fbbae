"""Contract guards: what was once on Kafka must stay readable, and the generated documents must be current.

Events evolve additively only (contracts/envelope.py). Two kinds of frozen evidence enforce it: the stored
example messages of every schema version (``contracts/examples/<EventType>/v<N>.json``) must still parse with
today's models, and the stored JSON Schemas of every version (``contracts/schemas/<EventType>.v<N>.json``)
must not lose a property or gain a required one. ``stack.specs`` check mode keeps the generated files honest.
"""

import base64
import hashlib
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from contracts.envelope import Envelope, EventPayload
from contracts.registry import ALL_EVENTS, EVENTS_BY_TOPIC
from contracts.topics import ALL_TOPICS
from stack.paths import REPO_ROOT
from stack.specs import ENVELOPE_VERSION, EXAMPLES_DIR, SCHEMAS_DIR, envelope_schema, event_schema, stale

EVENTS: dict[str, type[EventPayload]] = {event.EVENT_TYPE: event for event in ALL_EVENTS}
EXAMPLE_FILES = sorted(EXAMPLES_DIR.glob("*/v*.json"))
SCHEMA_FILES = sorted(SCHEMAS_DIR.glob("*.v*.json"))
SCHEMA_FILE_NAME = re.compile(r"^(?P<name>\w+)\.v(?P<version>\d+)\.json$")
EXAMPLE_FILE_NAME = re.compile(r"^v(?P<version>\d+)\.json$")


def _relative(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT))


def _example_version(path: Path) -> int:
    match = EXAMPLE_FILE_NAME.match(path.name)
    assert match, f"{_relative(path)}: example files are named v<N>.json"
    return int(match["version"])


def _schema_name_and_version(path: Path) -> tuple[str, int]:
    match = SCHEMA_FILE_NAME.match(path.name)
    assert match, f"{_relative(path)}: schema files are named <Name>.v<N>.json"
    return match["name"], int(match["version"])


def _load(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


# --- stored examples --------------------------------------------------------------------------------------


def test_examples_are_stored() -> None:
    # A wrong directory would make every parametrised example test below vanish instead of fail.
    assert EXAMPLE_FILES, f"no examples in {_relative(EXAMPLES_DIR)}"
    assert SCHEMA_FILES, f"no schemas in {_relative(SCHEMAS_DIR)}"


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=_relative)
def test_stored_example_parses_with_current_model(path: Path) -> None:
    envelope = Envelope.model_validate_json(path.read_bytes())
    assert envelope.event_type == path.parent.name, "the folder names the event type"
    assert envelope.schema_version == _example_version(path), "the file name names the schema version"
    event = EVENTS.get(envelope.event_type)
    assert event is not None, f"{envelope.event_type} left contracts.registry: removing a type breaks readers"
    event.model_validate(envelope.payload)


@pytest.mark.parametrize("event", ALL_EVENTS, ids=lambda event: event.EVENT_TYPE)
def test_every_event_type_has_examples_up_to_its_schema_version(event: type[EventPayload]) -> None:
    folder = EXAMPLES_DIR / event.EVENT_TYPE
    versions = {_example_version(path) for path in folder.glob("v*.json")}
    assert 1 in versions, f"write {_relative(folder / 'v1.json')}: a realistic example message"
    assert max(versions) <= event.SCHEMA_VERSION, f"{event.EVENT_TYPE}: an example is newer than the model"
    # A version bump comes with a new frozen example; the old ones stay as they are.
    assert event.SCHEMA_VERSION in versions, f"write {_relative(folder / f'v{event.SCHEMA_VERSION}.json')}"


def _with_unknown_fields(value: Any) -> Any:
    """The same data with an extra field in every object, as a newer writer might send it."""
    if isinstance(value, dict):
        return {**{key: _with_unknown_fields(item) for key, item in value.items()}, "added_later": {"x": 1}}
    if isinstance(value, list):
        return [_with_unknown_fields(item) for item in value]
    return value


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=_relative)
def test_readers_ignore_unknown_fields(path: Path) -> None:
    original = _load(path)
    extended = _with_unknown_fields(original)
    envelope = Envelope.model_validate(extended)
    # The envelope keeps the payload as a dict; the event model is what drops unknown payload fields.
    assert envelope.model_dump(exclude={"payload"}) == Envelope.model_validate(original).model_dump(exclude={"payload"})
    event = EVENTS[envelope.event_type]
    assert event.model_validate(envelope.payload) == event.model_validate(original["payload"])


def test_stored_dispatch_jobs_carry_a_matching_pdf_checksum() -> None:
    # Print houses refuse a job whose PDF does not match its checksum; an example should not teach otherwise.
    for path in sorted((EXAMPLES_DIR / "LetterDispatchRequested").glob("v*.json")):
        payload = _load(path)["payload"]
        if payload.get("pdf_base64") is None:  # by reference (v2): the checksum comes with the fetched PDF
            assert payload["pdf_url"], _relative(path)
            continue
        pdf = base64.b64decode(payload["pdf_base64"], validate=True)
        assert hashlib.sha256(pdf).hexdigest() == payload["pdf_sha256"], _relative(path)


# --- stored schemas: additive evolution -------------------------------------------------------------------


def _fields(schema: dict[str, Any]) -> dict[str, bool]:
    """Every property path of a schema ("partners[].postal_address.city") and whether it is required.

    Follows local ``$ref``s into ``$defs`` and through anyOf/oneOf/allOf, array items and map values.
    """
    fields: dict[str, bool] = {}
    definitions: dict[str, Any] = schema.get("$defs", {})

    def walk(node: dict[str, Any], path: str, seen: frozenset[str]) -> None:
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            if name in seen:
                return  # recursive model: its fields are already listed
            seen = seen | {name}
            node = definitions[name]
        for branch in (*node.get("anyOf", ()), *node.get("oneOf", ()), *node.get("allOf", ())):
            walk(branch, path, seen)
        if isinstance(node.get("items"), dict):
            walk(node["items"], f"{path}[]", seen)
        if isinstance(node.get("additionalProperties"), dict):
            walk(node["additionalProperties"], f"{path}{{}}", seen)
        required = set(node.get("required", ()))
        for name, prop in node.get("properties", {}).items():
            child = f"{path}.{name}" if path else name
            fields[child] = fields.get(child, False) or name in required
            walk(prop, child, seen)

    walk(schema, "", frozenset())
    return fields


def _parent(path: str) -> str:
    parent = path.rsplit(".", 1)[0] if "." in path else ""
    return re.sub(r"(\[\]|\{\})+$", "", parent)  # "a[].b" belongs to "a"


def breaking_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What a reader of ``new`` would refuse in a message written against ``old``."""
    old_fields, new_fields = _fields(old), _fields(new)
    problems = [f"property removed: {path}" for path in old_fields if path not in new_fields]
    for path, required in new_fields.items():
        # A required field inside a new optional object is fine: old messages do not have the object.
        parent_existed = _parent(path) == "" or _parent(path) in old_fields
        if required and parent_existed and not old_fields.get(path, False):
            problems.append(f"newly required: {path}")
    return problems


@cache
def _current_schemas() -> dict[str, tuple[int, dict[str, Any]]]:
    """Name → (newest version, the schema today's model generates)."""
    current = {"Envelope": (ENVELOPE_VERSION, envelope_schema())}
    current.update({event.EVENT_TYPE: (event.SCHEMA_VERSION, event_schema(event)) for event in ALL_EVENTS})
    return current


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=_relative)
def test_stored_schema_evolves_additively(path: Path) -> None:
    name, version = _schema_name_and_version(path)
    assert name in _current_schemas(), f"{name} left contracts.registry: removing a type breaks readers"
    current_version, current = _current_schemas()[name]
    assert version <= current_version, f"newer than the model's schema version {current_version}"
    # Includes today's version: a model edited without regenerating is compared with what was published.
    problems = breaking_changes(_load(path), current)
    assert not problems, f"{_relative(path)} → today's model: " + "; ".join(problems)


class _Address(BaseModel):
    city: str


class _V1(BaseModel):
    a: int
    b: str | None = None
    address: _Address


class _RemovedField(BaseModel):
    a: int
    address: _Address


class _NewRequired(BaseModel):
    a: int
    b: str | None = None
    c: int
    address: _Address


class _NewNestedRequired(BaseModel):
    class _AddressWithPostcode(BaseModel):
        city: str
        postcode: str

    a: int
    b: str | None = None
    address: _AddressWithPostcode


class _Additive(BaseModel):
    a: int
    b: str | None = None
    c: int = 0
    address: _Address
    billing: _NewNestedRequired._AddressWithPostcode | None = None


@pytest.mark.parametrize(
    ("new", "expected"),
    [
        (_V1, []),
        (_Additive, []),
        (_RemovedField, ["property removed: b"]),
        (_NewRequired, ["newly required: c"]),
        (_NewNestedRequired, ["newly required: address.postcode"]),
    ],
    ids=lambda value: value.__name__ if isinstance(value, type) else "",
)
def test_additive_check_tells_breaking_from_additive_changes(new: type[BaseModel], expected: list[str]) -> None:
    # The guard above only protects if it can fail: here it sees each kind of breaking change.
    assert breaking_changes(_V1.model_json_schema(), new.model_json_schema()) == expected


# --- generated documents ----------------------------------------------------------------------------------


def test_generated_documents_are_current() -> None:
    outdated = [_relative(path) for path in stale()]
    assert not outdated, "run `python -m stack.specs --write`; stale: " + ", ".join(outdated)


@pytest.mark.parametrize("path", sorted((REPO_ROOT / "docs" / "asyncapi").glob("*.json")), ids=lambda p: p.name)
def test_asyncapi_channels_name_owner_key_and_event_types(path: Path) -> None:
    """A reader of an AsyncAPI document learns from each channel who alone writes it, what its key is and which
    event types travel on it — what contracts/topics.py and contracts/registry.py say, not a copy of it."""
    channels = _load(path)["channels"]
    assert channels
    for channel in channels.values():
        topic = next(spec for spec in ALL_TOPICS if spec.name == channel["address"])
        if topic.owner is None:
            assert channel["x-owner"].startswith("every consumer")
        else:
            assert channel["x-owner"] == topic.owner.value
        assert channel["x-key"] == topic.key
        assert channel["description"] == topic.purpose
        assert channel["bindings"]["kafka"]["partitions"] == topic.partitions
        carried = {event.EVENT_TYPE for event in EVENTS_BY_TOPIC.get(topic.name, ())}
        assert set(channel.get("x-event-types", [])) <= carried
        if carried and topic.owner is not None:
            assert channel["x-event-types"], f"{topic.name}: no event types named"
