"""Issue 11 §3 on the real stack: staff accounts per operator (e-mail + password + TOTP), staff tokens verified by
onboarding and letters without calling identity, roles, the audit log, and the print house per operator.

Reproduced first: the one static token ``dev-backoffice-token`` listed every operator's requests by changing the
Host header (200 at both hosts). Now it is refused everywhere, and a clerk of 000328 sees nothing of 000512."""

import asyncio
from typing import Any
from uuid import uuid4

import asyncpg
import httpx
import pytest

from stack.postgres import asyncpg_dsn
from tests.conftest import System
from tests.journeys import (
    CLERKS,
    PortalClient,
    StaffAccount,
    StaffSignIn,
    address,
    form,
    host,
    meter_point,
    publish_master_data,
    random_meter_number,
    staff,
    submit_matching_request,
    token_from,
    totp_code,
    wait_for_meter_point,
    wait_for_status,
)

pytestmark = pytest.mark.stack
TENANT, OTHER = "000328", "000512"
STATIC = {"Authorization": "Bearer dev-backoffice-token"}  # the former shared token with a published default


async def _in_review(system: System, tenant: str, first: str, last: str) -> tuple[str, str]:
    meter = random_meter_number()
    record = address("Amtsweg", "9", "12345", "Musterstadt")
    await publish_master_data(system.kafka, tenant, meter_point(meter, f"{first} {last}", record, record))
    typed = {"street": "Neue Straße", "house_number": "2", "postcode": "54321", "city": "Anderswo"}
    async with httpx.AsyncClient(base_url=system.onboarding.url, timeout=10) as client:
        await wait_for_meter_point(client, tenant, meter)
        answer = await client.post(
            "/requests", headers=host(tenant), json=form(meter, first, last, typed, f"{uuid4().hex[:8]}@example.org")
        )
        request_id = str(answer.json()["request_id"])
        await wait_for_status(client, tenant, request_id, "in_review")
    return request_id, meter


async def test_the_static_token_is_refused_and_a_clerk_of_000328_sees_nothing_of_000512(system: System) -> None:
    theirs, _, _ = await submit_matching_request(
        system.kafka, system.onboarding.url, OTHER, first="Nora", last="Nachbar"
    )
    async with httpx.AsyncClient(base_url=system.onboarding.url, timeout=10) as client:
        await wait_for_status(client, OTHER, theirs, "letter_dispatched")
    clerk = CLERKS[TENANT]
    async with httpx.AsyncClient(base_url=system.letters.url, timeout=10) as letters:
        [letter] = [
            x
            for x in (await letters.get("/backoffice/letters", headers=await staff(OTHER))).json()
            if x["request_id"] == theirs
        ]
    onboarding_routes: list[tuple[str, str, Any]] = [
        ("GET", "/backoffice/requests", None),
        ("GET", f"/backoffice/requests/{theirs}", None),
        ("GET", "/backoffice/meter-points/1EMH0005939068", None),
        ("POST", f"/backoffice/requests/{theirs}/approve", {"meter_number": "1EMH0005939068"}),
        ("POST", f"/backoffice/requests/{theirs}/reject", {"reason": "Probe"}),
        ("GET", "/backoffice/audit", None),
    ]
    letters_routes: list[tuple[str, str, Any]] = [
        ("GET", "/backoffice/letters", None),
        ("GET", f"/backoffice/letters/{letter['letter_id']}", None),
        ("GET", f"/backoffice/letters/{letter['letter_id']}/pdf", None),
        ("GET", "/backoffice/tasks", None),
        ("POST", f"/backoffice/tasks/{uuid4()}/resolve", None),
        ("GET", "/backoffice/audit", None),
    ]
    for url, routes in ((system.onboarding.url, onboarding_routes), (system.letters.url, letters_routes)):
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            for method, path, body in routes:
                for tenant in (TENANT, OTHER):  # the static token: refused at every operator
                    answer = await client.request(method, path, json=body, headers={**host(tenant), **STATIC})
                    assert answer.status_code == 401, (method, path, tenant, answer.status_code)
                # A clerk of 000328 at 000512's host: refused, whatever the route.
                answer = await client.request(method, path, json=body, headers=await clerk.headers(OTHER))
                assert answer.status_code == 403, (method, path, answer.status_code)
                assert "anderen Netzbetreiber" in answer.json()["detail"]
                assert theirs not in answer.text
        # At its own host, 000328's clerk does not find 000512's request or letter either.
    async with httpx.AsyncClient(base_url=system.onboarding.url, timeout=10) as client:
        assert (await client.get(f"/backoffice/requests/{theirs}", headers=await staff(TENANT))).status_code == 404
        listed = await client.get("/backoffice/requests", params={"limit": 500}, headers=await staff(TENANT))
        assert theirs not in listed.text
    async with httpx.AsyncClient(base_url=system.letters.url, timeout=10) as client:
        assert (
            await client.get(f"/backoffice/letters/{letter['letter_id']}", headers=await staff(TENANT))
        ).status_code == 404
    # A customer's access token is no staff token (another audience).
    async with httpx.AsyncClient(base_url=system.onboarding.url, timeout=10) as client:
        forged = {**host(TENANT), "Authorization": "Bearer eyJhbGciOiJFUzI1NiJ9.e30.x"}
        assert (await client.get("/backoffice/requests", headers=forged)).status_code == 401


async def _signed_in_portal(system: System, account: StaffAccount) -> PortalClient:
    portal = PortalClient(system.identity.url, account.tenant)
    body = {"email": account.email, "password": account.password, "code": totp_code(account.totp_secret)}
    answer = await portal.call("POST", "/staff/sessions", json=body)
    assert answer.status_code == 200, answer.text
    assert "__Host-plusportal-staff-session" in portal.cookies and portal.session_id is None  # not the customers'
    return portal


async def test_a_clerk_cannot_manage_staff_the_admin_invites_and_disables(system: System) -> None:
    admin_account, clerk_account = system.staff[TENANT]["admin"], system.staff[TENANT]["clerk"]
    email = f"neu.{uuid4().hex[:8]}@{TENANT}.example.org"
    async with await _signed_in_portal(system, clerk_account) as clerk:
        assert (await clerk.call("GET", "/staff/members")).status_code == 403
        invite = await clerk.call("POST", "/staff/members", json={"email": email, "name": "Nie Da", "role": "admin"})
        assert invite.status_code == 403
        assert (await clerk.call("GET", "/backoffice/audit")).status_code == 403
    async with await _signed_in_portal(system, admin_account) as admin:
        no_csrf = await admin.http.post(
            "/staff/members",
            headers={
                **host(TENANT),
                "Cookie": f"__Host-plusportal-staff-session={admin.cookies['__Host-plusportal-staff-session']}",
            },
            json={"email": email, "name": "Nina Neu", "role": "clerk"},
        )
        assert no_csrf.status_code == 403  # state changes need the CSRF header
        invited = await admin.call("POST", "/staff/members", json={"email": email, "name": "Nina Neu", "role": "clerk"})
        assert invited.status_code == 201, invited.text
        staff_id = invited.json()["staff_id"]
        mail = await system.mail.wait_for(lambda m: email in m.envelope_to and "Back-Office" in m.subject)
        [link] = [x for x in mail.links() if "/backoffice/einrichten#token=" in x]
        async with PortalClient(system.identity.url, TENANT) as newcomer:
            info = (await newcomer.call("POST", "/staff/setup/inspect", json={"token": token_from(link)})).json()
            assert info["email"] == email and info["otpauth_uri"].startswith("otpauth://totp/")
            secret = info["totp_secret"]
            done = await newcomer.call(
                "POST",
                "/staff/setup/complete",
                json={
                    "token": token_from(link),
                    "password": "Aktenberg hinter dem Schalter",
                    "code": "000000" if totp_code(secret) != "000000" else "111111",
                },
            )
            assert done.status_code == 422  # a wrong code: the authenticator is not set up
            done = await newcomer.call(
                "POST",
                "/staff/setup/complete",
                json={
                    "token": token_from(link),
                    "password": "Aktenberg hinter dem Schalter",
                    "code": totp_code(secret),
                },
            )
            assert done.status_code == 200, done.text
            assert len(done.json()["recovery_codes"]) == 10
            again = await newcomer.call(
                "POST",
                "/staff/setup/complete",
                json={
                    "token": token_from(link),
                    "password": "Aktenberg hinter dem Schalter",
                    "code": totp_code(secret),
                },
            )
            assert again.status_code == 410
        nina = StaffSignIn(system.identity.url, StaffAccount(TENANT, email, "Nina Neu", "clerk", secret))
        async with httpx.AsyncClient(base_url=system.onboarding.url, timeout=10) as client:
            assert (await client.get("/backoffice/requests", headers=await nina.headers())).status_code == 200
            # Her clerk token at an admin route: refused.
            assert (await client.get("/backoffice/audit", headers=await nina.headers())).status_code == 403
            # The admin's own token reads the audit log.
            admin_token = (await admin.call("POST", "/staff/session/token")).json()["access_token"]
            assert (
                await client.get(
                    "/backoffice/audit", headers={**host(TENANT), "Authorization": f"Bearer {admin_token}"}
                )
            ).status_code == 200
        members = (await admin.call("GET", "/staff/members")).json()
        assert {m["email"] for m in members} >= {email, admin_account.email, clerk_account.email}
        assert all(m["email"].endswith(f"@{TENANT}.example.org") for m in members)  # 000512's staff not listed
        assert (await admin.call("POST", f"/staff/members/{staff_id}/disable")).status_code == 204
        own = await admin.call(
            "POST", f"/staff/members/{(await admin.call('GET', '/staff/session')).json()['staff_id']}/disable"
        )
        assert own.status_code == 409
        audit = (await admin.call("GET", "/backoffice/audit")).json()
        assert {"staff.invited", "staff.disabled"} <= {e["action"] for e in audit if e["subject_id"] == staff_id}
    # Disabled: the session is gone and no new one opens.
    async with PortalClient(system.identity.url, TENANT) as portal:
        body = {"email": email, "password": "Aktenberg hinter dem Schalter", "code": totp_code(secret)}
        assert (await portal.call("POST", "/staff/sessions", json=body)).status_code == 401


async def test_sign_in_needs_the_right_totp_code_and_backs_off(system: System) -> None:
    account = system.staff[OTHER]["admin"]
    async with PortalClient(system.identity.url, OTHER) as portal:
        right = totp_code(account.totp_secret)
        wrong = f"{(int(right) + 1) % 1_000_000:06d}"
        answer = await portal.call(
            "POST", "/staff/sessions", json={"email": account.email, "password": account.password, "code": wrong}
        )
        assert (answer.status_code, answer.json()["detail"]) == (
            401,
            "E-Mail-Adresse, Passwort oder Code stimmt nicht.",
        )
        # Another operator's host: the account does not exist there.
        async with PortalClient(system.identity.url, TENANT) as elsewhere:
            body = {"email": account.email, "password": account.password, "code": totp_code(account.totp_secret)}
            assert (await elsewhere.call("POST", "/staff/sessions", json=body)).status_code == 401
        # Wrong passwords for one e-mail: after five, each further try waits (429 with Retry-After), never a lock.
        target = f"ziel.{uuid4().hex[:6]}@{OTHER}.example.org"
        answers = [
            await portal.call(
                "POST", "/staff/sessions", json={"email": target, "password": "falsch falsch falsch", "code": "123456"}
            )
            for _ in range(7)
        ]
        assert [a.status_code for a in answers][:5] == [401] * 5
        assert answers[-1].status_code == 429 and int(answers[-1].headers["Retry-After"]) > 0
        assert "Administration" in answers[-1].json()["detail"]


async def test_every_approval_is_in_the_audit_log_with_the_clerks_name(system: System) -> None:
    request_id, meter = await _in_review(system, TENANT, "Paula", "Prüffall")
    clerk = system.staff[TENANT]["clerk"]
    async with httpx.AsyncClient(base_url=system.onboarding.url, timeout=10) as client:
        assert (await client.get("/backoffice/requests", headers=await staff(TENANT))).status_code == 200
        looked_at = await client.get(f"/backoffice/requests/{request_id}", headers=await staff(TENANT))
        assert looked_at.status_code == 200  # reads of personal data: audited too
        approved = await client.post(
            f"/backoffice/requests/{request_id}/approve", json={"meter_number": meter}, headers=await staff(TENANT)
        )
        assert approved.status_code == 204, approved.text
        admin = StaffSignIn(system.identity.url, system.staff[TENANT]["admin"])
        entries = (await client.get("/backoffice/audit", headers=await admin.headers())).json()
        mine = [e for e in entries if e["subject_id"] == request_id]
        [entry] = [e for e in mine if e["action"] == "request.approved"]
        assert any(e["action"] == "request.viewed" and e["staff_name"] == clerk.name for e in mine)
        assert (entry["action"], entry["staff_name"], entry["staff_role"]) == ("request.approved", clerk.name, "clerk")
        assert any(e["action"] == "requests.listed" and e["staff_name"] == clerk.name for e in entries)
        assert entry["client_address"] and entry["at"]
        exported = await client.get("/backoffice/audit", params={"format": "csv"}, headers=await admin.headers())
        assert exported.headers["content-type"].startswith("text/csv")
        assert f"request.approved,request,{request_id}" in exported.text and clerk.name in exported.text
        # 000512's admin sees none of 000328's log.
        their_admin = StaffSignIn(system.identity.url, system.staff[OTHER]["admin"])
        assert request_id not in (await client.get("/backoffice/audit", headers=await their_admin.headers())).text
    # Append-only in the database: not even the service's own role changes or deletes an entry.
    connection = await asyncpg.connect(asyncpg_dsn(system.onboarding_db))
    try:
        for statement in ("UPDATE audit_log SET staff_name = 'x'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
            with pytest.raises(asyncpg.RaiseError, match="append-only"):
                await connection.execute(statement)
        count = "SELECT count(*) FROM audit_log WHERE subject_id = $1 AND action = 'request.approved'"
        assert await connection.fetchval(count, request_id) == 1
    finally:
        await connection.close()
    # The clerk's second factor is sealed in identity's database: a copy of the table yields no TOTP secret.
    identity = await asyncpg.connect(asyncpg_dsn(system.identity_db))
    try:
        stored = await identity.fetchval("SELECT totp_secret FROM staff_members WHERE email = $1", clerk.email)
    finally:
        await identity.close()
    assert stored.startswith("fernet:") and clerk.totp_secret not in stored
    await asyncio.sleep(0)


async def test_the_platform_operator_manages_the_operators_admins_and_sees_none_of_their_data(system: System) -> None:
    operator = StaffSignIn(system.identity.url, await system.platform_operator())
    listed = await operator.at_identity("GET", "/staff/tenants")
    assert listed.status_code == 200, listed.text
    assert {t["portal_number"]: t["admins"] >= 1 for t in listed.json()} == {TENANT: True, OTHER: True}
    invitee = f"neu.{uuid4().hex[:8]}@{OTHER}.example.org"
    invited = await operator.at_identity(
        "POST", f"/staff/tenants/{OTHER}/admins", json={"email": invitee, "name": "Nora Neu"}
    )
    assert invited.status_code == 201, invited.text
    mail = await system.mail.wait_for(lambda m: invitee in m.envelope_to, timeout=20)
    assert any(f"{OTHER}.localhost" in link and "/backoffice/einrichten#token=" in link for link in mail.links())

    # An operator's admin is no platform operator; the platform's role is none of an operator's.
    admin = StaffSignIn(system.identity.url, system.staff[TENANT]["admin"])
    assert (await admin.at_identity("GET", "/staff/tenants")).status_code == 403
    wrong_role = {"email": f"x.{uuid4().hex[:8]}@example.org", "name": "Xaver", "role": "platform"}
    assert (await admin.at_identity("POST", "/staff/members", json=wrong_role)).status_code == 409
    # The platform's staff token opens no operator's back-office.
    async with httpx.AsyncClient(base_url=system.onboarding.url, timeout=10) as client:
        for tenant in (TENANT, OTHER):
            answer = await client.get("/backoffice/requests", headers=await operator.headers(tenant))
            assert answer.status_code in (401, 403), (tenant, answer.status_code)
        at_platform = await client.get("/backoffice/requests", headers=await operator.headers())
        assert at_platform.status_code == 404  # the platform is no operator: onboarding does not know it
