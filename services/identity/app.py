"""Identity's composition root: wires settings, runtime, keys, Kafka router and HTTP API into one process."""

from functools import partial
from pathlib import Path

from fastapi import FastAPI

from kit.http import add_health_route, install_error_handlers, serve
from kit.runtime import ServiceRuntime, setup_process_logging
from kit.settings import load_settings
from kit.uow import Clock, system_clock
from services.identity import crypto, handlers
from services.identity.api import build_api
from services.identity.handlers import Deps
from services.identity.messaging import build_router
from services.identity.settings import IdentitySettings
from services.identity.staff_api import build_staff_api
from services.identity.staff_crypto import TotpSecrets
from services.identity.staff_store import StaffStore
from services.identity.store import IdentityStore

NAME = "identity"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def bootstrap(settings: IdentitySettings | None = None, clock: Clock = system_clock) -> tuple[FastAPI, ServiceRuntime]:
    settings = settings or IdentitySettings()
    runtime = ServiceRuntime(NAME, settings, settings.database_url, MIGRATIONS)
    deps = Deps(
        settings,
        crypto.TokenSigner(settings.signing_key_file),
        crypto.DeviceCookies(settings.device_cookie_secret),
    )
    units = runtime.units_of_work(IdentityStore, clock)
    runtime.include(build_router(runtime.consumer(units), deps))

    async def publish_key() -> None:
        async with units() as uow:  # before the relays start: they find the key when they do
            handlers.publish_signing_key(handlers.PublishSigningKey(tuple(runtime.tenants)), uow, deps=deps)

    runtime.on_started(publish_key)
    app = FastAPI(
        title="Plusportal Identity",
        version="1.0.0",
        description="Zugang beantragen (meter + partner number + e-mail), confirmation link, password, login per "
        "partner number, reset, account data. The tenant is named by the host: <portal number>.plusportal.de. "
        "Sessions are cookies (__Host-, Secure, HttpOnly, SameSite=Strict); state changes need the X-CSRF-Token "
        "header; other services accept short-lived ES256 access tokens verified with the published keys.",
        lifespan=runtime.lifespan,
    )
    install_error_handlers(app)
    app.include_router(build_api(units, runtime.tenants, deps))
    staff_store = partial(StaffStore, totp=TotpSecrets(settings.totp_key))
    app.include_router(build_staff_api(runtime.units_of_work(staff_store, clock), runtime.tenants, deps))
    add_health_route(app, runtime.health)
    return app, runtime


def main() -> None:
    settings = load_settings(IdentitySettings)
    setup_process_logging(NAME, settings)
    app, _ = bootstrap(settings)
    serve(app, settings.http_host, settings.http_port, settings.trusted_proxies)


if __name__ == "__main__":
    main()
