"""How every client of the platform reaches Kafka: the bootstrap servers and its principal's credential.

The broker authenticates each client with SASL/SCRAM-SHA-512 and lets it use only the topics its principal
owns or reads (contracts/topics.py); without a credential a client cannot even bootstrap.
"""

from dataclasses import dataclass, field
from typing import Any

from faststream.security import SASLScram512

SASL_MECHANISM = "SCRAM-SHA-512"


@dataclass(frozen=True)
class KafkaAccess:
    bootstrap: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def servers(self) -> list[str]:
        """The bootstrap servers one by one: FastStream takes a string as one address (aiokafka splits commas)."""
        return [server.strip() for server in self.bootstrap.split(",") if server.strip()]

    @property
    def authenticated(self) -> bool:
        return self.username is not None and self.password is not None

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for aiokafka's producers, consumers and admin clients."""
        options: dict[str, Any] = {"bootstrap_servers": self.bootstrap}
        if self.authenticated:
            options |= {
                "security_protocol": "SASL_PLAINTEXT",
                "sasl_mechanism": SASL_MECHANISM,
                "sasl_plain_username": self.username,
                "sasl_plain_password": self.password,
            }
        return options

    def security(self) -> SASLScram512 | None:
        """The same for a FastStream broker."""
        if self.username is None or self.password is None:
            return None
        return SASLScram512(username=self.username, password=self.password)

    def as_user(self, username: str, password: str) -> "KafkaAccess":
        return KafkaAccess(self.bootstrap, username, password)


def record_header(record: Any, name: str) -> str | None:
    """A Kafka ConsumerRecord's header ``name`` as text (aiokafka gives the headers as (name, bytes) pairs)."""
    for key, value in record.headers or ():
        if key == name:
            return bytes(value).decode("utf-8", "replace")
    return None
