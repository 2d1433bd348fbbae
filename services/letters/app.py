"""Letters' composition root: wires settings, runtime, Kafka router and HTTP API into one process."""

from pathlib import Path

import uvicorn
from fastapi import FastAPI

from kit.http import add_health_route, install_error_handlers
from kit.runtime import ServiceRuntime, setup_process_logging
from services.letters.api import build_api
from services.letters.messaging import build_router
from services.letters.settings import LettersSettings

NAME = "letters"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def bootstrap(settings: LettersSettings | None = None) -> tuple[FastAPI, ServiceRuntime]:
    settings = settings or LettersSettings()
    runtime = ServiceRuntime(NAME, settings, settings.database_url, MIGRATIONS, sends_mail=False)
    runtime.include(build_router(runtime.consumer(), runtime.tenants, settings))
    app = FastAPI(
        title="Plusportal Letters",
        version="1.0.0",
        description="Back-office view of letters with the Geschäftspartner-Nr. Netz and their postal dispatch. "
        "The tenant (grid operator) is named by the host: <portal number>.plusportal.de.",
        lifespan=runtime.lifespan,
    )
    install_error_handlers(app)
    app.include_router(build_api(runtime.db, runtime.tenants, settings))
    add_health_route(app, runtime.health)
    return app, runtime


def main() -> None:
    settings = LettersSettings()
    setup_process_logging(NAME, settings)
    app, _ = bootstrap(settings)
    uvicorn.run(app, host=settings.http_host, port=settings.http_port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
