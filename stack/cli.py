"""`plusportal-stack`: start, stop and inspect the local Kafka and PostgreSQL, create the Kafka topics.

    plusportal-stack kafka start|stop|wipe|status [--port 19092] [--controller-port 19093] [--nodes 1|3]
    plusportal-stack postgres start|stop|wipe|status [--port 55432]
    plusportal-stack topics [--bootstrap 127.0.0.1:19092]
    plusportal-stack secrets            (this installation's device-cookie key and print-house credentials)
    plusportal-stack backup DIR [--port 55432 | --database-url URL]     (every service database, stack.backup)
    plusportal-stack restore DIR [--port 55432 | --database-url URL]    (into a fresh server)
    plusportal-stack reset-offsets --to-datetime ISO [--group G …]      (after a restore, services stopped)

Servers run in the background until stopped; their files live in the var dir (--var, $PLUSPORTAL_VAR,
default <repo>/var). `status` exits 0 when the server runs and 3 when not (as pg_ctl and init scripts do).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from contracts.topics import ALL_TOPICS, DAY_MS, Principal, TopicSpec
from kit.credentials import ensure_per_tenant
from kit.tenants import load_tenants
from stack import StackError, run_sync
from stack.acls import provision
from stack.backup import backup, reset_offsets, restore
from stack.credentials import (
    KAFKA_USERS,
    KafkaCredentials,
    KafkaInstallation,
    alert_link_key_file,
    device_cookie_secret_file,
    installation_secret,
    kafka_secrets_dir,
    registration_code_key_file,
    staff_totp_key_file,
)
from stack.demo import DEMO_METER, DEMO_TENANT, publish_yesterday_again
from stack.kafka import CLUSTER_NODES, KafkaCluster, KafkaServer, write_container_config
from stack.paths import var_dir
from stack.postgres import PostgresServer
from stack.processes import DATABASES, POSTGRES_PORT, printhouse_credentials_file
from stack.topics import wait_for_kafka

EXIT_ERROR = 1
EXIT_NOT_RUNNING = 3
ACTIONS = ("start", "stop", "wipe", "status")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        result: int = args.handler(args)
    except StackError as exc:
        print(f"Fehler: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("Abgebrochen.", file=sys.stderr)
        return 130
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="plusportal-stack", description="Lokales Kafka und PostgreSQL für Plusportal (ohne Docker)."
    )
    parser.add_argument("--var", type=Path, default=None, help="var-Ordner (Standard: $PLUSPORTAL_VAR oder <repo>/var)")
    commands = parser.add_subparsers(dest="command", required=True)

    kafka = commands.add_parser("kafka", help="Kafka (KRaft, ein Knoten oder ein Cluster aus drei)")
    kafka.add_argument("action", choices=ACTIONS)
    kafka.add_argument("--port", type=int, default=19092, help="Client-Port (Standard 19092; Cluster: +2 je Knoten)")
    kafka.add_argument(
        "--controller-port", type=int, default=19093, help="Controller-Port (Standard 19093; Cluster: +2 je Knoten)"
    )
    kafka.add_argument(
        "--nodes",
        type=int,
        choices=(1, CLUSTER_NODES),
        default=1,
        help=f"1 (Standard) oder {CLUSTER_NODES}: Cluster in var/kafka-cluster/",
    )
    kafka.add_argument("--timeout", type=float, default=60, help="Sekunden bis zum Aufgeben beim Start")
    kafka.set_defaults(handler=_kafka)

    postgres = commands.add_parser("postgres", help="PostgreSQL")
    postgres.add_argument("action", choices=ACTIONS)
    postgres.add_argument("--port", type=int, default=55432, help="Port (Standard 55432)")
    postgres.add_argument("--timeout", type=float, default=30, help="Sekunden bis zum Aufgeben beim Start")
    postgres.set_defaults(handler=_postgres)

    container = commands.add_parser(
        "kafka-config", help="Passwörter und Konfiguration für Apaches Kafka-Image schreiben (docker-compose.yml)"
    )
    container.add_argument("--host", default="kafka", help="Name, unter dem die Container Kafka erreichen")
    container.add_argument("--port", type=int, default=9092)
    container.add_argument("--out", type=Path, required=True, help="Ordner für server.properties und start.sh")
    container.set_defaults(handler=_kafka_config)

    topics = commands.add_parser("topics", help="Kafka-Benutzer, ACLs und alle Topics aus contracts/topics.py anlegen")
    topics.add_argument("--bootstrap", default="127.0.0.1:19092", help="Kafka-Adresse (Standard 127.0.0.1:19092)")
    topics.set_defaults(handler=_topics)

    secrets = commands.add_parser(
        "secrets", help="Schlüssel dieser Installation: Geräte-Cookies, Registrierungscodes, Druckerei-Zugänge"
    )
    secrets.set_defaults(handler=_secrets)

    for name, text in (
        ("backup", "jede Dienst-Datenbank mit pg_dump sichern (mit manifest.json)"),
        ("restore", "eine Sicherung in einen frischen PostgreSQL-Server zurückspielen"),
    ):
        command = commands.add_parser(name, help=text)
        command.add_argument("folder", type=Path, help="Ordner der Sicherung (für backup: neu oder leer)")
        command.add_argument("--port", type=int, default=POSTGRES_PORT, help="Port des lokalen PostgreSQL")
        command.add_argument(
            "--database-url", default=None, help="anderer Server, z. B. postgresql://plusportal:…@host:5432/postgres"
        )
        command.set_defaults(handler=_backup if name == "backup" else _restore)

    reset = commands.add_parser(
        "reset-offsets", help="Consumer-Gruppen der Dienste auf einen Zeitpunkt zurücksetzen (nach restore)"
    )
    reset.add_argument(
        "--to-datetime", required=True, type=_aware_datetime, help="ISO-Zeitpunkt, z. B. 2026-12-03T13:00:00+00:00"
    )
    reset.add_argument("--group", action="append", default=None, help="nur diese Gruppe (mehrfach möglich)")
    reset.add_argument("--bootstrap", default="127.0.0.1:19092", help="Kafka-Adresse (Standard 127.0.0.1:19092)")
    reset.set_defaults(handler=_reset_offsets)

    again = commands.add_parser(
        "demo-yesterday",
        help="die Demo-Messwerte von gestern erneut senden (gleiche Werte): neue Benachrichtigungen lösen dann aus",
    )
    again.add_argument("--tenant", default=DEMO_TENANT, help=f"Portalnummer (Standard {DEMO_TENANT})")
    again.add_argument("--meter", default=DEMO_METER, help=f"Zählernummer (Standard {DEMO_METER}, Erika Mustermann)")
    again.add_argument("--bootstrap", default="127.0.0.1:19092", help="Kafka-Adresse (Standard 127.0.0.1:19092)")
    again.set_defaults(handler=_demo_yesterday)
    return parser


def _demo_yesterday(args: argparse.Namespace) -> int:
    kafka = KafkaInstallation(args.bootstrap, KafkaCredentials(kafka_secrets_dir(_var(args))))
    day = publish_yesterday_again(kafka.access(Principal.SMGW_ADMINISTRATOR), args.tenant, args.meter)
    print(f"Messwerte vom {day:%d.%m.%Y} für {args.tenant}/{args.meter} erneut gesendet.")
    return 0


def _var(args: argparse.Namespace) -> Path:
    return args.var.resolve() if args.var is not None else var_dir()


# --- kafka ------------------------------------------------------------------------------------------


def _kafka(args: argparse.Namespace) -> int:
    if args.nodes != 1:
        return _kafka_cluster(args)
    server = KafkaServer(_var(args), args.port, args.controller_port)
    actions: dict[str, Callable[[], int]] = {
        "start": lambda: _kafka_start(server, args.timeout),
        "stop": lambda: _kafka_stop(server),
        "wipe": lambda: _kafka_wipe(server),
        "status": lambda: _kafka_status(server),
    }
    return actions[args.action]()


def _kafka_start(server: KafkaServer, timeout: float) -> int:
    server.start(timeout)
    print(f"Kafka läuft: bootstrap {server.bootstrap_servers}, Controller 127.0.0.1:{server.controller_port}")
    print(f"  pid {server.pid()}, Daten {server.data_dir}")
    print(f"  Log {server.server_log} (Konsole: {server.console_log})")
    print("  Topics anlegen: plusportal-stack topics")
    return 0


def _kafka_stop(server: KafkaServer) -> int:
    print("Kafka gestoppt." if server.stop() else f"Kafka lief nicht ({server.root}).")
    return 0


def _kafka_wipe(server: KafkaServer) -> int:
    server.wipe()
    print(f"Kafka-Daten gelöscht: {server.data_dir} (Jars in {server.libs_dir} bleiben).")
    return 0


def _kafka_status(server: KafkaServer) -> int:
    pid = server.pid()
    if pid is None:
        print(f"Kafka läuft nicht ({server.root}).")
        return EXIT_NOT_RUNNING
    print(f"Kafka läuft: pid {pid}, bootstrap {server.bootstrap_servers}, Log {server.server_log}")
    return 0


def _kafka_cluster(args: argparse.Namespace) -> int:
    cluster = KafkaCluster(_var(args), args.port, args.controller_port)
    if args.action == "start":
        cluster.start(max(args.timeout, 90))
        print(f"Kafka-Cluster läuft: bootstrap {cluster.bootstrap_servers}")
    elif args.action == "stop":
        print("Kafka-Cluster gestoppt." if cluster.stop() else f"Kafka-Cluster lief nicht ({cluster.root}).")
        return 0
    elif args.action == "wipe":
        cluster.wipe()
        print(f"Kafka-Cluster-Daten gelöscht: {cluster.root} (Jars in {cluster.libs_dir} bleiben).")
        return 0
    for node in cluster.nodes:
        pid = node.pid()
        state = f"läuft, pid {pid}" if pid is not None else "läuft NICHT"
        where = f"127.0.0.1:{node.port} (Controller {node.controller_port})"
        print(f"  Knoten {node.node_id}: {state}, {where}, Log {node.server_log}")
    if args.action == "start":
        print("  Topics anlegen: plusportal-stack topics (Replikationsfaktor 3, min.insync.replicas 2)")
    return 0 if cluster.is_running() else EXIT_NOT_RUNNING


# --- postgres ---------------------------------------------------------------------------------------


def _postgres(args: argparse.Namespace) -> int:
    server = PostgresServer(_var(args), args.port)
    actions: dict[str, Callable[[], int]] = {
        "start": lambda: _postgres_start(server, args.timeout),
        "stop": lambda: _postgres_stop(server),
        "wipe": lambda: _postgres_wipe(server),
        "status": lambda: _postgres_status(server),
    }
    return actions[args.action]()


def _postgres_start(server: PostgresServer, timeout: float) -> int:
    server.start(timeout)
    print(f"PostgreSQL läuft: 127.0.0.1:{server.port}, Benutzer plusportal (ohne Passwort, nur lokal)")
    print(f"  pid {server.pid()}, Daten {server.data_dir}")
    print(f"  Log {server.log_file}")
    print(f"  URL-Muster {server.url('<datenbank>')}")
    return 0


def _postgres_stop(server: PostgresServer) -> int:
    print("PostgreSQL gestoppt." if server.stop() else f"PostgreSQL lief nicht ({server.data_dir}).")
    return 0


def _postgres_wipe(server: PostgresServer) -> int:
    server.wipe()
    print(f"PostgreSQL-Daten gelöscht: {server.data_dir}")
    return 0


def _postgres_status(server: PostgresServer) -> int:
    pid = server.pid()
    if pid is None:
        print(f"PostgreSQL läuft nicht ({server.data_dir}).")
        return EXIT_NOT_RUNNING
    print(f"PostgreSQL läuft: pid {pid}, 127.0.0.1:{server.port}, Log {server.log_file}")
    return 0


def _kafka_config(args: argparse.Namespace) -> int:
    credentials = KafkaCredentials(kafka_secrets_dir(_var(args)))
    for user in KAFKA_USERS:
        credentials.file(user)  # the services' containers mount the folder read-only
    start = write_container_config(args.out, credentials, args.host, args.port)
    print(f"Kafka-Konfiguration: {start} (Passwörter in {credentials.folder}, Benutzer {', '.join(KAFKA_USERS)})")
    return 0


def _secrets(args: argparse.Namespace) -> int:
    """What `make up` generates before the processes start (stack.processes.prepare_credentials), for compose."""
    var = _var(args)
    cookie_key = installation_secret(device_cookie_secret_file(var))
    code_key = installation_secret(registration_code_key_file(var))
    installation_secret(staff_totp_key_file(var))
    installation_secret(alert_link_key_file(var))
    credentials = printhouse_credentials_file(var)
    tenants = ensure_per_tenant(credentials, (tenant.portal_number for tenant in load_tenants()))
    print(f"Geräte-Cookie-Schlüssel: {cookie_key}; Registrierungscode-Schlüssel: {code_key}")
    print(f"Druckerei-Zugänge für {', '.join(tenants)}: {credentials}")
    return 0


# --- backup and restore ----------------------------------------------------------------------------


def _server_url(args: argparse.Namespace) -> str:
    if args.database_url:
        return str(args.database_url)
    return PostgresServer(_var(args), args.port).url("postgres")


def _backup(args: argparse.Namespace) -> int:
    backup(args.folder.resolve(), _server_url(args), DATABASES)
    return 0


def _restore(args: argparse.Namespace) -> int:
    restore(args.folder.resolve(), _server_url(args))
    return 0


def _aware_datetime(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)  # without a zone: UTC


def _reset_offsets(args: argparse.Namespace) -> int:
    kafka = KafkaInstallation(args.bootstrap, KafkaCredentials(kafka_secrets_dir(_var(args))))
    resets = run_sync(reset_offsets(kafka.admin, args.to_datetime, args.group))
    if not resets:
        print("Keine Consumer-Gruppe der Dienste mit gespeicherten Offsets gefunden: nichts zurückgesetzt.")
    for reset in resets:
        print(f"Consumer-Gruppe {reset.group}: {len(reset.offsets)} Partitionen auf {args.to_datetime.isoformat()}")
    return 0


# --- topics -----------------------------------------------------------------------------------------


def _topics(args: argparse.Namespace) -> int:
    kafka = KafkaInstallation(args.bootstrap, KafkaCredentials(kafka_secrets_dir(_var(args))))
    try:
        run_sync(wait_for_kafka(kafka.admin, timeout=5))
    except StackError as exc:
        raise StackError(f"{exc}\nLäuft Kafka? Zuerst: plusportal-stack kafka start") from None
    result = run_sync(provision(kafka))
    print(f"Kafka-Benutzer und ACLs für {', '.join(Principal)} gesetzt (Passwörter: {kafka.credentials.folder}).")
    specs = {spec.name: spec for spec in ALL_TOPICS}
    print(f"Kafka-Topics auf {args.bootstrap}:")
    for name in result.created:
        print(f"  angelegt    {_describe(specs[name])}")
    for name in result.existing:
        print(f"  vorhanden   {_describe(specs[name])}")
    for name, (wanted, actual) in result.partition_mismatches.items():
        print(f"  WARNUNG: {name} hat {actual} Partitionen, contracts/topics.py sagt {wanted} (nicht geändert).")
    return 0


def _describe(spec: TopicSpec) -> str:
    retention = "unbegrenzt" if spec.retention_ms < 0 else f"{spec.retention_ms / DAY_MS:g} Tage"
    partitions = "1 Partition" if spec.partitions == 1 else f"{spec.partitions} Partitionen"
    return f"{spec.name} ({partitions}, Aufbewahrung {retention})"


if __name__ == "__main__":
    sys.exit(main())
