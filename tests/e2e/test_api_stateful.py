"""Sequences of calls follow the OpenAPI documents' links, and every answer on the way is what the document says:
schemathesis' stateful phase, per service, against a system of this module's own (``disposable_system``: random
sequences of writes — approvals, rejections, invited and disabled staff, replayed dead letters — must not reach
the shared `system` other tests rely on). The same five checks as tests/e2e/test_api_conformance.py, signed in
the same way (tests.conformance).

The sequences: what the documents link explicitly (kit.links: a submitted request → its back-office view, approval
and rejection; an invited staff member → disable, reset) and what schemathesis infers from them (a list → each
listed item: requests, letters, tasks, staff, dead letters → their views, changes and replays).

Bounded: a few scenarios of a few steps each, deterministic, no deadline (the machine is shared)."""

from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any
from uuid import uuid4

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis.stateful import Bundle
from schemathesis.generation import GenerationMode
from schemathesis.generation.meta import TestPhase
from schemathesis.generation.stateful.state_machine import APIStateMachine, StepInput
from schemathesis.schemas import BaseSchema
from schemathesis.specs.openapi.stateful import transition

from tests.conformance import CHECKS, DOCUMENTS, SERVICES, Credentials, Operation, authenticate, signed_in
from tests.conftest import System
from tests.journeys import form, random_meter_number

SCENARIOS = settings(
    max_examples=12,
    stateful_step_count=6,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
CONFIG = schemathesis.Config.from_dict({"phases": {"coverage": {"enabled": False}}})
SCHEMAS: dict[str, BaseSchema] = {
    service: schemathesis.openapi.from_dict(DOCUMENTS[service], config=CONFIG) for service in SERVICES
}
# The customer's grants are not followed to their revocation: the list is empty for the signed-in customer (no
# sequence can make a grant: that takes a registered third party's request), and hypothesis refuses the state
# machine whose rule for an empty list draws differently from case to case. Revocation: tests/e2e/test_consent.py
# and, on its own, tests/e2e/test_api_conformance.py.
SCHEMAS["identity"] = SCHEMAS["identity"].exclude(method="POST", path="/account/grants/{grant_id}/revoke")
# The same for the customer's alerts: their list starts empty and fills as sequences define alerts, so the rule that
# follows it to the removal draws differently from case to case. Removal: tests/e2e/test_alerts.py and, on its own,
# tests/e2e/test_api_conformance.py.
ALERT_REMOVAL = "/partners/{partner_number}/alerts/{alert_id}"
SCHEMAS["meterdata"] = SCHEMAS["meterdata"].exclude(method="DELETE", path=ALERT_REMOVAL)
# Requests for current values and personal tokens have limits that the sequences themselves use up (one open request
# per meter and five a day; twenty live tokens): the same sequence is answered 202/201 once and 409/429/422 later,
# which hypothesis refuses. Their limits and follow-ups: tests/e2e/test_current_values.py,
# tests/e2e/test_personal_tokens.py; each operation on its own: tests/e2e/test_api_conformance.py.
for limited in ("/partners/{partner_number}/current-values", "/partners/{partner_number}/personal-tokens"):
    SCHEMAS["meterdata"] = SCHEMAS["meterdata"].exclude(method="POST", path=limited)
# Operations that start sequences although schemathesis' dependency analysis does not take them for a start: it
# reads the form's `submission_id` and `connection_address` as references to resources no operation creates. Sent
# with a valid body (a new meter each time): the form's checks go beyond its schema (the meter number's form,
# among others), so that a generated one is nearly always a 422 and leads nowhere.
TYPED_ADDRESS = {"street": "Postweg", "house_number": "1", "postcode": "12345", "city": "Musterstadt"}
STARTS: dict[str, dict[tuple[str, str], Callable[[], dict[str, Any]]]] = {
    "onboarding": {
        ("POST", "/requests"): lambda: form(
            random_meter_number(), "Erika", "Beispiel", TYPED_ADDRESS, f"erika.{uuid4().hex[:10]}@example.org"
        )
    }
}
# Operations that a sequence reaches only along a link, with the id an earlier answer gave: each must have been
# answered with a success at least once, so that a broken link or sign-in (every answer a documented 404 or
# 401) cannot pass for conformance.
FOLLOWED: dict[str, tuple[tuple[str, str], ...]] = {
    "onboarding": (("GET", "/backoffice/requests/{request_id}"), ("POST", "/requests")),
    "identity": (("POST", "/staff/members/{staff_id}/disable"),),
}


@pytest.fixture(scope="module")
def credentials(disposable_system: System) -> Credentials:
    return signed_in(disposable_system)


@pytest.fixture
def answered() -> Iterator[dict[Operation, set[int]]]:
    yield defaultdict(set)


def _start(service: str, method: str, path: str, body: Callable[[], dict[str, Any]]) -> Callable[..., Any]:
    """A rule of the state machine that calls the operation with ``body()``, outside any sequence."""
    operation = SCHEMAS[service][path][method]
    cases = operation.as_strategy(generation_mode=GenerationMode.POSITIVE, phase=TestPhase.STATEFUL)

    def with_body(case: schemathesis.Case) -> StepInput:
        case.body = body()
        return StepInput.initial(case)

    rule: Callable[..., Any] = transition(
        name=f"START_{method}_{path}",
        target=Bundle("catch_all"),
        input=cases.map(with_body),
        precondition=lambda machine: True,
    )
    return rule


def _workflow(
    service: str, url: str, credentials: Credentials, answered: dict[Operation, set[int]]
) -> type[APIStateMachine]:
    """The service's state machine, sending each call signed in to ``url`` and checking its answer."""
    starts = STARTS.get(service, {}).items()
    rules = {f"start_{index}": _start(service, *start, body) for index, (start, body) in enumerate(starts)}
    base: type[APIStateMachine] = SCHEMAS[service].as_state_machine()

    def before_call(self: APIStateMachine, case: schemathesis.Case) -> None:
        authenticate(service, case, credentials)

    def get_call_kwargs(self: APIStateMachine, case: schemathesis.Case) -> dict[str, Any]:
        return {"base_url": url, "timeout": 60}

    def after_call(self: APIStateMachine, response: Any, case: schemathesis.Case) -> None:
        base.after_call(self, response, case)
        answered[service, case.method.upper(), case.path].add(response.status_code)

    def validate_response(
        self: Any, response: Any, case: schemathesis.Case, additional_checks: Any = None, **kwargs: Any
    ) -> None:
        case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs or None, recorder=self.recorder)

    methods = {
        "before_call": before_call,
        "get_call_kwargs": get_call_kwargs,
        "after_call": after_call,
        "validate_response": validate_response,
    }
    workflow: type[APIStateMachine] = type(f"{service.title()}Workflow", (base,), {**methods, **rules})
    return workflow


@pytest.mark.parametrize("service", SERVICES)
def test_sequences_along_the_links_conform(
    service: str, disposable_system: System, credentials: Credentials, answered: dict[Operation, set[int]]
) -> None:
    url = getattr(disposable_system, service).url
    workflow = _workflow(service, url, credentials, answered)
    workflow.run(settings=SCENARIOS)

    assert answered, "the state machine made no call"
    unreached = [
        (method, path)
        for method, path in FOLLOWED.get(service, ())
        if not any(200 <= status < 300 for status in answered[service, method, path])
    ]
    assert not unreached, {operation: sorted(answered[service, *operation]) for operation in unreached}
