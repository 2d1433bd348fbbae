"""One error model for every service (kit.errors): what the answers are and what the OpenAPI documents promise."""

import json
from typing import Annotated, Any

import pytest
from fastapi import FastAPI, Query
from fastapi.testclient import TestClient
from pydantic import BaseModel

from kit.errors import Problem, ValidationProblem, error_responses
from kit.http import install_error_handlers
from stack.specs import OPENAPI_DIR

SERVICES = ("onboarding", "letters", "identity", "meterdata")
REF = "#/components/schemas/"
# Operations that need no portal in the host name: the health check, identity's public keys, and the print
# house's PDF (its path names the operator).
# The token endpoint for third parties speaks OAuth 2.0: its 400 and 401 have RFC 6749 §5.2's body, which clients'
# libraries read (`error`, `error_description`).
OAUTH_ERRORS = {("post", "/oauth/token", "400"), ("post", "/oauth/token", "401")}
WITHOUT_TENANT = {"/health", "/.well-known/jwks.json", "/print/{tenant}/jobs/{job_id}.pdf"}


class Form(BaseModel):
    name: str


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/forms", responses=error_responses(404, 429))
    async def submit(form: Form) -> dict[str, str]:
        return {"name": form.name}

    @app.get("/items")
    async def items(limit: Annotated[int, Query(ge=1)] = 1) -> list[int]:
        return list(range(limit))

    return app


def test_a_body_that_is_no_utf8_is_answered_like_malformed_json() -> None:
    client = TestClient(_app())
    answer = client.post("/forms", content=b"\xff\xfe{", headers={"Content-Type": "application/json"})
    assert answer.status_code == 422
    problem = ValidationProblem.model_validate(answer.json())
    assert [(e.field, e.type) for e in problem.errors] == [("body", "json_invalid")]
    assert problem.detail == "Die Anfrage ist kein gültiges JSON."


def test_a_validation_error_has_the_documented_body() -> None:
    answer = TestClient(_app()).get("/items", params={"limit": 0})
    assert answer.status_code == 422
    problem = ValidationProblem.model_validate(answer.json())
    assert [e.field for e in problem.errors] == ["query.limit"]


def test_the_document_promises_the_services_bodies_not_fastapis() -> None:
    document = _app().openapi()
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    for path in ("/forms", "/items"):
        operation = next(iter(document["paths"][path].values()))
        body = operation["responses"]["422"]["content"]["application/json"]["schema"]
        assert body == {"$ref": REF + "ValidationProblem"}
    declared = document["paths"]["/forms"]["post"]["responses"]
    assert declared["404"]["content"]["application/json"]["schema"] == {"$ref": REF + "Problem"}
    assert declared["429"]["headers"]["Retry-After"]["required"] is True


def _documents() -> dict[str, dict[str, Any]]:
    return {name: json.loads((OPENAPI_DIR / f"{name}.json").read_text(encoding="utf-8")) for name in SERVICES}


@pytest.mark.parametrize("service", SERVICES)
def test_every_error_of_the_documents_has_one_of_the_two_bodies(service: str) -> None:
    document = _documents()[service]
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if not status.startswith("4"):
                    continue
                schema = response["content"]["application/json"]["schema"]
                if (method, path, status) in OAUTH_ERRORS:
                    assert schema["required"] == ["error"], (method, path, status)
                    continue
                expected = ValidationProblem if status == "422" else Problem
                assert schema == {"$ref": REF + expected.__name__}, (method, path, status)
                if status == "429":
                    assert "Retry-After" in response["headers"], (method, path)
            if path not in WITHOUT_TENANT:
                assert "404" in operation["responses"], f"{method} {path}: an unknown portal is a 404"
