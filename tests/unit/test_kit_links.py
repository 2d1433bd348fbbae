"""kit.links: the OpenAPI links of the committed documents lead to operations that exist and take the value."""

import json
import re
from typing import Any

import pytest

from kit.links import operation_reference, response_links
from stack.specs import OPENAPI_DIR


def _unescaped(pointer: str) -> list[str]:
    return [part.replace("~1", "/").replace("~0", "~") for part in pointer.removeprefix("#/").split("/")]


def test_a_link_names_its_target_by_a_pointer_and_the_answer_field_as_the_path_parameter() -> None:
    links = response_links(202, "request_id", show="GET /requests/{request_id}")

    assert links == {
        202: {
            "links": {
                "show": {
                    "operationRef": "#/paths/~1requests~1{request_id}/get",
                    "parameters": {"request_id": "$response.body#/request_id"},
                }
            }
        }
    }
    assert _unescaped(operation_reference("POST /a~b/{id}")) == ["paths", "/a~b/{id}", "post"]
    listed = response_links(200, "interchange_id", source="0/id", again="POST /i/{interchange_id}/reprocess")
    assert listed[200]["links"]["again"]["parameters"] == {"interchange_id": "$response.body#/0/id"}


def test_a_target_without_the_path_parameter_or_a_name_openapi_forbids_is_refused() -> None:
    with pytest.raises(ValueError, match="no path parameter"):
        response_links(201, "staff_id", show="GET /staff/members")
    with pytest.raises(ValueError, match="link names"):
        response_links(201, "staff_id", **{"show member": "GET /staff/{staff_id}"})


@pytest.mark.parametrize("service", ["onboarding", "letters", "identity", "meterdata"])
def test_every_link_of_the_documents_reaches_an_operation_with_that_path_parameter(service: str) -> None:
    document = json.loads((OPENAPI_DIR / f"{service}.json").read_text(encoding="utf-8"))
    for operations in document["paths"].values():
        for operation in operations.values():
            for status, response in operation["responses"].items():
                for link in response.get("links", {}).values():
                    _, path, method = _unescaped(link["operationRef"])
                    target = document["paths"][path][method]
                    taken = {p["name"] for p in target.get("parameters", []) if p["in"] == "path"}
                    for parameter, expression in link["parameters"].items():
                        assert parameter in taken, (path, method, parameter)
                        pointer = re.fullmatch(r"\$response\.body#/(\w+(?:/\w+)*)", expression)
                        assert pointer is not None, expression
                        schema = response["content"]["application/json"]["schema"]
                        assert status.startswith("2") and schema, (path, status)
                        assert _resolve(document, schema, pointer[1].split("/")), (path, expression)


def _resolve(document: dict[str, Any], schema: dict[str, Any], parts: list[str]) -> dict[str, Any] | None:
    """The schema the pointer ``parts`` leads to in an answer of ``schema``, or None when no such value exists."""
    for part in parts:
        schema = _dereferenced(document, schema)
        if part.isdigit():
            if schema.get("type") != "array":
                return None
            schema = schema["items"]
        else:
            found = schema.get("properties", {}).get(part) or schema.get("additionalProperties") or None
            if not isinstance(found, dict):
                return None
            schema = found
    return _dereferenced(document, schema)


def _dereferenced(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        target: Any = document
        for name in _unescaped(schema["$ref"]):
            target = target[name]
        schema = target
    return schema
