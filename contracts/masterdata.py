"""Master data from each grid operator's billing system: the source of truth for who is behind a meter, since and
until when, and in which billing periods."""

from datetime import date
from itertools import pairwise
from typing import Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from contracts.common import MaLoId, MeterNumber, PartnerNumber, PartnerRole, PostalAddress
from contracts.envelope import EventPayload


class BillingPeriod(BaseModel):
    """One billing period (Abrechnungszeitraum) of a partner: Europe/Berlin energy days, both inclusive."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    first_day: date = Field(description="First day of the billing period (inclusive)")
    last_day: date = Field(description="Last day of the billing period (inclusive)")

    @model_validator(mode="after")
    def _order(self) -> Self:
        if self.last_day < self.first_day:
            raise ValueError(f"billing period {self.first_day} .. {self.last_day} ends before it begins")
        return self


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

    # Version 3: the partner's billing periods (the billing system's, at most three years back are shown). None
    # given (and version 1 and 2 records): calendar years (kit.billing).
    billing_periods: tuple[BillingPeriod, ...] = Field(
        default=(),
        max_length=120,
        description="The partner's billing periods (Abrechnungszeiträume), none overlapping; none: calendar years",
    )
    # Version 4: the partner chose the time-variable grid fee (§14a EnWG, Modul 3, only with Modul 1) for this
    # consumption; the portal then splits their consumption by the operator's price sheet (contracts.grid_fees).
    time_variable_grid_fee: bool = Field(
        default=False, description="Modul 3 chosen (§14a EnWG): time-variable grid fee on this consumption"
    )

    @model_validator(mode="after")
    def _period(self) -> Self:
        if self.valid_from is not None and self.valid_to is not None and self.valid_to < self.valid_from:
            raise ValueError(f"valid_to {self.valid_to} lies before valid_from {self.valid_from}")
        ordered = sorted(self.billing_periods, key=lambda period: period.first_day)
        for before, after in pairwise(ordered):
            if after.first_day <= before.last_day:
                raise ValueError(
                    f"billing periods {before.first_day} .. {before.last_day} and {after.first_day} .. "
                    f"{after.last_day} overlap"
                )
        return self


class MeterPointRecorded(EventPayload):
    """The current master data of one meter (replaces earlier records of that meter at that tenant).

    Version 2 gives each partner's relation a validity period: after a move-out or a change of customer the record
    lists the previous partner with ``valid_to`` next to the new one with ``valid_from``, so that each sees the
    days of their own relation only. Version 1 records (no periods) mean "always".

    Version 3 gives each partner their billing periods (``billing_periods``); without them (and in version 1 and 2
    records) the billing periods are calendar years.

    Version 4 says which partners chose the time-variable grid fee (``time_variable_grid_fee``, Modul 3 of §14a
    EnWG); absent (and in earlier versions): not chosen."""

    EVENT_TYPE = "MeterPointRecorded"
    SCHEMA_VERSION = 4

    meter_number: MeterNumber
    malo_id: MaLoId | None = None
    connection_address: PostalAddress = Field(description="Anschlussobjekt")
    # Up to 12 since version 2 (previous partners stay listed with their period); version 1 had up to 4.
    partners: tuple[PartnerOfRecord, ...] = Field(min_length=1, max_length=12)
    recorded_at: AwareDatetime = Field(description="When the billing system changed this record")
