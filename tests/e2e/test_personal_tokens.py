"""Personal access tokens ([11 of 11] §1) on the real stack: a signed-in customer makes one, a home-automation
system reads JSON and CSV with it (directly and through the gateway), the customer revokes it and it is refused at
once; per-token rate limit; and the attacks — another partner, another operator's host, revoked, expired, an
altered secret, a token trying to make tokens or to revoke — each refused."""

from datetime import date, timedelta
from typing import Any
from uuid import uuid4

import asyncpg
import httpx
import pytest

from contracts import topics
from contracts.identity import AccountDeleted
from kit.events import encode, envelope_for
from services.meterdata.api import READ_ONLY_TOKEN, SCHEMA_HEADER, SCHEMA_VERSION
from services.meterdata.token_api import INVALID
from stack.postgres import asyncpg_dsn
from tests.conftest import System
from tests.e2e.test_meterdata import CONSUMED, TENANT, load_day, prosumer, publish, token
from tests.journeys import StaffSignIn, produce, wait_until_consumed

pytestmark = pytest.mark.stack
DAY = date(2026, 6, 2)
PERIOD = {"from": DAY.isoformat(), "to": (DAY + timedelta(days=1)).isoformat()}


def bearer(secret: str, tenant: str = TENANT) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}", "Host": f"{tenant}.localhost"}


async def make(client: httpx.AsyncClient, session: dict[str, str], partner: str, name: str = "Heimautomation") -> Any:
    expires_on = (date.today() + timedelta(days=90)).isoformat()
    answer = await client.post(
        f"/partners/{partner}/personal-tokens", headers=session, json={"name": name, "expires_on": expires_on}
    )
    assert answer.status_code == 201, answer.text
    assert answer.headers["cache-control"] == "no-store"
    return answer.json()


async def listed(client: httpx.AsyncClient, session: dict[str, str], partner: str) -> list[dict[str, Any]]:
    answer = await client.get(f"/partners/{partner}/personal-tokens", headers=session)
    assert answer.status_code == 200, answer.text
    return list(answer.json())


async def test_made_read_as_json_and_csv_revoked_and_refused_at_once(system: System) -> None:
    meter, consumption, _ = await prosumer(system)
    await publish(system, load_day(meter, DAY, kwh=0.25))
    await wait_until_consumed(system.kafka, CONSUMED)
    session = token(system, consumption, "consumption")
    async with httpx.AsyncClient(base_url=system.meterdata.url, timeout=30) as client:
        made = await make(client, session, consumption)
        secret = made["token"]
        assert secret.startswith("ppt_") and made["prefix"] == secret[:12] and made["last_used_at"] is None
        [shown] = await listed(client, session, consumption)
        assert shown["id"] == made["id"] and shown["name"] == "Heimautomation" and "token" not in shown
        assert secret not in str(shown)

        intervals = await client.get(
            f"/partners/{consumption}/intervals", headers=bearer(secret), params={**PERIOD, "resolution": "day"}
        )
        assert intervals.status_code == 200, intervals.text
        body = intervals.json()
        assert body["schema_version"] == SCHEMA_VERSION and body["partner_number"] == consumption
        assert body["results"][0]["kwh"] == pytest.approx(24.0)
        export = await client.get(
            f"/partners/{consumption}/export", headers=bearer(secret), params={**PERIOD, "format": "csv"}
        )
        assert export.status_code == 200 and export.headers[SCHEMA_HEADER] == SCHEMA_VERSION
        lines = export.text.splitlines()
        assert lines[0] == "start,end,kwh,quality,present,expected" and len(lines) == 1 + 96
        for path in ("registers", "billing-periods"):
            read = await client.get(f"/partners/{consumption}/{path}", headers=bearer(secret), params=PERIOD)
            assert read.status_code == 200 and read.json()["schema_version"] == SCHEMA_VERSION, read.text
        [used] = await listed(client, session, consumption)
        assert used["last_used_at"] is not None

        revoked = await client.delete(f"/partners/{consumption}/personal-tokens/{made['id']}", headers=session)
        assert revoked.status_code == 204, revoked.text
        refused = await client.get(f"/partners/{consumption}/registers", headers=bearer(secret), params=PERIOD)
        assert refused.status_code == 401 and refused.json()["detail"] == INVALID
        assert refused.headers["www-authenticate"] == 'Bearer error="invalid_token"'
        assert await listed(client, session, consumption) == []
        again = await client.delete(f"/partners/{consumption}/personal-tokens/{made['id']}", headers=session)
        assert again.status_code == 404

    admin = StaffSignIn(system.identity.url, system.staff[TENANT]["admin"])
    async with httpx.AsyncClient(base_url=system.meterdata.url, timeout=30) as client:
        audit = await client.get("/backoffice/audit", headers=await admin.headers())
    assert audit.status_code == 200, audit.text
    entries = {(e["action"], e["subject_id"]): e for e in audit.json() if e["subject_kind"] == "personal_token"}
    for action in ("personal_token.created", "personal_token.revoked"):
        entry = entries[(action, made["id"])]
        assert entry["staff_role"] == "customer" and entry["details"]["partner_number"] == consumption


async def test_through_the_gateway_as_a_developer_calls_it(system: System) -> None:
    _, consumption, _ = await prosumer(system)
    async with httpx.AsyncClient(base_url=system.meterdata.url, timeout=30) as client:
        secret = (await make(client, token(system, consumption, "consumption"), consumption))["token"]
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{system.gateway.port}", timeout=30) as gateway:
        read = await gateway.get(
            f"/api/meterdata/partners/{consumption}/intervals", headers=bearer(secret), params=PERIOD
        )
    assert read.status_code == 200, read.text
    assert read.json()["partner_number"] == consumption


async def test_a_token_reads_its_own_partner_at_its_own_operator_and_nothing_else(system: System) -> None:
    _, consumption, feed_in = await prosumer(system)
    session = token(system, consumption, "consumption")
    async with httpx.AsyncClient(base_url=system.meterdata.url, timeout=30) as client:
        made = await make(client, session, consumption)
        secret = made["token"]
        mine = await client.get(f"/partners/{consumption}/registers", headers=bearer(secret), params=PERIOD)
        assert mine.status_code == 200

        other_partner = await client.get(f"/partners/{feed_in}/intervals", headers=bearer(secret), params=PERIOD)
        assert other_partner.status_code == 403
        other_operator = await client.get(
            f"/partners/{consumption}/intervals", headers=bearer(secret, "000512"), params=PERIOD
        )
        assert other_operator.status_code == 401
        for altered in (secret[:-1] + ("A" if secret[-1] != "A" else "B"), secret + "x", "ppt_", "ppt_" + "A" * 43):
            answer = await client.get(f"/partners/{consumption}/intervals", headers=bearer(altered), params=PERIOD)
            assert answer.status_code == 401, altered

        # Read-only: it makes no token, lists none, revokes none.
        expires_on = (date.today() + timedelta(days=30)).isoformat()
        for method, path, body in (
            ("POST", f"/partners/{consumption}/personal-tokens", {"name": "mehr", "expires_on": expires_on}),
            ("GET", f"/partners/{consumption}/personal-tokens", None),
            ("DELETE", f"/partners/{consumption}/personal-tokens/{made['id']}", None),
        ):
            answer = await client.request(method, path, headers=bearer(secret), json=body)
            assert answer.status_code == 403 and answer.json()["detail"] == READ_ONLY_TOKEN, (method, answer.text)
        assert [t["id"] for t in await listed(client, session, consumption)] == [made["id"]]

        # Another partner's session neither lists nor revokes it; another operator's host does not know it.
        theirs = token(system, feed_in, "feed_in")
        assert await listed(client, theirs, feed_in) == []
        cross = await client.delete(f"/partners/{consumption}/personal-tokens/{made['id']}", headers=theirs)
        assert cross.status_code == 403
        by_own_path = await client.delete(f"/partners/{feed_in}/personal-tokens/{made['id']}", headers=theirs)
        assert by_own_path.status_code == 404
        elsewhere = token(system, consumption, "consumption", tenant="000512")
        at_other = await client.delete(f"/partners/{consumption}/personal-tokens/{made['id']}", headers=elsewhere)
        assert at_other.status_code == 404
        assert (
            await client.get(f"/partners/{consumption}/registers", headers=bearer(secret), params=PERIOD)
        ).is_success

        # Expired: refused from its expiry on.
        connection = await asyncpg.connect(asyncpg_dsn(system.meterdata_db))
        try:
            await connection.execute(
                "UPDATE personal_tokens SET expires_at = now() - interval '1 second' WHERE id = $1", made["id"]
            )
        finally:
            await connection.close()
        expired = await client.get(f"/partners/{consumption}/registers", headers=bearer(secret), params=PERIOD)
        assert expired.status_code == 401
        [shown] = await listed(client, session, consumption)
        assert shown["expired"] is True


async def test_an_expiry_beyond_a_year_or_in_the_past_and_an_empty_name_are_refused_in_german(system: System) -> None:
    _, consumption, _ = await prosumer(system)
    session = token(system, consumption, "consumption")
    async with httpx.AsyncClient(base_url=system.meterdata.url, timeout=30) as client:
        for name, expires_on in (
            ("zu lang gültig", date.today() + timedelta(days=400)),
            ("abgelaufen", date.today() - timedelta(days=1)),
            ("  ", date.today() + timedelta(days=30)),
        ):
            answer = await client.post(
                f"/partners/{consumption}/personal-tokens",
                headers=session,
                json={"name": name, "expires_on": expires_on.isoformat()},
            )
            assert answer.status_code == 422 and answer.json()["detail"].startswith(("Ein", "Das", "Bitte")), (
                answer.text
            )
        assert await listed(client, session, consumption) == []


async def test_each_token_has_its_own_rate_limit(system: System) -> None:
    _, consumption, _ = await prosumer(system)
    session = token(system, consumption, "consumption")
    async with httpx.AsyncClient(base_url=system.meterdata.url, timeout=30) as client:
        busy = (await make(client, session, consumption, "busy"))["token"]
        calm = (await make(client, session, consumption, "calm"))["token"]
        # 60 a minute in fixed windows: at most twice that passes across a window's edge.
        statuses = []
        for _ in range(2 * 60 + 1):
            answer = await client.get(f"/partners/{consumption}/registers", headers=bearer(busy), params=PERIOD)
            statuses.append(answer.status_code)
            if answer.status_code == 429:
                break
        assert statuses[-1] == 429 and set(statuses[:-1]) == {200}
        assert int(answer.headers["retry-after"]) >= 1
        assert answer.json()["detail"].startswith("Zu viele Anfragen.")
        other = await client.get(f"/partners/{consumption}/registers", headers=bearer(calm), params=PERIOD)
        assert other.status_code == 200


async def test_a_deleted_logins_tokens_are_revoked(system: System) -> None:
    _, consumption, _ = await prosumer(system)
    account = f"account-{uuid4()}"
    session = token(system, consumption, "consumption", account=account)
    others = token(system, consumption, "consumption", account=f"account-{uuid4()}")  # the partner's other login
    async with httpx.AsyncClient(base_url=system.meterdata.url, timeout=30) as client:
        secret = (await make(client, session, consumption))["token"]
        kept = (await make(client, others, consumption, "Energiemanager"))["token"]
        assert (
            await client.get(f"/partners/{consumption}/registers", headers=bearer(secret), params=PERIOD)
        ).is_success
        deleted = AccountDeleted(account_id=account, partner_numbers=(consumption,))
        envelope = envelope_for(deleted, tenant=TENANT, correlation_id=uuid4())
        for _ in range(2):  # delivered twice: the same outcome
            await produce(system.kafka, topics.IDENTITY.name, encode(envelope), key=account.encode())
        await wait_until_consumed(system.kafka, CONSUMED)
        gone = await client.get(f"/partners/{consumption}/registers", headers=bearer(secret), params=PERIOD)
        assert gone.status_code == 401
        still = await client.get(f"/partners/{consumption}/registers", headers=bearer(kept), params=PERIOD)
        assert still.status_code == 200
        assert [t["name"] for t in await listed(client, others, consumption)] == ["Energiemanager"]
