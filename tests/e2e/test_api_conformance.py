"""The OpenAPI documents say what the services answer: schemathesis sends generated requests, valid and invalid,
to each running service of the `system` fixture and checks every answer against the committed document
(docs/openapi/<service>.json — the one clients are generated from): no server error, only documented statuses,
content types and headers, bodies of the documented schema.

Authenticated where the operation asks for it: a customer's session (cookie and CSRF token) for identity's
customer routes and their access token for meter data, an admin's staff session at identity and the admin's staff
token at onboarding and letters — each signed in for this module alone, so that a generated logout ends no other
test's session. Bounded: a few examples per operation, deterministic, no deadline (the machine is shared).

Not here: the stateful phase (request sequences along the documents' links), which needs a disposable instance
instead of the shared `system`."""

import asyncio
import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from services.identity.api import SESSION_COOKIE
from services.identity.staff_api import STAFF_COOKIE
from stack.specs import OPENAPI_DIR
from tests.conftest import System
from tests.journeys import (
    StaffAccount,
    host,
    register_by_hand,
    submit_matching_request,
    totp_code,
)

TENANT = "000328"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    content_type_conformance,
    response_headers_conformance,
]
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
UNSIGNED = {("identity", "POST", "/staff/members")}


def _document(service: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((OPENAPI_DIR / f"{service}.json").read_text(encoding="utf-8"))
    return document


DOCUMENTS = {service: _document(service) for service in ("onboarding", "letters", "identity", "meterdata")}
onboarding = schemathesis.openapi.from_dict(DOCUMENTS["onboarding"], config=CONFIG)
letters = schemathesis.openapi.from_dict(DOCUMENTS["letters"], config=CONFIG)
identity = schemathesis.openapi.from_dict(DOCUMENTS["identity"], config=CONFIG)
meterdata = schemathesis.openapi.from_dict(DOCUMENTS["meterdata"], config=CONFIG)


@dataclass
class Credentials:
    """Who the generated requests are sent as."""

    customer_cookie: str
    customer_csrf: str
    partner_number: str
    customer_token: str
    staff_cookie: str
    staff_csrf: str
    staff_token: str


def _signed_in_customer(system: System) -> tuple[str, str, str]:
    """A registered customer of TENANT: (session cookie, CSRF token, partner number)."""

    async def register() -> tuple[str, str, str]:
        _, point, email = await submit_matching_request(system.kafka, system.onboarding.url, TENANT)
        meter, partner = point.meter_number, point.partners[0].partner_number
        async with await register_by_hand(system.identity.url, system.mail, TENANT, meter, partner, email) as browser:
            assert browser.session_id is not None and browser.csrf is not None
            return browser.session_id, browser.csrf, partner

    return asyncio.run(register())


def _signed_in_staff(system: System, account: StaffAccount) -> tuple[str, str]:
    """A new staff session of ``account``: (session cookie, CSRF token)."""
    body = {"email": account.email, "password": account.password, "code": totp_code(account.totp_secret)}
    answer = httpx.post(f"{system.identity.url}/staff/sessions", json=body, headers=host(TENANT), timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.cookies[STAFF_COOKIE], answer.json()["csrf_token"]


def _token(system: System, path: str, cookie: str, session: str, csrf: str) -> str:
    headers = {**host(TENANT), "Cookie": f"{cookie}={session}", "X-CSRF-Token": csrf}
    answer = httpx.post(f"{system.identity.url}{path}", headers=headers, timeout=30)
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["access_token"]
    return token


@pytest.fixture(scope="module")
def credentials(system: System) -> Iterator[Credentials]:
    session, csrf, partner = _signed_in_customer(system)
    staff_session, staff_csrf = _signed_in_staff(system, system.staff[TENANT]["admin"])
    yield Credentials(
        customer_cookie=session,
        customer_csrf=csrf,
        partner_number=partner,
        customer_token=_token(system, "/session/token", SESSION_COOKIE, session, csrf),
        staff_cookie=staff_session,
        staff_csrf=staff_csrf,
        staff_token=_token(system, "/staff/session/token", STAFF_COOKIE, staff_session, staff_csrf),
    )


def _parameters(service: str, case: schemathesis.Case) -> dict[tuple[str, str], Any]:
    operation = DOCUMENTS[service]["paths"][case.path][case.method.lower()]
    return {(p["in"], p["name"]): p for p in operation.get("parameters", [])}


def _authenticated(service: str, case: schemathesis.Case, credentials: Credentials) -> None:
    """The host of TENANT, and the credentials the operation asks for in place of generated ones."""
    declared = _parameters(service, case)
    operation = DOCUMENTS[service]["paths"][case.path][case.method.lower()]
    case.headers["Host"] = f"{TENANT}.localhost"
    if (service, case.method.upper(), case.path) in UNSIGNED:
        return
    if ("cookie", SESSION_COOKIE) in declared:
        case.cookies[SESSION_COOKIE] = credentials.customer_cookie
        case.headers["X-CSRF-Token"] = credentials.customer_csrf
    elif ("cookie", STAFF_COOKIE) in declared:
        case.cookies[STAFF_COOKIE] = credentials.staff_cookie
        case.headers["X-CSRF-Token"] = credentials.staff_csrf
    if operation.get("security"):
        token = credentials.customer_token if service == "meterdata" else credentials.staff_token
        case.headers["Authorization"] = f"Bearer {token}"
    if service == "meterdata" and "partner_number" in case.path_parameters:
        case.path_parameters["partner_number"] = credentials.partner_number  # else every answer is a 403
        _within_limits(case.query)


def _within_limits(query: dict[str, Any]) -> None:
    """A generated period of meter data spans centuries, or ends before it starts (422 for both): shortened to up
    to a month from its first day, where that is a date, so that the readings themselves are answered too."""
    try:
        first = date.fromisoformat(str(query.get("from")))
    except ValueError:
        return
    if first < date.max - timedelta(days=31):
        query["to"] = (first + timedelta(days=1 + first.toordinal() % 31)).isoformat()


# What each operation answered (service, method, path → statuses): checked last, so that a broken sign-in (every
# answer a documented 401) cannot pass for conformance.
ANSWERED: dict[tuple[str, str, str], set[int]] = defaultdict(set)


def _conforms(service: str, url: str, case: schemathesis.Case, credentials: Credentials) -> None:
    _authenticated(service, case, credentials)
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
