"""Meter data's HTTP routes for alerts ([10 of 11] §2): a partner's alerts (defined, listed, removed) and the
raised ones, authorised like every partner route (api.build_api hands its dependencies in); and the link from an
alert mail that turns exactly that alert off, authorised by its signature alone (no login).

The off link: opening it (GET) only shows what it would turn off and a button — mail scanners and link previews
fetch GET links, so a GET changes nothing; the button POSTs to the same address, which turns the alert off (again:
nothing changes). A link not signed for this alert on this portal (altered, forged, another operator's host) is
refused with 404, as is an alert that was removed.
"""

import html
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from contracts.alerts import ALERT_LABELS, ALERT_UNITS, AlertKind
from kit import auth
from kit.errors import error_responses
from kit.http import tenant_from_host
from kit.tenants import Tenant, TenantDirectory
from kit.uow import UnitsOfWork
from services.meterdata import alerts, handlers
from services.meterdata.handlers import Readings

_PAGE: dict[int | str, dict[str, Any]] = {200: {"content": {"text/html": {"schema": {"type": "string"}}}}}
ALERT_NOT_FOUND = "Diese Benachrichtigung gibt es nicht (mehr). Bitte laden Sie die Seite neu."
OFF_LINK_INVALID = "Dieser Link ist ungültig. Bitte öffnen Sie den Link aus der E-Mail vollständig."


class NewAlert(BaseModel):
    kind: AlertKind = Field(description="daily_consumption (kWh), night_base_load (W), pv_without_feed_in, "
                        "missing_data (days)")  # fmt: skip
    threshold: float = Field(default=0, ge=0, le=1_000_000, description="In the kind's unit; PV hint: 0")


class AlertView(BaseModel):
    id: str
    kind: AlertKind
    label: str = Field(description="What the customer reads, in German, with the threshold")
    threshold: float
    unit: str
    created_at: datetime
    on: bool = Field(description="False: turned off (the link in a mail)")

    @classmethod
    def of(cls, alert: alerts.Alert) -> "AlertView":
        return cls(
            id=str(alert.id),
            kind=alert.kind,
            label=label(alert.kind, alert.threshold),
            threshold=alert.threshold,
            unit=ALERT_UNITS[alert.kind],
            created_at=alert.created_at,
            on=alert.on,
        )


class OccurrenceView(BaseModel):
    id: str
    alert_id: str
    kind: AlertKind
    label: str
    period: date = Field(description="The day it is about; missing data: the first day without values")
    value: float = Field(description="The figure found: kWh, W, days without values, PV systems that fed in")
    peers: int | None = Field(description="PV hint: other PV systems of the area that sent the day")
    raised_at: datetime

    @classmethod
    def of(cls, found: alerts.Occurrence) -> "OccurrenceView":
        return cls(
            id=str(found.id),
            alert_id=str(found.alert_id),
            kind=found.kind,
            label=label(found.kind, found.threshold),
            period=found.period,
            value=found.value,
            peers=found.peers,
            raised_at=found.raised_at,
        )


def label(kind: AlertKind, threshold: float) -> str:
    if kind == AlertKind.PV_WITHOUT_FEED_IN:
        return ALERT_LABELS[kind]
    return f"{ALERT_LABELS[kind]} {threshold:g} {ALERT_UNITS[kind]}".replace(".", ",")


def add_alert_routes(
    router: APIRouter,
    units: UnitsOfWork[Readings],
    claims_of: Callable[..., Awaitable[auth.AccessClaims]],
    tenants: TenantDirectory,
    authorised: Callable[[auth.AccessClaims, str], None],
) -> None:
    """The partner routes for alerts, on build_api's router with its authorisation (``claims_of``, ``authorised``)."""
    Claims = Annotated[auth.AccessClaims, Depends(claims_of)]
    TenantDep = Annotated[Tenant, Depends(tenant_from_host(tenants))]

    def partner(tenant: Tenant, found: auth.AccessClaims) -> handlers.PartnerAlerts:
        return handlers.PartnerAlerts(tenant.portal_number, found.partner_number, found.role)

    @router.get("/partners/{partner_number}/alerts", summary="The partner's alerts (Benachrichtigungen)")
    async def list_alerts(partner_number: str, claims: Claims, tenant: TenantDep) -> list[AlertView]:
        authorised(claims, partner_number)
        async with units.read() as uow:
            found = await handlers.list_alerts(partner(tenant, claims), uow)
        return [AlertView.of(alert) for alert in found]

    @router.post(
        "/partners/{partner_number}/alerts",
        status_code=201,
        summary="Define an alert: judged as readings arrive, each occurrence mailed once",
        responses=error_responses(422),
    )
    async def define_alert(partner_number: str, body: NewAlert, claims: Claims, tenant: TenantDep) -> AlertView:
        authorised(claims, partner_number)
        command = handlers.DefineAlert(partner(tenant, claims), body.kind, body.threshold, claims.account_id)
        try:
            async with units() as uow:
                alert = await handlers.define_alert(command, uow)
        except handlers.AlertRefused as refusal:
            raise HTTPException(422, str(refusal)) from None
        return AlertView.of(alert)

    @router.delete(
        "/partners/{partner_number}/alerts/{alert_id}",
        status_code=204,
        summary="Remove an alert (and what it raised)",
        responses=error_responses(404),
    )
    async def remove_alert(partner_number: str, alert_id: UUID, claims: Claims, tenant: TenantDep) -> Response:
        authorised(claims, partner_number)
        try:
            async with units() as uow:
                await handlers.remove_alert(handlers.RemoveAlert(partner(tenant, claims), alert_id), uow)
        except LookupError:
            raise HTTPException(404, ALERT_NOT_FOUND) from None
        return Response(status_code=204)

    @router.get(
        "/partners/{partner_number}/alerts/occurrences",
        summary="The partner's raised alerts, newest first (at most 100)",
    )
    async def list_occurrences(partner_number: str, claims: Claims, tenant: TenantDep) -> list[OccurrenceView]:
        authorised(claims, partner_number)
        async with units.read() as uow:
            found = await handlers.list_occurrences(handlers.ListOccurrences(partner(tenant, claims)), uow)
        return [OccurrenceView.of(item) for item in found]


def build_alert_link_api(units: UnitsOfWork[Readings], tenants: TenantDirectory, key: bytes) -> APIRouter:
    """The link from an alert mail (no login: its signature is the authority)."""
    router = APIRouter(tags=["alerts"])
    TenantDep = Annotated[Tenant, Depends(tenant_from_host(tenants))]
    Alert = Annotated[UUID, Query(alias="alert")]
    Signature = Annotated[str, Query(alias="sig", pattern="^[A-Za-z0-9_-]{1,100}$")]

    def link(tenant: Tenant, alert_id: UUID, signature: str) -> handlers.OffLink:
        return handlers.OffLink(tenant.portal_number, alert_id, signature, key)

    @router.get(
        "/alerts/off",
        summary="The page behind the off link of an alert mail: shows the alert and a button (changes nothing)",
        response_class=Response,
        responses={**_PAGE, **error_responses(404, 422)},
    )
    async def confirm_off(tenant: TenantDep, alert_id: Alert, signature: Signature) -> HTMLResponse:
        try:
            async with units.read() as uow:
                alert = await handlers.alert_of_link(link(tenant, alert_id, signature), uow)
        except handlers.InvalidOffLink:
            raise HTTPException(404, OFF_LINK_INVALID) from None
        what = html.escape(label(alert.kind, alert.threshold))
        if not alert.on:
            return _page(tenant, f"<p>Die Benachrichtigung »{what}« ist bereits ausgeschaltet.</p>")
        return _page(
            tenant,
            f"<p>Möchten Sie die Benachrichtigung »{what}« ausschalten?</p>"
            f'<form method="post"><button type="submit">Benachrichtigung ausschalten</button></form>',
        )

    @router.post(
        "/alerts/off",
        summary="Turn off exactly the alert the signed link names (again: nothing changes)",
        response_class=Response,
        responses={**_PAGE, **error_responses(404, 422)},
    )
    async def switch_off(tenant: TenantDep, alert_id: Alert, signature: Signature) -> HTMLResponse:
        try:
            async with units() as uow:
                alert = await handlers.switch_alert_off(link(tenant, alert_id, signature), uow)
        except handlers.InvalidOffLink:
            raise HTTPException(404, OFF_LINK_INVALID) from None
        what = html.escape(label(alert.kind, alert.threshold))
        return _page(
            tenant,
            f"<p>Die Benachrichtigung »{what}« ist ausgeschaltet. Sie bekommen dazu keine E-Mails mehr.</p>"
            f'<p>Im Kundenportal können Sie Benachrichtigungen jederzeit neu anlegen: <a href="/verbrauch">'
            "zum Verbrauch</a>.</p>",
        )

    return router


def _page(tenant: Tenant, body: str) -> HTMLResponse:
    title = f"Benachrichtigung – Kundenportal {html.escape(tenant.short_name)}"
    return HTMLResponse(
        f'<!doctype html><html lang="de"><head><meta charset="utf-8"><title>{title}</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<link rel="stylesheet" href="/styles.css"></head><body><main><h1>{title}</h1>{body}</main></body></html>'
    )
