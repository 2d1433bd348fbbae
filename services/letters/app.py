"""Letters' composition root: wires settings, runtime, Kafka router and HTTP API into one process."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from kit.http import add_health_route, add_metrics_route, install_error_handlers, serve
from kit.metrics import LETTERS_WAITING_FOR_RENDERING
from kit.runtime import ServiceRuntime, setup_process_logging
from kit.settings import load_settings
from kit.tracing import instrument
from kit.uow import system_clock
from services.letters.api import build_api, build_print_api
from services.letters.messaging import build_router
from services.letters.render_worker import Renderer, RenderWorker
from services.letters.settings import LettersSettings
from services.letters.store import LetterStore

NAME = "letters"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def bootstrap(settings: LettersSettings | None = None) -> tuple[FastAPI, ServiceRuntime]:
    settings = settings or LettersSettings()
    runtime = ServiceRuntime(NAME, settings, settings.database_url, MIGRATIONS, sends_mail=False)
    renderer = Renderer(runtime.db, runtime.tenants, settings, system_clock)
    render_worker = RenderWorker(runtime.db, renderer, batch_size=settings.render_processes, poll_interval=1.0)
    # A letter just queued is rendered at once, while the print house already has its job.
    units = runtime.units_of_work(LetterStore, wake=[render_worker])
    runtime.include(build_router(runtime.consumer(units), settings))

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        async with runtime.lifespan(app):
            renderer.start()
            if settings.render_worker_enabled:
                render_worker.start()
            try:
                yield
            finally:
                await render_worker.stop()
                await renderer.stop()

    app = FastAPI(
        title="Plusportal Letters",
        version="1.0.0",
        description="Back-office view of letters with the Geschäftspartner-Nr. Netz and their postal dispatch; "
        "the PDFs the print house's dispatch jobs name. The tenant (grid operator) is named by the host: "
        "<portal number>.plusportal.de (the print house names it in the path).",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.include_router(build_api(units, runtime.tenants, settings, renderer))
    app.include_router(build_print_api(runtime.tenants, settings, renderer))
    app.include_router(runtime.dead_letter_api())
    add_health_route(app, runtime.health)
    add_metrics_route(app, runtime.metrics)
    runtime.metrics.watch(lambda session: LetterStore(session).waiting_for_rendering(), LETTERS_WAITING_FOR_RENDERING)
    instrument(app)  # a server span per request when tracing is on (kit.tracing)
    return app, runtime


def main() -> None:
    settings = load_settings(LettersSettings)
    setup_process_logging(NAME, settings)
    app, _ = bootstrap(settings)
    serve(app, settings.http_host, settings.http_port, settings.trusted_proxies)


if __name__ == "__main__":
    main()
