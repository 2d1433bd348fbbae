"""Reference print/mail house: takes dispatch jobs from the letter queue and reports their status.

Runs as a consumer group (start several to share the work); each process takes jobs in batches and handles
a batch's jobs side by side, as they mostly wait for their PDF and the broker. Each job's PDF is "printed" into a
folder (``<out>/<tenant>/<reference>.pdf`` plus the address data as JSON); then it reports picked
up → printed → handed to carrier. A job carries its PDF inline (v1) or names it by ``pdf_url``
(v2): then the PDF is fetched from letters with the print house's credential of the job's operator (one per
operator: ``PLUSPORTAL_PRINTHOUSE_CREDENTIALS_FILE``, see kit.credentials), retried while letters is unreachable,
and checked against the ``X-Content-SHA256`` header. The credential goes only to the letters service configured
(``PLUSPORTAL_LETTERS_URL``): a job whose ``pdf_url`` points elsewhere fails without any request. Files are
written only inside the output folder: a job whose operator or reference is not a plain name (``../x``) is
refused to the dead-letter topic. A job seen again (redelivery) is not printed twice: the
reference names the file, and a marker file records that the job was reported. Returns come
later, by hand: ``plusportal-printhouse report``.

    plusportal-printhouse run --out var/letters/printed
    plusportal-printhouse report --tenant 000328 --job <job id> \
        --status returned --reason "Empfänger unbekannt"
"""

import argparse
import asyncio
import base64
import hashlib
import json
import logging
import os
import re
import signal
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID, uuid4

import httpx
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from pydantic import ValidationError

from contracts.envelope import Envelope
from contracts.letters import DispatchStatus, DispatchStatusReported, LetterDispatchRequested
from contracts.topics import LETTER_DISPATCH_STATUS, LETTER_QUEUE, Principal
from kit.credentials import read_per_tenant
from kit.deadletter import dead_letter
from kit.events import encode, envelope_for
from kit.kafka import KafkaAccess, record_header
from kit.logging import bind_correlation, configure_logging, get_logger
from kit.settings import KafkaSettings, load_settings, plain_http, setting
from kit.tracing import TRACEPARENT, configure_tracing, consume_span, kafka_middlewares

log = get_logger(__name__)
NAME = "printhouse"
HAPPY_PATH = (DispatchStatus.PICKED_UP, DispatchStatus.PRINTED, DispatchStatus.HANDED_TO_CARRIER)
DEFAULT_LETTERS_URL = "http://127.0.0.1:8102"
# Jobs taken from the queue at once and handled side by side (benchmarks/README.md, chaos run).
JOBS_AT_ONCE = 32
_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
SHA256_HEADER = "X-Content-SHA256"


class PdfNotFetched(Exception):
    """Letters could not hand out the PDF for now (down, 5xx, or our token refused): try the job again later.

    Not a ValueError on purpose: the job is not failed; the message is redelivered instead.
    """


async def report(
    broker: KafkaBroker,
    tenant: str,
    job_id: UUID,
    status: DispatchStatus,
    *,
    correlation_id: UUID,
    causation_id: UUID | None = None,
    reason: str | None = None,
) -> None:
    payload = DispatchStatusReported(
        job_id=job_id, status=status, reason=reason, reported_by=NAME, happened_at=datetime.now(UTC)
    )
    envelope = envelope_for(payload, tenant=tenant, correlation_id=correlation_id, causation_id=causation_id)
    await broker.publish(encode(envelope), LETTER_DISPATCH_STATUS.name, key=str(job_id).encode())


def inline_pdf(job: LetterDispatchRequested) -> bytes:
    if job.pdf_base64 is None:
        raise ValueError("the job carries no inline PDF")
    pdf = base64.b64decode(job.pdf_base64, validate=True)
    if hashlib.sha256(pdf).hexdigest() != job.pdf_sha256:
        raise ValueError("PDF checksum does not match")
    return pdf


async def fetch_pdf(
    client: httpx.AsyncClient,
    url: str,
    token: str,
    *,
    attempts: int = 6,
    first_delay: float = 0.5,
) -> bytes:
    """GET the job's PDF from letters; retries connection errors and 5xx with backoff (~15 s in all).

    Raises ValueError when the letter will never be printable (gone, unknown, checksum wrong): the job failed.
    Raises PdfNotFetched when letters may answer later: the job stays and is tried again.
    """
    delay = first_delay
    for attempt in range(1, attempts + 1):
        try:
            response = await client.get(url, headers={"Authorization": f"Bearer {token}"})
        except httpx.TransportError as error:
            problem = type(error).__name__
        else:
            if response.status_code < 500:
                break
            problem = f"HTTP {response.status_code}"
        if attempt == attempts:
            raise PdfNotFetched(problem)
        log.warning("pdf_fetch_retry", problem=problem, attempt=attempt, retry_in_s=delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 8.0)
    if response.status_code in (401, 403):
        # Our token is wrong: a matter of configuration, not of this letter. Fail no letter over it.
        raise PdfNotFetched(f"HTTP {response.status_code}: print-house token refused")
    if response.status_code != 200:
        raise ValueError(f"PDF not available: HTTP {response.status_code}")
    expected = response.headers.get(SHA256_HEADER, "").strip().lower()
    if not expected:
        raise ValueError(f"PDF without {SHA256_HEADER} header")
    if hashlib.sha256(response.content).hexdigest() != expected:
        raise ValueError("PDF checksum does not match")
    return response.content


def checked_pdf_url(url: str, letters_url: str, tenant: str) -> str:
    """The job's PDF address, if it is one of the configured letters service for this operator: only there does
    the print house send its credential. Otherwise ValueError (the job fails, nothing is sent)."""
    wanted, given = urlsplit(letters_url), urlsplit(url)
    same_origin = (given.scheme, given.hostname, given.port) == (wanted.scheme, wanted.hostname, wanted.port)
    base_path = wanted.path.rstrip("/")
    if not same_origin or not given.path.startswith(f"{base_path}/print/{tenant}/jobs/") or given.username:
        raise ValueError("PDF address is not the configured letters service: credential not sent")
    return url


def printed_path(out: Path, tenant: str, job: LetterDispatchRequested) -> Path:
    """``<out>/<tenant>/<reference>.pdf`` — only for plain names, and only inside ``out`` (else ValueError)."""
    for name in (tenant, job.reference):
        if not _PLAIN_NAME.fullmatch(name) or ".." in name:
            raise ValueError(f"not a plain name for a file: {name!r}")
    target = (out / tenant / f"{job.reference}.pdf").resolve()
    if not target.is_relative_to(out.resolve()):
        raise ValueError("outside the output folder")
    return target


def print_job(out: Path, tenant: str, job: LetterDispatchRequested, pdf: bytes | None = None) -> Path:
    """Write the PDF (the fetched one, else the inline one) and its address data; a second delivery of the
    same job writes nothing."""
    target = printed_path(out, tenant, job)
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        if pdf is None:
            pdf = inline_pdf(job)
        partial = target.with_suffix(".part")
        partial.write_bytes(pdf)
        os.replace(partial, target)  # atomic: a reader never sees half a letter
        meta = job.model_dump(mode="json", exclude={"pdf_base64"})
        partial_meta = target.with_suffix(".json.part")
        partial_meta.write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")
        os.replace(partial_meta, target.with_suffix(".json"))  # the address data too: never read half written
    return target


class PrinthouseSettings(KafkaSettings):
    # The one letters service the print house fetches PDFs from, and so sends its credentials to.
    letters_url: str = DEFAULT_LETTERS_URL
    # Its secret per operator (kit.credentials), the same file letters checks.
    printhouse_credentials_file: Path | None = None

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        if plain_http(self.letters_url):
            problems.append(
                f"{setting('letters_url')} beginnt nicht mit https://: das Kennwort der Druckerei und die Briefe "
                "gingen unverschlüsselt."
            )
        if self.printhouse_credentials_file is None or not self.printhouse_credentials_file.is_file():
            problems.append(
                f"{setting('printhouse_credentials_file')} fehlt: ohne sie bekommt die Druckerei keinen Brief."
            )
        return problems


def build_broker(
    kafka: KafkaAccess,
    out: Path,
    group: str = NAME,
    credentials: Mapping[str, str] | None = None,
    letters_url: str | None = None,
    pdf_client: httpx.AsyncClient | None = None,
) -> KafkaBroker:
    """``credentials``: the print house's secret per operator; ``letters_url``: the one letters service it trusts
    (both by default from PrinthouseSettings); ``pdf_client``: the connections to it, shared by every fetch (the
    caller closes it; without one, the broker is only described, e.g. for the AsyncAPI document)."""
    if credentials is None or letters_url is None:
        settings = PrinthouseSettings()
        credentials = read_per_tenant(settings.printhouse_credentials_file) if credentials is None else credentials
        letters_url = letters_url or settings.letters_url
    broker = KafkaBroker(
        kafka.servers,
        security=kafka.security(),
        client_id=NAME,
        enable_idempotence=True,
        log_level=logging.DEBUG,
        # A job's trace goes on: its consume span is the child of the job's traceparent, the statuses its children.
        middlewares=kafka_middlewares(),
    )

    @broker.subscriber(
        LETTER_QUEUE.name,
        group_id=group,
        auto_offset_reset="earliest",
        batch=True,
        max_records=JOBS_AT_ONCE,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        title="printhouse",
        description="Takes postal dispatch jobs, prints them side by side, reports their status",
    )
    async def on_jobs(message: KafkaMessage) -> None:
        records = message.raw_message if isinstance(message.raw_message, tuple) else (message.raw_message,)
        # A job mostly waits (for its PDF, for the broker's acks): the batch's jobs wait side by side.
        outcomes = await asyncio.gather(*(on_job(record) for record in records), return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                # The batch is redelivered (NACK_ON_ERROR): jobs done meanwhile are skipped by their marker.
                raise outcome

    async def on_job(record: Any) -> None:
        try:
            envelope = Envelope.model_validate_json(record.value)
            job = LetterDispatchRequested.model_validate(envelope.payload)
        except ValidationError as error:
            await dead_letter(broker, record, f"dispatch job: {error.error_count()} validation errors", NAME, db=None)
            return
        try:
            target = printed_path(out, envelope.tenant, job)
        except ValueError as error:
            await dead_letter(broker, record, f"dispatch job: {error}", NAME, db=None)
            return
        attributes = {
            "plusportal.consumer": NAME,
            "plusportal.event_type": envelope.event_type,
            "plusportal.tenant": envelope.tenant,
        }
        with (
            consume_span(f"{NAME} print job", record_header(record, TRACEPARENT), attributes),
            bind_correlation(envelope.correlation_id, tenant=envelope.tenant),
        ):
            done_marker = target.with_suffix(".reported")
            if done_marker.exists():
                return  # a redelivered job we printed and reported already

            async def tell(status: DispatchStatus, reason: str | None = None) -> None:
                await report(
                    broker,
                    envelope.tenant,
                    job.job_id,
                    status,
                    reason=reason,
                    correlation_id=envelope.correlation_id,
                    causation_id=envelope.event_id,
                )

            fetched: bytes | ValueError | None = None
            # Printed before a crash: nothing to fetch (after the handover letters has deleted it anyway).
            if job.pdf_url is not None and not target.exists():
                # Before "picked up": while letters cannot hand the PDF out, the job is retried without reports.
                try:
                    url = checked_pdf_url(job.pdf_url, letters_url, envelope.tenant)
                    token = credentials.get(envelope.tenant)
                    if token is None:
                        raise PdfNotFetched(f"no print-house credential for {envelope.tenant} configured")
                    if pdf_client is None:
                        raise PdfNotFetched("no HTTP client to fetch PDFs with")
                    fetched = await fetch_pdf(pdf_client, url, token)
                except PdfNotFetched as error:
                    log.error("pdf_not_fetched", job_id=str(job.job_id), problem=str(error))
                    raise  # the message is redelivered (NACK_ON_ERROR): the job is neither lost nor failed
                except ValueError as error:
                    fetched = error
            await tell(DispatchStatus.PICKED_UP)
            try:
                if isinstance(fetched, ValueError):
                    raise fetched
                print_job(out, envelope.tenant, job, fetched)
            except ValueError as error:
                await tell(DispatchStatus.FAILED, str(error))
                return
            for status in HAPPY_PATH[1:]:
                await tell(status)
            # Only now: a crash before this line makes the redelivered job report again (letters
            # ignores repeated statuses), never stay unreported.
            done_marker.touch()
            log.info("job_printed", job_id=str(job.job_id))

    broker.publisher(LETTER_DISPATCH_STATUS.name, schema=DispatchStatusReported, title="dispatch status")
    return broker


async def _run(settings: PrinthouseSettings, out: Path) -> None:
    async with httpx.AsyncClient(timeout=30.0) as pdf_client:
        broker = build_broker(
            settings.kafka_access(Principal.PRINT_HOUSE),
            out,
            credentials=read_per_tenant(settings.printhouse_credentials_file),
            letters_url=settings.letters_url,
            pdf_client=pdf_client,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await broker.start()
        print(f"Druckerei läuft: Briefe landen in {out}/<Netzbetreiber>/", flush=True)
        await stop.wait()
        await broker.stop()


async def report_by_hand(
    kafka: KafkaAccess, tenant: str, job_id: UUID, status: DispatchStatus, reason: str | None
) -> None:
    # acks=all (with idempotence): on a cluster, a report acknowledged by the leader alone could be lost with it.
    broker = KafkaBroker(kafka.servers, security=kafka.security(), client_id=NAME, enable_idempotence=True)
    await broker.start()
    try:
        await report(broker, tenant, job_id, status, correlation_id=uuid4(), reason=reason)
    finally:
        await broker.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="plusportal-printhouse", description=__doc__.split("\n")[0])
    parser.add_argument("--kafka", default=os.environ.get("PLUSPORTAL_KAFKA_BOOTSTRAP", "127.0.0.1:19092"))
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="take jobs from the letter queue until Ctrl-C")
    run.add_argument("--out", type=Path, default=Path("var/letters/printed"))
    rep = commands.add_parser("report", help="report a status by hand, e.g. a returned letter")
    rep.add_argument("--tenant", required=True)
    rep.add_argument("--job", type=UUID, required=True)
    rep.add_argument("--status", type=DispatchStatus, choices=list(DispatchStatus), required=True)
    rep.add_argument("--reason")
    args = parser.parse_args(argv)
    log_json = os.environ.get("PLUSPORTAL_LOG_JSON")  # same switch as the services
    configure_logging(NAME, json=None if log_json is None else log_json.lower() in ("1", "true"))
    settings = load_settings(PrinthouseSettings).model_copy(update={"kafka_bootstrap": args.kafka})
    configure_tracing(NAME, settings.traces_file)
    if args.command == "run":
        asyncio.run(_run(settings, args.out.resolve()))
    else:
        kafka = settings.kafka_access(Principal.PRINT_HOUSE)
        asyncio.run(report_by_hand(kafka, args.tenant, args.job, args.status, args.reason))
        print(f"Gemeldet: Auftrag {args.job} → {args.status.value}")


if __name__ == "__main__":
    main()
