"""One form submission is one trace ([7 of 11] §5, kit.tracing): from the POST at onboarding through letters and
the print house to the status event back at onboarding, across HTTP, the outboxes and Kafka, on the real stack.
Every process writes its spans into a file of its own (stack.processes.traces_file); the test reads them all."""

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from contracts.letters import DispatchStatusReported, LetterDispatched, LetterDispatchRequested
from contracts.onboarding import PartnerNumberRequestMatched
from stack.services import ServiceProcess
from tests.conftest import System
from tests.journeys import eventually, submit_matching_request, wait_for_status

pytestmark = pytest.mark.stack
TENANT = "000328"
Span = dict[str, Any]


def spans_of(process: ServiceProcess) -> list[Span]:
    path = Path(process.env["PLUSPORTAL_TRACES_FILE"])
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def handling(spans: list[Span], consumer: str, event_type: str) -> Span | None:
    """The span in which ``consumer`` handled an event of ``event_type`` (kit.consumer)."""
    return next(
        (
            span
            for span in spans
            if span["attributes"].get("plusportal.consumer") == consumer
            and span["attributes"].get("plusportal.event_type") == event_type
        ),
        None,
    )


async def test_one_form_submission_is_one_trace_from_the_post_to_the_status_back_at_onboarding(
    system: System,
) -> None:
    processes = (system.onboarding, system.letters, system.printhouse)
    # Spans of earlier tests may still be on their way to the files: ours start after this.
    submitted_after = time.time_ns()
    request_id, _, _ = await submit_matching_request(system.kafka, system.onboarding.url, TENANT)
    async with httpx.AsyncClient(base_url=system.onboarding.url, timeout=10) as onboarding:
        await wait_for_status(onboarding, TENANT, request_id, "letter_dispatched")

    async def form_posted() -> list[Span]:
        return [
            span
            for span in spans_of(system.onboarding)
            if span["kind"] == "SERVER"
            and span["attributes"].get("http.route") == "/requests"
            and span["start_ns"] >= submitted_after
        ]

    posts = await eventually(form_posted, what="the span of POST /requests at onboarding")
    assert len(posts) == 1, posts  # the one form submitted (waiting for the status reads with GET)
    post = posts[0]
    trace_id = post["trace_id"]
    assert post["parent_span_id"] is None, "the POST starts the trace"
    assert post["service"] == "onboarding"
    assert post["attributes"].get("http.request.method", post["attributes"].get("http.method")) == "POST"

    def in_trace() -> list[Span]:
        return [span for process in processes for span in spans_of(process) if span["trace_id"] == trace_id]

    async def back_at_onboarding() -> list[Span] | None:
        # Each process writes its spans twice a second (kit.tracing's batch exporter): wait for the last handling
        # and for every parent it names, whichever file it is in.
        spans = in_trace()
        ids = {span["span_id"] for span in spans}
        complete = all(span["parent_span_id"] in ids for span in spans if span["parent_span_id"] is not None)
        return spans if complete and handling(spans, "onboarding", LetterDispatched.EVENT_TYPE) else None

    spans = await eventually(
        back_at_onboarding, what="LetterDispatched handled at onboarding, every parent in the trace"
    )
    by_id = {span["span_id"]: span for span in spans}

    def parent(span: Span) -> Span:
        assert span["parent_span_id"] in by_id, f"parent of {span['name']} ({span['service']}) not in the trace"
        return by_id[span["parent_span_id"]]

    def ancestry(span: Span) -> list[str]:
        """The services from the span up to the root of its trace."""
        services = [span["service"]]
        while span["parent_span_id"] is not None:
            span = parent(span)
            services.append(span["service"])
        return services

    # Every span of the trace hangs from the POST, each consumer's below the publisher's of its event.
    roots = [span for span in spans if span["parent_span_id"] is None]
    assert roots == [post]
    for span in spans:
        assert ancestry(span)[-1] == "onboarding"

    matched_at_letters = handling(spans, "letters", PartnerNumberRequestMatched.EVENT_TYPE)
    assert matched_at_letters is not None, "letters handled the request in the POST's trace"
    assert parent(matched_at_letters)["service"] == "onboarding"  # onboarding's relay published it

    # The print house takes jobs in batches and handles each in a span of its own, a child of the job's record.
    printed = [
        span
        for span in spans
        if span["service"] == "printhouse"
        and span["kind"] == "CONSUMER"
        and span["attributes"].get("plusportal.event_type") == LetterDispatchRequested.EVENT_TYPE
    ]
    assert len(printed) == 1, printed
    assert parent(printed[0])["service"] == "letters"  # letters' relay published the job
    assert "letters" in ancestry(printed[0])[1:]

    status_at_letters = handling(spans, "letters", DispatchStatusReported.EVENT_TYPE)
    assert status_at_letters is not None, "letters handled the print house's status in the same trace"
    assert ancestry(status_at_letters)[:2] == ["letters", "printhouse"]

    dispatched_at_onboarding = handling(spans, "onboarding", LetterDispatched.EVENT_TYPE)
    assert dispatched_at_onboarding is not None
    assert ancestry(dispatched_at_onboarding)[:2] == ["onboarding", "letters"]
    assert "printhouse" in ancestry(dispatched_at_onboarding)

    # Nothing personal in the files: the attributes are kit.tracing's allow-list only (no URL, no message key).
    for span in spans:
        assert not {"http.url", "url.full", "http.target", "messaging.kafka.message.key"} & span["attributes"].keys()

    # The logs of letters name the trace: a line logged while handling one of its events.
    log_lines = [
        json.loads(line)
        for line in system.letters.log_path.read_text(encoding="utf-8").splitlines()
        if line.startswith("{")
    ]
    assert any(line.get("trace_id") == trace_id and line.get("span_id") for line in log_lines)
