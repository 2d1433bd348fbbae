"""Identity's composition root: wires settings, runtime, keys, Kafka router and HTTP API into one process."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from kit.http import add_health_route, add_metrics_route, install_error_handlers, serve
from kit.ratelimit import DatabaseHits
from kit.runtime import ServiceRuntime, setup_process_logging
from kit.settings import load_settings
from kit.tenants import Tenant
from kit.tracing import instrument
from kit.uow import Clock, UnitsOfWork, system_clock
from kit.worker import PollingWorker
from services.identity import consent_handlers, crypto, handlers
from services.identity.api import build_api
from services.identity.consent_api import build_consent_api
from services.identity.consent_store import ConsentStore
from services.identity.handlers import Deps
from services.identity.messaging import build_router
from services.identity.settings import IdentitySettings
from services.identity.staff_api import build_staff_api
from services.identity.staff_crypto import TotpSecrets
from services.identity.staff_store import StaffStore
from services.identity.store import SigningKeyStore

NAME = "identity"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def bootstrap(settings: IdentitySettings | None = None, clock: Clock = system_clock) -> tuple[FastAPI, ServiceRuntime]:
    settings = settings or IdentitySettings()
    runtime = ServiceRuntime(NAME, settings, settings.database_url, MIGRATIONS)
    keyring = crypto.Keyring(settings.signing_key_file)
    deps = Deps(settings, keyring, crypto.DeviceCookies(settings.device_cookie_secret))
    # Identity's store with the consent tables: its consumer also ends a deleted login's grants.
    units = runtime.units_of_work(ConsentStore, clock)
    runtime.include(build_router(runtime.consumer(units), deps))
    rotation = KeyRotation(
        runtime.units_of_work(SigningKeyStore, clock), keyring, tuple(runtime.tenants), settings.signing_key_check_s
    )

    async def publish_keys() -> None:
        await rotation.step(publish_all=True)  # before the relays start: they find the keys when they do

    runtime.on_started(publish_keys)

    consents = runtime.units_of_work(ConsentStore, clock)
    expiry = GrantExpiry(consents, settings.grant_expiry_check_s)

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        async with runtime.lifespan(app):
            rotation.start()
            expiry.start()
            try:
                yield
            finally:
                await expiry.stop()
                await rotation.stop()

    app = FastAPI(
        title="Plusportal Identity",
        version="1.0.0",
        description="Zugang beantragen (meter + partner number + e-mail), confirmation link, password, login per "
        "partner number, reset, account data. The tenant is named by the host: <portal number>.plusportal.de. "
        "Sessions are cookies (__Host-, Secure, HttpOnly, SameSite=Strict); state changes need the X-CSRF-Token "
        "header; other services accept short-lived ES256 access tokens verified with the published keys. Third parties "
        "with a customer's consent: OAuth 2.0 authorisation code with PKCE S256 — authorisation endpoint the portal's "
        "page /freigabe, token endpoint POST /oauth/token, metadata GET /.well-known/oauth-authorization-server "
        "(README, 'Daten für Dritte').",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    hits = DatabaseHits(runtime.db)  # the rate limits count across identity's replicas
    app.include_router(build_api(units, runtime.tenants, deps, hits))
    staff_store = partial(StaffStore, totp=TotpSecrets(settings.totp_key))
    app.include_router(
        build_staff_api(runtime.units_of_work(staff_store, clock), runtime.tenants, deps, runtime.dead_letters, hits)
    )
    app.include_router(build_consent_api(consents, runtime.tenants, deps, hits))
    add_health_route(app, runtime.health)
    add_metrics_route(app, runtime.metrics)
    instrument(app)  # a server span per request when tracing is on (kit.tracing)
    return app, runtime


class KeyRotation(PollingWorker):
    """Keeps the signing keys' schedule (handlers.rotate_signing_keys) every few seconds and hands it to the
    keyring: a successor is published ahead, a revocation by the platform's CLI is honoured within the interval."""

    name = "key-rotation"

    def __init__(
        self, units: UnitsOfWork[SigningKeyStore], keyring: crypto.Keyring, tenants: tuple[Tenant, ...], every: float
    ) -> None:
        super().__init__(poll_interval=every)
        self._units = units
        self._keyring = keyring
        self._tenants = tenants

    async def step(self, *, publish_all: bool = False) -> None:
        command = handlers.RotateSigningKeys(self._tenants, publish_all)
        async with self._units() as uow:
            keys = await handlers.rotate_signing_keys(command, uow, keyring=self._keyring)
        self._keyring.use(keys, self._units.clock())

    async def run_once(self) -> int:
        await self.step()
        return 0


class GrantExpiry(PollingWorker):
    """Records the end of grants whose time is up (GrantExpired, each once; their tokens expire with them anyway)."""

    name = "grant-expiry"

    def __init__(self, units: UnitsOfWork[ConsentStore], every: float) -> None:
        super().__init__(poll_interval=every)
        self._units = units

    async def run_once(self) -> int:
        async with self._units() as uow:
            return await consent_handlers.expire_grants(consent_handlers.ExpireGrants(), uow)


def main() -> None:
    settings = load_settings(IdentitySettings)
    setup_process_logging(NAME, settings)
    app, _ = bootstrap(settings)
    serve(app, settings.http_host, settings.http_port, settings.trusted_proxies)


if __name__ == "__main__":
    main()
