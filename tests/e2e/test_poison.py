"""No message can stop a consumer ([7 of 11] §1), tried as the SMGW administrator's system could send it: a reading
for 9999-12-31, or with a revision of 2^40, once made the ingest handler raise what nobody expected — the batch
came again forever and the partition's later readings were never stored. Now such a record is dead-lettered with
its reason, the group commits past it, and the next reading of the same partition is stored."""

from __future__ import annotations

import json
from datetime import date
from typing import Any
from uuid import uuid4

import httpx

from contracts import topics
from contracts.envelope import HEADER_DLT_ERROR, HEADER_DLT_SOURCE_TOPIC
from contracts.staff import PLATFORM_PORTAL
from kit.events import encode, envelope_for
from tests.conftest import System
from tests.e2e.test_meterdata import CONSUMED, TENANT, intervals, load_day, prosumer, publish
from tests.e2e.test_metrics import scrape, value
from tests.journeys import StaffSignIn, eventually, produce, read_topic, wait_until_consumed

OTHER = "000512"


def day_json(meter: str, day: str, revision: int) -> bytes:
    """A LoadProfileDay written by hand: the model refuses to build these, an SMGW system might not."""
    valid = envelope_for(load_day(meter, date(2026, 6, 1)), tenant=TENANT, correlation_id=uuid4())
    document = json.loads(encode(valid))
    document["event_id"] = str(uuid4())
    document["payload"].update({"day": day, "revision": revision})
    return json.dumps(document).encode()


async def test_a_reading_that_breaks_the_handler_is_dead_lettered_and_the_next_one_stored(system: System) -> None:
    meter, consumption, _ = await prosumer(system)
    key = f"{TENANT}/{meter}".encode()  # one partition: the poison comes before the good reading
    for poison in (day_json(meter, "9999-12-31", 0), day_json(meter, "2026-06-02", 2**40)):
        await produce(system.kafka, topics.METER_READINGS.name, poison, key=key)
    good = date(2026, 6, 3)
    await publish(system, load_day(meter, good, kwh=0.25))
    await wait_until_consumed(system.kafka, CONSUMED)  # the group's offsets passed both

    stored = (await intervals(system, consumption, "consumption", good, date(2026, 6, 4), "day")).json()
    assert stored["results"][0]["kwh"] == 24.0

    async def reasons() -> list[str] | None:
        found = []
        for record in await read_topic(system.kafka, topics.DEAD_LETTER.name):
            headers = {k: v.decode() for k, v in record.headers}
            if headers.get(HEADER_DLT_SOURCE_TOPIC) == topics.METER_READINGS.name and meter.encode() in record.value:
                found.append(headers[HEADER_DLT_ERROR])
        return found if len(found) == 2 else None

    found = " | ".join(await eventually(reasons, what="both poison readings on the dead-letter topic"))
    assert "9999-12-31 lies outside" in found and f"revision {2**40} is outside" in found

    # The operator sees them counted, by group and the topic they came from.
    samples = await scrape(system.meterdata.url)
    dead = value(samples, "plusportal_events_dead_lettered_total", group="meterdata-ingest",
                 topic=topics.METER_READINGS.name)  # fmt: skip
    assert dead >= 2


async def test_the_operator_lists_its_dead_letters_and_replays_one(system: System) -> None:
    """The back-office's view of the same: the admins of 000328 see the dead letter (where, why — not what it
    said), 000512's do not, a clerk may not; a replay before the cause is fixed fails again and says why."""
    meter, _, _ = await prosumer(system)
    admin = StaffSignIn(system.identity.url, system.staff[TENANT]["admin"])
    their_admin = StaffSignIn(system.identity.url, system.staff[OTHER]["admin"])
    clerk = StaffSignIn(system.identity.url, system.staff[TENANT]["clerk"])
    async with httpx.AsyncClient(base_url=system.meterdata.url, timeout=30) as client:

        async def dead_letters() -> list[dict[str, Any]]:
            answer = await client.get("/backoffice/dead-letters", headers=await admin.headers())
            assert answer.status_code == 200, answer.text
            found: list[dict[str, Any]] = answer.json()
            return found

        earlier = {entry["id"] for entry in await dead_letters()}  # other tests' poison readings
        await produce(system.kafka, topics.METER_READINGS.name, day_json(meter, "9999-12-31", 0), key=meter.encode())

        async def listed() -> list[dict[str, Any]] | None:
            new = [entry for entry in await dead_letters() if entry["id"] not in earlier]
            return [entry for entry in new if "9999-12-31" in entry["reason"]] or None

        [entry] = await eventually(listed, timeout=60, what="the poison reading in the back-office's list")
        assert (entry["consumer"], entry["topic"], entry["event_type"]) == (
            "meterdata-ingest",
            topics.METER_READINGS.name,
            "LoadProfileDay",
        )
        assert meter not in json.dumps(entry)
        theirs = await client.get("/backoffice/dead-letters", headers=await their_admin.headers())
        assert "9999-12-31" not in theirs.text
        assert (await client.get("/backoffice/dead-letters", headers=await clerk.headers())).status_code == 403
        replay = f"/backoffice/dead-letters/{entry['id']}/replay"
        assert (await client.post(replay, headers=await their_admin.headers())).status_code == 404
        again = await client.post(replay, headers=await admin.headers())
        assert again.status_code == 200, again.text
        assert again.json()["handled"] is False and "9999-12-31" in again.json()["reason"]
        [after] = [e for e in (await client.get("/backoffice/dead-letters", headers=await admin.headers())).json()
                   if e["id"] == entry["id"]]  # fmt: skip
        assert (after["failures"], after["replayed_by"]) == (2, system.staff[TENANT]["admin"].name)
    # identity's own dead letters: the same list, behind its cookie session (state changes need the CSRF token)
    assert (await admin.at_identity("GET", "/backoffice/dead-letters")).status_code == 200
    assert (await clerk.at_identity("GET", "/backoffice/dead-letters")).status_code == 403


async def test_the_platform_operator_sees_the_dead_letters_that_name_no_operator(system: System) -> None:
    """A reading for an operator this platform does not serve is the platform's to look at: its operator sees it
    at meter data's back-office with the platform's staff token, no operator's admin sees it, and the platform's
    token opens no operator's list (nor an operator's token the platform's)."""
    meter, _, _ = await prosumer(system)
    platform = StaffSignIn(system.identity.url, await system.platform_operator())
    admin = StaffSignIn(system.identity.url, system.staff[TENANT]["admin"])
    valid = envelope_for(load_day(meter, date(2026, 6, 1)), tenant="999999", correlation_id=uuid4())
    await produce(system.kafka, topics.METER_READINGS.name, encode(valid), key=meter.encode())
    async with httpx.AsyncClient(base_url=system.meterdata.url, timeout=30) as client:

        async def listed() -> list[dict[str, Any]] | None:
            answer = await client.get("/backoffice/dead-letters", headers=await platform.headers())
            assert answer.status_code == 200, answer.text
            return [entry for entry in answer.json() if "999999" in entry["reason"]] or None

        [entry] = await eventually(listed, timeout=60, what="the unknown operator's reading at the platform")
        assert (entry["consumer"], entry["topic"]) == ("meterdata-ingest", topics.METER_READINGS.name)
        assert meter not in json.dumps(entry)
        theirs = await client.get("/backoffice/dead-letters", headers=await admin.headers())
        assert theirs.status_code == 200 and "999999" not in theirs.text
        again = await client.post(f"/backoffice/dead-letters/{entry['id']}/replay", headers=await platform.headers())
        assert again.status_code == 200, again.text
        assert again.json()["handled"] is False
        for tenant in (TENANT, OTHER):  # the platform's token is no operator's
            at_operator = await client.get("/backoffice/dead-letters", headers=await platform.headers(tenant))
            assert at_operator.status_code == 403, at_operator.text
        # An operator's admin at the platform's host holds another operator's token.
        at_platform = await client.get("/backoffice/dead-letters", headers=await admin.headers(PLATFORM_PORTAL))
        assert at_platform.status_code == 403, at_platform.text
