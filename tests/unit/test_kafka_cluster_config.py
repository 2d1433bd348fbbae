"""The three-node cluster's configuration (stack.kafka.KafkaCluster) and the topics' replication (stack.topics),
without starting a JVM."""

from pathlib import Path

from contracts.topics import METER_READINGS
from kit.kafka import KafkaAccess
from stack.kafka import KafkaCluster, KafkaServer, kafka_for
from stack.topics import new_topic, replication


def _properties(path: Path) -> dict[str, str]:
    lines = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    pairs = [line.split("=", 1) for line in lines]
    keys = [key for key, _ in pairs]
    assert len(keys) == len(set(keys)), "a setting given twice"
    return dict(pairs)


def test_each_node_is_a_voter_of_the_static_quorum_with_three_replicas_and_the_single_nodes_authentication(
    tmp_path: Path,
) -> None:
    cluster = KafkaCluster(tmp_path, 29092, 29093)
    assert cluster.bootstrap_servers == "127.0.0.1:29092,127.0.0.1:29094,127.0.0.1:29096"
    assert cluster.ports == (29092, 29093, 29094, 29095, 29096, 29097)
    for node in cluster.nodes:
        node._render_properties()
    single = KafkaServer(tmp_path / "single", 39092, 39093)
    single._render_properties()
    one = _properties(single.properties_file)
    for node in cluster.nodes:
        settings = _properties(node.properties_file)
        assert settings["node.id"] == str(node.node_id)
        assert settings["controller.quorum.voters"] == "1@127.0.0.1:29093,2@127.0.0.1:29095,3@127.0.0.1:29097"
        assert "controller.quorum.bootstrap.servers" not in settings
        assert settings["listeners"] == f"CLIENT://127.0.0.1:{node.port},CONTROLLER://127.0.0.1:{node.controller_port}"
        for key in ("default.replication.factor", "offsets.topic.replication.factor"):
            assert settings[key] == "3"
        assert settings["transaction.state.log.replication.factor"] == "3"
        assert settings["min.insync.replicas"] == settings["transaction.state.log.min.isr"] == "2"
        for key in (
            "listener.security.protocol.map",
            "sasl.enabled.mechanisms",
            "sasl.mechanism.inter.broker.protocol",
            "sasl.mechanism.controller.protocol",
            "authorizer.class.name",
            "allow.everyone.if.no.acl.found",
            "super.users",
        ):
            assert settings[key] == one[key], key
        assert "User:ANONYMOUS" not in settings["super.users"]
        assert node.properties_file.stat().st_mode & 0o077 == 0  # passwords inside
    assert one["node.id"] == "1" and one["offsets.topic.replication.factor"] == "1"


def test_the_cluster_shares_the_single_nodes_credentials_but_not_its_data(tmp_path: Path) -> None:
    single, cluster = kafka_for(tmp_path, 1), kafka_for(tmp_path, 3)
    assert isinstance(single, KafkaServer) and isinstance(cluster, KafkaCluster)
    assert single.credentials == cluster.credentials
    assert {node.data_dir for node in cluster.nodes}.isdisjoint({single.data_dir})


def test_topics_get_three_replicas_two_in_sync_on_three_brokers_and_one_on_a_single_node() -> None:
    assert replication(1) == (1, 1)
    assert replication(3) == (3, 2)
    single, clustered = new_topic(METER_READINGS, 1), new_topic(METER_READINGS, 3)
    assert single.replication_factor == 1 and "min.insync.replicas" not in dict(single.topic_configs)
    assert clustered.replication_factor == 3 and dict(clustered.topic_configs)["min.insync.replicas"] == "2"


def test_faststream_gets_the_bootstrap_servers_one_by_one() -> None:
    assert KafkaAccess("127.0.0.1:1,127.0.0.1:2, 127.0.0.1:3").servers == ["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"]
    assert KafkaAccess("127.0.0.1:19092").servers == ["127.0.0.1:19092"]
