"""The reference print house gets a job's PDF inline (v1) or by reference (v2), and never prints a wrong one."""

import base64
import hashlib
import json
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from backoffice.printhouse import PdfNotFetched, checked_pdf_url, fetch_pdf, print_job, printed_path
from contracts.envelope import Envelope
from contracts.letters import LetterDispatchRequested
from stack.specs import EXAMPLES_DIR

PDF = b"%PDF-1.7 a letter"
URL = "http://letters.test/print/000328/jobs/9320bce8-7534-4135-94b2-ed984f3dd69c.pdf"


def _example(version: int) -> LetterDispatchRequested:
    path = EXAMPLES_DIR / "LetterDispatchRequested" / f"v{version}.json"
    return LetterDispatchRequested.model_validate(Envelope.model_validate_json(path.read_bytes()).payload)


def _letters(*answers: httpx.Response, seen: list[httpx.Request] | None = None) -> httpx.MockTransport:
    """Letters answering the fetches in turn (the last answer repeats)."""
    queue = list(answers)

    def answer(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return httpx.MockTransport(answer)


def _pdf_response(body: bytes = PDF, checksum: str | None = None) -> httpx.Response:
    headers = {"X-Content-SHA256": checksum if checksum is not None else hashlib.sha256(body).hexdigest()}
    return httpx.Response(200, content=body, headers=headers)


def _client(letters: httpx.MockTransport) -> httpx.AsyncClient:
    """The print house's client, answered by a stand-in for letters."""
    return httpx.AsyncClient(transport=letters)


def test_a_job_names_its_pdf_one_way_only() -> None:
    job = _example(2).model_dump()
    assert _example(2).pdf_url and _example(1).pdf_base64
    with pytest.raises(ValidationError, match="either pdf_base64 or pdf_url"):
        LetterDispatchRequested.model_validate({**job, "pdf_url": None})
    with pytest.raises(ValidationError, match="either pdf_base64 or pdf_url"):
        LetterDispatchRequested.model_validate({**job, "pdf_base64": base64.b64encode(PDF).decode()})
    with pytest.raises(ValidationError, match="pdf_sha256"):
        LetterDispatchRequested.model_validate({**job, "pdf_url": None, "pdf_base64": base64.b64encode(PDF).decode()})


async def test_the_fetch_sends_the_token_and_checks_the_checksum() -> None:
    seen: list[httpx.Request] = []
    assert await fetch_pdf(_client(_letters(_pdf_response(), seen=seen)), URL, "secret") == PDF
    assert seen[0].headers["Authorization"] == "Bearer secret"


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        (_pdf_response(checksum="0" * 64), "checksum does not match"),
        (httpx.Response(200, content=PDF), "X-Content-SHA256"),
        (httpx.Response(404), "HTTP 404"),
        (httpx.Response(410), "HTTP 410"),
    ],
    ids=["wrong checksum", "no checksum", "unknown job", "deleted"],
)
async def test_a_pdf_that_will_never_be_right_fails_the_job(answer: httpx.Response, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        await fetch_pdf(_client(_letters(answer)), URL, "secret", first_delay=0)


async def test_letters_down_or_failing_is_retried_then_left_for_redelivery() -> None:
    seen: list[httpx.Request] = []
    flaky = _letters(httpx.Response(503), httpx.Response(500), _pdf_response(), seen=seen)
    assert await fetch_pdf(_client(flaky), URL, "secret", first_delay=0) == PDF
    assert len(seen) == 3

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(PdfNotFetched, match="ConnectError"):
        await fetch_pdf(_client(httpx.MockTransport(refuse)), URL, "secret", attempts=3, first_delay=0)
    # A refused token is a configuration matter: no letter is failed over it, the job waits.
    with pytest.raises(PdfNotFetched, match="401"):
        await fetch_pdf(_client(_letters(httpx.Response(401))), URL, "wrong", first_delay=0)


@pytest.mark.parametrize("version", [1, 2])
def test_printing_writes_the_pdf_once(tmp_path: Path, version: int) -> None:
    job = _example(version)
    pdf = base64.b64decode(job.pdf_base64 or "") if version == 1 else PDF
    target = print_job(tmp_path, "000328", job, None if version == 1 else PDF)
    assert target.read_bytes() == pdf
    meta = json.loads(target.with_suffix(".json").read_text(encoding="utf-8"))
    assert "pdf_base64" not in meta and meta["reference"] == job.reference
    # Redelivered: nothing is fetched or written again, even without the PDF at hand.
    assert print_job(tmp_path, "000328", job) == target and target.read_bytes() == pdf


@pytest.mark.parametrize(
    ("tenant", "reference"),
    [
        ("000328", "../x"),
        ("000328", "../../etc/cron.d/x"),
        ("..", "PP-1"),
        ("000328", "a/b"),
        ("/tmp", "x"),
        ("000328", ""),
    ],
)
def test_the_print_house_writes_only_inside_its_output_folder(tmp_path: Path, tenant: str, reference: str) -> None:
    job = _example(2).model_copy(update={"reference": reference})
    with pytest.raises(ValueError, match=r"plain name|outside"):
        printed_path(tmp_path / "out", tenant, job)
    with pytest.raises(ValueError):
        print_job(tmp_path / "out", tenant, job, PDF)
    assert not any(tmp_path.rglob("*.pdf"))


LETTERS = "http://letters.test"


@pytest.mark.parametrize(
    "url",
    [
        "http://evil.test/print/000328/jobs/x.pdf",  # another host
        "https://letters.test/print/000328/jobs/x.pdf",  # another scheme
        "http://letters.test:8080/print/000328/jobs/x.pdf",  # another port
        "http://letters.test/print/000512/jobs/x.pdf",  # another operator's path
        "http://letters.test/backoffice/letters",  # not a print path
        "http://user@letters.test/print/000328/jobs/x.pdf",
    ],
)
def test_the_credential_goes_only_to_the_configured_letters_service(url: str) -> None:
    with pytest.raises(ValueError, match="not the configured letters service"):
        checked_pdf_url(url, LETTERS, "000328")
    assert checked_pdf_url(URL, LETTERS, "000328") == URL
