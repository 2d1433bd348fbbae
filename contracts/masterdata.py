"""Master data from each grid operator's billing system: the source of truth for who is behind a meter, and since
and until when."""

from datetime import date
from typing import Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from contracts.common import MaLoId, MeterNumber, PartnerNumber, PartnerRole, PostalAddress
from contracts.envelope import EventPayload


class PartnerOfRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    partner_number: PartnerNumber
    role: PartnerRole
    name: str = Field(min_length=1, max_length=200, description="Customer name as on record")
    postal_address: PostalAddress = Field(description="Where letters go: the address of record")
    # Version 2: the relation's validity period, on Europe/Berlin energy days (kit.validity). Absent: always.
    valid_from: date | None = Field(
        default=None, description="First day of this partner's relation to the meter (inclusive); none: since always"
    )
    valid_to: date | None = Field(
        default=None,
        description="Last day of the relation (inclusive), after a move-out or a change of customer; none: open",
    )

    @model_validator(mode="after")
    def _period(self) -> Self:
        if self.valid_from is not None and self.valid_to is not None and self.valid_to < self.valid_from:
            raise ValueError(f"valid_to {self.valid_to} lies before valid_from {self.valid_from}")
        return self


class MeterPointRecorded(EventPayload):
    """The current master data of one meter (replaces earlier records of that meter at that tenant).

    Version 2 gives each partner's relation a validity period: after a move-out or a change of customer the record
    lists the previous partner with ``valid_to`` next to the new one with ``valid_from``, so that each sees the
    days of their own relation only. Version 1 records (no periods) mean "always"."""

    EVENT_TYPE = "MeterPointRecorded"
    SCHEMA_VERSION = 2

    meter_number: MeterNumber
    malo_id: MaLoId | None = None
    connection_address: PostalAddress = Field(description="Anschlussobjekt")
    # Up to 12 since version 2 (previous partners stay listed with their period); version 1 had up to 4.
    partners: tuple[PartnerOfRecord, ...] = Field(min_length=1, max_length=12)
    recorded_at: AwareDatetime = Field(description="When the billing system changed this record")
