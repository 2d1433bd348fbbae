"""HTTP plumbing every service's API shares: tenant from the host name, rate limits,
errors that say what is wrong without echoing personal data, the health endpoint and the metrics."""

import ipaddress
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, NoReturn

import uvicorn
from fastapi import FastAPI, HTTPException, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from limits import parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.exceptions import HTTPException as StarletteHTTPException

from kit.errors import FieldError, ValidationProblem, document_errors
from kit.metrics import HttpMetrics, ServiceMetrics
from kit.ratelimit import SharedHits
from kit.tenants import Tenant, TenantDirectory, UnknownTenant


def tenant_from_host(tenants: TenantDirectory) -> Callable[[Request], Awaitable[Tenant]]:
    """The portal number in the host name (``000328.plusportal.de``) names the grid operator."""

    # async although it never awaits: FastAPI runs a plain `def` dependency in a worker thread, a hop that
    # every request would pay (benchmarks/README.md, "Choices in the code").
    async def resolve(request: Request) -> Tenant:
        try:
            return tenants.from_host(request.headers.get("host", ""))
        except UnknownTenant:
            raise HTTPException(404, "Dieses Portal gibt es nicht. Bitte prüfen Sie die Adresse.") from None

    return resolve


class RateLimit:
    """A limit per key (client address, recipient e-mail, …), answered with 429: counted in this process's memory
    (a moving window), or — given ``shared`` (kit.ratelimit) — across all processes of the service."""

    def __init__(self, spec: str, shared: SharedHits | None = None, *, name: str = "") -> None:
        self._item = parse(spec)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._shared = shared
        self._name = name or spec  # keeps two limits of one service apart in the shared table

    async def check(self, *key: str) -> None:
        if self._shared is not None:
            hits, window_end = await self._shared.hit("/".join((self._name, *key)), self._item.get_expiry())
            if hits <= self._item.amount:
                return
            self._refuse(window_end)
        if await self._limiter.hit(self._item, *key):
            return
        reset_at, _ = await self._limiter.get_window_stats(self._item, *key)
        self._refuse(reset_at)

    async def check_then(self, key: Sequence[str], then: "RateLimit", then_key: Sequence[str]) -> None:
        """This limit, then ``then`` — counted only when this one lets the request through (a refused client
        does not use up an e-mail's allowance). One round trip when both count in the same shared table."""
        if self._shared is None or then._shared is not self._shared:
            await self.check(*key)
            await then.check(*then_key)
            return
        (hits, window_end), counted = await self._shared.hit_in_turn(
            ("/".join((self._name, *key)), self._item.get_expiry(), self._item.amount),
            ("/".join((then._name, *then_key)), then._item.get_expiry()),
        )
        if hits > self._item.amount:
            self._refuse(window_end)
        assert counted is not None
        if counted[0] > then._item.amount:
            self._refuse(counted[1])

    @staticmethod
    def _refuse(free_again_at: float) -> NoReturn:
        retry_after = max(1, int(free_again_at - time.time()) + 1)
        raise HTTPException(
            429,
            f"Zu viele Anfragen. Bitte versuchen Sie es in {retry_after} Sekunden erneut.",
            headers={"Retry-After": str(retry_after)},
        )


@asynccontextmanager
async def refusals_answered(statuses: Mapping[type[Exception], int]) -> AsyncIterator[None]:
    """A use case's refusals as HTTP answers with the refusal's (German) message; the unit of work inside has
    rolled back by then. ``statuses``: refusal type → HTTP status, e.g. ``{NotFound: 404}``."""
    try:
        yield
    except tuple(statuses) as refusal:
        status = next(code for kind, code in statuses.items() if isinstance(refusal, kind))
        raise HTTPException(status, str(refusal)) from None


def client_address(request: Request) -> str:
    """The browser's address: the TCP peer, or — when the peer is one of the trusted proxies (settings
    ``trusted_proxies``: the gateway) — the right-most address in X-Forwarded-For that is not (``serve``)."""
    return request.client.host if request.client else "unknown"


IPV6_CLIENT_PREFIX = 64  # one subscriber's network: an IPv6 client picks any address in its /64 at will


def client_key(request: Request) -> str:
    """What per-client limits count by: the IPv4 address, or the IPv6 client's /64 (which it cannot leave)."""
    address = client_address(request)
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/{IPV6_CLIENT_PREFIX}", strict=False))
    return str(ip)


def serve(app: FastAPI, host: str, port: int, trusted_proxies: str) -> None:
    """Runs the service's HTTP server. X-Forwarded-For is believed only from ``trusted_proxies`` (addresses or
    networks, comma-separated): anyone else could name any address and so dodge the per-client limits."""
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        proxy_headers=True,
        forwarded_allow_ips=trusted_proxies,
    )


# The largest number a route takes where it ends up in a 64-bit integer (a BIGINT id or OFFSET, an orjson
# body): anything larger is a 422, not a query the database refuses or a body that cannot be written (a 500).
INT64_MAX = 2**63 - 1
_MESSAGES_DE = {
    "missing": "Pflichtfeld: bitte ausfüllen.",
    "string_too_short": "Bitte ausfüllen.",
    "string_too_long": "Zu lang.",
    "string_pattern_mismatch": "Ungültiges Format.",
    "value_error": "Ungültiger Wert.",
    "json_invalid": "Die Anfrage ist kein gültiges JSON.",
}


# FastAPI's answer (400, in English) to a body it cannot even decode, e.g. bytes that are no UTF-8.
_UNREADABLE_BODY = "There was an error parsing the body"


def _unreadable_body() -> JSONResponse:
    """A body that cannot be decoded is no JSON either: answered like malformed JSON, in German."""
    message = _MESSAGES_DE["json_invalid"]
    problem = ValidationProblem(detail=message, errors=[FieldError(field="body", message=message, type="json_invalid")])
    return JSONResponse(problem.model_dump(), status_code=422)


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, StarletteHTTPException)
    if error.status_code == 400 and error.detail == _UNREADABLE_BODY:
        return _unreadable_body()
    return await http_exception_handler(request, error)


async def _validation_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    fields = []
    for item in error.errors():
        location = [str(part) for part in item["loc"] if part not in ("body",)]
        message = item.get("ctx", {}).get("reason") or _MESSAGES_DE.get(item["type"], item["msg"])
        if item["type"] == "value_error" and "error" in item.get("ctx", {}):
            message = str(item["ctx"]["error"])
        # No "input": it would echo what the customer typed (personal data) into responses and logs.
        fields.append(FieldError(field=".".join(location) or "body", message=message, type=item["type"]))
    problem = ValidationProblem(detail="Bitte prüfen Sie die markierten Angaben.", errors=fields)
    return JSONResponse(problem.model_dump(), status_code=422)


def install_error_handlers(app: FastAPI) -> None:
    """The services' own 422 body (kit.errors.ValidationProblem), in the answers and in the OpenAPI document."""
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    document_errors(app)


def add_health_route(app: FastAPI, health: Callable[[], Awaitable[dict[str, Any]]]) -> None:
    @app.get("/health", tags=["operations"], summary="Liveness and dependencies")
    async def health_endpoint() -> dict[str, Any]:
        return await health()


def add_metrics_route(app: FastAPI, metrics: ServiceMetrics) -> None:
    """``GET /metrics`` in Prometheus' text format, and every request counted and timed. Only on the service's own
    port: the gateway answers 404 for ``/api/<service>/metrics``. Not in the OpenAPI document (operations only)."""
    app.add_middleware(HttpMetrics)

    @app.get("/metrics", include_in_schema=False)
    async def metrics_endpoint() -> Response:
        return Response(await metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
