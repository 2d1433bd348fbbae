"""A real Apache Kafka run from Maven-fetched jars: one node (KRaft: broker and controller in one JVM), or a
cluster of three such nodes (KafkaCluster: static quorum of three voters, replication factor 3).

Layout below `<var>/kafka/` (the cluster: `<var>/kafka-cluster/node-<id>/` each, and `cluster.id`):
    libs/               Kafka's jars (deploy/kafka/pom.xml, fetched once, shared by test brokers)
    server.properties   rendered from deploy/kafka/server.properties (holds the broker's password: mode 0600)
    data/               log.dirs: the topics and the KRaft metadata log
    logs/server.log     the broker's log; logs/kafka.out its console (warnings, JVM crashes)
    kafka.pid           pid of the running broker
Credentials: `<var>/secrets/kafka/` (stack.credentials); the storage is formatted with the broker's and the
admin's SCRAM credentials, stack.acls adds the platform's users and ACLs.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import hashlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from string import Template
from typing import Any

from kafka.admin import KafkaAdminClient  # kafka-python: aiokafka has no DescribeQuorum

from stack import Reporter, StackError, Stage, port_open, run_sync, say, tail, tail_file
from stack.credentials import ADMIN, BROKER, CONTROLLER, KafkaCredentials, KafkaInstallation, kafka_secrets_dir
from stack.paths import KAFKA_DEPLOY_DIR, kafka_libs_dir
from stack.topics import CLUSTER_MIN_INSYNC_REPLICAS, CLUSTER_REPLICATION_FACTOR, wait_for_kafka

POM = KAFKA_DEPLOY_DIR / "pom.xml"
PROPERTIES_TEMPLATE = KAFKA_DEPLOY_DIR / "server.properties"
LOG4J_CONFIG = KAFKA_DEPLOY_DIR / "log4j2.properties"

STARTED_LINE = "Kafka Server started"
MIN_JAVA = 17  # Kafka 4 brokers need Java 17
JVM_OPTIONS = (
    "-Xms256m",
    "-Xmx768m",
    "-XX:+UseG1GC",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
)
# Written into libs/ after a complete download: a half-copied folder (Ctrl-C during mvn) or a
# changed pom (new Kafka version) must lead to a fresh fetch.
JARS_STAMP = ".pom-sha256"
# Written into data/ when the storage was formatted with SCRAM users; older data dirs have none.
SCRAM_STAMP = ".scram"

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
INSTALL_JAVA = "Java 17 fehlt: apt-get install -y openjdk-17-jre-headless"
INSTALL_MAVEN = "Maven fehlt: apt-get install -y maven"


class KafkaServer:
    """One local Kafka broker; the CLI and the test fixtures drive it through this class."""

    def __init__(
        self,
        var_dir: Path,
        port: int = 19092,
        controller_port: int = 19093,
        *,
        libs_dir: Path | None = None,
        detach: bool = True,
        report: Reporter = say,
        root: Path | None = None,
        credentials: KafkaCredentials | None = None,
    ) -> None:
        # root/credentials: a cluster's node lives in a folder of its own and shares the cluster's credentials.
        self.root = root if root is not None else Path(var_dir) / "kafka"
        self.credentials = credentials or KafkaCredentials(kafka_secrets_dir(Path(var_dir)))
        self.port = port
        self.controller_port = controller_port
        # Test brokers live in temporary var dirs but reuse the repo's jars instead of copying them (their size:
        # benchmarks/README.md, "The local stack").
        self.libs_dir = libs_dir if libs_dir is not None else kafka_libs_dir(Path(var_dir))
        self.data_dir = self.root / "data"
        self.logs_dir = self.root / "logs"
        self.properties_file = self.root / "server.properties"
        self.pid_file = self.root / "kafka.pid"
        self.server_log = self.logs_dir / "server.log"
        self.console_log = self.logs_dir / "kafka.out"
        # Detached (CLI): the broker outlives the command that started it. Attached (tests): it shares
        # our process group and dies with us, so a killed test run cannot leave a JVM behind.
        self._detach = detach
        self._report = report
        self._process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0  # where server.log ended before our launch; older lines are stale

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def installation(self) -> KafkaInstallation:
        return KafkaInstallation(self.bootstrap_servers, self.credentials)

    @property
    def ports(self) -> tuple[int, ...]:
        """Every port this broker listens on (client, controller)."""
        return (self.port, self.controller_port)

    # --- jars -------------------------------------------------------------------------------------

    def ensure_jars(self) -> Path:
        """Fetches Kafka's jars into libs_dir with Maven unless a complete copy is already there."""
        if self._jars_complete():
            return self.libs_dir
        maven = shutil.which("mvn")
        if maven is None:
            raise StackError(INSTALL_MAVEN)
        # Download next to the target and rename, so a concurrent start never sees half a folder.
        staging = self.libs_dir.with_name(f"{self.libs_dir.name}.tmp-{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        with Stage(self._report, f"Kafka: Jars werden mit Maven geladen nach {self.libs_dir}"):
            self._run_maven(maven, staging)
            (staging / JARS_STAMP).write_text(_pom_digest())
            self._install_jars(staging)
        return self.libs_dir

    def _jars_complete(self) -> bool:
        stamp = self.libs_dir / JARS_STAMP
        return stamp.is_file() and stamp.read_text().strip() == _pom_digest()

    @staticmethod
    def _run_maven(maven: str, target: Path) -> None:
        command = [
            maven, "-q", "-B", "-f", str(POM),
            "dependency:copy-dependencies", f"-DoutputDirectory={target}",
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            output = tail(done.stdout + done.stderr, 20)
            raise StackError(
                f"Maven konnte die Kafka-Jars nicht laden (Exit {done.returncode}):\n{output}\n"
                "Ist Maven Central erreichbar (Proxy in ~/.m2/settings.xml)? Danach erneut starten."
            )

    def _install_jars(self, staging: Path) -> None:
        if self._jars_complete():  # another process finished first
            shutil.rmtree(staging, ignore_errors=True)
            return
        shutil.rmtree(self.libs_dir, ignore_errors=True)
        self.libs_dir.parent.mkdir(parents=True, exist_ok=True)
        try:
            staging.rename(self.libs_dir)
        except OSError:
            # Another process renamed its copy in between: theirs is as good as ours.
            shutil.rmtree(staging, ignore_errors=True)
            if not self._jars_complete():
                raise

    # --- lifecycle --------------------------------------------------------------------------------

    def is_running(self) -> bool:
        return self.pid() is not None

    def pid(self) -> int | None:
        """The pid of this var dir's broker if it runs (pid file checked against the process)."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        # A stale pid file may name an unrelated process that reused the pid: check its command line.
        if _pid_alive(pid) and str(self.properties_file) in _cmdline(pid):
            return pid
        return None

    def start(self, timeout: float = 60) -> None:
        """Starts the broker (formatting the storage on first start) and waits until clients connect.

        Idempotent: if this var dir's broker already runs, only waits for it to answer.
        """
        if self.is_running():
            self._check_running_port()
            self._report(f"Kafka läuft bereits (pid {self.pid()}, {self.bootstrap_servers}).")
            run_sync(wait_for_kafka(self.installation.admin, timeout))
            return
        java = self._prepare()
        with Stage(self._report, f"Kafka: Start auf {self.bootstrap_servers}"):
            self._launch(java)
            self._wait_until_ready(timeout)
        self._report(f"Kafka bereit: {self.bootstrap_servers}, Log {self.server_log}")

    def _prepare(self) -> str:
        """Everything before the launch: free ports, Java, jars, properties, formatted storage; returns java."""
        self._check_ports_free()
        java = _find_java()
        self.ensure_jars()
        self._render_properties()
        if not (self.data_dir / "meta.properties").exists():
            self._format(java)
        elif not (self.data_dir / SCRAM_STAMP).exists():
            raise StackError(
                f"Die Kafka-Daten in {self.data_dir} stammen von einem Broker ohne Anmeldung (vor SASL/SCRAM). "
                "Neu beginnen mit `plusportal-stack kafka wipe` (oder `make up ARGS=--fresh`)."
            )
        return java

    def kill(self, timeout: float = 60) -> int | None:
        """SIGKILL, as a crash: no clean shutdown. Returns once the JVM is gone and its ports are closed (its
        threads may hold the listening sockets a moment after the main process died); the killed pid or None."""
        pid = self.pid()
        if pid is None:
            return None
        _signal(pid, signal.SIGKILL)
        deadline = time.monotonic() + timeout
        while not (self._wait_for_exit(pid, 0.2) and not any(port_open(port) for port in self.ports)):
            if time.monotonic() >= deadline:
                raise StackError(f"Kafka (pid {pid}) war {timeout:.0f} s nach SIGKILL nicht beendet.")
        self.pid_file.unlink(missing_ok=True)
        return pid

    def stop(self, timeout: float = 30) -> bool:
        """Stops the broker: SIGTERM (clean shutdown), SIGKILL after `timeout` s. False if it did not run."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        with Stage(self._report, f"Kafka: Stopp (pid {pid})"):
            self._terminate(pid, timeout)
        self.pid_file.unlink(missing_ok=True)
        return True

    def wipe(self) -> None:
        """Stops the broker and deletes its data and logs (topics, offsets); the jars stay."""
        self.stop()
        for path in (self.data_dir, self.logs_dir):
            shutil.rmtree(path, ignore_errors=True)
        self.properties_file.unlink(missing_ok=True)

    # --- start helpers ----------------------------------------------------------------------------

    def _check_running_port(self) -> None:
        """The running broker was started from the rendered properties: do they name our port?"""
        rendered = self.properties_file.read_text()
        match = re.search(r"^listeners=CLIENT://[^:]+:(\d+)", rendered, re.MULTILINE)
        if match and int(match.group(1)) != self.port:
            raise StackError(
                f"Kafka aus {self.root} läuft schon, aber auf Port {match.group(1)}, nicht {self.port}. "
                "Erst `plusportal-stack kafka stop`, dann mit dem neuen Port starten."
            )

    def _check_ports_free(self) -> None:
        for port in (self.port, self.controller_port):
            if port_open(port):
                raise StackError(
                    f"Port {port} ist schon belegt, aber nicht von Kafka aus {self.root}. "
                    f"Den anderen Prozess beenden (ss -ltnp 'sport = :{port}') oder andere Ports wählen."
                )

    def _render_properties(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        write_properties(self.properties_file, self.port, self.controller_port, self.data_dir, self.credentials)

    def _format(self, java: str) -> None:
        """Formats the storage as a one-voter dynamic quorum; happens once per data dir."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        command = [
            java, *self._jvm_base(), "kafka.tools.StorageTool", "format", "--standalone",
            "-t", new_cluster_id(), "-c", str(self.properties_file),
            *self._scram_arguments(),
        ]  # fmt: skip
        with Stage(self._report, f"Kafka: Speicher wird formatiert in {self.data_dir}"):
            done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise StackError(
                f"Kafka-Speicher konnte nicht formatiert werden:\n{tail(done.stdout + done.stderr, 20)}\n"
                "Mit `plusportal-stack kafka wipe` neu beginnen."
            )
        (self.data_dir / SCRAM_STAMP).touch()

    def _scram_arguments(self) -> list[str]:
        return scram_arguments(self.credentials)

    def _jvm_base(self) -> list[str]:
        return [
            *JVM_OPTIONS,
            f"-Dkafka.logs.dir={self.logs_dir}",
            f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
            "-cp", f"{self.libs_dir}/*",  # java expands the wildcard itself
        ]  # fmt: skip

    def _launch(self, java: str) -> None:
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        self._log_offset = self.server_log.stat().st_size if self.server_log.exists() else 0
        command = [java, *self._jvm_base(), "kafka.Kafka", str(self.properties_file)]
        with self.console_log.open("wb") as console:
            # Own session when detached: Ctrl-C in the terminal that ran `kafka start` must not kill it.
            self._process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT,
                cwd=self.root, start_new_session=self._detach,
                preexec_fn=None if self._detach else die_with_parent(),
            )  # fmt: skip
        self.pid_file.write_text(f"{self._process.pid}\n")

    def _wait_until_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self._started_line_logged():
            if self._process is not None and self._process.poll() is not None:
                self.pid_file.unlink(missing_ok=True)
                raise StackError(self._crash_message(f"Kafka ist beim Start beendet (Exit {self._process.returncode})"))
            if time.monotonic() >= deadline:
                self.stop()
                raise StackError(self._crash_message(f"Kafka war nach {timeout:.0f} s nicht gestartet"))
            time.sleep(0.2)
        run_sync(wait_for_kafka(self.installation.admin, max(deadline - time.monotonic(), 5.0)))

    def _started_line_logged(self) -> bool:
        try:
            with self.server_log.open("rb") as log:
                if log.seek(0, os.SEEK_END) >= self._log_offset:  # smaller: the log was rolled over
                    log.seek(self._log_offset)
                else:
                    log.seek(0)
                return STARTED_LINE.encode() in log.read()
        except FileNotFoundError:
            return False

    def _crash_message(self, headline: str) -> str:
        console = tail_file(self.console_log, 15)
        server = tail_file(self.server_log, 15)
        return (
            f"{headline}.\n--- {self.console_log} ---\n{console}\n--- {self.server_log} ---\n{server}\n"
            "Bei kaputten Daten hilft `plusportal-stack kafka wipe`."
        )

    def _terminate(self, pid: int, timeout: float) -> None:
        _signal(pid, signal.SIGTERM)
        if self._wait_for_exit(pid, timeout):
            return
        self._report(f"Kafka reagiert nicht auf SIGTERM nach {timeout:.0f} s, SIGKILL.")
        _signal(pid, signal.SIGKILL)
        self._wait_for_exit(pid, 10)

    def _wait_for_exit(self, pid: int, timeout: float) -> bool:
        if self._process is not None and self._process.pid == pid:
            try:
                self._process.wait(timeout)  # reaps our own child, or it would linger as a zombie
                return True
            except subprocess.TimeoutExpired:
                return False
        deadline = time.monotonic() + timeout
        while _pid_alive(pid):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)
        return True


# --- a cluster of three ----------------------------------------------------------------------------------

CLUSTER_NODES = CLUSTER_REPLICATION_FACTOR  # every node holds a replica of every partition
CLUSTER_DIR = "kafka-cluster"


def cluster_overrides(node_id: int, voters: str) -> dict[str, str | None]:
    """What a node of the three-node cluster sets beyond the single node's template: its id, the static quorum
    of three voters (instead of the dynamic one-voter quorum), and three replicas of every internal topic, two
    of them in sync before a write counts (the platform's own topics: stack.topics)."""
    replicas, in_sync = str(CLUSTER_NODES), str(CLUSTER_MIN_INSYNC_REPLICAS)
    return {
        "node.id": str(node_id),
        "controller.quorum.bootstrap.servers": None,
        "controller.quorum.voters": voters,
        "default.replication.factor": replicas,
        "min.insync.replicas": in_sync,
        "offsets.topic.replication.factor": replicas,
        "transaction.state.log.replication.factor": replicas,
        "transaction.state.log.min.isr": in_sync,
        "share.coordinator.state.topic.replication.factor": replicas,
        "share.coordinator.state.topic.min.isr": in_sync,
    }


class KafkaNode(KafkaServer):
    """One node of a KafkaCluster (broker and controller in one JVM), in `<cluster root>/node-<id>/`."""

    def __init__(
        self,
        cluster: KafkaCluster,
        node_id: int,
        port: int,
        controller_port: int,
        *,
        libs_dir: Path | None,
        detach: bool,
        report: Reporter,
    ) -> None:
        super().__init__(
            cluster.var_dir, port, controller_port, libs_dir=libs_dir, detach=detach, report=report,
            root=cluster.root / f"node-{node_id}", credentials=cluster.credentials,
        )  # fmt: skip
        self.cluster = cluster
        self.node_id = node_id

    def _render_properties(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        overrides = cluster_overrides(self.node_id, self.cluster.voters)
        write_properties(
            self.properties_file, self.port, self.controller_port, self.data_dir, self.credentials,
            overrides=overrides,
        )  # fmt: skip

    def _format(self, java: str) -> None:
        """Formats the storage for the static quorum: the cluster's id, no --standalone, the same SCRAM users on
        every node (each node's metadata log starts from them until the quorum's log replaces it)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        command = [
            java, *self._jvm_base(), "kafka.tools.StorageTool", "format",
            "-t", self.cluster.cluster_id(), "-c", str(self.properties_file),
            *self._scram_arguments(),
        ]  # fmt: skip
        with Stage(self._report, f"Kafka-Knoten {self.node_id}: Speicher wird formatiert in {self.data_dir}"):
            done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise StackError(
                f"Kafka-Speicher von Knoten {self.node_id} konnte nicht formatiert werden:\n"
                f"{tail(done.stdout + done.stderr, 20)}\nMit `plusportal-stack kafka wipe --nodes 3` neu beginnen."
            )
        (self.data_dir / SCRAM_STAMP).touch()

    def prepare(self) -> str:
        """Ports, jars, properties and storage for the launch; returns java."""
        return self._prepare()

    def launch(self, java: str) -> None:
        """Launches the JVM without waiting (the nodes wait for each other's votes)."""
        self._launch(java)

    def wait_until_ready(self, timeout: float) -> None:
        self._wait_until_ready(timeout)


class KafkaCluster:
    """Three local Kafka nodes, each broker and controller, with the single node's authentication (SASL/SCRAM
    for clients and between brokers, PLAIN on the controller listener, ACLs). Node `i` (1, 2, 3) listens on
    `port + 2(i-1)` for clients and `controller_port + 2(i-1)` for the controllers: 19092/19093, 19094/19095,
    19096/19097 by default. Same interface as KafkaServer (start, stop, wipe, installation), plus kill and
    restart of single nodes and the active controller, for the tests."""

    def __init__(
        self,
        var_dir: Path,
        port: int = 19092,
        controller_port: int = 19093,
        *,
        ports: Sequence[tuple[int, int]] | None = None,
        libs_dir: Path | None = None,
        detach: bool = True,
        report: Reporter = say,
    ) -> None:
        self.var_dir = Path(var_dir)
        self.root = self.var_dir / CLUSTER_DIR
        self.credentials = KafkaCredentials(kafka_secrets_dir(self.var_dir))
        if ports is None:
            ports = [(port + 2 * i, controller_port + 2 * i) for i in range(CLUSTER_NODES)]
        if len(ports) != CLUSTER_NODES:
            raise ValueError(f"a cluster has {CLUSTER_NODES} nodes, not {len(ports)}")
        self._report = report
        self.nodes = [
            KafkaNode(self, node_id, client, controller, libs_dir=libs_dir, detach=detach, report=report)
            for node_id, (client, controller) in enumerate(ports, start=1)
        ]
        self.libs_dir = self.nodes[0].libs_dir

    @property
    def voters(self) -> str:
        """controller.quorum.voters: `<id>@127.0.0.1:<controller port>` of every node."""
        return ",".join(f"{node.node_id}@127.0.0.1:{node.controller_port}" for node in self.nodes)

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(node.bootstrap_servers for node in self.nodes)

    @property
    def installation(self) -> KafkaInstallation:
        return KafkaInstallation(self.bootstrap_servers, self.credentials)

    @property
    def ports(self) -> tuple[int, ...]:
        return tuple(port for node in self.nodes for port in node.ports)

    @property
    def server_log(self) -> Path:
        return self.root / "node-*" / "logs" / "server.log"  # for messages: one per node

    def node(self, node_id: int) -> KafkaNode:
        return self.nodes[node_id - 1]

    def cluster_id(self) -> str:
        """The cluster's id, made once (every node is formatted with it)."""
        path = self.root / "cluster.id"
        if not path.exists():
            self.root.mkdir(parents=True, exist_ok=True)
            path.write_text(new_cluster_id() + "\n")
        return path.read_text().strip()

    def is_running(self) -> bool:
        """True when every node runs."""
        return all(node.is_running() for node in self.nodes)

    def pid(self) -> int | None:
        """The first node's pid when every node runs (the CLI's status), else None."""
        return self.nodes[0].pid() if self.is_running() else None

    def pids(self) -> dict[int, int | None]:
        return {node.node_id: node.pid() for node in self.nodes}

    def start(self, timeout: float = 90) -> None:
        """Starts the nodes that do not run (formatting each on its first start) and waits until every node has
        joined and clients can fetch metadata. Idempotent."""
        if self.is_running():
            self._report(f"Kafka-Cluster läuft bereits ({self.bootstrap_servers}).")
            run_sync(wait_for_kafka(self.installation.admin, timeout))
            return
        deadline = time.monotonic() + timeout
        starting = [node for node in self.nodes if not node.is_running()]
        with Stage(self._report, f"Kafka-Cluster: Start von {len(starting)} Knoten ({self.bootstrap_servers})"):
            try:
                # Formatted side by side (a JVM start each), launched all at once: a node is ready only once a
                # majority votes. Launched from this thread: PR_SET_PDEATHSIG fires when the launching thread ends.
                for user in (BROKER, CONTROLLER, ADMIN):  # made once, here: the nodes share them
                    self.credentials.file(user)
                self.cluster_id()
                with ThreadPoolExecutor(len(starting)) as pool:
                    javas = list(pool.map(KafkaNode.prepare, starting))
                for node, java in zip(starting, javas, strict=True):
                    node.launch(java)
                for node in starting:
                    node.wait_until_ready(max(deadline - time.monotonic(), 5.0))
                run_sync(wait_for_kafka(self.installation.admin, max(deadline - time.monotonic(), 5.0)))
            except BaseException:
                self.stop()
                raise
        self._report(f"Kafka-Cluster bereit: {self.bootstrap_servers}, Logs {self.root}/node-*/logs/server.log")

    def stop(self, timeout: float = 30) -> bool:
        """SIGTERM to every node at once (SIGKILL after `timeout` s); False if none ran."""
        pids = {node: node.pid() for node in self.nodes}
        running = {node: pid for node, pid in pids.items() if pid is not None}
        for node in self.nodes:
            if node not in running:
                node.pid_file.unlink(missing_ok=True)
        if not running:
            return False
        with Stage(self._report, f"Kafka-Cluster: Stopp ({len(running)} Knoten)"):
            for pid in running.values():
                _signal(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            for node, pid in running.items():
                if not node._wait_for_exit(pid, max(deadline - time.monotonic(), 0.1)):
                    _signal(pid, signal.SIGKILL)
                    node._wait_for_exit(pid, 10)
                node.pid_file.unlink(missing_ok=True)
        return True

    def wipe(self) -> None:
        """Stops every node and deletes the cluster's data, logs and id; the jars and credentials stay."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    # --- faults, for the tests ------------------------------------------------------------------------

    def kill(self, node_id: int) -> int | None:
        """SIGKILL to one node (a crash); returns once it is gone."""
        return self.node(node_id).kill()

    def restart(self, node_id: int, timeout: float = 90) -> None:
        """Starts a node that was killed or stopped again; returns once it has rejoined."""
        self.node(node_id).start(timeout)

    def active_controller(self, timeout: float = 30) -> int:
        """The node id of the quorum's leader, the active controller (DescribeQuorum through a broker)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                leader = _quorum_leader(self.installation)
                if leader >= 0:
                    return leader
                problem = "noch kein Leader gewählt"
            except Exception as exc:  # a node just killed: the next look goes to another broker
                problem = repr(exc)
            if time.monotonic() >= deadline:
                raise StackError(f"Kein aktiver Kafka-Controller nach {timeout:.0f} s: {problem}")
            time.sleep(0.5)


def _quorum_leader(kafka: KafkaInstallation) -> int:
    admin = KafkaAdminClient(**kafka.admin.client_options(), client_id="plusportal-stack", request_timeout_ms=10_000)
    try:
        described = admin.describe_metadata_quorum()
    finally:
        admin.close()
    return int(described["topics"][0]["partitions"][0]["leader_id"])


def kafka_for(
    var_dir: Path, nodes: int, port: int = 19092, controller_port: int = 19093, **options: Any
) -> KafkaServer | KafkaCluster:
    """The single node (nodes=1) or the three-node cluster (nodes=3) of `var_dir`."""
    if nodes == 1:
        return KafkaServer(var_dir, port, controller_port, **options)
    if nodes == CLUSTER_NODES:
        return KafkaCluster(var_dir, port, controller_port, **options)
    raise StackError(f"Kafka läuft hier mit 1 oder {CLUSTER_NODES} Knoten, nicht mit {nodes}.")


def write_properties(
    path: Path,
    port: int,
    controller_port: int,
    log_dirs: Path,
    credentials: KafkaCredentials,
    listen_host: str = "127.0.0.1",
    advertised_host: str = "127.0.0.1",
    overrides: Mapping[str, str | None] | None = None,
) -> None:
    """deploy/kafka/server.properties rendered for one broker; only its owner may read it (passwords).

    `overrides` replace the template's settings of the same name (None: removes it), e.g. a cluster node's."""
    text = Template(PROPERTIES_TEMPLATE.read_text()).substitute(
        LISTEN_HOST=listen_host,
        ADVERTISED_HOST=advertised_host,
        PORT=port,
        CONTROLLER_PORT=controller_port,
        LOG_DIRS=log_dirs,
        BROKER_PASSWORD=credentials.password(BROKER),
        CONTROLLER_PASSWORD=credentials.password(CONTROLLER),
    )
    if overrides:
        text = _override(text, overrides)
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(text)


def _override(text: str, overrides: Mapping[str, str | None]) -> str:
    kept = [line for line in text.splitlines() if line.split("=", 1)[0].strip() not in overrides]
    added = [f"{key}={value}" for key, value in overrides.items() if value is not None]
    return "\n".join([*kept, "", "# This node's settings (stack.kafka)", *added]) + "\n"


def scram_arguments(credentials: KafkaCredentials) -> list[str]:
    """StorageTool's arguments for the SCRAM users a broker needs before it can authenticate anyone: its own
    and the admin's (the platform's users: stack.acls, over the admin's connection)."""
    arguments = []
    for user in (BROKER, ADMIN):
        arguments += ["--add-scram", f"SCRAM-SHA-512=[name={user},password={credentials.password(user)}]"]
    return arguments


CONTAINER_CONFIG_DIR = "/etc/plusportal"  # where a Kafka container sees write_container_config's folder
CONTAINER_LOG_DIRS = Path("/var/lib/kafka/data")  # apache/kafka's data volume


def write_container_config(folder: Path, credentials: KafkaCredentials, host: str, port: int) -> Path:
    """server.properties and start.sh for Apache's Kafka image (docker-compose.yml, the Docker test path):
    start.sh formats the storage with the SCRAM users on the first start, then runs the broker. Readable by
    the image's own user: mount the folder into the Kafka container only."""
    folder.mkdir(parents=True, exist_ok=True)
    properties = folder / "server.properties"
    write_properties(properties, port, port + 1, CONTAINER_LOG_DIRS, credentials, "0.0.0.0", host)
    storage = ["/opt/kafka/bin/kafka-storage.sh", "format", "--standalone", "-t", new_cluster_id()]
    storage += ["-c", f"{CONTAINER_CONFIG_DIR}/server.properties", *scram_arguments(credentials)]
    start = folder / "start.sh"
    start.write_text(
        "#!/bin/bash\nset -e\n"
        f"test -f {CONTAINER_LOG_DIRS}/meta.properties || {shlex.join(storage)}\n"
        f"exec /opt/kafka/bin/kafka-server-start.sh {CONTAINER_CONFIG_DIR}/server.properties\n"
    )
    for path in (properties, start):
        path.chmod(0o644)
    return start


def new_cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64 without padding (like StorageTool random-uuid)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):  # Kafka avoids these too: they look like command-line options
            return cluster_id


def die_with_parent() -> Callable[[], None] | None:
    """A preexec_fn asking Linux to SIGTERM the child when we die (prctl PR_SET_PDEATHSIG), if available."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None  # not Linux: the fixtures' atexit hook still stops the broker on a normal exit

    def set_parent_death_signal() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)

    return set_parent_death_signal


def _find_java() -> str:
    java = shutil.which("java")
    if java is None:
        raise StackError(INSTALL_JAVA)
    done = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    match = re.search(r'version "(\d+)(?:\.(\d+))?', done.stderr + done.stdout)
    if match is None:
        raise StackError(f"`{java} -version` meldet keine Version. {INSTALL_JAVA}")
    major = int(match.group(1))
    if major == 1 and match.group(2):  # "1.8" style
        major = int(match.group(2))
    if major < MIN_JAVA:
        raise StackError(f"Java {major} ist zu alt für Kafka 4 ({java}). {INSTALL_JAVA}")
    return java


def _pom_digest() -> str:
    return hashlib.sha256(POM.read_bytes()).hexdigest()


def _pid_alive(pid: int) -> bool:
    try:
        # Reap it first if it is our exited child; otherwise it stays a zombie that "exists".
        reaped, _ = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _proc_state(pid) != "Z"


def _proc_state(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    # Format: "pid (comm) S ..."; comm may contain spaces and parentheses, so split after the last ")".
    return stat.rsplit(")", 1)[-1].split()[0]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _signal(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # it may exit on its own meanwhile
        os.kill(pid, signum)
