"""docker-compose.yml is valid per the compose spec and runs the same system as `make up` (stack/up.py).

No Docker needed: the file is validated with check-jsonschema against the compose spec's schema vendored in
deploy/compose-spec/ and compared with stack.processes' description of the processes on the compose network
(commands, environment, ports, databases, the gateway) and with stack.demo (the demo data).
"""

import json
import re
import shlex
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from contracts.meterdata import LoadProfileDay, RegisterReadings
from kit.tenants import load_tenants
from stack import cli as stack_cli
from stack import demo
from stack.credentials import (
    KafkaCredentials,
    device_cookie_secret_file,
    kafka_secrets_dir,
    registration_code_key_file,
    staff_totp_key_file,
)
from stack.fixtures import KAFKA_IMAGE
from stack.gateway import Gateway, gateway_from_args
from stack.kafka import CONTAINER_CONFIG_DIR, write_container_config
from stack.paths import REPO_ROOT
from stack.processes import (
    COMPOSE_GATEWAY_ADDRESS,
    COMPOSE_HOST_SIDE,
    COMPOSE_SUBNET,
    DATABASES,
    GATEWAY_PORT,
    MAIL_WEB_PORT,
    POSTGRES_PORT,
    SMTP_PORT,
    WEB_ROOT,
    ProcessSpec,
    Site,
    gateway,
    mail_store,
    mailsink,
    platform_processes,
    printed_dir,
    printhouse_credentials_file,
    signing_key_file,
)
from stack.summary import summary
from stack.supervision import local_site

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
COMPOSE_SCHEMA = REPO_ROOT / "deploy" / "compose-spec" / "compose-spec.json"  # the official schema, vendored
DOCKERFILE = REPO_ROOT / "deploy" / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"
POSTGRES_INIT = REPO_ROOT / "deploy" / "postgres-init.sql"
DATA = Path("/data")  # the containers' var dir: /data/mail, /data/letters/printed, /data/identity
OUR_IMAGE = "plusportal:dev"
ONE_SHOT = {"secrets", "kafka-config", "topics", "seed", "seed-readings"}
IMAGE_WEB_ROOT = Path("/app/web")  # deploy/Dockerfile: WORKDIR /app, COPY web ./web
# What the containers' environment may say differently from `make up`'s: where things are.
HOST_OR_PATH_SPECIFIC = {
    "PLUSPORTAL_KAFKA_BOOTSTRAP",
    "PLUSPORTAL_SMTP_HOST",
    "PLUSPORTAL_DATABASE_URL",
    "PLUSPORTAL_PUBLIC_URL",
    "PLUSPORTAL_SIGNING_KEY_FILE",
    "PLUSPORTAL_KAFKA_PASSWORD_FILE",
    "PLUSPORTAL_LETTERS_URL",
    "PLUSPORTAL_PRINTHOUSE_CREDENTIALS_FILE",
}
# Listen on all interfaces inside the container; believe X-Forwarded-For from the gateway's fixed address only.
CONTAINER_ONLY_ENV = {"PLUSPORTAL_HTTP_HOST": "0.0.0.0", "PLUSPORTAL_TRUSTED_PROXIES": COMPOSE_GATEWAY_ADDRESS}


def load_compose() -> dict[str, Any]:
    loaded = YAML(typ="safe", pure=True).load(COMPOSE_FILE.read_text())  # resolves anchors and `<<` merges
    assert isinstance(loaded, dict)
    return loaded


def compose_site(compose: dict[str, Any]) -> Site:
    """The site of docker-compose.yml: /data in the containers, hosts by service name, make up's ports."""
    postgres = compose["services"]["postgres"]["environment"]
    credentials = f"{postgres['POSTGRES_USER']}:{postgres['POSTGRES_PASSWORD']}"
    return Site(
        DATA,
        kafka="kafka:9092",
        database_url=lambda db: f"postgresql+asyncpg://{credentials}@postgres:5432/{db}",
        compose_network=True,
        web_root=IMAGE_WEB_ROOT,
    )


COMPOSE_SITE = compose_site(load_compose())
MAKE_UP_SITE = local_site(DATA, lambda db: f"postgresql+asyncpg://plusportal@127.0.0.1:{POSTGRES_PORT}/{db}")
PYTHON_SPECS = [mailsink(COMPOSE_SITE), *platform_processes(COMPOSE_SITE)]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose()


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = compose["services"]
    return services


def env_of(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment") or {}
    assert isinstance(environment, dict), "environment as a mapping, please (easier to read and to diff)"
    return {key: str(value) for key, value in environment.items()}


def published(service: dict[str, Any]) -> set[str]:
    return {str(port) for port in service.get("ports", [])}


def python_commands(services: dict[str, dict[str, Any]]) -> list[tuple[str, list[str]]]:
    """(service, argv) of every `python -m ...` our image runs; `sh -c "a && b"` counts as a and b (parts that
    are not python, such as a shell variable's assignment, are left out)."""
    found = []
    for name, service in services.items():
        command = [str(part) for part in service.get("command", [])]
        if command[:2] == ["sh", "-c"]:
            parts = [shlex.split(part) for part in command[2].split("&&")]
            found += [(name, argv) for argv in parts if argv[:1] == ["python"]]
        elif command[:1] == ["python"]:
            found.append((name, command))
    return found


# --- the file itself -------------------------------------------------------------------------------------


def check_compose_spec(path: Path) -> subprocess.CompletedProcess[str]:
    """check-jsonschema with the compose spec's schema vendored in the repository (deploy/compose-spec/)."""
    done = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--schemafile", str(COMPOSE_SCHEMA), str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if "No module named check_jsonschema" in done.stderr:
        pytest.fail("check-jsonschema fehlt: .venv/bin/pip install check-jsonschema (gehört in die dev-Extras)")
    return done


def test_compose_file_is_valid_per_the_compose_spec() -> None:
    done = check_compose_spec(COMPOSE_FILE)
    assert done.returncode == 0, done.stdout + done.stderr


def test_compose_spec_refuses_a_broken_file(tmp_path: Path) -> None:
    """The check is not a formality: a misspelt key of a service fails it."""
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE_FILE.read_text().replace("    healthcheck:\n", "    healtcheck:\n", 1))
    done = check_compose_spec(broken)
    assert done.returncode == 1 and "healtcheck" in done.stdout, done.stdout + done.stderr


def test_compose_defines_every_process_of_make_up(services: dict[str, dict[str, Any]]) -> None:
    expected = {"kafka", "postgres", "topics", "seed", "seed-readings", "gateway", *(s.name for s in PYTHON_SPECS)}
    assert expected <= services.keys()


# --- same processes as `make up` -----------------------------------------------------------------------


@pytest.mark.parametrize("spec", PYTHON_SPECS, ids=lambda spec: spec.name)
def test_same_command_as_described(services: dict[str, dict[str, Any]], spec: ProcessSpec) -> None:
    service = services[spec.name]
    assert service["image"] == OUR_IMAGE
    assert service["build"]["dockerfile"] == "deploy/Dockerfile"
    assert [str(part) for part in service["command"]] == ["python", *spec.argv]


def settings_of(spec: ProcessSpec) -> dict[str, str]:
    """The service settings (PLUSPORTAL_*) of a process; PYTHONUNBUFFERED comes from deploy/Dockerfile."""
    return {key: value for key, value in spec.env.items() if key.startswith("PLUSPORTAL_")}


@pytest.mark.parametrize("spec", PYTHON_SPECS, ids=lambda spec: spec.name)
def test_same_environment_as_described(services: dict[str, dict[str, Any]], spec: ProcessSpec) -> None:
    assert env_of(services[spec.name]) == settings_of(spec)


@pytest.mark.parametrize("spec", PYTHON_SPECS, ids=lambda spec: spec.name)
def test_same_environment_as_make_up_but_for_hosts_and_paths(spec: ProcessSpec) -> None:
    """Only where things are differs from `make up`: same keys (and listening on all interfaces in a
    container), same values for everything else (portal links, secrets, log format, ports)."""
    ours = settings_of(
        next(s for s in (mailsink(MAKE_UP_SITE), *platform_processes(MAKE_UP_SITE)) if s.name == spec.name)
    )
    theirs = settings_of(spec)
    container_only = CONTAINER_ONLY_ENV if spec.port is not None else {}
    assert theirs.keys() == ours.keys() | container_only.keys()
    differing = {key for key in ours if ours[key] != theirs[key]}
    assert differing <= HOST_OR_PATH_SPECIFIC, differing
    assert {key: theirs[key] for key in container_only} == container_only


@pytest.mark.parametrize("spec", [s for s in PYTHON_SPECS if s.port], ids=lambda spec: spec.name)
def test_http_services_are_published_and_health_checked(services: dict[str, dict[str, Any]], spec: ProcessSpec) -> None:
    service = services[spec.name]
    assert f"127.0.0.1:{spec.port}:{spec.port}" in published(service)
    assert f"http://127.0.0.1:{spec.port}/health" in " ".join(service["healthcheck"]["test"])


def test_mail_sink_ports_and_store(services: dict[str, dict[str, Any]]) -> None:
    mailsink = services["mailsink"]
    assert published(mailsink) == {
        f"127.0.0.1:{MAIL_WEB_PORT}:{MAIL_WEB_PORT}",
        f"127.0.0.1:{SMTP_PORT}:{SMTP_PORT}",
    }
    assert any(volume.endswith(f":{mail_store(DATA)}") for volume in mailsink["volumes"])
    assert "healthcheck" in mailsink


def test_print_house_writes_into_a_volume(services: dict[str, dict[str, Any]]) -> None:
    targets = [Path(volume.split(":")[1]) for volume in services["printhouse"]["volumes"]]
    assert any(printed_dir(DATA).is_relative_to(target) for target in targets)


def test_identity_keeps_its_signing_key_in_a_volume(services: dict[str, dict[str, Any]]) -> None:
    spec = next(spec for spec in PYTHON_SPECS if spec.name == "identity")
    key = Path(spec.env["PLUSPORTAL_SIGNING_KEY_FILE"])
    assert key == signing_key_file(DATA)
    targets = [Path(volume.split(":")[1]) for volume in services["identity"]["volumes"]]
    assert any(key.is_relative_to(target) for target in targets)


def test_named_volumes_are_declared_and_writable_for_the_service_user(
    services: dict[str, dict[str, Any]], compose: dict[str, Any]
) -> None:
    """A new named volume takes owner and content from the image's directory; on a path the image lacks
    it would belong to root, and the (non-root) service could not write there."""
    created = re.findall(r"mkdir -p ([^&\\]+)", DOCKERFILE.read_text())
    writable = {DATA}
    for path in (Path(part) for line in created for part in line.split()):
        writable |= {path, *(parent for parent in path.parents if parent.is_relative_to(DATA))}
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source, target = volume.split(":")[:2]
            if source.startswith((".", "/")):
                continue  # a bind mount
            assert source in (compose.get("volumes") or {}), f"{name}: Volume {source} fehlt unter volumes:"
            if service.get("image") == OUR_IMAGE:
                assert Path(target) in writable, f"{name}: {target} legt deploy/Dockerfile nicht an"


# --- the gateway ------------------------------------------------------------------------------------------


def compose_gateway(services: dict[str, dict[str, Any]]) -> Gateway:
    """The Gateway compose's `gateway` command describes (parsed by stack.gateway's own command line)."""
    command = [str(part) for part in services["gateway"]["command"]]
    assert command[:3] == ["python", "-m", "stack.gateway"]
    return gateway_from_args(command[3:])


def test_gateway_like_make_up_on_the_compose_network(services: dict[str, dict[str, Any]]) -> None:
    """The gateway stack.processes describes for the compose network: same ports, upstreams and dev tools as
    `make up`'s gateway; only the hosts differ (service names)."""
    ours, described, theirs = gateway(MAKE_UP_SITE), gateway(COMPOSE_SITE), compose_gateway(services)
    assert theirs.render_config() == described.render_config()
    assert theirs.port == ours.port == GATEWAY_PORT
    assert theirs.upstreams == ours.upstreams == {s.name: s.port for s in platform_processes(MAKE_UP_SITE) if s.port}
    assert theirs.upstream_hosts == {name: name for name in ours.upstreams}
    assert (theirs.dev_mail_host, theirs.dev_mail_port) == ("mailsink", ours.dev_mail_port) == ("mailsink", 8025)
    assert theirs.dev_letters_dir == ours.dev_letters_dir == printed_dir(DATA)
    assert (theirs.auth_rate, theirs.auth_burst) == (ours.auth_rate, ours.auth_burst)
    assert theirs.prefix == DATA / "gateway"  # /data belongs to the service user in the image
    assert theirs.web_root == IMAGE_WEB_ROOT and ours.web_root == WEB_ROOT == REPO_ROOT / "web"
    assert theirs.listen_host == "0.0.0.0"  # inside the container; published on the host's loopback only
    config = theirs.render_config()
    for name, port in ours.upstreams.items():
        assert f"server {name}:{port};" in config
    assert "proxy_pass http://mailsink:8025/;" in config
    assert "listen 0.0.0.0:8080 default_server;" in config
    # The links of letters and e-mails lead to this gateway.
    assert MAKE_UP_SITE.portal_url_template.format(portal_number="000328") == ours.url("000328") == theirs.url("000328")


def test_gateway_is_published_on_loopback_and_starts_after_the_services(services: dict[str, dict[str, Any]]) -> None:
    gateway = services["gateway"]
    assert gateway["image"] == OUR_IMAGE
    assert published(gateway) == {f"127.0.0.1:{GATEWAY_PORT}:{GATEWAY_PORT}"}
    assert set(gateway["depends_on"]) == {*(s.name for s in PYTHON_SPECS if s.port), "mailsink"}
    assert f"http://127.0.0.1:{GATEWAY_PORT}/" in " ".join(gateway["healthcheck"]["test"])
    # The printed letters, read-only: the print house writes them into the same volume.
    letters = [volume for volume in gateway["volumes"] if volume.startswith("letters:")]
    assert letters and all(volume.endswith(":ro") for volume in letters)
    assert any(printed_dir(DATA).is_relative_to(volume.split(":")[1]) for volume in letters)
    assert "letters:/data/letters" in services["printhouse"]["volumes"]


def test_image_has_nginx_and_the_web_ui() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"apt-get install -y --no-install-recommends .*\bnginx\b", text)
    assert re.search(r"^WORKDIR /app$", text, re.MULTILINE)
    assert re.search(r"^COPY web \./web$", text, re.MULTILINE)
    assert "web" not in DOCKERIGNORE.read_text().split()


def test_gateway_configuration_for_containers_passes_nginx_check(
    services: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    """`nginx -t` on the container variant (listen on all interfaces, upstreams by host name); the compose
    names resolve only on its network, so `localhost` stands in for them here."""
    theirs = compose_gateway(services)
    gateway = Gateway(
        tmp_path,
        theirs.port,
        theirs.upstreams,
        tmp_path / "web",
        dev_mail_port=theirs.dev_mail_port,
        dev_letters_dir=tmp_path / "printed",
        upstream_hosts=dict.fromkeys(theirs.upstreams, "localhost"),
        dev_mail_host="localhost",
        listen_host=theirs.listen_host,
    )
    gateway.check_config()


def test_make_up_summary_sends_people_to_the_browser(tmp_path: Path) -> None:
    site = local_site(tmp_path, lambda db: db)
    text = summary(site, gateway(site), tmp_path / "logs", ready_after_s=42)
    assert "http://000328.localhost:8080 (Stadtwerke Musterstadt)" in text
    assert "http://000512.localhost:8080 (NG Beispieltal)" in text
    for where in ("/antrag", "/dev/mail/", "/dev/letters/", "/zugang", "/anmelden", "/verbrauch"):
        assert f"http://000328.localhost:8080{where}" in text, where
    for number in (demo.DEMO_PARTNER, demo.DEMO_SOLAR_METER, *demo.DEMO_SOLAR_PARTNERS):
        assert number in text
    assert text.count("curl ") <= 1
    assert "Strg+C beendet alles." in text


def test_kafka_like_the_local_broker(services: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    """The broker runs the configuration stack.kafka writes for `make up` (SASL/SCRAM, ACLs, no auto-created
    topics), rendered for the compose network by the kafka-config job; it is not published on the host."""
    kafka, config = services["kafka"], services["kafka-config"]
    assert kafka["image"] == KAFKA_IMAGE  # the test fixtures' image
    pom_version = re.search(r"<kafka.version>(.+)</kafka.version>", (REPO_ROOT / "deploy/kafka/pom.xml").read_text())
    assert pom_version and f"apache/kafka:{pom_version.group(1)}" == KAFKA_IMAGE  # the jars of `make up`
    assert kafka["command"] == ["bash", f"{CONTAINER_CONFIG_DIR}/start.sh"]
    assert f"kafka-config:{CONTAINER_CONFIG_DIR}:ro" in kafka["volumes"]
    assert not published(kafka)
    assert config["command"] == ["python", "-m", "stack.cli", "kafka-config", "--host", "kafka", "--out", "/data/kafka"]
    assert env_of(config) == {"PLUSPORTAL_VAR": str(DATA)}
    assert "kafka-config:/data/kafka" in config["volumes"]
    assert f"kafka-secrets:{kafka_secrets_dir(DATA)}" in config["volumes"]
    start = write_container_config(tmp_path, KafkaCredentials(tmp_path / "secrets"), "kafka", 9092)
    properties = (tmp_path / "server.properties").read_text()
    assert "advertised.listeners=CLIENT://kafka:9092," in properties
    assert "allow.everyone.if.no.acl.found=false" in properties and "auto.create.topics.enable=false" in properties
    assert "--add-scram" in start.read_text()
    assert "healthcheck" in kafka


@pytest.mark.parametrize("name", ["topics", "seed", "seed-readings", *(spec.name for spec in PYTHON_SPECS[1:])])
def test_kafka_clients_get_the_credentials_read_only(services: dict[str, dict[str, Any]], name: str) -> None:
    assert f"kafka-secrets:{kafka_secrets_dir(DATA)}:ro" in services[name]["volumes"]


def test_postgres_creates_the_databases_of_make_up(services: dict[str, dict[str, Any]]) -> None:
    postgres = services["postgres"]
    assert postgres["image"] == "postgres:15"
    assert f"127.0.0.1:{POSTGRES_PORT}:5432" in published(postgres)
    assert any(
        volume.startswith("./deploy/postgres-init.sql:/docker-entrypoint-initdb.d/") for volume in postgres["volumes"]
    )
    created = re.findall(r"^CREATE DATABASE (\w+);", POSTGRES_INIT.read_text(), re.MULTILINE)
    assert sorted(created) == sorted(DATABASES)


def test_topics_job_uses_the_stack_cli(services: dict[str, dict[str, Any]]) -> None:
    assert services["topics"]["command"] == ["python", "-m", "stack.cli", "topics", "--bootstrap", "kafka:9092"]
    assert env_of(services["topics"]) == {"PLUSPORTAL_VAR": str(DATA)}  # the admin's password under /data


def test_seed_imports_every_demo_file(services: dict[str, dict[str, Any]]) -> None:
    imports = [argv for name, argv in python_commands(services) if name == "seed"]
    expected = [
        ["python", "-m", "backoffice.masterdata_import", "--tenant", tenant, str(path.relative_to(REPO_ROOT))]
        for tenant, path in demo.demo_files()
    ]
    assert expected, "no demo master data found"
    assert imports == expected
    assert env_of(services["seed"]) == {
        "PLUSPORTAL_KAFKA_BOOTSTRAP": "kafka:9092",
        "PLUSPORTAL_KAFKA_SECRETS_DIR": str(kafka_secrets_dir(DATA)),  # as the billing import's principal
    }


def test_seed_readings_simulates_every_demo_meter_like_make_up(services: dict[str, dict[str, Any]]) -> None:
    """Same meters and roles as `make up` (from the demo master data), from the same origin with the same seed:
    the same values as `make up` publishes, up to yesterday."""
    runs = [argv for name, argv in python_commands(services) if name == "seed-readings"]
    origin = demo.DEMO_READINGS_ORIGIN.isoformat()
    simulator = ["python", "-m", "backoffice.smgw_simulator"]
    period = ["--from", origin, "--days", "$$days", "--kafka", "kafka:9092"]
    expected = [
        [*simulator, "--tenant", meter.tenant, "--meter", meter.meter_number, "--role", meter.role, *period]
        for meter in demo.demo_meters()
    ]
    assert {meter.role for meter in demo.demo_meters()} == {"consumption", "both"}
    assert runs == expected
    script = services["seed-readings"]["command"][2]
    # $$ is compose's escaped $: days = whole days since the origin (UTC), so the last one is yesterday.
    assert script.startswith(f"days=$$(( ($$(date -u +%s) - $$(date -u -d {origin} +%s)) / 86400 )) &&")
    assert demo.DEMO_READINGS_SEED == 1, "compose runs the simulator with its default --seed 1"


def test_make_up_demo_readings_do_not_depend_on_the_day_it_runs() -> None:
    """Run on two days, `make up` publishes the same values for the days both cover (re-publishing changes
    nothing), DEMO_READINGS_DAYS days up to yesterday, and registers that never run backwards."""
    erika = demo.DemoMeter(demo.DEMO_TENANT, demo.DEMO_METER, "consumption")
    today = date(2026, 11, 25)
    earlier = demo.demo_readings(erika, *demo.demo_readings_period(today - timedelta(days=30)))
    later = demo.demo_readings(erika, *demo.demo_readings_period(today))
    first, last = demo.demo_readings_period(today)
    days = [p for p in later if isinstance(p, LoadProfileDay)]
    assert [d.day for d in days] == [first + timedelta(days=i) for i in range(demo.DEMO_READINGS_DAYS)]
    assert last == today - timedelta(days=1)
    earlier_days = {d.day: d for d in earlier if isinstance(d, LoadProfileDay)}
    shared = [d for d in days if d.day in earlier_days]
    assert len(shared) == demo.DEMO_READINGS_DAYS - 30
    assert all(d == earlier_days[d.day] for d in shared)
    (registers,) = [p for p in later if isinstance(p, RegisterReadings)]
    assert later[0] is registers, "registers first: stored once the days are"
    earlier_registers = {r.read_at: r.value for p in earlier if isinstance(p, RegisterReadings) for r in p.readings}
    values = [r.value for r in registers.readings]
    assert values == sorted(values)
    assert registers.readings[0].read_at == datetime(first.year, first.month, first.day, tzinfo=demo.BERLIN)
    assert all(earlier_registers[r.read_at] == r.value for r in registers.readings if r.read_at in earlier_registers)


def test_command_line_flags_exist(services: dict[str, dict[str, Any]]) -> None:
    """Every --flag compose passes is one the program knows (asked with --help, nothing is started)."""
    seen: set[tuple[str, ...]] = set()
    for name, argv in python_commands(services):
        flags = [part for part in argv if part.startswith("--")]
        if not flags:
            continue  # the services take their settings from the environment only
        first_flag = argv.index(flags[0])
        program = tuple(argv[1:first_flag])  # "-m module [subcommand]"
        if program in seen:
            continue
        seen.add(program)
        done = subprocess.run(
            [sys.executable, *program, "--help"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, f"{name}: {done.stderr}"
        known = set(re.findall(r"--[A-Za-z0-9][\w-]*", done.stdout))
        unknown = [flag for flag in flags if flag not in known]
        assert not unknown, f"{name}: {' '.join(program)} kennt {unknown} nicht"


# --- start order -----------------------------------------------------------------------------------------


def test_dependencies_wait_for_health_or_completion(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for target, condition in (service.get("depends_on") or {}).items():
            assert target in services, f"{name} hängt von unbekanntem {target} ab"
            wanted = condition["condition"]
            if target in ONE_SHOT:
                assert wanted == "service_completed_successfully", f"{name} → {target}"
            else:
                assert wanted == "service_healthy", f"{name} → {target}"
                assert "healthcheck" in services[target], f"{name} wartet auf {target}, das keinen healthcheck hat"


def test_one_shot_jobs_do_not_restart(services: dict[str, dict[str, Any]]) -> None:
    for name in ONE_SHOT:
        assert services[name]["restart"] == "no"
    for name in services.keys() - ONE_SHOT:
        assert services[name]["restart"] == "unless-stopped", name


def test_platform_processes_start_after_their_infrastructure(services: dict[str, dict[str, Any]]) -> None:
    for spec in platform_processes(COMPOSE_SITE):
        needs = set(services[spec.name]["depends_on"])
        assert {"kafka", "topics"} <= needs, spec.name
        if spec.database:
            assert "postgres" in needs, spec.name


# --- the image -------------------------------------------------------------------------------------------


def test_image_is_slim_pinned_and_not_root() -> None:
    """Both stages on one base, pinned by its exact version tag (deploy/Dockerfile says why not by digest); the
    packages pinned by constraints.txt; a numeric user that is not root (runAsNonRoot can check only a number)."""
    text = DOCKERFILE.read_text()
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11\.\d+-slim-\w+$", text, re.MULTILINE)
    assert set(re.findall(r"^FROM (\S+)", text, re.MULTILINE)) == {"${PYTHON_IMAGE}"}
    assert "pip install -c constraints.txt -r" in text and "pip install --no-deps -c constraints.txt ." in text
    users = re.findall(r"^USER (\S+)$", text, re.MULTILINE)
    assert users and re.fullmatch(r"[1-9]\d*:[1-9]\d*", users[-1])
    ignored = DOCKERIGNORE.read_text().split()
    assert {".venv", "var", ".git"} <= set(ignored)


def test_secrets_job_generates_this_installations_secrets_once(
    services: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    """The compose `secrets` job writes what `make up` writes before its processes start; each reader mounts it
    read-only, and a second run keeps the secrets (device cookies and the print house's access stay valid)."""
    assert services["secrets"]["command"] == ["python", "-m", "stack.cli", "secrets"]
    assert "identity-secrets:/data/secrets/identity:ro" in services["identity"]["volumes"]
    for name in ("letters", "printhouse"):
        assert "printhouse-credentials:/data/printhouse:ro" in services[name]["volumes"], name
        assert services[name]["depends_on"]["secrets"]["condition"] == "service_completed_successfully"
    assert stack_cli.main(["--var", str(tmp_path), "secrets"]) == 0
    assert "letters-secrets:/data/secrets/letters:ro" in services["letters"]["volumes"]
    keys = (device_cookie_secret_file(tmp_path), registration_code_key_file(tmp_path), staff_totp_key_file(tmp_path))
    credentials = printhouse_credentials_file(tmp_path)
    first = [path.read_text() for path in (*keys, credentials)]
    assert all(len(key.strip()) >= 43 for key in first[:3]) and len(set(first[:3])) == 3
    assert set(json.loads(first[3])) == {t.portal_number for t in load_tenants()}
    assert {oct(path.stat().st_mode & 0o777) for path in (*keys, credentials)} == {"0o600"}
    assert stack_cli.main(["--var", str(tmp_path), "secrets"]) == 0
    assert [path.read_text() for path in (*keys, credentials)] == first


def test_only_the_gateway_and_the_proxy_in_front_name_a_client_address(
    services: dict[str, dict[str, Any]], compose: dict[str, Any]
) -> None:
    """X-Forwarded-For from anyone else is ignored, so a browser cannot dodge the per-client limits: the gateway
    believes the network's host side (where the TLS proxy arrives from), the services the gateway's address."""
    [network] = compose["networks"]["default"]["ipam"]["config"]
    assert network["subnet"] == COMPOSE_SUBNET
    assert services["gateway"]["networks"]["default"]["ipv4_address"] == COMPOSE_GATEWAY_ADDRESS
    assert compose_gateway(services).trusted_proxies == (f"{COMPOSE_HOST_SIDE}/32",)
    for spec in PYTHON_SPECS:
        if spec.port is not None:
            assert env_of(services[spec.name])["PLUSPORTAL_TRUSTED_PROXIES"] == COMPOSE_GATEWAY_ADDRESS, spec.name
