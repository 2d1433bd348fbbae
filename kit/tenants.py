"""The grid operators (tenants) this installation serves, read once at start from a TOML file."""

import os
import re
import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from contracts.grid_fees import FeeQuarter
from contracts.staff import PLATFORM_PORTAL

DEFAULT_TENANTS_FILE = Path(__file__).resolve().parent.parent / "deploy" / "tenants.toml"
_HOST_PORTAL_NUMBER = re.compile(r"^(\d{6})\.")


class Tenant(BaseModel):
    model_config = ConfigDict(frozen=True)

    portal_number: str = Field(pattern=r"^\d{6}$")
    name: str
    short_name: str
    market_partner_id: str = Field(pattern=r"^\d{13}$")
    portal_host: str
    sender_email: str
    sender_name: str
    service_phone: str
    service_email: str
    service_hours: str
    return_address: str
    letterhead: tuple[str, ...]
    primary_color: str = Field(pattern=r"^#[0-9a-fA-F]{6}$")
    # Where links in mails and letters point: made from PORTAL_URL_TEMPLATE when the directory is loaded.
    portal_url: str = ""
    # The time-variable grid fee (§14a EnWG, Modul 3) per quarter, as the operator's price sheet publishes it;
    # none: the operator offers none (yet).
    grid_fee_quarters: tuple[FeeQuarter, ...] = ()

    @field_validator("grid_fee_quarters")
    @classmethod
    def _one_entry_per_quarter(cls, quarters: tuple[FeeQuarter, ...]) -> tuple[FeeQuarter, ...]:
        names = [quarter.quarter for quarter in quarters]
        if len(set(names)) != len(names):
            raise ValueError(f"a quarter appears twice in grid_fee_quarters: {sorted(names)}")
        return quarters

    def grid_fee_sheet(self) -> dict[str, FeeQuarter]:
        """The price sheet by quarter name (``2026-Q1``)."""
        return {quarter.quarter: quarter for quarter in self.grid_fee_quarters}


# Production: the operator's portal host; development: "http://{portal_number}.localhost:8080" (the gateway).
PORTAL_URL_TEMPLATE = "https://{portal_host}"


class UnknownTenant(LookupError):
    pass


class TenantDirectory:
    def __init__(self, tenants: list[Tenant]) -> None:
        self._by_number = {tenant.portal_number: tenant for tenant in tenants}

    def __iter__(self):
        return iter(self._by_number.values())

    def get(self, portal_number: str) -> Tenant:
        try:
            return self._by_number[portal_number]
        except KeyError:
            raise UnknownTenant(portal_number) from None

    def with_platform(self, portal_url_template: str) -> "TenantDirectory":
        """The operators and the platform's own back-office (contracts.staff.PLATFORM_PORTAL): identity's staff
        sign-in knows it, no other route does."""
        return TenantDirectory([*self, platform_tenant(portal_url_template)])

    def from_host(self, host: str) -> Tenant:
        """``000328.plusportal.de``, ``000328.localhost:8080`` → tenant 000328."""
        match = _HOST_PORTAL_NUMBER.match(host.strip().lower())
        if not match:
            raise UnknownTenant(host)
        return self.get(match.group(1))


def platform_tenant(portal_url_template: str = PORTAL_URL_TEMPLATE) -> Tenant:
    """The platform as a pseudo-operator for its staff's sign-in (sender, links): it serves no customer."""
    entry = {
        "portal_number": PLATFORM_PORTAL,
        "name": "Plusportal-Plattformbetrieb",
        "short_name": "Plusportal",
        "market_partner_id": "0000000000000",
        "portal_host": f"{PLATFORM_PORTAL}.plusportal.de",
        "sender_email": "plattform@plusportal.de",
        "sender_name": "Plusportal-Plattformbetrieb",
        "service_phone": "-",
        "service_email": "plattform@plusportal.de",
        "service_hours": "-",
        "return_address": "Plusportal",
        "letterhead": ("Plusportal",),
        "primary_color": "#1f4e79",
    }
    return Tenant.model_validate({**entry, "portal_url": portal_url_template.format(**entry)})


def load_tenants(path: Path | None = None, portal_url_template: str = PORTAL_URL_TEMPLATE) -> TenantDirectory:
    path = path or Path(os.environ.get("PLUSPORTAL_TENANTS_FILE", DEFAULT_TENANTS_FILE))
    with path.open("rb") as file:
        data = tomllib.load(file)
    return TenantDirectory(
        [
            Tenant.model_validate({**entry, "portal_url": portal_url_template.format(**entry)})
            for entry in data.get("tenant", [])
        ]
    )
