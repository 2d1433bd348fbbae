"""Building blocks the cross-service tests share: master data, form submissions, waiting, reading letters."""

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from uuid import uuid4

import httpx
import pdfplumber

from backoffice.masterdata_import import publish_meter_points
from contracts.common import PartnerRole, PostalAddress
from contracts.masterdata import MeterPointRecorded, PartnerOfRecord

STAFF = {"Authorization": "Bearer dev-backoffice-token"}
T = TypeVar("T")


def random_meter_number() -> str:
    return f"1EMH{random.randrange(10**10):010d}"


def random_partner_number() -> str:
    return f"{random.randrange(10**9, 10**10)}"


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
    numbers = partner_numbers or tuple(random_partner_number() for _ in roles)
    return MeterPointRecorded(
        meter_number=meter_number,
        connection_address=connection,
        partners=tuple(
            PartnerOfRecord(partner_number=n, role=r, name=name, postal_address=record_address)
            for n, r in zip(numbers, roles, strict=True)
        ),
        recorded_at=datetime.now(UTC),
    )


async def publish_master_data(kafka: str, tenant: str, *points: MeterPointRecorded) -> None:
    await publish_meter_points(kafka, tenant, list(points))


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
        response = await client.get(f"/backoffice/meter-points/{meter_number}", headers={**host(tenant), **STAFF})
        return response.status_code == 200

    await eventually(known, what=f"master data of {meter_number} in onboarding")


async def request_status(client: httpx.AsyncClient, tenant: str, request_id: str) -> dict[str, Any]:
    response = await client.get(f"/backoffice/requests/{request_id}", headers={**host(tenant), **STAFF})
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


def printed_letters_mentioning(folder: Path, needle: str) -> list[Path]:
    return [p for p in sorted(folder.glob("*.pdf")) if needle in pdf_text(p)]
