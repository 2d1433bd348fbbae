"""`make up` (`python -m stack.up`): the whole Plusportal system on this machine, for trying it out.

Starts PostgreSQL and Kafka, creates the databases and topics, starts the mail sink, onboarding, letters,
identity, meter data and the reference print house as processes, then the gateway (nginx on :8080 with the
web UI, the APIs below /api/ and the dev mailbox and letters), seeds the demo master data and simulated
readings of the demo meters and prints where to click. Strg+C (or SIGTERM) stops everything it started, in
reverse order (the gateway first).

    python -m stack.up [--fresh] [--no-seed] [--kafka-nodes 1|3]

`--kafka-nodes 3` (`make up KAFKA_NODES=3`, or $PLUSPORTAL_KAFKA_NODES) runs Kafka as a cluster of three nodes
(stack.kafka.KafkaCluster, var/kafka-cluster/, ports 19092–19097) instead of the single node.

The parts: stack.processes (what runs, with which environment), stack.supervision (start, watch, stop),
stack.demo (the demo data, and waiting until the services have read it), stack.summary (the walk-through).
Everything lives below the var dir (`$PLUSPORTAL_VAR`, default <repo>/var): kafka/, postgres/, mail/,
letters/printed/, identity/signing-key.pem, logs/<process>.log, gateway/ (nginx.conf, access.log).
docker-compose.yml runs the same processes in containers (tests/unit/test_compose.py keeps them in step).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from collections.abc import Sequence

from backoffice.masterdata_import import ImportProblem
from stack import StackError, say, shown
from stack.demo import create_demo_staff, demo_tenants, seed
from stack.kafka import CLUSTER_NODES
from stack.paths import var_dir
from stack.summary import summary
from stack.supervision import Shutdown, Supervisor

KAFKA_NODES_ENV = "PLUSPORTAL_KAFKA_NODES"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="make up", description="Startet das ganze Plusportal lokal (Kafka, PostgreSQL, Mail-Sink, Dienste)."
    )
    parser.add_argument(
        "--fresh", action="store_true", help="vorher alle Daten löschen (Kafka, PostgreSQL, Mails, Briefe, Logs)"
    )
    parser.add_argument("--no-seed", action="store_true", help="keine Demo-Stammdaten veröffentlichen")
    parser.add_argument(
        "--kafka-nodes",
        type=int,
        choices=(1, CLUSTER_NODES),
        default=int(os.environ.get(KAFKA_NODES_ENV) or 1),
        help=f"Kafka als ein Knoten (Standard) oder als Cluster aus {CLUSTER_NODES} Knoten (${KAFKA_NODES_ENV})",
    )
    args = parser.parse_args(argv)

    shutdown = Shutdown()
    shutdown.install()
    started_at = time.monotonic()
    supervisor = Supervisor(var_dir(), demo_tenants(), fresh=args.fresh, kafka_nodes=args.kafka_nodes)
    exit_code = 0
    try:
        supervisor.start()
        if not args.no_seed:
            seed(supervisor.kafka.installation, supervisor.report, supervisor.log_of)
        create_demo_staff(supervisor.var, supervisor.site.database_url("identity"), supervisor.report)
        say(summary(supervisor.site, supervisor.gateway, supervisor.logs, time.monotonic() - started_at))
        supervisor.watch()
    except KeyboardInterrupt:
        pass
    except (StackError, ImportProblem) as exc:
        say(f"\nFehler: {exc}")
        exit_code = 1
    except Exception as exc:  # unexpected: the traceback helps whoever fixes it
        traceback.print_exc()
        say(f"\nFehler: {type(exc).__name__}: {exc}\nDie Logs liegen in {shown(supervisor.logs)}/.")
        exit_code = 1
    finally:
        shutdown.stopping = True  # from here on, signals must not interrupt the clean-up
        supervisor.stop_all()
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
