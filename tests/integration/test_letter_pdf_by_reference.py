"""The dispatch job carries a reference to its PDF: the job goes out before the letter is rendered, the render
worker or the print house's fetch renders it, and the print endpoint hands it only to the print house, per
tenant, one PDF per letter."""

import asyncio
import hashlib
from datetime import datetime
from typing import Any

import asyncpg
import httpx
import pytest

from contracts import topics
from stack.postgres import asyncpg_dsn
from tests.conftest import System
from tests.journeys import (
    envelopes,
    eventually,
    printed_letters_mentioning,
    read_topic,
    staff,
    submit_matching_request,
    wait_for_status,
)

pytestmark = pytest.mark.stack
TENANT = "000328"
OTHER = "000512"


def bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


async def _job_of(system: System, request_id: str) -> dict[str, Any]:
    """The LetterDispatchRequested envelope for the request's letter, once it is on the letter queue."""

    async def job() -> dict[str, Any] | None:
        queued = [
            env["payload"]["job_id"]
            for _, env in envelopes(await read_topic(system.kafka, topics.LETTERS.name))
            if env["event_type"] == "LetterQueued" and env["payload"]["request_id"] == request_id
        ]
        if not queued:
            return None
        return next(
            (
                env
                for _, env in envelopes(await read_topic(system.kafka, topics.LETTER_QUEUE.name))
                if env["payload"].get("job_id") == queued[0]
            ),
            None,
        )

    return await eventually(job, what=f"the dispatch job of request {request_id}")


async def _letter_row(system: System, job_id: str) -> asyncpg.Record:
    connection = await asyncpg.connect(asyncpg_dsn(system.letters_db))
    try:
        row = await connection.fetchrow(
            "SELECT pdf, pdf_sha256, pdf_rendered_at, status FROM letters WHERE id = $1::uuid", job_id
        )
    finally:
        await connection.close()
    assert row is not None
    return row


async def test_the_job_names_its_pdf_and_goes_out_before_the_pdf_is_rendered(system: System) -> None:
    request_id, point, _ = await submit_matching_request(system.kafka, system.onboarding.url, TENANT)
    async with httpx.AsyncClient(base_url=system.onboarding.url, timeout=10) as client:
        await wait_for_status(client, TENANT, request_id, "letter_dispatched")
    envelope = await _job_of(system, request_id)
    job = envelope["payload"]
    assert envelope["schema_version"] == 2
    assert job["pdf_url"] == f"{system.letters.url}/print/{TENANT}/jobs/{job['job_id']}.pdf"
    assert job["pdf_base64"] is None and job["pdf_sha256"] is None  # no PDF (or its checksum) on the queue

    row = await _letter_row(system, job["job_id"])
    # The job was written before the PDF existed: rendering is off the path from request to letter queue.
    assert row["pdf_rendered_at"] > datetime.fromisoformat(envelope["occurred_at"])
    [printed] = printed_letters_mentioning(system.printed / TENANT, point.meter_number)
    assert hashlib.sha256(printed.read_bytes()).hexdigest() == row["pdf_sha256"]  # the one PDF letters stored
    assert row["pdf"] is None  # deleted once handed to the carrier, as before


async def test_without_the_render_worker_the_job_still_goes_out_and_the_fetch_renders_it(system: System) -> None:
    system.printhouse.stop()  # nobody fetches until the test does
    system.letters.stop()
    system.letters.start(extra_env={"PLUSPORTAL_RENDER_WORKER_ENABLED": "false"})
    try:
        request_id, point, _ = await submit_matching_request(system.kafka, system.onboarding.url, TENANT)
        job = (await _job_of(system, request_id))["payload"]
        url = job["pdf_url"]
        await asyncio.sleep(1.5)  # longer than the render worker's poll interval, were it running
        row = await _letter_row(system, job["job_id"])
        assert (row["pdf"], row["pdf_sha256"], row["pdf_rendered_at"]) == (None, None, None)
        assert row["status"] == "queued"

        ours, theirs = (bearer(system.printhouse_credentials[tenant]) for tenant in (TENANT, OTHER))
        async with httpx.AsyncClient(timeout=30) as client:
            assert (await client.get(url)).status_code == 401
            assert (await client.get(url, headers=await staff(TENANT))).status_code == 401  # a clerk's token is none
            # One credential per operator: another operator's credential fetches none of this operator's letters.
            assert (await client.get(url, headers=theirs)).status_code == 401
            other_tenant = url.replace(f"/print/{TENANT}/", f"/print/{OTHER}/")
            assert (await client.get(other_tenant, headers=ours)).status_code == 401
            assert (await client.get(other_tenant, headers=theirs)).status_code == 404
            unknown = url.replace(f"/print/{TENANT}/", "/print/999999/")
            assert (await client.get(unknown, headers=ours)).status_code == 401

            # Several fetches at once of a PDF nobody rendered yet: rendered on demand, all get the one stored PDF.
            fetches = await asyncio.gather(*(client.get(url, headers=ours) for _ in range(6)))
        assert {response.status_code for response in fetches} == {200}
        bodies = {response.content for response in fetches}
        assert len(bodies) == 1
        [pdf] = bodies
        assert pdf.startswith(b"%PDF-")
        checksum = hashlib.sha256(pdf).hexdigest()
        assert {response.headers["X-Content-SHA256"] for response in fetches} == {checksum}
        assert {response.headers["Content-Type"] for response in fetches} == {"application/pdf"}
        row = await _letter_row(system, job["job_id"])
        assert (row["pdf"], row["pdf_sha256"]) == (pdf, checksum)
    finally:
        system.letters.stop()
        system.letters.start()
        if not system.printhouse.running:
            system.printhouse.start()

    async with httpx.AsyncClient(base_url=system.onboarding.url, timeout=10) as client:
        await wait_for_status(client, TENANT, request_id, "letter_dispatched")
    [printed] = printed_letters_mentioning(system.printed / TENANT, point.meter_number)
    assert printed.read_bytes() == pdf  # the print house printed the PDF the fetches were given
    async with httpx.AsyncClient(timeout=10) as client:
        assert (
            await client.get(url, headers=bearer(system.printhouse_credentials[TENANT]))
        ).status_code == 410  # deleted: the letter is a credential
