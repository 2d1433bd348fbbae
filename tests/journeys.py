"""Building blocks the cross-service tests share: master data, form submissions, waiting, reading letters."""

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import combinations
from pathlib import Path
from typing import Any, TypeVar
from uuid import uuid4

import httpx
import orjson
import pdfplumber
import pyotp
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from backoffice.masterdata_import import publish_meter_points
from contracts.common import PartnerRole, PostalAddress
from contracts.masterdata import MeterPointRecorded, PartnerOfRecord
from contracts.topics import ALL_TOPICS, MASTER_DATA, Principal
from kit.kafka import KafkaAccess
from stack.credentials import KafkaInstallation
from stack.mailsink import MailSink

T = TypeVar("T")


def random_meter_number() -> str:
    return f"1EMH{random.randrange(10**10):010d}"


def random_partner_number() -> str:
    """Ten random digits, as an operator's partner numbers should be: the number is a credential, so none
    may tell another by counting up or down from it."""
    return f"{random.randrange(10**9, 10**10)}"


def random_partner_numbers(count: int) -> tuple[str, ...]:
    """``count`` random partner numbers, no two of them the same or neighbours (±1)."""
    while True:
        numbers = tuple(random_partner_number() for _ in range(count))
        if all(abs(int(a) - int(b)) > 1 for a, b in combinations(numbers, 2)):
            return numbers


def address(street: str, number: str, postcode: str, city: str) -> PostalAddress:
    return PostalAddress(street=street, house_number=number, postcode=postcode, city=city)


def meter_point(
    meter_number: str,
    name: str,
    record_address: PostalAddress,
    connection: PostalAddress,
    roles: tuple[PartnerRole, ...] = (PartnerRole.CONSUMPTION,),
    partner_numbers: tuple[str, ...] | None = None,
) -> MeterPointRecorded:
    numbers = partner_numbers or random_partner_numbers(len(roles))
    return MeterPointRecorded(
        meter_number=meter_number,
        connection_address=connection,
        partners=tuple(
            PartnerOfRecord(partner_number=n, role=r, name=name, postal_address=record_address)
            for n, r in zip(numbers, roles, strict=True)
        ),
        recorded_at=datetime.now(UTC),
    )


async def publish_master_data(kafka: KafkaInstallation, tenant: str, *points: MeterPointRecorded) -> None:
    """As the billing system's import does: with its own principal."""
    await publish_meter_points(kafka.access(Principal.BILLING_IMPORT), tenant, list(points))


async def eventually(probe: Callable[[], Awaitable[T | None]], timeout: float = 20, what: str = "condition") -> T:
    """Poll until ``probe`` returns something truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = await probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.2)


def host(tenant: str) -> dict[str, str]:
    return {"Host": f"{tenant}.localhost"}


def form(meter_number: str, first: str, last: str, postal: dict[str, str], email: str, **more: Any) -> dict[str, Any]:
    return {
        "submission_id": str(uuid4()),
        "first_name": first,
        "last_name": last,
        "postal_address": postal,
        "meter_number": meter_number,
        "email": email,
        **more,
    }


async def wait_for_meter_point(client: httpx.AsyncClient, tenant: str, meter_number: str) -> None:
    """Onboarding's read model has the record (it is fed asynchronously from the topic)."""

    async def known() -> bool:
        response = await client.get(f"/backoffice/meter-points/{meter_number}", headers=await staff(tenant))
        return response.status_code == 200

    await eventually(known, what=f"master data of {meter_number} in onboarding")


async def request_status(client: httpx.AsyncClient, tenant: str, request_id: str) -> dict[str, Any]:
    response = await client.get(f"/backoffice/requests/{request_id}", headers=await staff(tenant))
    response.raise_for_status()
    return response.json()


async def wait_for_status(client: httpx.AsyncClient, tenant: str, request_id: str, status: str) -> dict[str, Any]:
    async def reached() -> dict[str, Any] | None:
        view = await request_status(client, tenant, request_id)
        return view if view["status"] == status else None

    return await eventually(reached, what=f"request {request_id} to reach {status}")


def pdf_text(path: Path) -> str:
    with pdfplumber.open(path) as pdf:
        return "\n".join(page.extract_text() or "" for page in pdf.pages)


def letter_links(path: Path) -> list[str]:
    """The links a printed letter carries (each partner number's, as its QR code shows it)."""
    with pdfplumber.open(path) as pdf:
        return [str(link["uri"]) for page in pdf.pages for link in page.hyperlinks]


def printed_letters_mentioning(folder: Path, needle: str) -> list[Path]:
    return [p for p in sorted(folder.glob("*.pdf")) if needle in pdf_text(p)]


async def read_topic(kafka: KafkaInstallation, topic: str) -> list[Any]:
    """Every record on ``topic`` right now, from the beginning (no consumer group, nothing committed), as the
    platform's operator (the admin principal) reads it."""
    consumer = AIOKafkaConsumer(
        topic, **kafka.admin.client_options(), auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    try:
        partitions = await eventually(_async(consumer.assignment), what=f"partitions of {topic}")
        ends = await consumer.end_offsets(list(partitions))
        records: list[Any] = []
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            batch = await consumer.getmany(timeout_ms=500)
            for items in batch.values():
                records.extend(items)
        return records
    finally:
        await consumer.stop()


def _async(function: Callable[[], T]) -> Callable[[], Awaitable[T]]:
    async def call() -> T:
        return function()

    return call


async def produce(
    kafka: KafkaInstallation | KafkaAccess, topic: str, value: bytes, key: bytes | None = None, headers: Any = None
) -> Any:
    """Sends one record as the topic's owner (contracts.topics), or as the principal ``kafka`` names."""
    producer = AIOKafkaProducer(**_as_writer(kafka, topic).client_options())
    await producer.start()
    try:
        return await producer.send_and_wait(topic, value, key=key, headers=headers)
    finally:
        await producer.stop()


def _as_writer(kafka: KafkaInstallation | KafkaAccess, topic: str) -> KafkaAccess:
    if isinstance(kafka, KafkaAccess):
        return kafka
    owner = next((spec.owner for spec in ALL_TOPICS if spec.name == topic), None)
    return kafka.access(owner) if owner is not None else kafka.admin


async def wait_until_consumed(
    kafka: KafkaInstallation, groups: dict[str, tuple[str, ...]], timeout: float = 30
) -> None:
    """Each consumer group has committed up to the end of each of its topics: all it was sent is handled."""
    admin = AIOKafkaAdminClient(**kafka.admin.client_options())
    consumer = AIOKafkaConsumer(**kafka.admin.client_options(), enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        names = sorted({topic for topics in groups.values() for topic in topics})
        described = await admin.describe_topics(names)
        partitions = {
            d["topic"]: [TopicPartition(d["topic"], p["partition"]) for p in d["partitions"]] for d in described
        }
        assert all(partitions.get(name) for name in names), f"unknown topics among {names}"

        async def caught_up() -> bool:
            for group, topics in groups.items():
                committed = await admin.list_consumer_group_offsets(group)
                ends = await consumer.end_offsets([tp for topic in topics for tp in partitions[topic]])
                for tp, end in ends.items():
                    done = committed.get(tp)
                    if end > 0 and (done is None or done.offset < end):
                        return False
            return True

        await eventually(caught_up, timeout=timeout, what=f"consumer groups {sorted(groups)} to catch up")
    finally:
        await consumer.stop()
        await admin.close()


def envelopes(records: list[Any]) -> list[tuple[Any, dict[str, Any]]]:
    """(record, decoded envelope) for the records that are JSON envelopes."""
    decoded = []
    for record in records:
        try:
            decoded.append((record, orjson.loads(record.value)))
        except orjson.JSONDecodeError:
            continue
    return decoded


async def submit_matching_request(
    kafka: KafkaInstallation,
    onboarding_url: str,
    tenant: str,
    *,
    first: str = "Erika",
    last: str = "Beispiel",
    roles: tuple[PartnerRole, ...] = (PartnerRole.CONSUMPTION,),
    point: MeterPointRecorded | None = None,
) -> tuple[str, MeterPointRecorded, str]:
    """Publish master data for a new meter, submit a fitting request; return (request id, record, e-mail)."""
    if point is None:
        home = address("Postweg", "1", "12345", "Musterstadt")
        point = meter_point(random_meter_number(), f"{first} {last}", home, home, roles=roles)
    await publish_master_data(kafka, tenant, point)
    email = f"{first.lower()}.{uuid4().hex[:10]}@example.org"
    record_address = point.partners[0].postal_address
    typed = {
        "street": record_address.street,
        "house_number": record_address.house_number,
        "postcode": record_address.postcode,
        "city": record_address.city,
    }
    async with httpx.AsyncClient(base_url=onboarding_url, timeout=10) as client:
        await wait_for_meter_point(client, tenant, point.meter_number)
        # The letter's numbers are typed at identity next, which answers a meter it does not know with silence.
        await wait_until_consumed(kafka, {"identity": (MASTER_DATA.name,)})
        response = await client.post(
            "/requests", headers=host(tenant), json=form(point.meter_number, first, last, typed, email)
        )
        assert response.status_code == 202, response.text
        return response.json()["request_id"], point, email


class PortalClient:
    """A browser stand-in for identity's cookie API: keeps the __Host- cookies itself (httpx does not send
    Secure cookies over plain HTTP) and sends the CSRF header on state changes."""

    def __init__(self, base_url: str, tenant: str) -> None:
        self.http = httpx.AsyncClient(base_url=base_url, timeout=30)
        self.tenant = tenant
        self.cookies: dict[str, str] = {}
        self.csrf: str | None = None

    async def __aenter__(self) -> "PortalClient":
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.http.aclose()

    async def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**host(self.tenant), **kwargs.pop("headers", {})}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if self.csrf and method != "GET":
            headers["X-CSRF-Token"] = self.csrf
        response = await self.http.request(method, path, headers=headers, **kwargs)
        for name, value in response.cookies.items():
            self.cookies[name] = value
        for raw in response.headers.get_list("set-cookie"):
            if "Max-Age=0" in raw or "expires=Thu, 01 Jan 1970" in raw:
                self.cookies.pop(raw.split("=", 1)[0], None)
        if response.status_code == 200 and "csrf_token" in response.text:
            self.csrf = response.json().get("csrf_token", self.csrf)
        return response

    @property
    def session_id(self) -> str | None:
        return self.cookies.get("__Host-plusportal-session")


def token_from(link: str) -> str:
    return link.split("#token=", 1)[1]


CUSTOMER_PASSWORD = "Ein langes Passwort für den Test"


async def register_by_hand(
    identity_url: str, mail: MailSink, tenant: str, meter: str, partner: str, email: str
) -> PortalClient:
    """The customer types the letter's numbers, confirms with the mailed link, sets CUSTOMER_PASSWORD and logs
    in: the signed-in client (the caller closes it)."""
    browser = PortalClient(identity_url, tenant)
    typed = {"meter_number": meter, "partner_number": partner, "email": email}
    assert (await browser.call("POST", "/access-requests", json=typed)).status_code == 202

    async def link() -> str | None:
        mails = [m for m in mail.messages() if email in m.envelope_to]
        return next((k for m in mails for k in m.links() if "/zugang/bestaetigen#token=" in k), None)

    token = token_from(await eventually(link, what="the confirmation link"))
    done = await browser.call("POST", "/access-requests/complete", json={"token": token, "password": CUSTOMER_PASSWORD})
    assert done.status_code == 204, done.text
    login = await browser.call("POST", "/sessions", json={"email": email, "password": CUSTOMER_PASSWORD})
    assert login.status_code == 200, login.text
    return browser


# --- back-office staff ------------------------------------------------------------------------------------

STAFF_PASSWORD = "Aktenberg hinter dem Schalter"
_LAST_STEP: dict[str, int] = {}  # TOTP secret → last time step used: identity accepts each step once


def totp_code(secret: str) -> str:
    """A code identity accepts now: the current step, or the next one (±1 step is accepted) if the current one
    was used already; waits when both were."""
    generator = pyotp.TOTP(secret)
    while True:
        current = generator.timecode(datetime.now(UTC))
        step = max(current, _LAST_STEP.get(secret, -1) + 1)
        if step <= current + 1:
            _LAST_STEP[secret] = step
            return generator.generate_otp(step)
        time.sleep(1)


@dataclass(frozen=True)
class StaffAccount:
    tenant: str
    email: str
    name: str
    role: str  # contracts.staff.StaffRole value
    totp_secret: str
    password: str = STAFF_PASSWORD


class StaffSignIn:
    """A staff member signed in at identity (e-mail, password, TOTP) who fetches staff access tokens as needed.
    Keeps the session cookie and CSRF token as data (each call opens its own client: tests run many loops)."""

    def __init__(self, identity_url: str, account: StaffAccount) -> None:
        self.identity_url = identity_url
        self.account = account
        self._portal: PortalClient | None = None
        self._token: tuple[str, float] | None = None

    async def _client(self) -> PortalClient:
        portal = PortalClient(self.identity_url, self.account.tenant)
        if self._portal:
            portal.cookies, portal.csrf = dict(self._portal.cookies), self._portal.csrf
        return portal

    async def sign_in(self) -> None:
        account = self.account
        async with await self._client() as portal:
            body = {"email": account.email, "password": account.password, "code": totp_code(account.totp_secret)}
            response = await portal.call("POST", "/staff/sessions", json=body)
            assert response.status_code == 200, response.text
            self._portal = portal
        self._token = None

    async def token(self) -> str:
        if self._token and self._token[1] - time.monotonic() > 30:
            return self._token[0]
        if self._portal is None:
            await self.sign_in()
        async with await self._client() as portal:
            response = await portal.call("POST", "/staff/session/token")
        assert response.status_code == 200, response.text
        answer = response.json()
        self._token = (answer["access_token"], time.monotonic() + answer["expires_in"])
        return self._token[0]

    async def at_identity(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A call to identity's staff API with this staff member's session (e.g. GET /staff/alerts)."""
        if self._portal is None:
            await self.sign_in()
        async with await self._client() as portal:
            return await portal.call(method, path, **kwargs)

    async def headers(self, tenant: str | None = None) -> dict[str, str]:
        """Host (this account's operator unless another is named) and the staff token."""
        return {**host(tenant or self.account.tenant), "Authorization": f"Bearer {await self.token()}"}


CLERKS: dict[str, StaffSignIn] = {}  # a signed-in clerk per operator, registered by the `system` fixture


async def staff(tenant: str) -> dict[str, str]:
    """Headers of a clerk of ``tenant`` (Host and staff token), for the tests' back-office calls."""
    return await CLERKS[tenant].headers()
