"""What schemathesis' runs against the services share (tests/e2e/test_api_conformance.py: each operation on its
own; tests/e2e/test_api_stateful.py: sequences along the documents' links): the committed documents, the checks,
and who the generated requests are sent as.

Authenticated where the operation asks for it: a customer's session (cookie and CSRF token) for identity's
customer routes and their access token for meter data, an admin's staff session at identity and the admin's staff
token at onboarding and letters."""

import asyncio
import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import httpx
import schemathesis
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
from tests.journeys import StaffAccount, host, register_by_hand, submit_matching_request, totp_code

TENANT = "000328"
SERVICES = ("onboarding", "letters", "identity", "meterdata")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    content_type_conformance,
    response_headers_conformance,
]
Operation = tuple[str, str, str]  # service, method, path


def _document(service: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((OPENAPI_DIR / f"{service}.json").read_text(encoding="utf-8"))
    return document


DOCUMENTS = {service: _document(service) for service in SERVICES}


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


def signed_in(system: System) -> Credentials:
    """A new customer of TENANT, registered and signed in, and a new staff session of its admin, with their
    access tokens: new ones, so that a generated sign-out ends no other test's session."""
    session, csrf, partner = _signed_in_customer(system)
    staff_session, staff_csrf = _signed_in_staff(system, system.staff[TENANT]["admin"])
    return Credentials(
        customer_cookie=session,
        customer_csrf=csrf,
        partner_number=partner,
        customer_token=_token(system, "/session/token", SESSION_COOKIE, session, csrf),
        staff_cookie=staff_session,
        staff_csrf=staff_csrf,
        staff_token=_token(system, "/staff/session/token", STAFF_COOKIE, staff_session, staff_csrf),
    )


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


def _operation(service: str, case: schemathesis.Case) -> dict[str, Any]:
    operation: dict[str, Any] = DOCUMENTS[service]["paths"][case.path][case.method.lower()]
    return operation


def authenticate(
    service: str, case: schemathesis.Case, credentials: Credentials, unsigned: Collection[Operation] = ()
) -> None:
    """The host of TENANT, and the credentials the operation asks for in place of generated ones (not for the
    ``unsigned`` operations: they keep the generated ones)."""
    operation = _operation(service, case)
    declared = {(p["in"], p["name"]) for p in operation.get("parameters", [])}
    case.headers["Host"] = f"{TENANT}.localhost"
    if (service, case.method.upper(), case.path) in unsigned:
        return
    if ("cookie", SESSION_COOKIE) in declared:
        case.cookies[SESSION_COOKIE] = credentials.customer_cookie
        case.headers["X-CSRF-Token"] = credentials.customer_csrf
    elif ("cookie", STAFF_COOKIE) in declared:
        case.cookies[STAFF_COOKIE] = credentials.staff_cookie
        case.headers["X-CSRF-Token"] = credentials.staff_csrf
    if operation.get("security"):
        # Meter data's routes take a customer's token, but for the received interchanges (staff). Its dead letters
        # keep a customer's (a 401): a replay by a generated id could handle another test's dead letter again.
        customer = service == "meterdata" and not case.path.startswith("/backoffice/interchanges")
        token = credentials.customer_token if customer else credentials.staff_token
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
