"""Meter data's HTTP API: a partner's values, authorised by identity's access token (tenant, partner,
role); anything else is 403. Periods are Europe/Berlin days: ``from`` inclusive, ``to`` exclusive."""

from collections.abc import AsyncIterator, Hashable
from contextlib import ExitStack
from datetime import date, timedelta
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from contracts.meterdata import Quality
from kit import auth, energy_day
from kit.cpu import NoSlot, ProcessPool, Slots
from kit.errors import error_responses
from kit.http import INT64_MAX, tenant_from_host
from kit.tenants import Tenant, TenantDirectory
from kit.uow import UnitsOfWork
from services.meterdata import domain, exports, handlers
from services.meterdata.domain import QuarterHourDay, RegisterValue
from services.meterdata.handlers import PartnerReadings, Readings
from services.meterdata.settings import MeterdataSettings

MAX_DAYS = 3 * 366 + 1
MAX_PAGE = 40_000  # a leap year of hours fits one page (at 15 minutes, a page counts days)
_BEARER = HTTPBearer(auto_error=False, description="Access token from identity: POST /session/token")
SIGNED_OUT = "Ihre Anmeldung ist beendet. Bitte melden Sie sich erneut an."
EXPORT_RUNNING = "Es läuft bereits ein Export. Bitte warten Sie, bis er fertig ist."
EXPORTS_BUSY = "Gerade laufen viele Exporte. Bitte versuchen Sie es in wenigen Sekunden erneut."
EXPORT_RETRY_AFTER = 5  # seconds; a three-year XLSX export takes a few
EXPORT_CHUNK = 64 * 1024
# Every route's answers besides success: no or an ended token (401), a token of another operator or partner
# (403), an unknown portal (404), invalid parameters or period (422).
_ERRORS = error_responses(401, 403, 404, 422)
_EXPORT: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            exports.MEDIA_TYPES["xlsx"]: {"schema": {"type": "string"}},
        }
    }
}


def _period(first: date, end: date) -> tuple[date, date]:
    if end <= first:
        raise HTTPException(422, "»to« muss nach »from« liegen (from inklusive, to exklusive).")
    if end - first > timedelta(days=MAX_DAYS):
        raise HTTPException(422, "Höchstens drei Jahre auf einmal.")
    return first, end


def _rows(series: handlers.Series) -> list[dict[str, Any]]:
    fine = series.resolution == domain.Resolution.QUARTER_HOUR
    return [
        {
            "start": b.start,
            "end": b.end,
            "kwh": domain.kwh_of(b.wh, b.present),
            **(
                {"quality": domain.QUALITY_OF_CODE[b.quality].value if b.quality is not None else Quality.MISSING.value}
                if fine
                else {"present": b.present, "expected": b.expected, "substitutes": b.substitutes}
            ),
        }
        for b in series.buckets
    ]


_QUALITY_VALUES = [domain.QUALITY_OF_CODE[code].value for code in range(len(domain.QUALITY_OF_CODE))]
_MISSING = Quality.MISSING.value
_TRUE = Quality.TRUE_VALUE.value


def _quarter_hour_rows(days: list[QuarterHourDay], first: date, end: date) -> list[dict[str, Any]]:
    """One entry per Europe/Berlin day in [first, end): its start (UTC) and its 92/96/100 values (kWh, null
    where none) and qualities (MSCONS codes, Z30 where none) — one code for the whole day when all values
    share it (most days: all true values), else one per value; a day without data is all null and "Z30".
    Hot path (a year is 35,040 values): qualities come as None from the query when all are true values."""
    by_day = {item[0]: item for item in days}
    quality_of = _QUALITY_VALUES
    rows = []
    one = timedelta(days=1)
    day = first
    while day < end:
        item = by_day.get(day)
        if item is None:
            slots = energy_day.quarter_hours_of(day)
            kwh: list[float | None] = [None] * slots
            quality: str | list[str] = _MISSING
        else:
            _, values, codes = item
            if codes is None:  # all true values, so none is empty (an empty value is always Z30): no None check
                kwh = [v / 1000 for v in values]  # type: ignore[operator]
                quality = _TRUE
            else:
                kwh = [None if v is None else v / 1000 for v in values]
                quality = (
                    quality_of[codes[0]] if codes.count(codes[0]) == len(codes) else [quality_of[q] for q in codes]
                )
        rows.append(
            {"day": day, "start": energy_day.day_start(day), "interval_minutes": 15, "kwh": kwh, "quality": quality}
        )
        day += one
    return rows


def build_api(
    units: UnitsOfWork[Readings],
    readings: PartnerReadings,
    tenants: TenantDirectory,
    export_pool: ProcessPool,
    settings: MeterdataSettings,
) -> APIRouter:
    """``units`` for the requests in a transaction; ``readings`` for the one-statement queries;
    ``export_pool`` builds the export files, at most ``settings.exports_per_session`` at once per login and
    ``exports_per_tenant`` per tenant."""
    router = APIRouter(tags=["readings"], responses=_ERRORS)
    per_session, per_tenant = Slots(settings.exports_per_session), Slots(settings.exports_per_tenant)
    TenantDep = Annotated[Tenant, Depends(tenant_from_host(tenants))]

    async def claims_of(
        tenant: TenantDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]
    ) -> auth.AccessClaims:
        if credentials is None:
            raise HTTPException(401, "Bitte melden Sie sich an.", headers={"WWW-Authenticate": "Bearer"})
        async with units.db.transaction() as session:
            try:
                return await auth.verify(session, credentials.credentials, tenant.portal_number)
            except auth.InvalidToken as refusal:
                if str(refusal) == "session ended":  # signed out, password changed, login deleted
                    raise HTTPException(401, SIGNED_OUT, headers={"WWW-Authenticate": "Bearer"}) from None
                raise HTTPException(403, "Kein Zugriff auf diese Daten.") from None

    Claims = Annotated[auth.AccessClaims, Depends(claims_of)]

    def authorised(claims: auth.AccessClaims, partner_number: str) -> None:
        # The token names exactly one partner number; any other one is refused, whatever it is.
        if partner_number != claims.partner_number:
            raise HTTPException(403, "Kein Zugriff auf diese Geschäftspartner-Nr.")

    @router.get(
        "/partners/{partner_number}/intervals",
        summary="Energy per period (15 min … year) with quality",
        description=(
            "`15min`: one entry per Europe/Berlin day, `{day, start (UTC), interval_minutes: 15, kwh: [..], "
            "quality}` with 92/96/100 values (kWh, 3 decimals, null where none) and their MSCONS qualities (Z30 "
            "where none): `quality` is one code (a string) when all values of the day share it — most days: "
            '`"220"` — else a list with one code per value; paging counts days. `hour` … `year`: one object per '
            "period with `start`, `end`, `kwh`, `present`, `expected` and `substitutes`."
        ),
    )
    async def intervals(
        partner_number: str,
        claims: Claims,
        tenant: TenantDep,
        first: Annotated[date, Query(alias="from", description="First day (Europe/Berlin), inclusive")],
        end: Annotated[date, Query(alias="to", description="Day after the last one, exclusive")],
        resolution: domain.Resolution = domain.Resolution.DAY,
        page: Annotated[int, Query(ge=1, le=INT64_MAX - 1)] = 1,  # `next` is written too
        page_size: Annotated[int, Query(ge=1, le=MAX_PAGE)] = MAX_PAGE,
    ) -> Response:
        authorised(claims, partner_number)
        first, end = _period(first, end)
        fine = resolution == domain.Resolution.QUARTER_HOUR
        # One statement (the partner's meters as a subquery), no BEGIN/COMMIT; the token's key is cached.
        period = handlers.PartnerPeriod(tenant.portal_number, claims.partner_number, claims.role, first, end)
        if fine:  # compact: one entry per day with its values (35,040 objects a year would cost ~30×)
            days = await handlers.quarter_hour_days(period, readings)
        else:
            series = await handlers.read_intervals(handlers.ShowIntervals(period, resolution), readings)
        number, role, obis = (
            (days.partner_number, days.role, days.obis) if fine else (series.partner_number, series.role, series.obis)
        )
        rows = _quarter_hour_rows(days.days, first, end) if fine else _rows(series)
        chunk = rows[(page - 1) * page_size : page * page_size]
        body = {
            "partner_number": number,
            "role": role,
            "obis": obis,
            "unit": "kWh",
            "resolution": resolution,
            "from": first,
            "to": end,
            "count": len(rows),
            "page": page,
            "page_size": page_size,
            "next": page + 1 if page * page_size < len(rows) else None,
            "previous": page - 1 if page > 1 else None,
            "results": chunk,
        }
        return Response(orjson.dumps(body), media_type="application/json")

    @router.get("/partners/{partner_number}/registers", summary="Register readings (Zählerstände): daily and latest")
    async def registers(
        partner_number: str,
        claims: Claims,
        tenant: TenantDep,
        first: Annotated[date, Query(alias="from")],
        end: Annotated[date, Query(alias="to")],
    ) -> dict[str, Any]:
        authorised(claims, partner_number)
        first, end = _period(first, end)
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
            "partner_number": partner_number,
            "unit": "kWh",
            "daily": [view(r) for r in found.daily],
            "latest": [view(r) for r in found.latest],
        }

    @router.get(
        "/partners/{partner_number}/export",
        summary="Export a period as CSV (optionally German) or XLSX",
        response_class=Response,
        responses={**_EXPORT, **error_responses(429)},
    )
    async def export(
        partner_number: str,
        claims: Claims,
        tenant: TenantDep,
        first: Annotated[date, Query(alias="from")],
        end: Annotated[date, Query(alias="to")],
        resolution: domain.Resolution = domain.Resolution.QUARTER_HOUR,
        format: Annotated[str, Query(pattern="^(csv|csv-de|xlsx)$")] = "csv",
    ) -> Response:
        authorised(claims, partner_number)
        first, end = _period(first, end)
        period = handlers.PartnerPeriod(tenant.portal_number, claims.partner_number, claims.role, first, end)
        with ExitStack() as held:
            _take(held, per_session, (tenant.portal_number, claims.account_id), EXPORT_RUNNING)
            _take(held, per_tenant, tenant.portal_number, EXPORTS_BUSY)
            async with units.read() as uow:
                stored = await handlers.stored_period(handlers.ShowIntervals(period, resolution), uow)
            body = await export_pool.run(exports.build, stored, format)
        name = f"plusportal-{partner_number}-{first}-{end}-{resolution.value}.{exports.EXTENSIONS[format]}"
        return StreamingResponse(
            _chunks(body),
            media_type=exports.MEDIA_TYPES[format],
            headers={"Content-Disposition": f'attachment; filename="{name}"', "Content-Length": str(len(body))},
        )

    return router


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
