"""Fuzzing the print house's reading of a dispatch job (backoffice.printhouse): the envelope and job decode with
pydantic's ``ValidationError`` (dead-lettered), and the job's checks — its file name, the inline PDF, the PDF
address — raise only ``ValueError`` (the job is reported failed). Anything else escaping would stop the consumer."""

import contextlib
import json
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from backoffice.printhouse import checked_pdf_url, inline_pdf, printed_path
from contracts.envelope import Envelope
from contracts.letters import LetterDispatchRequested
from tests.unit.fuzz.strategies import ODD_TEXT, dumps, mutated_bytes, mutated_json

JOBS = [
    json.loads(path.read_text()) for path in sorted(Path("contracts/examples/LetterDispatchRequested").glob("*.json"))
]
LETTERS_URL = "http://127.0.0.1:8102"


def job_of(data: bytes) -> tuple[Envelope, LetterDispatchRequested] | None:
    try:
        envelope = Envelope.model_validate_json(data)
        return envelope, LetterDispatchRequested.model_validate(envelope.payload)
    except ValidationError:
        return None


def checks_pass_or_raise_value_error(envelope: Envelope, job: LetterDispatchRequested) -> None:
    with TemporaryDirectory() as folder:
        out = Path(folder)
        try:
            target = printed_path(out, envelope.tenant, job)
            assert target.is_relative_to(out.resolve())
        except ValueError:
            pass
    with contextlib.suppress(ValueError):
        assert inline_pdf(job)
    if job.pdf_url is not None:
        with contextlib.suppress(ValueError):
            assert checked_pdf_url(job.pdf_url, LETTERS_URL, envelope.tenant).startswith(LETTERS_URL + "/print/")


def with_field(job: dict[str, Any], key: str, text: str) -> bytes:
    return dumps({**job, "payload": {**job["payload"], key: text}})


odd_fields = st.sampled_from(JOBS).flatmap(
    lambda job: st.builds(
        with_field,
        st.just(job),
        st.sampled_from(["reference", "pdf_url", "pdf_base64", "pdf_sha256"]),
        st.one_of(ODD_TEXT, st.sampled_from(["..", "a/../../b", "http://127.0.0.1:99999/x", "http://[::1/x",
                  "http://user@127.0.0.1:8102/print/000328/jobs/x", "AAAA", "====", "not base64!"])),
    )
)  # fmt: skip


@given(st.one_of(st.sampled_from(JOBS).flatmap(lambda job: mutated_json(job).map(dumps)), odd_fields,
                 st.sampled_from(JOBS).map(dumps).flatmap(mutated_bytes)))  # fmt: skip
def test_a_dispatch_job_is_refused_dead_lettered_or_failed_never_anything_else(data: bytes) -> None:
    decoded = job_of(data)
    if decoded is not None:
        checks_pass_or_raise_value_error(*decoded)
