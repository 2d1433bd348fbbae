"""Onboarding's composition root: wires settings, runtime, Kafka router and HTTP API into one process."""

from pathlib import Path

from fastapi import FastAPI

from kit.http import add_health_route, add_metrics_route, install_error_handlers, serve
from kit.ratelimit import DatabaseHits
from kit.runtime import ServiceRuntime, setup_process_logging
from kit.settings import load_settings
from kit.tracing import instrument
from services.onboarding.api import build_api
from services.onboarding.messaging import build_router
from services.onboarding.settings import OnboardingSettings
from services.onboarding.store import RequestStore

NAME = "onboarding"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def bootstrap(settings: OnboardingSettings | None = None) -> tuple[FastAPI, ServiceRuntime]:
    settings = settings or OnboardingSettings()
    runtime = ServiceRuntime(NAME, settings, settings.database_url, MIGRATIONS)
    units = runtime.units_of_work(RequestStore)
    runtime.include(build_router(runtime.consumer(units)))
    app = FastAPI(
        title="Plusportal Onboarding",
        version="1.0.0",
        description="Request form for the Geschäftspartner-Nr. Netz and the back-office review. "
        "The tenant (grid operator) is named by the host: <portal number>.plusportal.de.",
        lifespan=runtime.lifespan,
    )
    install_error_handlers(app)
    app.include_router(build_api(units, runtime.tenants, settings, hits=DatabaseHits(runtime.db)))
    app.include_router(runtime.dead_letter_api())
    add_health_route(app, runtime.health)
    add_metrics_route(app, runtime.metrics)
    instrument(app)  # a server span per request when tracing is on (kit.tracing)
    return app, runtime


def main() -> None:
    settings = load_settings(OnboardingSettings)
    setup_process_logging(NAME, settings)
    app, _ = bootstrap(settings)
    # Uvicorn handles SIGTERM/SIGINT: the lifespan then stops relays and the broker cleanly.
    serve(app, settings.http_host, settings.http_port, settings.trusted_proxies)


if __name__ == "__main__":
    main()
