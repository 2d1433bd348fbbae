"""Master data from each grid operator's billing system: the source of truth for who is behind a meter."""

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contracts.common import MaLoId, MeterNumber, PartnerNumber, PartnerRole, PostalAddress
from contracts.envelope import EventPayload


class PartnerOfRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    partner_number: PartnerNumber
    role: PartnerRole
    name: str = Field(min_length=1, max_length=200, description="Customer name as on record")
    postal_address: PostalAddress = Field(description="Where letters go: the address of record")


class MeterPointRecorded(EventPayload):
    """The current master data of one meter (replaces earlier records of that meter at that tenant)."""

    EVENT_TYPE = "MeterPointRecorded"

    meter_number: MeterNumber
    malo_id: MaLoId | None = None
    connection_address: PostalAddress = Field(description="Anschlussobjekt")
    partners: tuple[PartnerOfRecord, ...] = Field(min_length=1, max_length=4)
    recorded_at: AwareDatetime = Field(description="When the billing system changed this record")
