"""The request form's HTTP contract with the database replaced by a fake (unit level)."""

from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from kit.http import install_error_handlers
from kit.tenants import load_tenants
from services.onboarding.api import build_api
from services.onboarding.domain import PartnerNumberRequest
from services.onboarding.settings import OnboardingSettings
from tests.unit.examples import METER, meter_point
from tests.unit.fakes import FakeStaffAccess, FakeUnits
from tests.unit.onboarding.fake_store import FakeRequests

HOST = {"Host": "000328.localhost"}


@pytest.fixture
def units() -> FakeUnits[FakeRequests]:
    return FakeUnits(FakeRequests())


def stored(units: FakeUnits[FakeRequests]) -> list[PartnerNumberRequest]:
    return [request for request, _, _ in units.store.rows.values()]


@pytest.fixture
def client(units: FakeUnits[FakeRequests]) -> Iterator[TestClient]:
    app = FastAPI()
    install_error_handlers(app)
    settings = OnboardingSettings(limit_per_client="100/minute", limit_per_email="2/minute")
    app.include_router(build_api(units, load_tenants(), settings, FakeStaffAccess()))  # type: ignore[arg-type]
    yield TestClient(app)


def valid_form(**changes: Any) -> dict[str, Any]:
    form = {
        "submission_id": str(uuid4()),
        "first_name": "Erika",
        "last_name": "Mustermann",
        "postal_address": {"street": "Lindenweg", "house_number": "4", "postcode": "12345", "city": "Musterstadt"},
        "meter_number": "1 emh 0005939068",
        "email": "erika@example.org",
    }
    return {**form, **changes}


def test_a_valid_form_is_accepted_with_the_meter_number_normalised(
    client: TestClient, units: FakeUnits[FakeRequests]
) -> None:
    response = client.post("/requests", json=valid_form(), headers=HOST)
    assert response.status_code == 202
    assert "per Post" in response.json()["message"]
    [request] = stored(units)
    assert request.meter_number == "1EMH0005939068"
    assert response.json()["request_id"] == str(request.id)


def test_each_wrong_field_gets_its_own_german_reason_without_echoing_the_input(client: TestClient) -> None:
    bad = valid_form(
        meter_number="12345",
        email="erika@",
        postal_address={"street": "", "house_number": "4", "postcode": "00123", "city": "X"},
    )
    del bad["last_name"]
    response = client.post("/requests", json=bad, headers=HOST)
    assert response.status_code == 422
    errors = {e["field"]: e["message"] for e in response.json()["errors"]}
    assert set(errors) == {"meter_number", "email", "postal_address.street", "postal_address.postcode", "last_name"}
    assert "14 Zeichen" in errors["meter_number"]
    assert "Postleitzahl" in errors["postal_address.postcode"]
    assert "erika@" not in response.text and "00123" not in response.text


def test_malformed_json_is_a_422_with_a_reason(client: TestClient) -> None:
    response = client.post("/requests", content=b"{not json", headers={**HOST, "Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["type"] == "json_invalid"


def test_an_unknown_portal_is_a_plain_404(client: TestClient) -> None:
    response = client.post("/requests", json=valid_form(), headers={"Host": "999999.localhost"})
    assert response.status_code == 404


def test_the_honeypot_answers_like_success_and_keeps_nothing(
    client: TestClient, units: FakeUnits[FakeRequests]
) -> None:
    response = client.post("/requests", json=valid_form(website="http://spam.example"), headers=HOST)
    assert response.status_code == 202
    assert stored(units) == []
    assert units.outbox.events == []


def test_too_many_requests_for_one_email_get_429_with_retry_after(
    client: TestClient, units: FakeUnits[FakeRequests]
) -> None:
    answers = [client.post("/requests", json=valid_form(), headers=HOST) for _ in range(3)]
    assert [a.status_code for a in answers] == [202, 202, 429]
    assert int(answers[2].headers["Retry-After"]) >= 1
    assert len(stored(units)) == 2


def test_back_office_needs_the_staff_token(client: TestClient) -> None:
    assert client.get("/backoffice/requests", headers=HOST).status_code == 401


def test_an_approval_is_audited_with_the_clerks_name_in_its_unit_of_work(
    client: TestClient, units: FakeUnits[FakeRequests]
) -> None:
    assert client.post("/requests", json=valid_form(), headers=HOST).status_code == 202  # no master data: review
    [request] = stored(units)
    units.master_data.points[("000328", METER)] = meter_point()
    clerk = {**HOST, "X-Test-Staff": "000328 clerk"}
    answer = client.post(f"/backoffice/requests/{request.id}/approve", json={"meter_number": METER}, headers=clerk)
    assert answer.status_code == 204, answer.text
    [(entry, _)] = units.audit.entries
    assert (entry.action, entry.subject_kind, entry.subject_id) == ("request.approved", "request", str(request.id))
    assert (entry.actor.name, entry.actor.role, entry.actor.address) == ("Test clerk", "clerk", "testclient")
    # A refused action leaves no entry.
    again = client.post(f"/backoffice/requests/{request.id}/approve", json={"meter_number": METER}, headers=clerk)
    assert again.status_code == 409 and len(units.audit.entries) == 1


def test_a_clerk_reads_no_audit_log_and_no_other_operators_requests(client: TestClient) -> None:
    clerk = {**HOST, "X-Test-Staff": "000328 clerk"}
    assert client.get("/backoffice/audit", headers=clerk).status_code == 403
    assert client.get("/backoffice/requests", headers={**HOST, "X-Test-Staff": "000512 clerk"}).status_code == 403
    assert client.get("/backoffice/requests", headers=clerk).status_code == 200
