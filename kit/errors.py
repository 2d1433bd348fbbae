"""The error answers of every service, as the OpenAPI documents promise them.

Two bodies, one for all services: ``Problem`` (``{"detail": "…"}``, what an ``HTTPException`` gives: a refusal
in one German sentence) and ``ValidationProblem`` (a 422: the sentence and, when fields are wrong, one entry per
field, made by kit.http's validation handler). A route names the statuses it really gives:

    @router.post("/requests", responses=error_responses(404, 422, 429))

and ``document_errors`` (installed by kit.http.install_error_handlers) replaces FastAPI's own 422 body
(``HTTPValidationError``, which no service sends) wherever FastAPI added it.
"""

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, Field

REF_PREFIX = "#/components/schemas/"
FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")


class Problem(BaseModel):
    """A refusal: what is wrong or what to do, in German, for the customer or clerk to read."""

    detail: str = Field(description="Ein Satz auf Deutsch, der sagt, was nicht geht und was zu tun ist")


class FieldError(BaseModel):
    field: str = Field(description="The field, dotted (e.g. `postal_address.postcode`); `body` for the whole body")
    message: str = Field(description="What is wrong with it, in German")
    type: str = Field(description="The kind of error (pydantic's type, e.g. `missing`, `string_too_long`)")


class ValidationProblem(Problem):
    """A request the service cannot process: the sentence, and per field what is wrong. ``errors`` is absent when
    the refusal concerns no single field (e.g. a password too weak, a period that ends before it starts)."""

    errors: list[FieldError] = Field(default_factory=list, description="One entry per wrong field")


RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again",
        "required": True,
        "schema": {"type": "integer", "minimum": 1},
    }
}

_DESCRIPTIONS: dict[int, str] = {
    400: "Refused: the request contradicts what is stored (e.g. a wrong current password)",
    401: "Not signed in, or the session or token has ended",
    403: "Signed in, but not allowed (another operator, partner or role; or the CSRF token is missing)",
    404: "Unknown portal (host name), or no such resource at this operator",
    409: "Conflicts with the resource's current state",
    410: "The link or resource is gone (expired, used, or deleted)",
    413: "The request body is too large",
    422: "The request is invalid: see `detail` and, per field, `errors`",
    429: "Too many requests: wait `Retry-After` seconds",
}


def error_responses(*statuses: int, described: Mapping[int, str] | None = None) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route that answers ``statuses``: each with its body model (422: ValidationProblem,
    else Problem) and description (``described`` overrides one), 429 with its ``Retry-After`` header."""
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        response: dict[str, Any] = {
            "model": ValidationProblem if status == 422 else Problem,
            "description": (described or {}).get(status, _DESCRIPTIONS[status]),
        }
        if status == 429:
            response["headers"] = RETRY_AFTER
        responses[status] = response
    return responses


def _validation_body() -> dict[str, Any]:
    return {
        "description": _DESCRIPTIONS[422],
        "content": {"application/json": {"schema": {"$ref": REF_PREFIX + ValidationProblem.__name__}}},
    }


def documented_errors(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with FastAPI's default 422 (``HTTPValidationError``) replaced by ``ValidationProblem``."""
    uses_default = False
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            answer = operation.get("responses", {}).get("422", {})
            schema = answer.get("content", {}).get("application/json", {}).get("schema", {})
            if schema.get("$ref") == REF_PREFIX + "HTTPValidationError":
                operation["responses"]["422"] = _validation_body()
                uses_default = True
    schemas = document.get("components", {}).get("schemas", {})
    for name in FASTAPI_VALIDATION_SCHEMAS:
        schemas.pop(name, None)
    if uses_default:
        definitions = ValidationProblem.model_json_schema(ref_template=REF_PREFIX + "{model}")
        schemas.update(definitions.pop("$defs", {}))
        schemas[ValidationProblem.__name__] = definitions
    return document


def document_errors(app: FastAPI) -> None:
    """Makes ``app.openapi()`` give the services' own error bodies (FastAPI's recommended way to change the
    document: replace ``app.openapi``; FastAPI's own still builds and caches it)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        return documented_errors(build())  # in place and idempotent: FastAPI's cached document, edited once

    app.openapi = openapi  # type: ignore[method-assign]
