"""The OpenAPI documents say what the services answer: schemathesis sends generated requests, valid and invalid,
to each running service of the `system` fixture and checks every answer against the committed document
(docs/openapi/<service>.json — the one clients are generated from): no server error, only documented statuses,
content types and headers, bodies of the documented schema.

Authenticated where the operation asks for it (tests.conformance), each signed in for this module alone, so that a
generated logout ends no other test's session. Bounded: a few examples per operation, deterministic, no deadline
(the machine is shared).

Not here: the stateful phase (request sequences along the documents' links), which needs a disposable instance
instead of the shared `system`: tests/e2e/test_api_stateful.py."""

from collections import defaultdict

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tests.conformance import CHECKS, DOCUMENTS, Credentials, Operation, authenticate, signed_in
from tests.conftest import System

BOUNDED = settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
CONFIG = schemathesis.Config.from_dict({"phases": {"coverage": {"enabled": False}}})
# Ends the session it is called with: run last (``test_identity_sign_out``), so that the other operations of
# identity are called signed in.
SIGN_OUTS = ["/session", "/staff/session"]
# Sent with the generated credentials only: signed in, they would add staff with generated e-mail addresses to the
# shared system's operator, whose staff list other tests check (test_staff_accounts invites for real).
UNSIGNED: set[Operation] = {("identity", "POST", "/staff/members")}

onboarding = schemathesis.openapi.from_dict(DOCUMENTS["onboarding"], config=CONFIG)
letters = schemathesis.openapi.from_dict(DOCUMENTS["letters"], config=CONFIG)
identity = schemathesis.openapi.from_dict(DOCUMENTS["identity"], config=CONFIG)
meterdata = schemathesis.openapi.from_dict(DOCUMENTS["meterdata"], config=CONFIG)


@pytest.fixture(scope="module")
def credentials(system: System) -> Credentials:
    return signed_in(system)


# What each operation answered (service, method, path → statuses): checked last, so that a broken sign-in (every
# answer a documented 401) cannot pass for conformance.
ANSWERED: dict[Operation, set[int]] = defaultdict(set)


def _conforms(service: str, url: str, case: schemathesis.Case, credentials: Credentials) -> None:
    authenticate(service, case, credentials, UNSIGNED)
    response = case.call_and_validate(base_url=url, checks=CHECKS, timeout=60)
    ANSWERED[service, case.method.upper(), case.path].add(response.status_code)


@onboarding.parametrize()
@BOUNDED
def test_onboarding(case: schemathesis.Case, system: System, credentials: Credentials) -> None:
    _conforms("onboarding", system.onboarding.url, case, credentials)


@letters.parametrize()
@BOUNDED
def test_letters(case: schemathesis.Case, system: System, credentials: Credentials) -> None:
    _conforms("letters", system.letters.url, case, credentials)


@meterdata.parametrize()
@BOUNDED
def test_meterdata(case: schemathesis.Case, system: System, credentials: Credentials) -> None:
    _conforms("meterdata", system.meterdata.url, case, credentials)


@identity.exclude(method="DELETE", path=SIGN_OUTS).parametrize()
@BOUNDED
def test_identity(case: schemathesis.Case, system: System, credentials: Credentials) -> None:
    _conforms("identity", system.identity.url, case, credentials)


@identity.include(method="DELETE", path=SIGN_OUTS).parametrize()
@BOUNDED
def test_identity_sign_out(case: schemathesis.Case, system: System, credentials: Credentials) -> None:
    _conforms("identity", system.identity.url, case, credentials)


# Operations that answer 2xx only to the credentials above (a customer's session or token, an admin's session or
# staff token), with generated parameters.
SIGNED_IN_SUCCESSES = [
    ("identity", "GET", "/session"),
    ("identity", "GET", "/account/sessions"),
    ("identity", "GET", "/staff/session"),
    ("identity", "GET", "/staff/members"),
    ("onboarding", "GET", "/backoffice/requests"),
    ("letters", "GET", "/backoffice/tasks"),
    ("meterdata", "GET", "/partners/{partner_number}/registers"),
    ("meterdata", "GET", "/backoffice/interchanges"),
]


def test_the_signed_in_operations_were_reached() -> None:
    tested = {service for service, _, _ in ANSWERED}
    if not tested:
        pytest.skip("run with the conformance tests above (they record what the services answered)")
    unreached = [
        operation
        for operation in SIGNED_IN_SUCCESSES
        if operation[0] in tested and not any(200 <= status < 300 for status in ANSWERED[operation])
    ]
    assert not unreached, {operation: sorted(ANSWERED[operation]) for operation in unreached}
