"""Meter data's composition root, and the MSCONS import command.

plusportal-meterdata                                   # the service (HTTP 8104 + consumers)
plusportal-meterdata import-mscons --tenant 000328 FILE…   # check files, then put them on the MSCONS topic
"""

import argparse
import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from fastapi import FastAPI

from contracts.staff import StaffRole
from contracts.topics import METER_MSCONS, Principal
from kit.audit import audit_router
from kit.cpu import ProcessPool
from kit.http import RateLimit, add_health_route, add_metrics_route, install_error_handlers, serve
from kit.kafka import KafkaAccess
from kit.logging import get_logger
from kit.notified_cache import NotifiedCache
from kit.ratelimit import DatabaseHits
from kit.runtime import ServiceRuntime, setup_process_logging
from kit.settings import load_settings
from kit.staff import StaffAccess
from kit.tracing import instrument
from kit.uow import UnitsOfWork
from kit.worker import PollingWorker
from services.meterdata import handlers
from services.meterdata.alerts_api import build_alert_link_api
from services.meterdata.api import build_api, build_backoffice_api
from services.meterdata.handlers import Readings
from services.meterdata.messaging import build_router
from services.meterdata.mscons import MsconsError, parse_mscons
from services.meterdata.settings import MeterdataSettings
from services.meterdata.store import CHANGES_CHANNEL, MeterdataStore, PartnerQueries
from services.meterdata.token_api import PersonalTokens
from services.meterdata.token_store import TokenQueries, TokenStore

log = get_logger(__name__)
NAME = "meterdata"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class PartitionMaintenance(PollingWorker):
    """Hourly (and at start): the months kept have their partitions, months no longer kept are dropped."""

    name = "partition-maintenance"

    def __init__(self, units: UnitsOfWork[Readings]) -> None:
        super().__init__(poll_interval=3600.0, error_backoff=10.0)
        self._units = units

    async def run_once(self) -> int:
        async with self._units() as uow:
            done = await handlers.maintain_partitions(handlers.MaintainPartitions(), uow)
        for table in done.created:
            if done.created[table] or done.dropped[table]:
                log.info("partitions_maintained", table=table, created=[m.isoformat()[:7] for m in done.created[table]],
                         dropped=[m.isoformat()[:7] for m in done.dropped[table]])  # fmt: skip
        return 0  # nothing more to do before the next hour


def bootstrap(settings: MeterdataSettings | None = None) -> tuple[FastAPI, ServiceRuntime]:
    settings = settings or MeterdataSettings()
    runtime = ServiceRuntime(NAME, settings, settings.database_url, MIGRATIONS, sends_mail=False)
    units = runtime.units_of_work(MeterdataStore)
    runtime.include(
        build_router(
            runtime.consumer(units),
            units,
            runtime.broker,
            runtime.tenants,
            settings.ingest_batch,
            runtime.dead_letters,
            alert_key=settings.alert_key,
        )
    )
    partitions = PartitionMaintenance(units)
    # Before the consumers start: a day of any month kept finds its partition (also on a fresh installation).
    runtime.on_started(partitions.run_once)
    export_pool = ProcessPool("exports", settings.export_processes, settings.export_nice)
    # Not the exports' pool: a long hourly view should not wait behind four three-year XLSX files.
    query_pool = ProcessPool("long-queries", settings.long_query_processes, settings.export_nice)
    kept_totals = (
        NotifiedCache[Any, Any](runtime.db.driver_dsn, CHANGES_CHANNEL, max_entries=settings.kept_totals)
        if settings.kept_totals
        else None
    )

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        async with runtime.lifespan(app):
            export_pool.start()
            query_pool.start()
            partitions.start()
            if kept_totals is not None:
                kept_totals.start()
            try:
                yield
            finally:
                await partitions.stop()
                if kept_totals is not None:
                    await kept_totals.stop()
                await export_pool.stop()
                await query_pool.stop()

    app = FastAPI(
        title="Plusportal Meter data",
        version="1.0.0",
        description="A partner number's readings: 15-minute values and aggregates on Europe/Berlin days with "
        "quality and completeness, register readings, CSV/XLSX export. Authorised by identity's access token "
        "(Bearer): its tenant must be the host's, its partner number the path's. The routes that only read also "
        "take a customer's personal access token (`Authorization: Bearer ppt_…`, security scheme PersonalToken): "
        "read-only, one partner number, rate-limited per token. Answers carry `schema_version` (exports: the "
        "`Schema-Version` header); within a version fields are only ever added.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    personal = PersonalTokens(
        runtime.units_of_work(TokenStore),
        TokenQueries(runtime.db),
        RateLimit(settings.personal_token_rate, DatabaseHits(runtime.db), name="personal-token"),
    )
    app.include_router(
        build_api(
            units, PartnerQueries(runtime.db, kept_totals), runtime.tenants, export_pool, query_pool, settings, personal
        )
    )
    app.include_router(runtime.dead_letter_api())
    staff = StaffAccess(runtime.db, runtime.tenants)
    clerks = staff.allow(StaffRole.CLERK, StaffRole.ADMIN)
    app.include_router(build_backoffice_api(units, runtime.tenants, clerks, settings.alert_key))
    app.include_router(build_alert_link_api(units, runtime.tenants, settings.alert_key))
    admins = staff.allow(StaffRole.ADMIN)
    app.include_router(audit_router(lambda: runtime.db, admins))  # where the replays of dead letters are written
    add_health_route(app, runtime.health)
    add_metrics_route(app, runtime.metrics)
    instrument(app)  # a server span per request when tracing is on (kit.tracing)
    return app, runtime


async def _upload(kafka: KafkaAccess, tenant: str, files: list[Path]) -> None:
    producer = AIOKafkaProducer(
        **kafka.client_options(), enable_idempotence=True, acks="all", max_request_size=16 * 1024 * 1024
    )
    await producer.start()
    try:
        for file in files:
            await producer.send_and_wait(
                METER_MSCONS.name, file.read_bytes(), key=file.name.encode(), headers=[("tenant", tenant.encode())]
            )
    finally:
        await producer.stop()


def import_mscons(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="plusportal-meterdata import-mscons")
    parser.add_argument("--tenant", required=True)
    parser.add_argument("files", type=Path, nargs="+")
    args = parser.parse_args(argv)
    settings = load_settings(MeterdataSettings)
    failed = False
    for file in args.files:
        try:
            parsed = parse_mscons(file.read_bytes())  # meters from RFF+MG here; the service maps MaLo → meter
        except MsconsError as error:
            print(f"{file}: abgelehnt – {error}", file=sys.stderr)
            failed = True
            continue
        print(
            f"{file}: {len(parsed.days)} Tage, {len(parsed.registers)} Zählerstandsreihen"
            + (f"; nicht übernommen: {'; '.join(parsed.unmapped)}" if parsed.unmapped else "")
            + "".join(f"; Nachricht {r.message} abgelehnt: {r.reason}" for r in parsed.refusals)
        )
    if failed:
        print("Nichts gesendet: bitte die abgelehnten Dateien korrigieren.", file=sys.stderr)
        return 1
    # The files come from market partners: they go onto the topic as the SMGW administrator's principal does.
    asyncio.run(_upload(settings.kafka_access(Principal.SMGW_ADMINISTRATOR), args.tenant, args.files))
    print(f"{len(args.files)} Datei(en) an {METER_MSCONS.name} gesendet.")
    return 0


def main() -> None:
    if sys.argv[1:2] == ["import-mscons"]:
        sys.exit(import_mscons(sys.argv[2:]))
    settings = load_settings(MeterdataSettings)
    setup_process_logging(NAME, settings)
    app, _ = bootstrap(settings)
    serve(app, settings.http_host, settings.http_port, settings.trusted_proxies)


if __name__ == "__main__":
    main()
