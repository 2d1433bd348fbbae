from kit.settings import ServiceSettings


class MeterdataSettings(ServiceSettings):
    database_url: str = "postgresql+asyncpg://plusportal@127.0.0.1:55432/meterdata"
    http_port: int = 8104
    # How many readings messages one ingest step takes from Kafka (one COPY, one commit). 2,000 day messages
    # reached 59–65 % of the storage ceiling end to end, 500 only 55–59 % (benchmarks.meterdata_ingest).
    ingest_batch: int = 2000
