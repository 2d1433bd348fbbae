"""stack.processes: the tests' processes are make up's, with the tests' settings and nothing else."""

from __future__ import annotations

from pathlib import Path

from stack.processes import (
    DATABASES,
    Purpose,
    Site,
    gateway,
    platform_processes,
    signing_key_file,
)

VAR = Path("/srv/plusportal")
PORTS = {"onboarding": 18101, "letters": 18102, "identity": 18103, "meterdata": 18104}
# What the tests set differently from `make up`, and why (tests/conftest.py's system fixture).
# Every process traces into a file of its own (tests/e2e/test_traces.py); make up leaves tracing off.
TRACES = "PLUSPORTAL_TRACES_FILE"
TEST_ONLY = {
    "onboarding": {"PLUSPORTAL_LIMIT_PER_CLIENT", "PLUSPORTAL_LIMIT_PER_EMAIL", TRACES},
    "letters": {TRACES},
    "identity": {"PLUSPORTAL_LIMIT_LOGIN_PER_CLIENT", "PLUSPORTAL_LIMIT_REQUESTS_PER_CLIENT", TRACES},
    "meterdata": {TRACES},
    "printhouse": {TRACES},
    "smgw-simulator": {TRACES},
}
TRY_OUT_ONLY: dict[str, set[str]] = {}  # no development secrets: both generate their own (prepare_credentials)


def site(purpose: Purpose) -> Site:
    return Site(VAR, kafka="127.0.0.1:9", database_url=lambda db: f"db/{db}", purpose=purpose, http_ports=PORTS)


def test_the_tests_run_the_processes_of_make_up_with_their_own_settings() -> None:
    tried = {spec.name: spec for spec in platform_processes(site(Purpose.TRY_OUT))}
    tested = {spec.name: spec for spec in platform_processes(site(Purpose.TEST))}
    assert list(tested) == list(tried) == [*DATABASES, "printhouse", "smgw-simulator"]
    for name, spec in tested.items():
        ours = tried[name]
        assert (spec.argv, spec.port, spec.database, spec.ready_line) == (
            ours.argv,
            ours.port,
            ours.database,
            ours.ready_line,
        )
        assert spec.env.keys() - ours.env.keys() == TEST_ONLY[name], name
        assert ours.env.keys() - spec.env.keys() == TRY_OUT_ONLY.get(name, set()), name
        differing = {key for key in spec.env.keys() & ours.env.keys() if spec.env[key] != ours.env[key]}
        assert differing == {"PLUSPORTAL_LOG_JSON"}, name  # people read make up's logs; tests keep JSON
    # Letters and the print house share one generated file of per-operator credentials; the print house knows
    # which letters service alone gets them.
    credentials = "PLUSPORTAL_PRINTHOUSE_CREDENTIALS_FILE"
    assert (
        tested["letters"].env[credentials]
        == tested["printhouse"].env[credentials]
        == str(VAR / "printhouse" / "credentials.json")
    )
    assert tested["printhouse"].env["PLUSPORTAL_LETTERS_URL"] == tested["letters"].env["PLUSPORTAL_PUBLIC_URL"]


def test_links_and_addresses_follow_the_site() -> None:
    processes = {spec.name: spec for spec in platform_processes(site(Purpose.TEST))}
    letters, identity = processes["letters"].env, processes["identity"].env
    assert letters["PLUSPORTAL_PORTAL_URL_TEMPLATE"] == identity["PLUSPORTAL_PORTAL_URL_TEMPLATE"]
    assert letters["PLUSPORTAL_PORTAL_URL_TEMPLATE"] == "http://{portal_number}.localhost:8080"
    assert letters["PLUSPORTAL_PUBLIC_URL"] == "http://127.0.0.1:18102"
    assert identity["PLUSPORTAL_SIGNING_KEY_FILE"] == str(signing_key_file(VAR))
    for name in DATABASES:
        assert processes[name].env["PLUSPORTAL_DATABASE_URL"] == f"db/{name}"
        assert processes[name].env["PLUSPORTAL_HTTP_PORT"] == str(PORTS[name])
        assert "PLUSPORTAL_HTTP_HOST" not in processes[name].env  # loopback, the services' default


def test_the_tests_gateway_lets_many_logins_through() -> None:
    tried, tested = gateway(site(Purpose.TRY_OUT)), gateway(site(Purpose.TEST))
    assert (tried.auth_rate, tried.auth_burst) == ("10r/m", 5)
    assert (tested.auth_rate, tested.auth_burst) == ("6000r/m", 1000)
    assert tested.upstreams == tried.upstreams == PORTS
