"""Consent for third parties ([11 of 11] §2) on the real stack: a sample third party (backoffice.third_party_client)
asks a signed-in customer through OAuth 2.0 with PKCE, reads what the grant names and nothing else, refreshes
(rotating), and is refused within seconds once the customer revokes — and at another operator's host always."""

from datetime import date, timedelta
from urllib.parse import urlsplit

import httpx
import pytest
from pydantic import SecretStr

from backoffice.third_party_client import AuthorisationStart, ThirdPartyClient, ThirdPartyError, Tokens
from services.identity.consent_handlers import Registered
from services.identity.settings import IdentitySettings
from services.identity.staff_cli import disable_third_party, register_third_party
from tests.conftest import System
from tests.journeys import (
    CUSTOMER_PASSWORD,
    PortalClient,
    eventually,
    host,
    register_by_hand,
    submit_matching_request,
)

TENANT, OTHER_TENANT = "000328", "000512"
REDIRECT = "https://app.sonnenhaus.example/plusportal/callback"
JUNE = date(2026, 6, 1)


async def registered(system: System, *, public: bool = False, tenant: str = TENANT) -> Registered:
    settings = IdentitySettings(database_url=system.identity_db, staff_totp_key=SecretStr(system.staff_totp_key))
    return await register_third_party(
        settings, tenant, "Sonnenhaus Energiemanager GmbH", "api@sonnenhaus.example", (REDIRECT,), public
    )


def third_party(system: System, party: Registered, tenant: str = TENANT) -> ThirdPartyClient:
    return ThirdPartyClient(
        f"https://{tenant}.plusportal.example",
        party.client_id,
        party.client_secret,
        REDIRECT,
        identity_url=system.identity.url,
        meterdata_url=system.meterdata.url,
        headers=host(tenant),
    )


async def customer(system: System) -> tuple[PortalClient, str]:
    _, point, email = await submit_matching_request(system.kafka, system.onboarding.url, TENANT)
    meter, partner = point.meter_number, point.partners[0].partner_number
    return await register_by_hand(system.identity.url, system.mail, TENANT, meter, partner, email), partner


def query_of(start: AuthorisationStart) -> str:
    return urlsplit(start.url).query


async def approve(browser: PortalClient, start: AuthorisationStart, partner: str, **narrowed: object) -> str:
    page = await browser.call("POST", "/oauth/consent/inspect", json={"query": query_of(start)})
    assert page.status_code == 200, page.text
    shown = page.json()
    decision = {
        "query": query_of(start),
        "approve": True,
        "partner_number": partner,
        "scope": shown["scope"],
        "data_from": shown["data_from"],
        "days": shown["days"],
        **narrowed,
    }
    answer = await browser.call("POST", "/oauth/consent", json=decision)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["redirect_to"])


async def granted(
    system: System, browser: PortalClient, partner: str, client: ThirdPartyClient, scope: str, **asked: object
) -> Tokens:
    start = client.authorisation(scope, **asked)  # type: ignore[arg-type]
    redirected = await approve(browser, start, partner)
    assert redirected.startswith(REDIRECT + "?")
    return await client.exchange(client.code_from(redirected, start), start)


def period(first: date, days: int, resolution: str) -> dict[str, str]:
    return {"from": first.isoformat(), "to": (first + timedelta(days=days)).isoformat(), "resolution": resolution}


async def customers_token(browser: PortalClient) -> dict[str, str]:
    answer = await browser.call("POST", "/session/token")
    assert answer.status_code == 200, answer.text
    return {**host(TENANT), "Authorization": f"Bearer {answer.json()['access_token']}"}


async def test_a_monthly_grant_from_june_reads_months_from_june_on_nothing_finer_nothing_earlier(
    system: System,
) -> None:
    browser, partner = await customer(system)
    async with browser:
        client = third_party(system, await registered(system))
        tokens = await granted(system, browser, partner, client, "meterdata:month", data_from=JUNE, days=90)
        assert tokens.scope == "meterdata:month" and tokens.refresh_token.startswith("ppr_")

        months = await client.read(tokens, partner, "/intervals", period(JUNE, 61, "month"))
        assert months.status_code == 200, months.text
        assert months.json()["resolution"] == "month"
        quarter_hours = await client.read(tokens, partner, "/intervals", period(JUNE, 1, "15min"))
        assert quarter_hours.status_code == 403
        assert "Auflösung" in quarter_hours.json()["detail"]
        may = await client.read(tokens, partner, "/intervals", period(date(2026, 5, 1), 31, "month"))
        assert may.status_code == 403
        assert "erst ab dem 01.06.2026" in may.json()["detail"]
        # Only reads: an export, billing periods, another partner number — refused.
        for path, params in (("/export", {"from": "2026-06-01", "to": "2026-07-01"}), ("/billing-periods", {})):
            assert (await client.read(tokens, partner, path, params)).status_code == 403
        async with httpx.AsyncClient(base_url=system.meterdata.url, timeout=10) as meterdata:
            bearer = {**host(TENANT), "Authorization": f"Bearer {tokens.access_token}"}
            made = await meterdata.post(
                f"/partners/{partner}/personal-tokens", headers=bearer, json={"name": "x", "expires_on": "2026-12-31"}
            )
            assert made.status_code == 403  # a grant reads; it makes no keys of its own
            assert (await meterdata.get(f"/partners/{partner}/grant-accesses", headers=bearer)).status_code == 403
        another_partner = f"{partner[:-1]}{(int(partner[-1]) + 1) % 10}"
        assert (await client.read(tokens, another_partner, "/intervals", period(JUNE, 31, "month"))).status_code == 403

        # The customer sees the grant (active) and each read.
        grants = (await browser.call("GET", "/account/grants")).json()
        assert [(g["client_name"], g["status"], g["scope"], g["data_from"]) for g in grants] == [
            ("Sonnenhaus Energiemanager GmbH", "active", "meterdata:month", "2026-06-01")
        ]
        async with httpx.AsyncClient(base_url=system.meterdata.url, timeout=10) as meterdata:
            log = await meterdata.get(f"/partners/{partner}/grant-accesses", headers=await customers_token(browser))
        assert log.status_code == 200, log.text
        assert [(a["client_id"], a["resolution"], a["first"]) for a in log.json()] == [
            (client.client_id, "month", "2026-06-01")
        ]


async def test_a_revoked_grants_token_is_refused_within_seconds_and_its_refresh_token_at_once(system: System) -> None:
    browser, partner = await customer(system)
    async with browser:
        client = third_party(system, await registered(system, public=True))  # an app: PKCE alone
        tokens = await granted(system, browser, partner, client, "meterdata:day")
        assert (await client.read(tokens, partner, "/intervals", period(date.today(), 1, "day"))).status_code == 200
        [grant] = (await browser.call("GET", "/account/grants")).json()
        assert (await browser.call("POST", f"/account/grants/{grant['id']}/revoke")).status_code == 204

        async def refused() -> bool | None:
            answer = await client.read(tokens, partner, "/intervals", period(date.today(), 1, "day"))
            return True if answer.status_code in (401, 403) else None

        await eventually(refused, timeout=10, what="the revoked grant's access token refused")
        with pytest.raises(ThirdPartyError) as raised:
            await client.refresh(tokens)
        assert raised.value.error == "invalid_grant"
        [ended] = (await browser.call("GET", "/account/grants")).json()
        assert (ended["status"], ended["end_reason"]) == ("ended", "customer")


async def test_refresh_tokens_rotate_and_a_replayed_one_ends_the_grant(system: System) -> None:
    browser, partner = await customer(system)
    async with browser:
        client = third_party(system, await registered(system))
        first = await granted(system, browser, partner, client, "meterdata:15min")
        second = await client.refresh(first)
        assert second.refresh_token != first.refresh_token and second.access_token != first.access_token
        assert (await client.read(second, partner, "/intervals", period(date.today(), 1, "15min"))).status_code == 200
        with pytest.raises(ThirdPartyError) as replayed:
            await client.refresh(first)  # stolen and used by someone else, or replayed: the grant ends
        assert replayed.value.error == "invalid_grant"
        [grant] = (await browser.call("GET", "/account/grants")).json()
        assert (grant["status"], grant["end_reason"]) == ("ended", "replayed")
        with pytest.raises(ThirdPartyError):
            await client.refresh(second)


async def test_codes_are_bound_to_the_client_the_verifier_and_one_use(system: System) -> None:
    browser, partner = await customer(system)
    async with browser:
        party = await registered(system)
        client = third_party(system, party)
        start = client.authorisation("meterdata:day")
        code = client.code_from(await approve(browser, start, partner), start)
        wrong_verifier = AuthorisationStart(start.url, start.state, start.code_verifier[::-1])
        with pytest.raises(ThirdPartyError) as refused:
            await client.exchange(code, wrong_verifier)
        assert refused.value.error == "invalid_grant"
        another = third_party(system, await registered(system))
        with pytest.raises(ThirdPartyError):
            await another.exchange(code, start)  # another client with the right verifier: not its code
        with pytest.raises(ThirdPartyError) as wrong_secret:
            await ThirdPartyClient(
                client.portal_url, party.client_id, "pps_guessed", REDIRECT,
                identity_url=system.identity.url, headers=host(TENANT),
            ).exchange(code, start)  # fmt: skip
        assert wrong_secret.value.status == 401

        tokens = await client.exchange(code, start)  # the refused attempts did not use it up
        with pytest.raises(ThirdPartyError) as again:
            await client.exchange(code, start)  # once only: a second use ends the grant (someone else has it)
        assert again.value.error == "invalid_grant"
        [grant] = (await browser.call("GET", "/account/grants")).json()
        assert (grant["status"], grant["end_reason"]) == ("ended", "replayed")
        with pytest.raises(ThirdPartyError):
            await client.refresh(tokens)


async def test_the_consent_page_refuses_what_it_must_not_follow_or_widen(system: System) -> None:
    browser, partner = await customer(system)
    async with browser:
        party = await registered(system)
        client = third_party(system, party)

        async def inspect(query: str) -> httpx.Response:
            return await browser.call("POST", "/oauth/consent/inspect", json={"query": query})

        good = query_of(client.authorisation("meterdata:month", data_from=JUNE, days=30))
        assert (await inspect(good)).status_code == 200
        unregistered = good.replace("app.sonnenhaus.example", "evil.example")
        answer = await inspect(unregistered)
        assert answer.status_code == 400 and "nicht registriert" in answer.json()["detail"]
        no_pkce = "&".join(p for p in good.split("&") if not p.startswith("code_challenge"))
        assert (await inspect(no_pkce)).status_code == 400
        assert (await inspect(good.replace("meterdata%3Amonth", "meterdata%3Aall"))).status_code == 400
        # Another operator's customer never sees this operator's third party.
        other = await registered(system, tenant=OTHER_TENANT)
        foreign = query_of(third_party(system, other, OTHER_TENANT).authorisation("meterdata:month"))
        assert (await inspect(foreign)).status_code == 400

        # Narrowing is the customer's; widening is refused.
        start = client.authorisation("meterdata:month", data_from=JUNE, days=30)
        wider = {"query": query_of(start), "approve": True, "partner_number": partner, "scope": "meterdata:15min",
                 "data_from": "2026-06-01", "days": 30}  # fmt: skip
        assert (await browser.call("POST", "/oauth/consent", json=wider)).status_code == 400
        longer = {**wider, "scope": "meterdata:month", "days": 31}
        assert (await browser.call("POST", "/oauth/consent", json=longer)).status_code == 400
        earlier = {**wider, "scope": "meterdata:month", "data_from": "2026-05-31"}
        assert (await browser.call("POST", "/oauth/consent", json=earlier)).status_code == 400

        refused = await browser.call("POST", "/oauth/consent", json={"query": query_of(start), "approve": False})
        assert refused.status_code == 200
        with pytest.raises(ThirdPartyError) as denied:
            client.code_from(refused.json()["redirect_to"], start)
        assert denied.value.error == "access_denied"
        assert (await browser.call("GET", "/account/grants")).json() == []


async def test_a_grants_token_is_refused_at_another_operator(system: System) -> None:
    browser, partner = await customer(system)
    async with browser:
        client = third_party(system, await registered(system))
        tokens = await granted(system, browser, partner, client, "meterdata:month", data_from=JUNE)
        elsewhere = ThirdPartyClient(
            client.portal_url, client.client_id, client.client_secret, REDIRECT,
            meterdata_url=system.meterdata.url, headers=host(OTHER_TENANT),
        )  # fmt: skip
        answer = await elsewhere.read(tokens, partner, "/intervals", period(JUNE, 30, "month"))
        assert answer.status_code == 403
        with pytest.raises(ThirdPartyError):
            await ThirdPartyClient(
                client.portal_url, client.client_id, client.client_secret, REDIRECT,
                identity_url=system.identity.url, headers=host(OTHER_TENANT),
            ).refresh(tokens)  # fmt: skip


async def test_a_deleted_logins_grants_end_and_their_tokens_are_refused(system: System) -> None:
    browser, partner = await customer(system)
    async with browser:
        client = third_party(system, await registered(system))
        tokens = await granted(system, browser, partner, client, "meterdata:day")
        deleted = await browser.call("POST", "/account/delete", json={"password": CUSTOMER_PASSWORD})
        assert deleted.status_code == 204, deleted.text

    async def refused() -> bool | None:
        answer = await client.read(tokens, partner, "/intervals", period(date.today(), 1, "day"))
        return True if answer.status_code in (401, 403) else None

    await eventually(refused, timeout=20, what="the deleted login's grant token refused")
    with pytest.raises(ThirdPartyError) as raised:
        await client.refresh(tokens)
    assert raised.value.error == "invalid_grant"


async def test_a_disabled_third_party_gets_no_token_its_grants_end_and_it_asks_nobody(system: System) -> None:
    browser, partner = await customer(system)
    async with browser:
        party = await registered(system)
        client = third_party(system, party)
        tokens = await granted(system, browser, partner, client, "meterdata:day")
        settings = IdentitySettings(database_url=system.identity_db, staff_totp_key=SecretStr(system.staff_totp_key))
        assert await disable_third_party(settings, TENANT, party.client_id) == 1

        async def refused() -> bool | None:
            answer = await client.read(tokens, partner, "/intervals", period(date.today(), 1, "day"))
            return True if answer.status_code in (401, 403) else None

        await eventually(refused, timeout=10, what="the disabled third party's token refused")
        with pytest.raises(ThirdPartyError):
            await client.refresh(tokens)
        asked = await browser.call(
            "POST", "/oauth/consent/inspect", json={"query": query_of(client.authorisation("meterdata:day"))}
        )
        assert asked.status_code == 400 and "nicht registriert" in asked.json()["detail"]
        [grant] = (await browser.call("GET", "/account/grants")).json()
        assert (grant["status"], grant["end_reason"]) == ("ended", "third-party-disabled")
        with pytest.raises(LookupError):
            await disable_third_party(settings, OTHER_TENANT, party.client_id)  # not registered there
