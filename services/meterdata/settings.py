import os

from pydantic import Field, SecretStr

from kit.settings import ServiceSettings, setting, weak_secret
from services.meterdata.alerts import DEVELOPMENT_KEY


class MeterdataSettings(ServiceSettings):
    database_url: str = "postgresql+asyncpg://plusportal@127.0.0.1:55432/meterdata"
    http_port: int = 8104
    # How many readings messages one ingest step takes from Kafka (one COPY, one commit); larger batches come
    # closer to the storage ceiling (benchmarks/README.md, "Choices in the code").
    ingest_batch: int = 2000
    # Exports (CSV, XLSX) are built in worker processes of their own (kit.cpu.ProcessPool): three years of
    # 15-minute values cost seconds of CPU that would stall every other request on the serving loop. At most
    # half the CPUs and niced, so the queries of everyone else come first on a busy machine; more exports at
    # once wait in the pool's queue.
    export_processes: int = Field(default_factory=lambda: max(1, (os.cpu_count() or 2) // 2))
    export_nice: int = 10
    # Exports at once per login (the access token's subject) and per tenant; one more is answered 429.
    exports_per_session: int = 1
    exports_per_tenant: int = 4
    # Hourly and 15-minute answers over more days than these are built in a worker process of their own, with
    # limits of their own: beyond, a Bucket per hour or a value per quarter hour costs more CPU than the serving
    # loop should spend on one request (benchmarks/README.md, "Exports").
    hours_on_loop_days: int = 62
    quarter_hours_on_loop_days: int = 366
    long_query_processes: int = 1
    long_queries_per_session: int = 2
    long_queries_per_tenant: int = 8
    # Totals per day … year answered from memory until a day or master data they were built from changes
    # (kit.notified_cache, told by PostgreSQL): how many answers a process keeps at most; 0 keeps none.
    kept_totals: int = 20_000
    # Requests per personal access token (token_api), counted across replicas (kit.ratelimit); one more is 429.
    personal_token_rate: str = "60/minute"
    # Signs the links in alert mails that turn an alert off (services.meterdata.alerts). Kept secret: with it,
    # anyone could turn off anyone's alerts. Without one (development, tests): a development key.
    alert_link_key: SecretStr | None = None

    @property
    def alert_key(self) -> bytes:
        key = self.alert_link_key
        return key.get_secret_value().encode() if key is not None else DEVELOPMENT_KEY

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        if weak_secret(self.alert_link_key):
            problems.append(
                f"{setting('alert_link_key')} fehlt oder ist zu kurz: mit dem Entwicklungsschlüssel ließe sich jede "
                "Benachrichtigung über einen gefälschten Link abschalten. Zufällig erzeugen (mindestens 32 Zeichen)."
            )
        return problems
