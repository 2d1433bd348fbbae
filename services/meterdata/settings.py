from kit.settings import ServiceSettings


class MeterdataSettings(ServiceSettings):
    database_url: str = "postgresql+asyncpg://plusportal@127.0.0.1:55432/meterdata"
    http_port: int = 8104
    # How many readings messages one ingest step takes from Kafka (one COPY, one commit); larger batches come
    # closer to the storage ceiling (benchmarks/README.md, "Choices in the code").
    ingest_batch: int = 2000
