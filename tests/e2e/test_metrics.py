"""Each service's Prometheus metrics on its own port, scraped after a request went from the form to the letter,
on real Kafka, PostgreSQL and SMTP: requests by route template, latency, events, backlogs, consumer lag — and
no personal data in any label."""

from collections.abc import Callable

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from contracts.masterdata import MeterPointRecorded
from contracts.topics import ONBOARDING_REQUESTS
from tests.conftest import System
from tests.journeys import eventually, request_status, submit_matching_request, wait_for_status

pytestmark = pytest.mark.stack
TENANT = "000328"
SERVICES = ("onboarding", "letters", "identity", "meterdata")


async def scrape(url: str) -> list[Sample]:
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return [sample for family in text_string_to_metric_families(response.text) for sample in family.samples]


def matching(samples: list[Sample], name: str, **labels: str) -> list[Sample]:
    return [s for s in samples if s.name == name and labels.items() <= s.labels.items()]


def values(samples: list[Sample], name: str, **labels: str) -> list[float]:
    return [sample.value for sample in matching(samples, name, **labels)]


def value(samples: list[Sample], name: str, **labels: str) -> float:
    """The one sample of ``name`` with these labels."""
    [sample] = matching(samples, name, **labels)
    return sample.value


async def scraped_until(url: str, condition: Callable[[list[Sample]], bool], what: str) -> list[Sample]:
    async def probe() -> list[Sample] | None:
        samples = await scrape(url)
        return samples if condition(samples) else None

    return await eventually(probe, what=what)


async def test_every_service_exposes_its_metrics_without_personal_data(system: System) -> None:
    request_id, point, email = await submit_matching_request(system.kafka, system.onboarding.url, TENANT)
    async with httpx.AsyncClient(base_url=system.onboarding.url, timeout=10) as onboarding:
        await wait_for_status(onboarding, TENANT, request_id, "letter_dispatched")
        await request_status(onboarding, TENANT, request_id)
    urls = {name: getattr(system, name).url for name in SERVICES}

    # Onboarding: the form and the status lookups by their route templates, timed; its outbox and mails relayed.
    at_onboarding = await scraped_until(
        urls["onboarding"],
        lambda s: (
            values(s, "plusportal_outbox_backlog", service="onboarding") == [0]
            and values(s, "plusportal_mail_backlog", service="onboarding") == [0]
        ),
        "onboarding's outbox and mail relay to catch up",
    )
    posted = {"service": "onboarding", "method": "POST", "route": "/requests"}
    assert value(at_onboarding, "plusportal_http_requests_total", **posted, status="202") >= 1
    looked_up = {"service": "onboarding", "method": "GET", "route": "/backoffice/requests/{request_id}"}
    assert value(at_onboarding, "plusportal_http_requests_total", **looked_up, status="200") >= 1
    assert value(at_onboarding, "plusportal_http_request_duration_seconds_count", **posted) >= 1
    buckets = matching(at_onboarding, "plusportal_http_request_duration_seconds_bucket", **posted)
    assert len(buckets) > 1
    assert value(at_onboarding, "plusportal_http_request_duration_seconds_bucket", **posted, le="+Inf") >= 1
    assert value(at_onboarding, "plusportal_outbox_oldest_age_seconds", service="onboarding") == 0

    # Letters: the request's event handled, the letter's job relayed and its PDF rendered, its consumer caught up.
    def letters_caught_up(samples: list[Sample]) -> bool:
        lag = matching(samples, "plusportal_consumer_lag", service="letters", group="letters")
        requests_lag = [s.value for s in lag if s.labels["topic"] == ONBOARDING_REQUESTS.name]
        return (
            bool(requests_lag)
            and sum(requests_lag) == 0
            and values(samples, "plusportal_outbox_backlog", service="letters") == [0]
            and values(samples, "plusportal_letters_waiting_for_rendering", service="letters") == [0]
        )

    at_letters = await scraped_until(urls["letters"], letters_caught_up, "letters to handle, relay and render")
    handled = {"service": "letters", "group": "letters", "topic": ONBOARDING_REQUESTS.name}
    assert value(at_letters, "plusportal_events_handled_total", **handled) > 0
    lag = matching(at_letters, "plusportal_consumer_lag", service="letters")
    assert all(s.labels["partition"].isdigit() for s in lag)
    assert {ONBOARDING_REQUESTS.name} <= {s.labels["topic"] for s in lag}
    assert not matching(at_letters, "plusportal_mail_backlog")  # letters sends no mail

    # Every service: its health checks counted, both sources read, its outbox and its main group's lag reported.
    everything = {"onboarding": at_onboarding, "letters": at_letters}
    for name in ("identity", "meterdata"):
        everything[name] = await scraped_until(
            urls[name],
            lag_reported(name),
            f"{name}'s consumer to be assigned its partitions",
        )
    for name, samples in everything.items():
        health = {"service": name, "method": "GET", "route": "/health", "status": "200"}
        assert value(samples, "plusportal_http_requests_total", **health) >= 1
        assert value(samples, "plusportal_metrics_source_up", service=name, source="database") == 1
        assert value(samples, "plusportal_metrics_source_up", service=name, source="kafka") == 1
        assert matching(samples, "plusportal_outbox_backlog", service=name)
        assert matching(samples, "plusportal_consumer_lag", service=name, group=name)
        assert_no_personal_data(samples, point, email, request_id)
    assert matching(everything["identity"], "plusportal_mail_backlog", service="identity")


def lag_reported(service: str) -> Callable[[list[Sample]], bool]:
    """Whether the service reports the lag of its own group (once the group has its partitions)."""
    return lambda samples: bool(matching(samples, "plusportal_consumer_lag", service=service, group=service))


def assert_no_personal_data(samples: list[Sample], point: MeterPointRecorded, email: str, request_id: str) -> None:
    """The raw paths held the meter number and the request id; the customer typed name and e-mail."""
    partner = point.partners[0]
    personal = {partner.partner_number, point.meter_number, email, request_id, partner.name, "@"}
    label_values = {v.lower() for sample in samples for v in sample.labels.values()}
    assert not {(p, v) for p in personal for v in label_values if p.lower() in v}
