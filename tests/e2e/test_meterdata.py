"""Meter data on the real stack: readings from Kafka (JSON and MSCONS) → storage → per partner number."""

import asyncio
import csv
import io
import random
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import uuid4

import httpx
import openpyxl
import pytest
from aiokafka import AIOKafkaProducer

from contracts import topics
from contracts.common import PartnerRole
from contracts.envelope import HEADER_DLT_ERROR, HEADER_DLT_SOURCE_TOPIC
from contracts.masterdata import BillingPeriod, MeterPointRecorded, PartnerOfRecord
from contracts.meterdata import LoadProfileDay, Quality, RegisterReading, RegisterReadings
from contracts.topics import Principal
from kit.energy_day import day_of, day_start, quarter_hours_of
from kit.events import encode, envelope_for
from services.identity.crypto import TokenSigner
from services.meterdata.domain import kept_since
from tests.conftest import System
from tests.journeys import (
    address,
    eventually,
    meter_point,
    publish_master_data,
    random_meter_number,
    random_partner_numbers,
    read_topic,
    wait_until_consumed,
)
from tests.unit.examples import moved_point

pytestmark = pytest.mark.stack
TENANT = "000328"
SPRING, AUTUMN = date(2026, 3, 29), date(2026, 10, 25)
CONSUMED = {
    "meterdata": (topics.MASTER_DATA.name, topics.IDENTITY_KEYS.name),
    "meterdata-ingest": (topics.METER_READINGS.name,),
}


def token(system: System, partner: str, role: str, tenant: str = TENANT, account: str = "test") -> dict[str, str]:
    """An access token signed with identity's own key (the one identity publishes on the keys topic), of the login
    ``account``."""
    now = datetime.now(UTC)
    claims = {
        "iss": "plusportal-identity",
        "aud": "plusportal",
        "sub": account,
        "tenant": tenant,
        "partner": partner,
        "role": role,
        "sid": "test",
        "iat": now,
    }
    return {
        "Authorization": f"Bearer {TokenSigner(system.signing_key).sign(claims, now + timedelta(minutes=5))}",
        "Host": f"{tenant}.localhost",
    }


def load_day(
    meter: str,
    day: date,
    obis: str = "1-1:1.29.0",
    kwh: float = 0.1,
    revision: int = 0,
    gap: int | None = None,
    substitute: int | None = None,
) -> LoadProfileDay:
    n = quarter_hours_of(day)
    values = [None if i == gap else kwh for i in range(n)]
    qualities = [
        Quality.MISSING if i == gap else Quality.SUBSTITUTE if i == substitute else Quality.TRUE_VALUE for i in range(n)
    ]
    return LoadProfileDay(
        meter_number=meter, obis=obis, day=day, values=tuple(values), qualities=tuple(qualities), revision=revision
    )


async def publish(system: System, *payloads: LoadProfileDay | RegisterReadings, tenant: str = TENANT) -> None:
    producer = AIOKafkaProducer(**system.kafka.access(Principal.SMGW_ADMINISTRATOR).client_options(), linger_ms=5)
    await producer.start()
    try:
        for payload in payloads:
            envelope = envelope_for(payload, tenant=tenant, correlation_id=uuid4())
            await producer.send(
                topics.METER_READINGS.name, encode(envelope), key=f"{tenant}/{payload.meter_number}".encode()
            )
        await producer.flush()
    finally:
        await producer.stop()


async def prosumer(system: System) -> tuple[str, str, str]:
    home = address("Sonnenhang", "12", "12347", "Musterstadt")
    point = meter_point(
        random_meter_number(), "Max Solar", home, home, roles=(PartnerRole.CONSUMPTION, PartnerRole.FEED_IN)
    )
    await publish_master_data(system.kafka, TENANT, point)
    return point.meter_number, point.partners[0].partner_number, point.partners[1].partner_number


async def intervals(
    system: System, partner: str, role: str, first: date, end: date, resolution: str, tenant: str = TENANT
) -> httpx.Response:
    async with httpx.AsyncClient(base_url=system.meterdata.url, timeout=30) as client:
        return await client.get(
            f"/partners/{partner}/intervals",
            headers=token(system, partner, role, tenant),
            params={"from": first.isoformat(), "to": end.isoformat(), "resolution": resolution},
        )


async def test_dst_days_round_trip_with_local_day_aggregates(system: System) -> None:
    meter, consumption, feed_in = await prosumer(system)
    await publish(
        system,
        load_day(meter, SPRING, gap=5, substitute=6),
        load_day(meter, AUTUMN),
        load_day(meter, AUTUMN, obis="1-1:2.29.0", kwh=0.25),
    )
    await wait_until_consumed(system.kafka, CONSUMED)

    spring = (await intervals(system, consumption, "consumption", SPRING, SPRING + timedelta(days=1), "day")).json()
    [day] = spring["results"]
    assert (day["present"], day["expected"], day["substitutes"]) == (91, 92, 1)
    assert day["kwh"] == pytest.approx(9.1)
    hours = (await intervals(system, consumption, "consumption", AUTUMN, AUTUMN + timedelta(days=1), "hour")).json()
    assert hours["count"] == 25  # the hour 02:00–03:00 happens twice
    assert hours["results"][2]["start"] == "2026-10-25T00:00:00+00:00"  # 02:00 CEST
    assert hours["results"][3]["start"] == "2026-10-25T01:00:00+00:00"  # 02:00 CET
    quarter = (await intervals(system, consumption, "consumption", SPRING, SPRING + timedelta(days=1), "15min")).json()
    # 15 minutes: one entry per day with its values in a row (92 on the spring day).
    assert quarter["count"] == 1
    [spring_day] = quarter["results"]
    assert spring_day["day"] == "2026-03-29" and spring_day["start"] == "2026-03-28T23:00:00+00:00"
    assert spring_day["interval_minutes"] == 15 and len(spring_day["kwh"]) == len(spring_day["quality"]) == 92
    assert spring_day["quality"][5] == "Z30" and spring_day["kwh"][5] is None
    assert spring_day["quality"][6] == "67"
    # A day whose values share one quality carries it once; a day without data is all empty, all Z30.
    autumn = (await intervals(system, consumption, "consumption", AUTUMN, AUTUMN + timedelta(days=2), "15min")).json()
    autumn_day, no_data = autumn["results"]
    assert len(autumn_day["kwh"]) == 100 and autumn_day["quality"] == "220"
    assert no_data["kwh"] == [None] * 96 and no_data["quality"] == "Z30"
    # The feed-in partner sees the feed-in channel, the consumption partner the consumption channel only.
    fed = (await intervals(system, feed_in, "feed_in", AUTUMN, AUTUMN + timedelta(days=1), "day")).json()
    assert fed["obis"] == "1-1:2.29.0" and fed["results"][0]["kwh"] == pytest.approx(25.0)


async def test_redelivery_and_corrections(system: System) -> None:
    meter, consumption, _ = await prosumer(system)
    day = date(2026, 6, 1)
    await publish(system, load_day(meter, day, kwh=0.1, revision=1), load_day(meter, day, kwh=0.1, revision=1))
    await wait_until_consumed(system.kafka, CONSUMED)
    for resolution in ("day", "month"):  # asked before the correction: answers meter data keeps in memory
        result = (await intervals(system, consumption, "consumption", day, day + timedelta(days=1), resolution)).json()
        assert result["results"][0]["kwh"] == pytest.approx(9.6)
    await publish(system, load_day(meter, day, kwh=0.2, revision=2))
    await publish(system, load_day(meter, day, kwh=0.9, revision=0))  # an old revision arriving late
    await wait_until_consumed(system.kafka, CONSUMED)
    for resolution in ("day", "month"):
        result = (await intervals(system, consumption, "consumption", day, day + timedelta(days=1), resolution)).json()
        assert result["results"][0]["kwh"] == pytest.approx(19.2)


async def test_partner_isolation(system: System) -> None:
    meter, consumption, feed_in = await prosumer(system)
    await publish(system, load_day(meter, date(2026, 6, 2)))
    await wait_until_consumed(system.kafka, CONSUMED)
    period = {"from": "2026-06-02", "to": "2026-06-03"}
    async with httpx.AsyncClient(base_url=system.meterdata.url, timeout=30) as client:
        mine = token(system, consumption, "consumption")
        assert (await client.get(f"/partners/{consumption}/intervals", headers=mine, params=period)).status_code == 200
        refused = [
            (await client.get(f"/partners/{p}/intervals", headers=mine, params=period)).status_code
            for p in [feed_in, *(str(random.randrange(10**9, 10**10)) for _ in range(1000))]
        ]
        assert set(refused) == {403}
        at_other_portal = {**mine, "Host": "000512.localhost"}  # this tenant's token at the other operator
        assert (
            await client.get(f"/partners/{consumption}/intervals", headers=at_other_portal, params=period)
        ).status_code == 403
        forged = {**mine, "Authorization": mine["Authorization"][:-4] + "AAAA"}
        assert (
            await client.get(f"/partners/{consumption}/intervals", headers=forged, params=period)
        ).status_code == 403
        assert (
            await client.get(
                f"/partners/{consumption}/intervals",
                headers={"Host": f"{TENANT}.localhost"},
                params=period,
            )
        ).status_code == 401


async def test_bad_readings_are_dead_lettered_with_the_reason(system: System) -> None:
    meter, _, _ = await prosumer(system)
    wrong_count = load_day(meter, date(2026, 6, 3)).model_copy(update={"day": SPRING})  # 96 values on a 92 day
    wrong_unit = load_day(meter, date(2026, 6, 4)).model_copy(update={"unit": "kvarh"})
    off_quarter = RegisterReadings(
        meter_number=meter,
        obis="1-1:1.8.0",
        readings=(RegisterReading(read_at=datetime(2026, 6, 4, 10, 7, tzinfo=UTC), value=1000.0),),
    )
    await publish(system, wrong_count, wrong_unit, off_quarter)
    await wait_until_consumed(system.kafka, CONSUMED)

    async def reasons() -> list[str]:
        found = []
        for record in await read_topic(system.kafka, topics.DEAD_LETTER.name):
            headers = {k: v.decode() for k, v in record.headers}
            if headers.get(HEADER_DLT_SOURCE_TOPIC) == topics.METER_READINGS.name and meter.encode() in record.value:
                found.append(headers[HEADER_DLT_ERROR])
        return found if len(found) >= 3 else []

    found = " | ".join(await eventually(reasons, what="three dead letters"))
    assert "92 quarter hours" in found and "kvarh" in found and "quarter hour" in found


async def test_readings_before_master_data_become_visible_when_it_arrives(system: System) -> None:
    meter = random_meter_number()
    day = date(2026, 6, 5)
    await publish(system, load_day(meter, day, kwh=0.3))
    await wait_until_consumed(system.kafka, CONSUMED)
    home = address("Neubau", "1", "12345", "Musterstadt")
    point = meter_point(meter, "Nina Neu", home, home)
    partner = point.partners[0].partner_number
    empty = (await intervals(system, partner, "consumption", day, day + timedelta(days=1), "day")).json()
    assert empty["count"] == 0 and empty["results"] == []  # no relation to any meter yet: no day to see
    await publish_master_data(system.kafka, TENANT, point)
    await wait_until_consumed(system.kafka, CONSUMED)
    later = (await intervals(system, partner, "consumption", day, day + timedelta(days=1), "day")).json()
    assert later["results"][0]["kwh"] == pytest.approx(28.8)


async def test_register_readings_daily_and_latest_and_exports(system: System) -> None:
    meter, consumption, _ = await prosumer(system)
    start = datetime(2026, 6, 6, 22, 0, tzinfo=UTC)  # 00:00 local on 7 June
    readings = tuple(RegisterReading(read_at=start + timedelta(hours=6 * i), value=1000 + i) for i in range(8))
    backwards = RegisterReading(read_at=start + timedelta(hours=48), value=900.0)
    await publish(
        system,
        RegisterReadings(meter_number=meter, obis="1-1:1.8.0", readings=(*readings, backwards)),
        load_day(meter, date(2026, 6, 7), kwh=0.125),
    )
    await wait_until_consumed(system.kafka, CONSUMED)
    async with httpx.AsyncClient(base_url=system.meterdata.url, timeout=30) as client:
        headers = token(system, consumption, "consumption")
        answer = (
            await client.get(
                f"/partners/{consumption}/registers", headers=headers, params={"from": "2026-06-07", "to": "2026-06-10"}
            )
        ).json()
        assert [r["kwh"] for r in answer["daily"]] == [1003.0, 1007.0, 900.0]
        assert answer["daily"][-1]["runs_backwards"] is True  # kept, but flagged
        csv_de = await client.get(
            f"/partners/{consumption}/export",
            headers=headers,
            params={"from": "2026-06-07", "to": "2026-06-08", "format": "csv-de"},
        )
        rows = list(csv.reader(io.StringIO(csv_de.content.decode("utf-8-sig")), delimiter=";"))
        assert rows[0][:3] == ["Beginn", "Ende", "Energie (kWh)"] and len(rows) == 97
        assert rows[1][0].startswith("2026-06-07T00:00:00+02:00") and rows[1][2] == "0,125"
        xlsx = await client.get(
            f"/partners/{consumption}/export",
            headers=headers,
            params={"from": "2026-06-07", "to": "2026-06-08", "format": "xlsx", "resolution": "hour"},
        )
        sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
        assert sheet is not None and sheet.max_row == 25 and sheet.cell(2, 3).value == pytest.approx(0.5)


async def test_killed_during_ingest_loses_and_doubles_nothing(system: System) -> None:
    meter, consumption, _ = await prosumer(system)
    first = date(2025, 1, 1)
    days = [load_day(meter, first + timedelta(days=i), kwh=0.001 * (i + 1)) for i in range(400)]
    await publish(system, *days)
    await asyncio.sleep(0.3)
    system.meterdata.kill()  # SIGKILL somewhere in the middle of the batches
    system.meterdata.start()
    await wait_until_consumed(system.kafka, CONSUMED, timeout=60)
    result = (await intervals(system, consumption, "consumption", first, first + timedelta(days=400), "year")).json()
    expected = (
        sum(round(0.001 * (i + 1) * 1000) * quarter_hours_of(first + timedelta(days=i)) for i in range(400)) / 1000
    )
    assert sum(r["kwh"] for r in result["results"]) == pytest.approx(expected)
    assert sum(r["present"] for r in result["results"]) == sum(
        quarter_hours_of(first + timedelta(days=i)) for i in range(400)
    )


async def test_an_mscons_file_with_substitutes_and_a_92_value_day_imports_exactly(system: System) -> None:
    from backoffice.smgw_simulator import generate_days, malo_for, write_mscons

    meter = random_meter_number()
    home = address("Sonnenhang", "12", "12347", "Musterstadt")
    base = meter_point(meter, "Mia Messwert", home, home)
    point = MeterPointRecorded(
        meter_number=meter,
        malo_id=malo_for(meter),
        connection_address=home,
        partners=base.partners,
        recorded_at=base.recorded_at,
    )
    partner = point.partners[0].partner_number
    await publish_master_data(system.kafka, TENANT, point)
    await wait_until_consumed(system.kafka, CONSUMED)
    [day] = generate_days(meter, "consumption", SPRING, 1, seed=7)
    # The simulator's own gaps and substitutes depend on the (random) meter number: this day has none but four
    # substitutes in the middle of true values.
    values = [0.001 * wh for wh in range(30, 30 + len(day.values))]
    qualities = [Quality.TRUE_VALUE] * len(values)
    qualities[10:14] = [Quality.SUBSTITUTE] * 4
    day = day.model_copy(update={"values": tuple(values), "qualities": tuple(qualities), "status": None})
    assert len(day.values) == 92
    edifact = write_mscons([day], sender_mp_id="9900000000003", receiver_mp_id="9900123000002", malo_id=malo_for(meter))
    producer = AIOKafkaProducer(**system.kafka.access(Principal.SMGW_ADMINISTRATOR).client_options())
    await producer.start()
    try:
        await producer.send_and_wait(
            topics.METER_MSCONS.name, edifact, key=b"test.edi", headers=[("tenant", TENANT.encode())]
        )
    finally:
        await producer.stop()
    await wait_until_consumed(system.kafka, {"meterdata-mscons": (topics.METER_MSCONS.name,)})

    result = (await intervals(system, partner, "consumption", SPRING, SPRING + timedelta(days=1), "15min")).json()
    assert result["count"] == 1
    [stored] = result["results"]
    assert len(stored["kwh"]) == 92
    assert stored["kwh"] == [None if v is None else round(v, 3) for v in day.values]
    assert stored["quality"] == [q.value for q in day.qualities]  # substitutes among true values: one code each


async def test_one_login_exports_one_period_at_a_time_and_the_next_once_it_is_done(system: System) -> None:
    _, consumption, _ = await prosumer(system)
    await wait_until_consumed(system.kafka, CONSUMED)
    headers = token(system, consumption, "consumption")
    # Three years of 15-minute rows (105,216, values or not) take the worker seconds as XLSX: the two overlap.
    three_years = {"from": "2023-01-01", "to": "2026-01-01", "format": "xlsx"}
    async with httpx.AsyncClient(base_url=system.meterdata.url, timeout=120) as client:
        answers = await asyncio.gather(
            *(client.get(f"/partners/{consumption}/export", headers=headers, params=three_years) for _ in range(2))
        )
        done, refused = sorted(answers, key=lambda answer: answer.status_code)
        assert (done.status_code, refused.status_code) == (200, 429)
        assert refused.json()["detail"] == "Es läuft bereits ein Export. Bitte warten Sie, bis er fertig ist."
        assert int(refused.headers["Retry-After"]) > 0
        assert done.headers["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        assert done.headers["Content-Disposition"] == (
            f'attachment; filename="plusportal-{consumption}-2023-01-01-2026-01-01-15min.xlsx"'
        )
        sheet = openpyxl.load_workbook(io.BytesIO(done.content), read_only=True).active
        assert sheet is not None and sheet.max_row == 1 + 105_216
        later = await client.get(
            f"/partners/{consumption}/export", headers=headers, params={"from": "2026-06-07", "to": "2026-06-08"}
        )
        assert later.status_code == 200 and later.headers["Content-Type"] == "text/csv; charset=utf-8"
        assert len(list(csv.reader(io.StringIO(later.text)))) == 1 + 96


async def test_hours_and_quarter_hours_over_a_long_period_are_built_off_the_loop_and_answer_as_on_it(
    system: System,
) -> None:
    """Hours over more than two months and quarter hours over more than a year are built in the long-queries
    process ([7 of 11] §3): the same entries, count and paging as the loop's answer for a single day."""
    meter, consumption, _ = await prosumer(system)
    first, end = date(2026, 4, 1), date(2026, 6, 30)  # 90 days, CEST throughout
    stored = (date(2026, 4, 11), date(2026, 6, 20))
    await publish(system, load_day(meter, stored[0], kwh=0.25), load_day(meter, stored[1], kwh=0.5, gap=5))
    await wait_until_consumed(system.kafka, CONSUMED)

    long = await intervals(system, consumption, "consumption", first, end, "hour")
    assert long.status_code == 200, long.text
    hours = long.json()
    assert (hours["count"], len(hours["results"]), hours["next"]) == (90 * 24, 90 * 24, None)
    for day in stored:
        short = (await intervals(system, consumption, "consumption", day, day + timedelta(days=1), "hour")).json()
        at = (day - first).days * 24
        assert hours["results"][at : at + 24] == short["results"]
    assert hours["results"][(stored[0] - first).days * 24]["kwh"] == 1.0
    assert hours["results"][(stored[1] - first).days * 24 + 1] == {
        "start": "2026-06-19T23:00:00+00:00", "end": "2026-06-20T00:00:00+00:00", "kwh": 1.5, "present": 3,
        "expected": 4, "substitutes": 0,
    }  # fmt: skip
    assert sum(entry["present"] for entry in hours["results"]) == 96 + 95
    async with httpx.AsyncClient(base_url=system.meterdata.url, timeout=30) as client:
        page = await client.get(
            f"/partners/{consumption}/intervals",
            headers=token(system, consumption, "consumption"),
            params={
                "from": first.isoformat(),
                "to": end.isoformat(),
                "resolution": "hour",
                "page": 3,
                "page_size": 500,
            },
        )
    assert page.status_code == 200, page.text
    assert (page.json()["count"], page.json()["previous"], page.json()["next"]) == (2160, 2, 4)
    assert page.json()["results"] == hours["results"][1000:1500]

    year_and_more = (date(2025, 6, 1), date(2026, 7, 1))  # 395 days, with two clock changes
    quarters = (await intervals(system, consumption, "consumption", *year_and_more, "15min")).json()
    assert quarters["count"] == len(quarters["results"]) == 395
    for day in stored:
        short = (await intervals(system, consumption, "consumption", day, day + timedelta(days=1), "15min")).json()
        assert quarters["results"][(day - year_and_more[0]).days] == short["results"][0]
    assert quarters["results"][0] == {
        "day": "2025-06-01", "start": "2025-05-31T22:00:00+00:00", "interval_minutes": 15, "kwh": [None] * 96,
        "quality": "Z30",
    }  # fmt: skip
    assert len(quarters["results"][(date(2025, 10, 26) - year_and_more[0]).days]["kwh"]) == 100
    assert quarters["results"][(stored[0] - year_and_more[0]).days]["quality"] == "220"


async def test_after_a_move_each_partner_sees_only_the_days_of_their_own_relation(system: System) -> None:
    """One meter: customer A moves out on 14 June, customer B moves in on the 15th. Master data lists both, with
    their periods; each sees their own days only, in every resolution, in the registers and in the export, and the
    month splits at that day, with completeness counting the partner's days."""
    meter = random_meter_number()
    a, b = random_partner_numbers(2)
    moved_out, moved_in = date(2026, 6, 14), date(2026, 6, 15)
    point = moved_point(a, b, meter=meter, moved_out=moved_out, moved_in=moved_in, recorded_at=datetime.now(UTC))
    june = [date(2026, 6, n) for n in range(1, 31)]
    midnight = datetime(2026, 6, 14, 22, 0, tzinfo=UTC)  # 00:00 local on the 15th: B's first reading
    registers = RegisterReadings(
        meter_number=meter,
        obis="1-1:1.8.0",
        readings=tuple(
            RegisterReading(read_at=midnight + timedelta(hours=h), value=5000.0 + h) for h in (-24, -1, 0, 6, 24)
        ),
    )
    await publish_master_data(system.kafka, TENANT, point)
    await publish(system, *(load_day(meter, d, kwh=0.001 * d.day, gap=3 if d.day == 10 else None) for d in june))
    await publish(system, registers)
    await wait_until_consumed(system.kafka, CONSUMED)
    own = {a: [d for d in june if d <= moved_out], b: [d for d in june if d >= moved_in]}

    async def results(partner: str, first: date, end: date, resolution: str) -> list[dict[str, Any]]:
        answer = await intervals(system, partner, "consumption", first, end, resolution)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["count"] == len(body["results"])
        return list(body["results"])

    for partner, days in own.items():
        quarters = await results(partner, june[0], date(2026, 7, 1), "15min")
        assert [q["day"] for q in quarters] == [d.isoformat() for d in days]
        assert all(q["kwh"][0] == pytest.approx(0.001 * int(q["day"][-2:])) for q in quarters)
        bounds = (day_start(days[0]).isoformat(), day_start(days[-1] + timedelta(days=1)).isoformat())
        hours = await results(partner, june[0], date(2026, 7, 1), "hour")
        assert len(hours) == 24 * len(days) and (hours[0]["start"], hours[-1]["end"]) == bounds
        per_day = await results(partner, june[0], date(2026, 7, 1), "day")
        assert [entry["start"] for entry in per_day] == [day_start(d).isoformat() for d in days]
        present = {d: 95 if d.day == 10 else 96 for d in days}  # the 10th has a gap (A's)
        [month] = await results(partner, june[0], date(2026, 7, 1), "month")
        assert (month["start"], month["end"]) == bounds  # split at the move
        assert month["kwh"] == pytest.approx(sum(d.day * n for d, n in present.items()) / 1000)
        assert (month["present"], month["expected"]) == (sum(present.values()), 96 * len(days))
        [year] = await results(partner, date(2026, 1, 1), date(2027, 1, 1), "year")
        assert (year["start"], year["kwh"], year["present"]) == (
            day_start(date(2026, 1, 1) if partner == a else moved_in).isoformat(),
            month["kwh"],
            month["present"],
        )
        assert year["end"] == (day_start(moved_in) if partner == a else day_start(date(2027, 1, 1))).isoformat()
        weeks = await results(partner, june[0], date(2026, 7, 1), "week")
        assert (weeks[0]["start"], weeks[-1]["end"]) == bounds
        assert sum(w["expected"] for w in weeks) == month["expected"] and sum(w["kwh"] for w in weeks) == pytest.approx(
            month["kwh"]
        )
        # Off the serving loop (more than a year of 15-minute values): the same days, nothing of the other's.
        long = await results(partner, date(2025, 6, 1), date(2026, 7, 1), "15min")
        assert [q["day"] for q in long if q["day"] >= "2026-06-01"] == [d.isoformat() for d in days]
        async with httpx.AsyncClient(base_url=system.meterdata.url, timeout=30) as client:
            headers = token(system, partner, "consumption")
            period = {"from": "2026-06-01", "to": "2026-07-01"}
            export = await client.get(f"/partners/{partner}/export", headers=headers, params=period)
            rows = list(csv.DictReader(io.StringIO(export.text)))
            assert len(rows) == sum(quarter_hours_of(d) for d in days)
            assert (rows[0]["start"], rows[-1]["end"]) == bounds
            monthly = await client.get(
                f"/partners/{partner}/export", headers=headers, params={**period, "resolution": "month"}
            )
            [row] = list(csv.DictReader(io.StringIO(monthly.text)))
            assert (row["start"], float(row["kwh"]), int(row["expected"])) == (
                month["start"],
                month["kwh"],
                96 * len(days),
            )
            found = (await client.get(f"/partners/{partner}/registers", headers=headers, params=period)).json()
        daily, latest = [r["kwh"] for r in found["daily"]], [r["kwh"] for r in found["latest"]]
        if partner == a:
            assert (daily, latest) == ([4999.0], [4999.0])  # the 14th's last reading, 23:00
        else:
            assert (daily, latest) == ([5006.0, 5024.0], [5024.0])  # from 00:00 on the 15th


async def test_billing_periods_of_master_data_or_calendar_years_on_each_partners_days(system: System) -> None:
    """[8 of 11] §4: A is billed from March to February (master data), moved out 60 days ago; B moved in the next
    day and has no billing periods (calendar years). Each sees consumption per period on their own days, the periods
    cut at the first day kept and at the move, and how far back values reach."""
    today = day_of(datetime.now(UTC))
    kept = kept_since(today)
    moved_in = today - timedelta(days=60)
    moved_out = moved_in - timedelta(days=1)
    starts = [date(year, 3, 1) for year in range(kept.year - 1, today.year + 1)]
    periods = [BillingPeriod(first_day=s, last_day=date(s.year + 1, 3, 1) - timedelta(days=1)) for s in starts]
    meter, (a, b) = random_meter_number(), random_partner_numbers(2)
    home = address("Lindenweg", "4", "12345", "Musterstadt")
    point = MeterPointRecorded(
        meter_number=meter,
        connection_address=home,
        partners=(
            PartnerOfRecord(
                partner_number=a, role=PartnerRole.CONSUMPTION, name="Anna Alt", postal_address=home,
                valid_to=moved_out, billing_periods=tuple(periods),
            ),
            PartnerOfRecord(
                partner_number=b, role=PartnerRole.CONSUMPTION, name="Ben Neu", postal_address=home, valid_from=moved_in
            ),
        ),
        recorded_at=datetime.now(UTC),
    )  # fmt: skip
    early = kept + timedelta(days=40)  # in the first period, whose first two months are no longer kept
    around = [moved_in + timedelta(days=n) for n in range(-3, 3)]
    await publish_master_data(system.kafka, TENANT, point)
    await publish(system, load_day(meter, early, kwh=0.02), *(load_day(meter, d, kwh=0.01) for d in around))
    await wait_until_consumed(system.kafka, CONSUMED)

    async def billing(partner: str, **params: int) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=system.meterdata.url, timeout=30) as client:
            answer = await client.get(
                f"/partners/{partner}/billing-periods", headers=token(system, partner, "consumption"), params=params
            )
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    def kwh(days: list[date], per_value: float) -> float:
        return round(sum(quarter_hours_of(d) for d in days) * per_value, 3)

    mine = await billing(a)
    assert (mine["periods_from"], mine["kept_since"], mine["first_day_with_data"]) == (
        "master_data", kept.isoformat(), early.isoformat()
    )  # fmt: skip
    listed = [p for p in periods if p.last_day >= kept and p.first_day <= moved_out]
    assert [(r["first_day"], r["last_day"]) for r in mine["results"]] == [
        (p.first_day.isoformat(), p.last_day.isoformat()) for p in listed
    ]
    first, last = mine["results"][0], mine["results"][-1]
    assert first["start"] == day_start(kept).isoformat()  # cut at the first day kept
    assert last["end"] == day_start(moved_in).isoformat()  # and at the move
    assert first["kwh"] == pytest.approx(kwh([early], 0.02))
    mine_before_move = [d for d in around if d <= moved_out]
    in_last = [d for d in mine_before_move if d >= listed[-1].first_day]
    assert last["present"] == sum(quarter_hours_of(d) for d in in_last)
    assert sum(r["kwh"] or 0 for r in mine["results"]) == pytest.approx(
        kwh([early], 0.02) + kwh(mine_before_move, 0.01)
    )
    assert mine["count"] == len(listed) and mine["next"] is None
    second = await billing(a, page=2, page_size=1)
    assert (second["results"], second["previous"], second["next"]) == ([mine["results"][1]], 1, 3)

    theirs = await billing(b)
    assert (theirs["periods_from"], theirs["first_day_with_data"]) == ("calendar_years", moved_in.isoformat())
    assert [r["first_day"] for r in theirs["results"]] == [
        date(year, 1, 1).isoformat() for year in range(moved_in.year, today.year + 1) if date(year, 1, 1) < today
    ]
    assert theirs["results"][0]["start"] == day_start(moved_in).isoformat()
    assert theirs["results"][-1]["end"] == day_start(today).isoformat()  # the running year: up to yesterday
    assert sum(r["kwh"] or 0 for r in theirs["results"]) == pytest.approx(
        kwh([d for d in around if d >= moved_in], 0.01)
    )

    async with httpx.AsyncClient(base_url=system.meterdata.url, timeout=30) as client:
        other = await client.get(f"/partners/{b}/billing-periods", headers=token(system, a, "consumption"))
    assert other.status_code == 403


async def test_a_modul3_customer_sees_consumption_and_grid_fee_per_level_to_the_cent(system: System) -> None:
    """[10 of 11] §3: a week of 100 Wh every quarter hour, the spring day included, against 000328's price sheet
    (2026-Q1: NT 01:00–04:00 at 3.45 ct, HT 17:00–19:00 at 10.84 ct, ST 8.62 ct): the split and the fees to the
    cent. The feed-in partner of the same meter, a consumer who did not choose Modul 3 and a Modul-3 consumer of
    an operator without a price sheet get 404 with the reason."""
    home = address("Sonnenhang", "14", "12347", "Musterstadt")
    point = meter_point(
        random_meter_number(), "Wera Wärme", home, home, roles=(PartnerRole.CONSUMPTION, PartnerRole.FEED_IN)
    )
    consumption, feed_in = point.partners
    chosen = point.model_copy(
        update={"partners": (consumption.model_copy(update={"time_variable_grid_fee": True}), feed_in)}
    )
    meter, consumer, feeder = point.meter_number, consumption.partner_number, feed_in.partner_number
    await publish_master_data(system.kafka, TENANT, chosen)
    week = [date(2026, 3, 23) + timedelta(days=n) for n in range(7)]
    await publish(system, *(load_day(meter, day) for day in week))
    await wait_until_consumed(system.kafka, CONSUMED)

    async def grid_fees(partner: str, role: str, first: date, end: date, tenant: str = TENANT) -> httpx.Response:
        async with httpx.AsyncClient(base_url=system.meterdata.url, timeout=30) as client:
            return await client.get(
                f"/partners/{partner}/grid-fees",
                headers=token(system, partner, role, tenant),
                params={"from": first.isoformat(), "to": end.isoformat()},
            )

    answer = await grid_fees(consumer, "consumption", week[0], week[-1] + timedelta(days=1))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    lines = {line["level"]: line for line in body["lines"]}
    assert {level: (line["kwh"], line["eur"], line["windows"]) for level, line in lines.items()} == {
        "HT": (5.6, "0.61", ["17:00–19:00"]),
        "ST": (53.2, "4.59", []),
        "NT": (8.0, "0.28", ["01:00–04:00"]),
    }
    assert (body["modul3_eur"], body["standard_eur"], body["saving_eur"]) == ("5.48", "5.76", "0.28")
    assert (body["present"], body["expected"], body["quarters_without_prices"]) == (668, 668, [])
    shift = body["best_shift"]
    assert (shift["source"], shift["target"], shift["saving_ct_per_kwh"], shift["saving_eur_if_all_moved"]) == (
        "HT", "NT", "7.39", "0.41"
    )  # fmt: skip

    refused = await grid_fees(feeder, "feed_in", week[0], week[-1])
    assert refused.status_code == 404 and "Modul 3" in refused.json()["detail"]
    too_long = await grid_fees(consumer, "consumption", date(2026, 1, 1), date(2026, 4, 5))
    assert too_long.status_code == 422 and "93 Tage" in too_long.json()["detail"]
    _, plain, _ = await prosumer(system)
    assert (await grid_fees(plain, "consumption", week[0], week[-1])).status_code == 404
    other = meter_point(random_meter_number(), "Hans Beispiel", home, home)
    other_partner = other.partners[0].model_copy(update={"time_variable_grid_fee": True})
    await publish_master_data(system.kafka, "000512", other.model_copy(update={"partners": (other_partner,)}))
    await wait_until_consumed(system.kafka, CONSUMED)
    elsewhere = await grid_fees(other_partner.partner_number, "consumption", week[0], week[-1], tenant="000512")
    assert elsewhere.status_code == 404  # 000512 publishes no time-variable grid fee
