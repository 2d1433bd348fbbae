"""Per-client limits a client cannot dodge ([6 of 11] §2): a service believes X-Forwarded-For only from the
gateway it is configured with, and counts an IPv6 client by its /64. Identity as a process of its own, whose
gateway (the trusted proxy) is 127.0.0.2 — not loopback's usual address, as a gateway on another host is not."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from contracts.topics import Principal
from stack import free_port
from stack.credentials import KafkaInstallation
from stack.fixtures import DatabaseServer
from stack.services import ServiceProcess, service_env

TENANT = "000328"
LIMIT = 3  # access requests per client and minute, for this test


@pytest.fixture
def identity(kafka: KafkaInstallation, postgres_server: DatabaseServer, tmp_path: Path) -> Iterator[ServiceProcess]:
    database = asyncio.run(postgres_server.fresh_database("identity_clients"))
    settings = {
        **kafka.environment(Principal.IDENTITY),
        "PLUSPORTAL_TRUSTED_PROXIES": "127.0.0.2",
        "PLUSPORTAL_LIMIT_REQUESTS_PER_CLIENT": f"{LIMIT}/minute",
        "PLUSPORTAL_SIGNING_KEY_FILE": str(tmp_path / "signing-key.pem"),
    }
    env = service_env(kafka=kafka.bootstrap, database_url=database, smtp_port=free_port(), extra=settings)
    process = ServiceProcess("identity-clients", "-m services.identity.app", env, tmp_path / "log", port=free_port())
    process.start()
    yield process
    process.stop()


def statuses(identity: ServiceProcess, forwarded_for: list[str], *, via_gateway: bool) -> list[int]:
    transport = httpx.HTTPTransport(local_address="127.0.0.2" if via_gateway else "127.0.0.1")
    body = {"meter_number": "1EMH0005939068", "partner_number": "3236513735", "email": "erika@example.org"}
    with httpx.Client(base_url=identity.url, transport=transport, timeout=10) as client:
        return [
            client.post(
                "/access-requests",
                json=body,
                headers={"Host": f"{TENANT}.localhost", "X-Forwarded-For": address},
            ).status_code
            for address in forwarded_for
        ]


def test_a_forwarded_address_counts_only_from_the_gateway(identity: ServiceProcess) -> None:
    spoofed = [f"203.0.113.{n}" for n in range(LIMIT + 2)]
    assert statuses(identity, spoofed, via_gateway=False) == [202] * LIMIT + [429, 429]  # one client: the peer
    browsers = [f"198.51.100.{n}" for n in range(LIMIT + 2)]
    assert statuses(identity, browsers, via_gateway=True) == [202] * (LIMIT + 2)  # a budget per browser


def test_an_ipv6_client_is_counted_by_its_64(identity: ServiceProcess) -> None:
    one_network = [f"2001:db8:7:1::{n:x}" for n in range(1, LIMIT + 3)]  # any address of its /64, at will
    assert statuses(identity, one_network, via_gateway=True) == [202] * LIMIT + [429, 429]
    assert statuses(identity, ["2001:db8:7:2::1"], via_gateway=True) == [202]  # the next /64: someone else
