"""Current values on request ([10 of 11] §1) on the real stack: a customer's request → the event on the request
topic → the SMGW simulator answers on the readings topic → meter data stores the readings and the request is
answered → the values are served; through the gateway, the request's event stream tells it without polling."""

import asyncio
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from backoffice.smgw_simulator import current_values
from contracts import topics
from contracts.meterdata import LoadProfileDay, RegisterReadings
from kit.energy_day import day_of
from services.meterdata.current_values import PER_PARTNER_PER_DAY
from tests.conftest import System
from tests.e2e.test_meterdata import CONSUMED, TENANT, publish, token
from tests.journeys import (
    address,
    envelopes,
    eventually,
    meter_point,
    publish_master_data,
    random_meter_number,
    read_topic,
    wait_until_consumed,
)

pytestmark = pytest.mark.stack
OTHER_TENANT = "000512"
SIMULATED_FROM = date(2025, 1, 1)  # the simulator's default origin, as stack.processes starts it


async def customer(system: System) -> tuple[str, str]:
    home = address("Lindenweg", "7", "12345", "Musterstadt")
    point = meter_point(random_meter_number(), "Erika Jetzt", home, home)
    await publish_master_data(system.kafka, TENANT, point)
    await wait_until_consumed(system.kafka, {"meterdata": CONSUMED["meterdata"]})
    return point.meter_number, point.partners[0].partner_number


def client(system: System, partner: str, tenant: str = TENANT, via_gateway: bool = False) -> httpx.AsyncClient:
    base = f"http://127.0.0.1:{system.gateway.port}/api/meterdata" if via_gateway else system.meterdata.url
    return httpx.AsyncClient(base_url=base, headers=token(system, partner, "consumption", tenant), timeout=30)


async def state_of(http: httpx.AsyncClient, partner: str, request_id: str) -> dict[str, Any]:
    response = await http.get(f"/partners/{partner}/current-values/{request_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def answered(http: httpx.AsyncClient, partner: str, request_id: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        body = await state_of(http, partner, request_id)
        return body if body["state"] == "answered" else None

    return await eventually(probe, timeout=60, what="the request to be answered")


async def test_a_request_is_answered_by_the_simulator_and_the_stream_says_so(system: System) -> None:
    meter, partner = await customer(system)
    async with client(system, partner, via_gateway=True) as http:
        response = await http.post(f"/partners/{partner}/current-values")
        assert response.status_code == 202, response.text
        request = response.json()
        assert (request["state"], request["meter_number"]) == ("open", meter)

        # The stream, through the gateway (not buffered): its last event says answered, then it ends.
        states = []
        async with http.stream("GET", f"/partners/{partner}/current-values/{request['id']}/events") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            async for line in stream.aiter_lines():
                if line.startswith("data: "):
                    states.append(json.loads(line.removeprefix("data: "))["state"])
        assert states[0] == "open" and states[-1] == "answered"

        # The event the administrator got: keyed by tenant/meter, the tenant in the envelope.
        sent = [
            (record, envelope)
            for record, envelope in envelopes(await read_topic(system.kafka, topics.METER_VALUE_REQUESTS.name))
            if envelope["payload"]["request_id"] == request["id"]
        ]
        [(record, envelope)] = sent
        assert record.key == f"{TENANT}/{meter}".encode()
        assert (envelope["tenant"], envelope["payload"]["meter_number"]) == (TENANT, meter)

        # The values are served: today's 15-minute values and the register reading of the answer.
        today = day_of(datetime.now(UTC))
        period = {"from": today.isoformat(), "to": (today + timedelta(days=1)).isoformat()}
        intervals = (await http.get(f"/partners/{partner}/intervals", params={**period, "resolution": "15min"})).json()
        assert intervals["count"] == 1
        registers = (await http.get(f"/partners/{partner}/registers", params=period)).json()
        assert [r["meter_number"] for r in registers["latest"]] == [meter]


async def test_one_open_request_per_meter_and_a_few_a_day(system: System) -> None:
    _, partner = await customer(system)
    async with client(system, partner) as http:
        url = f"/partners/{partner}/current-values"
        # Two at once: the meter's lock decides them one after the other; the second finds the first open.
        first, second = await asyncio.gather(http.post(url), http.post(url))
        assert sorted((first.status_code, second.status_code)) == [202, 409]
        refused = second if second.status_code == 409 else first
        assert "schon angefordert" in refused.json()["detail"]
        accepted = first if first.status_code == 202 else second
        await answered(http, partner, accepted.json()["id"])

        for _ in range(PER_PARTNER_PER_DAY - 1):
            response = await http.post(url)
            assert response.status_code == 202, response.text
            await answered(http, partner, response.json()["id"])
        over = await http.post(url)
        assert over.status_code == 429
        assert "Morgen" in over.json()["detail"]
        assert int(over.headers["Retry-After"]) > 0


async def test_another_tenants_host_and_a_guessed_id_find_nothing(system: System) -> None:
    _, partner = await customer(system)
    async with client(system, partner) as http:
        created = (await http.post(f"/partners/{partner}/current-values")).json()
        await answered(http, partner, created["id"])
        # Someone else's partner number in the path: refused whatever it is.
        assert (await http.get(f"/partners/1234567890/current-values/{created['id']}")).status_code == 403
        assert (await http.get(f"/partners/{partner}/current-values/{uuid4()}")).status_code == 404
    # The same partner number at another operator (a valid token there): that operator has no such request.
    async with client(system, partner, OTHER_TENANT) as other:
        for path in (f"/partners/{partner}/current-values/{created['id']}", f"/partners/{partner}/current-values/"
                     f"{created['id']}/events"):  # fmt: skip
            response = await other.get(path)
            assert response.status_code == 404, path
        assert (await other.post(f"/partners/{partner}/current-values")).status_code == 404  # no meter there
    # A token of one operator on another operator's host: refused.
    async with httpx.AsyncClient(base_url=system.meterdata.url, timeout=30) as raw:
        headers = {**token(system, partner, "consumption"), "Host": f"{OTHER_TENANT}.localhost"}
        response = await raw.get(f"/partners/{partner}/current-values/{created['id']}", headers=headers)
        assert response.status_code in (401, 403)


async def test_a_redelivered_answer_is_stored_once_and_answers_nothing_again(system: System) -> None:
    meter, partner = await customer(system)
    async with client(system, partner) as http:
        created = (await http.post(f"/partners/{partner}/current-values")).json()
        done = await answered(http, partner, created["id"])
        today = day_of(datetime.now(UTC))
        period = {"from": today.isoformat(), "to": (today + timedelta(days=1)).isoformat()}
        before = (await http.get(f"/partners/{partner}/registers", params=period)).json()

        # The same answer again, as a redelivery would bring it (the simulator answers as of the request's time).
        asked_at = datetime.fromisoformat(created["requested_at"])
        since = datetime.fromisoformat(created["since"])
        answer = current_values(meter, "consumption", since, asked_at, origin=SIMULATED_FROM, seed=1)
        await publish(system, *(p for p in answer if isinstance(p, LoadProfileDay | RegisterReadings)))
        await wait_until_consumed(system.kafka, {"meterdata-ingest": CONSUMED["meterdata-ingest"]})

        after = (await http.get(f"/partners/{partner}/registers", params=period)).json()
        assert after == before
        again = await state_of(http, partner, created["id"])
        assert again["answered_at"] == done["answered_at"]
        assert UUID(again["id"]) == UUID(created["id"])
