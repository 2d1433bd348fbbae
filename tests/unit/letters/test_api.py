"""Letters' back-office API through its real router, with the unit of work replaced by fakes (unit level)."""

from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from kit.http import install_error_handlers
from kit.tenants import load_tenants
from services.letters.api import build_api
from services.letters.domain import Letter, LetterStatus
from services.letters.settings import LettersSettings
from tests.unit.examples import METER
from tests.unit.fakes import FakeStaffAccess, FakeUnits
from tests.unit.letters.fake_store import FakeLetters

HOST = {"Host": "000328.localhost"}
STAFF = {**HOST, "X-Test-Staff": "000328 clerk"}  # tests.unit.fakes.FakeStaffAccess


class NoRenderer:
    async def pdf_for_fetch(self, *_: Any) -> Any:
        raise AssertionError("these tests fetch no PDF")


@pytest.fixture
def units() -> FakeUnits[FakeLetters]:
    return FakeUnits(FakeLetters())


@pytest.fixture
def client(units: FakeUnits[FakeLetters]) -> Iterator[TestClient]:
    app = FastAPI()
    install_error_handlers(app)
    access = FakeStaffAccess()
    app.include_router(build_api(units, load_tenants(), LettersSettings(), NoRenderer(), access))  # type: ignore[arg-type]
    yield TestClient(app)


def stored_letter(units: FakeUnits[FakeLetters], tenant: str = "000328") -> Letter:
    letter = Letter(uuid4(), tenant, uuid4(), uuid4(), METER, ())
    units.store.add(letter, units.clock())
    return letter


def test_the_letter_list_needs_the_staff_token(client: TestClient) -> None:
    assert client.get("/backoffice/letters", headers=HOST).status_code == 401
    assert client.get("/backoffice/letters", headers={**HOST, "Authorization": "Bearer wrong"}).status_code == 401
    # A clerk of another operator at this host: refused.
    assert client.get("/backoffice/letters", headers={**HOST, "X-Test-Staff": "000512 clerk"}).status_code == 403


def test_a_clerk_sees_this_operators_letters_only(client: TestClient, units: FakeUnits[FakeLetters]) -> None:
    ours = stored_letter(units)
    stored_letter(units, tenant="000512")
    listed = client.get("/backoffice/letters", headers=STAFF).json()
    assert [(x["letter_id"], x["status"]) for x in listed] == [(str(ours.id), LetterStatus.AWAITING_MASTER_DATA)]
    assert listed[0]["reference"] == ours.reference
    other = {"Host": "000512.localhost", "X-Test-Staff": "000512 clerk"}
    assert client.get(f"/backoffice/letters/{ours.id}", headers=other).status_code == 404


def test_an_unknown_letter_or_task_is_a_404_with_a_german_reason(client: TestClient) -> None:
    letter = client.get(f"/backoffice/letters/{uuid4()}", headers=STAFF)
    assert (letter.status_code, letter.json()["detail"]) == (404, "Brief nicht gefunden.")
    task = client.post(f"/backoffice/tasks/{uuid4()}/resolve", headers=STAFF)
    assert (task.status_code, task.json()["detail"]) == (404, "Aufgabe nicht gefunden.")
