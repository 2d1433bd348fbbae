"""OpenAPI links: the operations that take a value an answer gives (the id a POST returns, which the GET, the
change or the removal of that resource takes). Clients read them as documentation; schemathesis' stateful phase
follows them (tests/e2e/test_api_stateful.py). Part of a route's ``responses=``, next to its errors:

    @router.post(
        "/requests",
        status_code=202,
        responses={
            **error_responses(404, 422, 429),
            **response_links(202, "request_id", show="GET /requests/{request_id}"),
        },
    )

Only for real relations: the value must be what the target's path parameter of the same name names. A list links
its first item (``source="0/id"``): OpenAPI has no expression for "each item".
"""

from typing import Any

LINK_NAME_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


def operation_reference(target: str) -> str:
    """``"GET /requests/{request_id}"`` as an OpenAPI ``operationRef`` (a JSON pointer into this document)."""
    method, path = target.split(" ", 1)
    escaped = path.replace("~", "~0").replace("/", "~1")
    return f"#/paths/{escaped}/{method.lower()}"


def response_links(
    status: int, field: str, *, source: str | None = None, **targets: str
) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` entry saying that the body field ``field`` of the ``status`` answer is the path parameter
    ``field`` of each target (link name → ``"METHOD /path"``). ``source``: where the value is in the body when not
    in a field of that name, as a JSON pointer (``"0/id"``: the ``id`` of a list's first item)."""
    links: dict[str, Any] = {}
    for name, target in targets.items():
        if not set(name) <= LINK_NAME_CHARACTERS:
            raise ValueError(f"OpenAPI link names are letters, digits, '.', '-' and '_': {name!r}")
        if f"{{{field}}}" not in target:
            raise ValueError(f"{target} takes no path parameter {field!r}")
        value = f"$response.body#/{source or field}"
        links[name] = {"operationRef": operation_reference(target), "parameters": {field: value}}
    return {status: {"links": links}}
