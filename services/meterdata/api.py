"""Meter data's HTTP API: a partner's values, authorised by identity's access token (tenant, partner,
role); anything else is 403. Periods are Europe/Berlin days: ``from`` inclusive, ``to`` exclusive."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextlib import ExitStack
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

import orjson
from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, OAuth2AuthorizationCodeBearer
from pydantic import BaseModel, Field, field_serializer
from starlette.background import BackgroundTask

from contracts.consent import GRANT_SCOPE_LABELS, GRANT_SCOPES
from contracts.grid_fees import FeeLevel
from kit import auth
from kit.audit import Actor
from kit.cpu import NoSlot, ProcessPool, Slots
from kit.db import Database
from kit.errors import error_responses
from kit.http import INT64_MAX, tenant_from_host
from kit.links import response_links
from kit.staff import acting
from kit.tenants import Tenant, TenantDirectory
from kit.uow import UnitsOfWork
from services.meterdata import (
    alerts,
    current_values,
    domain,
    edifact_answers,
    exports,
    handlers,
    token_api,
    token_domain,
)
from services.meterdata.alerts_api import add_alert_routes
from services.meterdata.domain import AnswerSent, MessageRefused, ReceivedInterchange, RegisterValue
from services.meterdata.grid_fees import GridFeeSplit
from services.meterdata.handlers import PartnerReadings, Readings
from services.meterdata.settings import MeterdataSettings
from services.meterdata.token_api import PersonalTokens

MAX_DAYS = 3 * 366 + 1
MAX_PAGE = 40_000  # a leap year of hours fits one page (at 15 minutes, a page counts days)
_BEARER = HTTPBearer(
    auto_error=False, scheme_name="AccessToken", description="Access token from identity: POST /session/token"
)
# A third party with a customer's grant (README "Daten für Dritte"): OAuth 2.0 authorisation code with PKCE at the
# operator's portal. Documented as a scheme of the read routes; its token is read as any Bearer (read_claims).
_THIRD_PARTY = OAuth2AuthorizationCodeBearer(
    authorizationUrl="/freigabe",
    tokenUrl="/api/identity/oauth/token",
    refreshUrl="/api/identity/oauth/token",
    scopes=GRANT_SCOPE_LABELS,
    scheme_name="ThirdPartyGrant",
    description="A third party's access token for a customer's grant (identity's token endpoint; PKCE S256 "
    "required; URLs relative to the operator's portal, e.g. https://000328.plusportal.de). Reads only what the "
    "grant names: its scope's resolutions of `/intervals` (and `/registers` unless `meterdata:month`), from its first "
    "day; every other route answers 403.",
    auto_error=False,
)
READ_ONLY_TOKEN = (
    "Mit einem persönlichen Zugangsschlüssel lassen sich nur Messwerte lesen. Bitte melden Sie sich im Portal an."
)
SIGNED_OUT = "Ihre Anmeldung ist beendet. Bitte melden Sie sich erneut an."
NOT_WITH_A_GRANT = "Eine Freigabe für Dritte erlaubt diese Abfrage nicht."
EXPORT_RUNNING = "Es läuft bereits ein Export. Bitte warten Sie, bis er fertig ist."
EXPORTS_BUSY = "Gerade laufen viele Exporte. Bitte versuchen Sie es in wenigen Sekunden erneut."
EXPORT_RETRY_AFTER = 5  # seconds; a three-year XLSX export takes a few
LONG_QUERY_RUNNING = "Es läuft bereits eine große Abfrage. Bitte warten Sie, bis sie fertig ist."
LONG_QUERIES_BUSY = "Gerade laufen viele große Abfragen. Bitte versuchen Sie es in wenigen Sekunden erneut."
NO_TIME_VARIABLE_FEE = (
    "Für diese Geschäftspartner-Nr. ist kein zeitvariables Netzentgelt (Modul 3 nach § 14a EnWG) vereinbart."
)
EXPORT_CHUNK = 64 * 1024
# The version of the answers' shape (JSON: `schema_version`; exports: the SCHEMA_HEADER header). Within a version
# fields may be added, never renamed, removed or given another meaning or type, and CSV columns keep their names
# and order; a change that breaks that is a new version, answered beside the old one for a year at least.
SCHEMA_VERSION = "1"
SCHEMA_HEADER = "Schema-Version"
_SCHEMA_FIELD = "The version of this answer's shape: fields are only ever added within a version"
VALUE_REQUEST_NOT_FOUND = "Diese Anfrage nach aktuellen Werten gibt es hier nicht."
SSE_POLL_S = 1.0  # how often an event stream reads its request again
SSE_KEEP_ALIVE_S = 15.0  # a comment at least this often: proxies (nginx: 60 s) keep the stream open
STREAMS_PER_SESSION = 3
STREAMS_OPEN = "Es sind schon mehrere Fenster mit aktuellen Werten offen. Bitte schließen Sie eines davon."
# Every route's answers besides success: no or an ended token (401), a token of another operator or partner
# (403), an unknown portal (404), invalid parameters or period (422), a personal token over its rate (429).
_ERRORS = error_responses(401, 403, 404, 422, 429)
_EXPORT: dict[int | str, dict[str, Any]] = {
    200: {
        "headers": {SCHEMA_HEADER: {"description": _SCHEMA_FIELD, "schema": {"type": "string", "example": "1"}}},
        "content": {
            "text/csv": {
                "schema": {"type": "string"},
                "example": "start,end,kwh,quality,present,expected\r\n"
                "2026-06-01T22:00:00+00:00,2026-06-01T22:15:00+00:00,0.1,220,1,1\r\n"
                "2026-06-01T22:15:00+00:00,2026-06-01T22:30:00+00:00,0.125,67,1,1\r\n",
            },
            exports.MEDIA_TYPES["xlsx"]: {"schema": {"type": "string"}},
        },
    }
}


_INTERVALS_EXAMPLE = {
    "schema_version": SCHEMA_VERSION,
    "partner_number": "3236513735",
    "role": "consumption",
    "obis": "1-1:1.29.0",
    "unit": "kWh",
    "resolution": "day",
    "from": "2026-06-01",
    "to": "2026-06-03",
    "count": 2,
    "page": 1,
    "page_size": 40000,
    "next": None,
    "previous": None,
    "results": [
        {"start": "2026-05-31T22:00:00+00:00", "end": "2026-06-01T22:00:00+00:00", "kwh": 9.6, "present": 96,
         "expected": 96, "substitutes": 0},
        {"start": "2026-06-01T22:00:00+00:00", "end": "2026-06-02T22:00:00+00:00", "kwh": 9.412, "present": 95,
         "expected": 96, "substitutes": 1},
    ],
}  # fmt: skip
_INTERVALS: dict[int | str, dict[str, Any]] = {200: {"content": {"application/json": {"example": _INTERVALS_EXAMPLE}}}}


# A period's query parameters, as every route of a partner's values takes them.
FirstDay = Annotated[date, Query(alias="from", description="First day (Europe/Berlin), inclusive")]
EndDay = Annotated[date, Query(alias="to", description="Day after the last one, exclusive")]


def _period(first: date, end: date) -> tuple[date, date]:
    if end <= first:
        raise HTTPException(422, "»to« muss nach »from« liegen (from inklusive, to exklusive).")
    if end - first > timedelta(days=MAX_DAYS):
        raise HTTPException(422, "Höchstens drei Jahre auf einmal.")
    return first, end


def session_claims(
    db: Database, tenants: TenantDirectory, *, grants: bool = False
) -> Callable[[Tenant, HTTPAuthorizationCredentials | None], Awaitable[auth.AccessClaims]]:
    """The dependency of routes for a signed-in customer: identity's access token (a personal token: 403; a third
    party's, for a grant: 403 unless ``grants`` — the reads then check the grant, ``within_grant``)."""
    TenantDep = Annotated[Tenant, Depends(tenant_from_host(tenants))]

    async def claims_of(
        tenant: TenantDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]
    ) -> auth.AccessClaims:
        if credentials is None:
            raise HTTPException(401, "Bitte melden Sie sich an.", headers={"WWW-Authenticate": "Bearer"})
        if token_domain.is_personal_token(credentials.credentials):
            raise HTTPException(403, READ_ONLY_TOKEN)
        try:
            claims = await auth.verify(db.transaction, credentials.credentials, tenant.portal_number)
        except auth.InvalidToken as refusal:
            if str(refusal) == "session ended":  # signed out, password changed, login deleted, grant revoked
                raise HTTPException(401, SIGNED_OUT, headers={"WWW-Authenticate": "Bearer"}) from None
            raise HTTPException(403, "Kein Zugriff auf diese Daten.") from None
        if claims.grant is not None and not grants:
            raise HTTPException(403, NOT_WITH_A_GRANT)
        return claims

    return claims_of


def read_claims(
    claims_of: Callable[[Tenant, HTTPAuthorizationCredentials | None], Awaitable[auth.AccessClaims]],
    tenants: TenantDirectory,
    personal: PersonalTokens | None,
) -> Callable[..., Awaitable[auth.AccessClaims]]:
    """The dependency of routes that only read: identity's access token, or a personal token (``ppt_…``)."""
    TenantDep = Annotated[Tenant, Depends(tenant_from_host(tenants))]

    async def claims(
        tenant: TenantDep,
        session: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
        _: Annotated[HTTPAuthorizationCredentials | None, Depends(token_api.PERSONAL_BEARER)],
        __: Annotated[str | None, Depends(_THIRD_PARTY)],
    ) -> auth.AccessClaims:
        if personal is not None and session is not None and token_domain.is_personal_token(session.credentials):
            return await personal.claims(session.credentials, tenant.portal_number)
        return await claims_of(tenant, session)

    return claims


def build_api(
    units: UnitsOfWork[Readings],
    readings: PartnerReadings,
    tenants: TenantDirectory,
    export_pool: ProcessPool,
    query_pool: ProcessPool,
    settings: MeterdataSettings,
    personal: PersonalTokens | None = None,
) -> APIRouter:
    """``units`` for the requests in a transaction; ``readings`` for the one-statement queries;
    ``export_pool`` builds the export files, at most ``settings.exports_per_session`` at once per login and
    ``exports_per_tenant`` per tenant; ``query_pool`` the answers too long to build on the loop (hours and 15
    minutes over more than ``settings.hours_on_loop_days`` / ``quarter_hours_on_loop_days``), with limits of
    their own."""
    router = APIRouter(tags=["readings"], responses=_ERRORS)
    database_url = units.db.url  # the pools' workers read the long periods themselves
    on_loop_days = {
        domain.Resolution.HOUR: settings.hours_on_loop_days,
        domain.Resolution.QUARTER_HOUR: settings.quarter_hours_on_loop_days,
    }
    per_session, per_tenant = Slots(settings.exports_per_session), Slots(settings.exports_per_tenant)
    long_per_session = Slots(settings.long_queries_per_session)
    long_per_tenant = Slots(settings.long_queries_per_tenant)
    streams_per_session = Slots(STREAMS_PER_SESSION)
    TenantDep = Annotated[Tenant, Depends(tenant_from_host(tenants))]
    claims_of = session_claims(units.db, tenants)
    # A signed-in customer (identity's token only): for routes that change something.
    Claims = Annotated[auth.AccessClaims, Depends(claims_of)]
    # Routes that change nothing also take a personal token (token_api: read-only, one partner number) and a third
    # party's token (a grant: only what within_grant lets it read; the others refuse it through ``authorised``).
    with_grants = session_claims(units.db, tenants, grants=True)
    ReadClaims = Annotated[auth.AccessClaims, Depends(read_claims(with_grants, tenants, personal))]
    if personal is not None:
        router.include_router(personal.router(claims_of))

    def authorised(claims: auth.AccessClaims, partner_number: str) -> None:
        """The customer's own token for this partner number. A third party's token (a grant) is refused here: it
        reads only what ``within_grant`` lets it."""
        # The token names exactly one partner number; any other one is refused, whatever it is.
        if partner_number != claims.partner_number:
            raise HTTPException(403, "Kein Zugriff auf diese Geschäftspartner-Nr.")
        if claims.grant is not None:
            raise HTTPException(403, NOT_WITH_A_GRANT)

    async def within_grant(
        claims: auth.AccessClaims, partner_number: str, what: str, resolution: str, first: date, end: date
    ) -> None:
        """The customer's token, or a third party's whose grant covers this resolution and period; a third
        party's read is logged for the customer (``GET /partners/{partner_number}/grant-accesses``)."""
        if partner_number != claims.partner_number:
            raise HTTPException(403, "Kein Zugriff auf diese Geschäftspartner-Nr.")
        grant = claims.grant
        if grant is None:
            return
        if resolution not in GRANT_SCOPES[grant.scope]:
            raise HTTPException(403, f"Diese Freigabe umfasst keine Werte der Auflösung „{resolution}“.")
        if first < grant.data_from:
            raise HTTPException(403, f"Diese Freigabe umfasst Daten erst ab dem {grant.data_from:%d.%m.%Y}.")
        access = domain.GrantAccess(
            tenant=claims.tenant,
            grant_id=grant.id,
            client_id=grant.client_id,
            partner_number=partner_number,
            at=units.clock(),
            what=what,
            resolution=resolution,
            first=first,
            end=end,
        )
        async with units() as uow:
            await handlers.log_grant_access(access, uow)

    @router.get(
        "/partners/{partner_number}/intervals",
        summary="Energy per period (15 min … year) with quality",
        description=(
            "`15min`: one entry per Europe/Berlin day, `{day, start (UTC), interval_minutes: 15, kwh: [..], "
            "quality}` with 92/96/100 values (kWh, 3 decimals, null where none) and their MSCONS qualities (Z30 "
            "where none): `quality` is one code (a string) when all values of the day share it — most days: "
            '`"220"` — else a list with one code per value; paging counts days. `hour` … `year`: one object per '
            "period with `start`, `end`, `kwh`, `present`, `expected` and `substitutes`. 15 minutes and hours "
            "over a long period are built off the serving loop: too many such queries of one login or tenant at "
            "once get 429."
        ),
        responses={**_INTERVALS, **error_responses(429)},
    )
    async def intervals(
        partner_number: str,
        claims: ReadClaims,
        tenant: TenantDep,
        first: FirstDay,
        end: EndDay,
        resolution: domain.Resolution = domain.Resolution.DAY,
        page: Annotated[int, Query(ge=1, le=INT64_MAX - 1)] = 1,  # `next` is written too
        page_size: Annotated[int, Query(ge=1, le=MAX_PAGE)] = MAX_PAGE,
    ) -> Response:
        first, end = _period(first, end)
        await within_grant(claims, partner_number, "intervals", resolution, first, end)
        # One statement (the partner's relations to meters inside), no BEGIN/COMMIT; the token's key is cached.
        period = handlers.PartnerPeriod(tenant.portal_number, claims.partner_number, claims.role, first, end)
        results: list[dict[str, Any]] | orjson.Fragment
        if end - first > timedelta(days=on_loop_days.get(resolution, MAX_DAYS)):
            with ExitStack() as held:  # a value or a Bucket per quarter hour or hour: too much CPU for the loop
                _take(held, long_per_session, (tenant.portal_number, claims.account_id), LONG_QUERY_RUNNING)
                _take(held, long_per_tenant, tenant.portal_number, LONG_QUERIES_BUSY)
                query = handlers.ShowIntervals(period, resolution)
                count, page_json = await query_pool.run(exports.results_page, database_url, query, page, page_size)
            results = orjson.Fragment(page_json)
        elif resolution == domain.Resolution.QUARTER_HOUR:  # compact: one entry per day, most of them as stored
            days = await handlers.quarter_hour_days(period, readings)
            entries = domain.encoded_quarter_hour_entries(days.days, days.ranges)
            count = len(entries)
            results = orjson.Fragment(exports.json_list(entries[(page - 1) * page_size : page * page_size]))
        else:
            series = await handlers.read_intervals(handlers.ShowIntervals(period, resolution), readings)
            rows = exports.interval_rows(series.buckets, resolution)
            count, results = len(rows), rows[(page - 1) * page_size : page * page_size]
        body = {
            "schema_version": SCHEMA_VERSION,
            "partner_number": period.partner_number,
            "role": period.role,
            "obis": domain.interval_channel(period.role),
            "unit": "kWh",
            "resolution": resolution,
            "from": first,
            "to": end,
            "count": count,
            "page": page,
            "page_size": page_size,
            "next": page + 1 if page * page_size < count else None,
            "previous": page - 1 if page > 1 else None,
            "results": results,
        }
        return Response(orjson.dumps(body), media_type="application/json")

    @router.get(
        "/partners/{partner_number}/grant-accesses",
        summary="What third parties read with this partner's grants (newest first, at most 200)",
        description="For the customer (not for a third party's token): each read with the grant, the third party "
        "(`client_id`), when, what (`intervals` | `registers`), the resolution and the period [`first`, `end`).",
    )
    async def grant_accesses(partner_number: str, claims: Claims, tenant: TenantDep) -> list[dict[str, Any]]:
        authorised(claims, partner_number)
        async with units.read() as uow:
            found = await handlers.grant_accesses(handlers.ShowGrantAccesses(tenant.portal_number, partner_number), uow)
        return [
            {
                "grant_id": a.grant_id,
                "client_id": a.client_id,
                "at": a.at.isoformat(),
                "what": a.what,
                "resolution": a.resolution,
                "first": a.first.isoformat(),
                "end": a.end.isoformat(),
            }
            for a in found
        ]

    @router.get("/partners/{partner_number}/registers", summary="Register readings (Zählerstände): daily and latest")
    async def registers(
        partner_number: str,
        claims: ReadClaims,
        tenant: TenantDep,
        first: FirstDay,
        end: EndDay,
    ) -> dict[str, Any]:
        first, end = _period(first, end)
        await within_grant(claims, partner_number, "registers", domain.Resolution.DAY, first, end)
        period = handlers.PartnerPeriod(tenant.portal_number, claims.partner_number, claims.role, first, end)
        async with units.read() as uow:
            found = await handlers.registers(period, uow)

        def view(row: RegisterValue) -> dict[str, Any]:
            return {
                "meter_number": row.meter_number,
                "obis": row.obis,
                "read_at": row.read_at.isoformat(),
                "kwh": row.value_wh / 1000,
                "quality": domain.QUALITY_OF_CODE[row.quality].value,
                "runs_backwards": row.runs_backwards,
            }

        return {
            "schema_version": SCHEMA_VERSION,
            "partner_number": partner_number,
            "unit": "kWh",
            "daily": [view(r) for r in found.daily],
            "latest": [view(r) for r in found.latest],
        }

    @router.get(
        "/partners/{partner_number}/billing-periods",
        summary="Energy per billing period for the last three years, and how far back values reach",
        description=(
            "The partner's billing periods (Abrechnungszeiträume) as master data gives them — calendar years when "
            "it gives none — that have a day kept (`kept_since`: 1 January of the third year before this one) and "
            "measured (up to yesterday), oldest first. Each entry: the period (`first_day`, `last_day`, inclusive), "
            "the days counted (`start`, `end`: cut by the first day kept, the partner's own days (validity) and "
            "today), `kwh`, `present`/`expected` and `substitutes`, as `/intervals` gives them. `kept_since` is "
            "also how far back every resolution of `/intervals` reaches, 15 minutes included (always more than the "
            "24 months of 15-minute values §61 MsbG asks to show); `first_day_with_data` is the partner's first day "
            "with a value (null: none yet)."
        ),
    )
    async def billing_periods(
        partner_number: str,
        claims: ReadClaims,
        tenant: TenantDep,
        page: Annotated[int, Query(ge=1, le=INT64_MAX - 1)] = 1,
        page_size: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    ) -> BillingPeriodsView:
        authorised(claims, partner_number)
        query = handlers.ShowBillingPeriods(tenant.portal_number, claims.partner_number, claims.role)
        async with units.read() as uow:
            found = await handlers.billing_periods(query, uow)
        rows = [BillingPeriodTotal.of(total) for total in found.totals]
        return BillingPeriodsView(
            partner_number=found.partner_number,
            role=found.role,
            obis=found.obis,
            periods_from="master_data" if found.from_master_data else "calendar_years",
            kept_since=found.kept_since,
            first_day_with_data=found.first_day_with_data,
            count=len(rows),
            page=page,
            page_size=page_size,
            next=page + 1 if page * page_size < len(rows) else None,
            previous=page - 1 if page > 1 else None,
            results=rows[(page - 1) * page_size : page * page_size],
        )

    @router.get(
        "/partners/{partner_number}/grid-fees",
        summary="Consumption and grid fee per price level of the time-variable grid fee (§14a EnWG, Modul 3)",
        description=(
            "For a consumption partner who chose Modul 3: the quarter hours of [`from`, `to`) (at most 93 days, the "
            "partner's own days) split by the operator's price sheet — per quarter and level (HT, ST, NT) the local "
            "windows, the price (ct/kWh, net), the energy and the fee (€, rounded per line) — the fee of the same "
            "energy at the standard price (ST), and the move into NT that saves most per kWh. 404 where the partner "
            "did not choose Modul 3 or the operator publishes no time-variable grid fee."
        ),
        responses=error_responses(404),
    )
    async def grid_fees(
        partner_number: str,
        claims: ReadClaims,
        tenant: TenantDep,
        first: FirstDay,
        end: EndDay,
    ) -> GridFeesView:
        authorised(claims, partner_number)
        first, end = _period(first, end)
        if end - first > timedelta(days=handlers.MAX_GRID_FEE_DAYS):
            raise HTTPException(422, f"Höchstens {handlers.MAX_GRID_FEE_DAYS} Tage auf einmal.")
        period = handlers.PartnerPeriod(tenant.portal_number, claims.partner_number, claims.role, first, end)
        async with units.read() as uow:
            try:
                found = await handlers.grid_fee_split(handlers.ShowGridFees(period, tenant.grid_fee_sheet()), uow)
            except handlers.NoTimeVariableFee:
                raise HTTPException(404, NO_TIME_VARIABLE_FEE) from None
        return GridFeesView.of(partner_number, first, end, found)

    @router.get(
        "/partners/{partner_number}/export",
        summary="Export a period as CSV (optionally German) or XLSX",
        response_class=Response,
        responses={**_EXPORT, **error_responses(429)},
    )
    async def export(
        partner_number: str,
        claims: ReadClaims,
        tenant: TenantDep,
        first: FirstDay,
        end: EndDay,
        resolution: domain.Resolution = domain.Resolution.QUARTER_HOUR,
        format: Annotated[str, Query(pattern="^(csv|csv-de|xlsx)$")] = "csv",
    ) -> Response:
        authorised(claims, partner_number)
        first, end = _period(first, end)
        period = handlers.PartnerPeriod(tenant.portal_number, claims.partner_number, claims.role, first, end)
        with ExitStack() as held:
            _take(held, per_session, (tenant.portal_number, claims.account_id), EXPORT_RUNNING)
            _take(held, per_tenant, tenant.portal_number, EXPORTS_BUSY)
            query = handlers.ShowIntervals(period, resolution)
            body = await export_pool.run(exports.export_file, database_url, query, format)
        name = f"plusportal-{partner_number}-{first}-{end}-{resolution.value}.{exports.EXTENSIONS[format]}"
        return StreamingResponse(
            _chunks(body),
            media_type=exports.MEDIA_TYPES[format],
            headers={
                "Content-Disposition": f'attachment; filename="{name}"',
                "Content-Length": str(len(body)),
                SCHEMA_HEADER: SCHEMA_VERSION,
            },
        )

    # --- current values on request ([10 of 11] §1) ------------------------------------------------------------

    @router.post(
        "/partners/{partner_number}/current-values",
        status_code=202,
        summary="Ask the SMGW administrator for the meter's current values (§61(2) MsbG)",
        description=(
            "Asks for the values of the partner's meter since the last delivery; they arrive as readings and are "
            "then served by `/intervals` and `/registers`. Follow the request with GET `…/current-values/{id}` or "
            f"its event stream. One open request per meter (409), at most {current_values.PER_PARTNER_PER_DAY} per "
            f"partner number and day (429); a request not answered within "
            f"{int(current_values.TIMEOUT.total_seconds() // 60)} minutes is `timed_out`. 404: no meter today."
        ),
        responses=error_responses(404, 409, 429),
    )
    async def request_current_values(partner_number: str, claims: Claims, tenant: TenantDep) -> ValueRequestView:
        authorised(claims, partner_number)
        command = handlers.RequestCurrentValues(tenant.portal_number, claims.partner_number, claims.role)
        try:
            async with units() as uow:
                shown = await handlers.request_current_values(command, uow)
        except handlers.NoMeterToday:
            raise HTTPException(404, current_values.NO_METER) from None
        except current_values.Refused as refusal:
            headers = None
            if refusal.status == 429:
                wait = current_values.next_reset(units.clock()) - units.clock()
                headers = {"Retry-After": str(max(1, int(wait.total_seconds())))}
            raise HTTPException(refusal.status, str(refusal), headers=headers) from None
        return ValueRequestView.of(shown)

    async def shown_request(tenant: Tenant, claims: auth.AccessClaims, request_id: UUID) -> handlers.ValueRequestShown:
        query = handlers.ShowValueRequest(tenant.portal_number, claims.partner_number, request_id)
        async with units.read() as uow:
            shown = await handlers.value_request(query, uow)
        if shown is None:
            raise HTTPException(404, VALUE_REQUEST_NOT_FOUND)
        return shown

    @router.get(
        "/partners/{partner_number}/current-values/{request_id}",
        summary="The state of a request for current values (open, answered, timed_out)",
        responses=error_responses(404),
    )
    async def current_values_request(
        partner_number: str, request_id: UUID, claims: Claims, tenant: TenantDep
    ) -> ValueRequestView:
        authorised(claims, partner_number)
        return ValueRequestView.of(await shown_request(tenant, claims, request_id))

    @router.get(
        "/partners/{partner_number}/current-values/{request_id}/events",
        summary="The request's state as server-sent events, until it is answered or timed out",
        description=(
            "`text/event-stream`: an event `state` with the request (as the GET gives it) now and whenever it "
            "changes, comments as keep-alive; the stream ends once the request is `answered` or `timed_out`. "
            "Authorised like every route here (Bearer: the portal reads the stream with fetch, not EventSource, "
            "so no token goes into a URL). Not buffered by the gateway (X-Accel-Buffering: no)."
        ),
        response_class=StreamingResponse,
        responses={
            200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}},
            **error_responses(404, 429),
        },
    )
    async def current_values_events(
        partner_number: str, request_id: UUID, claims: Claims, tenant: TenantDep
    ) -> StreamingResponse:
        authorised(claims, partner_number)
        first = await shown_request(tenant, claims, request_id)
        held = ExitStack()  # each stream reads the database every second: a few per login at once
        _take(held, streams_per_session, (tenant.portal_number, claims.account_id), STREAMS_OPEN)

        async def events() -> AsyncIterator[bytes]:
            shown: handlers.ValueRequestShown | None = first
            sent, quiet = b"", 0.0
            try:
                # Any process may store the answer: the row is read again each poll (not an in-process signal).
                while shown is not None:
                    data = ValueRequestView.of(shown).model_dump_json().encode()
                    if data != sent:
                        yield b"event: state\ndata: " + data + b"\n\n"
                        sent, quiet = data, 0.0
                    elif quiet >= SSE_KEEP_ALIVE_S:
                        yield b": still waiting\n\n"
                        quiet = 0.0
                    if shown.state is not current_values.RequestState.OPEN:
                        return
                    await asyncio.sleep(SSE_POLL_S)
                    quiet += SSE_POLL_S
                    query = handlers.ShowValueRequest(tenant.portal_number, claims.partner_number, request_id)
                    async with units.read() as uow:
                        shown = await handlers.value_request(query, uow)
            finally:
                held.close()

        return StreamingResponse(
            events(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
            background=BackgroundTask(held.close),  # also when the stream never started (closing twice is fine)
        )

    add_alert_routes(router, units, claims_of, tenants, authorised)  # [10 of 11] §2
    return router


class ValueRequestView(BaseModel):
    """A request for the meter's current values and how far it got."""

    id: UUID
    partner_number: str
    meter_number: str
    state: current_values.RequestState = Field(description="open, answered or timed_out")
    since: datetime = Field(description="The values asked for start here: the last reading held when asked")
    requested_at: datetime
    answered_at: datetime | None = Field(description="When readings of the meter arrived after the request")
    deadline: datetime = Field(description="An open request times out at this instant")
    message: str | None = Field(description="What the customer reads when it is over without values (German)")

    @classmethod
    def of(cls, shown: "handlers.ValueRequestShown") -> "ValueRequestView":
        r = shown.request
        return cls(
            id=r.id,
            partner_number=r.partner_number,
            meter_number=r.meter_number,
            state=shown.state,
            since=r.since,
            requested_at=r.requested_at,
            answered_at=r.answered_at,
            deadline=r.deadline,
            message=shown.message,
        )


class BillingPeriodTotal(BaseModel):
    first_day: date = Field(description="The billing period's first day (inclusive)")
    last_day: date = Field(description="The billing period's last day (inclusive)")
    start: datetime = Field(description="Start of the first day counted (UTC)")
    end: datetime = Field(description="End of the last day counted (UTC)")
    kwh: float | None = Field(description="Energy of the days counted (kWh, 3 decimals); null: no value")
    present: int = Field(description="Quarter-hour values present")
    expected: int = Field(description="Quarter-hour values expected on the days counted (92/96/100 per day)")
    substitutes: int = Field(description="Substitute values (Ersatzwerte) among them")

    @field_serializer("start", "end")
    def _as_intervals_give_them(self, moment: datetime) -> str:
        return moment.isoformat()  # "…+00:00", as /intervals writes its instants

    @classmethod
    def of(cls, total: domain.BillingTotal) -> "BillingPeriodTotal":
        b = total.bucket
        return cls(
            first_day=total.period.first_day,
            last_day=total.period.last_day,
            start=b.start,
            end=b.end,
            kwh=domain.kwh_of(b.wh, b.present),
            present=b.present,
            expected=b.expected,
            substitutes=b.substitutes,
        )


class BillingPeriodsView(BaseModel):
    schema_version: str = Field(default=SCHEMA_VERSION, description=_SCHEMA_FIELD)
    partner_number: str
    role: str
    obis: str
    unit: str = "kWh"
    periods_from: Literal["master_data", "calendar_years"] = Field(
        description="Whose periods: master data's, or calendar years (master data names none)"
    )
    kept_since: date = Field(description="First day kept and shown, at every resolution (15 minutes included)")
    first_day_with_data: date | None = Field(description="The partner's first day with a value; null: none yet")
    count: int
    page: int
    page_size: int
    next: int | None
    previous: int | None
    results: list[BillingPeriodTotal]


class FeeLineView(BaseModel):
    quarter: str = Field(description="The price sheet's quarter, e.g. 2026-Q1")
    level: FeeLevel = Field(description="HT (Hochlasttarif), ST (Standardtarif) or NT (Niedriglasttarif)")
    windows: list[str] = Field(description="Local times of the level on every day of the quarter; ST: all others")
    ct_per_kwh: Decimal = Field(description="Working price, ct/kWh net")
    kwh: float = Field(description="Energy in the level's quarter hours (kWh, 3 decimals)")
    eur: Decimal = Field(description="Grid fee of that energy (€, net, rounded to the cent)")


class ShiftView(BaseModel):
    quarter: str
    source: FeeLevel
    source_windows: list[str]
    target: FeeLevel
    target_windows: list[str]
    saving_ct_per_kwh: Decimal = Field(description="What one kWh moved from source to target saves")
    kwh_in_source: float = Field(description="The partner's energy in the source's windows in the period")
    saving_eur_if_all_moved: Decimal


class GridFeesView(BaseModel):
    schema_version: str = Field(default=SCHEMA_VERSION, description=_SCHEMA_FIELD)
    partner_number: str
    start: date = Field(alias="from")
    end: date = Field(alias="to")
    lines: list[FeeLineView]
    modul3_eur: Decimal = Field(description="Grid fee of the period's energy with Modul 3 (sum of the lines)")
    standard_eur: Decimal = Field(description="The same energy at the standard working price (ST)")
    saving_eur: Decimal = Field(description="standard_eur − modul3_eur (negative: Modul 3 cost more)")
    present: int = Field(description="Quarter-hour values counted")
    expected: int = Field(description="Quarter hours of the partner's days in the period")
    quarters_without_prices: list[str] = Field(description="Quarters of the period the price sheet does not give")
    best_shift: ShiftView | None = Field(description="The move into NT that saves most per kWh; null: no NT window")

    model_config = {"populate_by_name": True, "serialize_by_alias": True}

    @classmethod
    def of(cls, partner_number: str, first: date, end: date, found: GridFeeSplit) -> "GridFeesView":
        shift = found.best_shift
        lines = [
            FeeLineView(
                quarter=line.quarter,
                level=line.level,
                windows=list(line.windows),
                ct_per_kwh=line.ct_per_kwh,
                kwh=line.wh / 1000,
                eur=line.eur,
            )
            for line in found.lines
        ]
        best = None
        if shift is not None:
            best = ShiftView(
                quarter=shift.quarter,
                source=shift.source,
                source_windows=list(shift.source_windows),
                target=shift.target,
                target_windows=list(shift.target_windows),
                saving_ct_per_kwh=shift.saving_ct_per_kwh,
                kwh_in_source=shift.wh_in_source / 1000,
                saving_eur_if_all_moved=shift.saving_eur_if_all_moved,
            )
        return cls.model_validate(
            {
                "partner_number": partner_number,
                "from": first,
                "to": end,
                "lines": lines,
                "modul3_eur": found.modul3_eur,
                "standard_eur": found.standard_eur,
                "saving_eur": found.saving_eur,
                "present": found.present,
                "expected": found.expected,
                "quarters_without_prices": list(found.quarters_without_prices),
                "best_shift": best,
            }
        )


def _take(held: ExitStack, slots: Slots, key: Hashable, refusal: str) -> None:
    try:
        held.enter_context(slots.hold(key))
    except NoSlot:
        raise HTTPException(429, refusal, headers={"Retry-After": str(EXPORT_RETRY_AFTER)}) from None


async def _chunks(body: bytes) -> AsyncIterator[bytes]:
    # An async iterator: Starlette would hop to a worker thread for each chunk of a plain one.
    view = memoryview(body)
    for start in range(0, len(view), EXPORT_CHUNK):
        yield bytes(view[start : start + EXPORT_CHUNK])


# --- back-office: received MSCONS interchanges ----------------------------------------------------------------


class RefusedMessageView(BaseModel):
    message: str = Field(description="The refused message's reference (UNH 0062)")
    document: str = Field(description="Its document number (BGM 1004)")
    code: str = Field(description="Why, as the reader names it (e.g. location_unknown)")
    aperak_code: str = Field(description="The error code the APERAK gave (ERC, EDI@Energy), e.g. Z14")
    reason: str = Field(description="What the APERAK said, in German")
    segment: str = Field(description="The segment at fault and its index in the file, e.g. LOC 12")


class AnswerView(BaseModel):
    kind: str = Field(description="CONTRL or APERAK")
    reference: str = Field(description="The answer's interchange control reference (UNB 0020)")
    accepted: bool = Field(description="CONTRL: acknowledged (UCI 7) or rejected (4); APERAK: false")
    messages: list[str] = Field(description="APERAK: the refused messages (<interchange>/<message reference>)")
    at: datetime

    @classmethod
    def of(cls, answer: AnswerSent) -> "AnswerView":
        return cls(
            kind=answer.kind,
            reference=answer.reference,
            accepted=answer.accepted,
            messages=list(answer.messages),
            at=answer.at,
        )


class InterchangeView(BaseModel):
    """A received MSCONS file: ids and counts only, no readings and no location ids."""

    id: str
    sender: str = Field(description="The sender's market partner id (UNB)")
    receiver: str = Field(description="The receiver named in UNB (this operator's market partner id)")
    reference: str = Field(description="The interchange control reference (UNB 0020)")
    pruefidentifikatoren: list[str] = Field(description="Prüfidentifikatoren of its messages (RFF+Z13)")
    received_at: datetime
    processed_at: datetime | None
    status: str = Field(description="accepted, partly_refused, refused (every message) or rejected (syntax, CONTRL)")
    messages_accepted: int
    messages_refused: int
    refused: list[RefusedMessageView]
    syntax_error: str | None = Field(description="Rejected: the syntax error code (0085) and where")
    syntax_reason: str | None = Field(description="Rejected: what the syntax error code means, in German")
    answers: list[AnswerView]
    reprocessed: int = Field(description="How often it was processed again from the back-office")
    reprocessable: bool = Field(description="Whether processing it again can change anything (POST …/reprocess)")

    @classmethod
    def of(cls, received: ReceivedInterchange) -> "InterchangeView":
        def refused(r: MessageRefused) -> RefusedMessageView:
            code, text = edifact_answers.aperak_code(r.code)
            segment = f"{r.tag} {r.index}" if r.index else r.tag
            return RefusedMessageView(
                message=r.message, document=r.document, code=r.code, aperak_code=code, reason=text, segment=segment
            )

        syntax = received.syntax_code
        return cls(
            id=received.id,
            sender=received.sender,
            receiver=received.receiver,
            reference=received.reference,
            pruefidentifikatoren=list(received.pruefidentifikatoren),
            received_at=received.received_at,
            processed_at=received.processed_at,
            status=received.status,
            messages_accepted=len(received.accepted),
            messages_refused=len(received.refused),
            refused=[refused(r) for r in received.refused],
            syntax_error=received.syntax_error,
            syntax_reason=syntax and edifact_answers.syntax_error_text(syntax),
            answers=[AnswerView.of(answer) for answer in received.answers],
            reprocessed=received.reprocessed,
            reprocessable=received.not_reprocessable is None,
        )


class ReprocessedView(BaseModel):
    interchange: InterchangeView
    stored_days: int = Field(description="Days of 15-minute values stored by this processing")
    stored_registers: int = Field(description="Register readings stored by this processing")
    answers: list[AnswerView] = Field(description="The answers this processing wrote (none when nothing new)")
    message: str = Field(description="What happened, in German")


INTERCHANGE_NOT_FOUND = "Diese Übertragungsdatei gibt es hier nicht. Bitte laden Sie die Liste neu."


def build_backoffice_api(
    units: UnitsOfWork[Readings],
    tenants: TenantDirectory,
    staff: Callable[..., Awaitable[Actor]],
    alert_key: bytes = alerts.DEVELOPMENT_KEY,  # signs the off links of alerts a reprocess raises
) -> APIRouter:
    """The operator's received MSCONS interchanges for its clerks and admins (``staff``: kit.staff's dependency)."""
    router = APIRouter(tags=["back-office"])
    Staff = Annotated[Actor, Depends(staff)]
    TenantDep = Annotated[Tenant, Depends(tenant_from_host(tenants))]

    @router.get(
        "/backoffice/interchanges",
        summary="Received MSCONS interchanges, newest first, with what was refused and the answers sent",
        responses={
            **error_responses(401, 403, 404),
            **response_links(
                200,
                "interchange_id",
                source="0/id",
                reprocess="POST /backoffice/interchanges/{interchange_id}/reprocess",
            ),
        },
    )
    async def list_interchanges(actor: Staff) -> list[InterchangeView]:
        async with units.read() as uow:
            found = await handlers.interchanges(handlers.ListInterchanges(actor.tenant), uow)
        return [InterchangeView.of(received) for received in found]

    @router.post(
        "/backoffice/interchanges/{interchange_id}/reprocess",
        summary="Process a received interchange again once the cause of its refusals is fixed",
        description="Messages refused before that pass now are stored; the messages accepted before are not applied "
        "again. Answers (APERAK) go out only for refusals not answered before. 409: rejected for syntax (the sender "
        "must send it again) or nothing refused.",
        responses=error_responses(401, 403, 404, 409, 422),
    )
    async def reprocess(interchange_id: UUID, actor: Staff, tenant: TenantDep) -> ReprocessedView:
        command = handlers.ReprocessInterchange(
            tenant.portal_number, str(interchange_id), tenant.market_partner_id, alert_key
        )
        try:
            async with acting(units, actor, "interchange.reprocessed", "interchange", str(interchange_id)) as uow:
                done = await handlers.reprocess_interchange(command, uow)
        except LookupError:
            raise HTTPException(404, INTERCHANGE_NOT_FOUND) from None
        except handlers.NotReprocessable as refusal:
            raise HTTPException(409, str(refusal)) from None
        assert done.interchange is not None
        left = len(done.interchange.refused)
        return ReprocessedView(
            interchange=InterchangeView.of(done.interchange),
            stored_days=done.days,
            stored_registers=done.registers,
            answers=[AnswerView.of(answer) for answer in done.answers],
            message="Alle Nachrichten sind jetzt übernommen."
            if not left
            else f"{left} Nachricht(en) weiterhin abgelehnt; der Absender hat dazu eine APERAK erhalten.",
        )

    return router
