"""A grid operator's time-variable grid fee (§14a EnWG, BNetzA BK6-22-300 "Modul 3") as its price sheet publishes
it: per quarter three working prices (HT, ST, NT) and the local times (Europe/Berlin, every day of the quarter) in
which HT and NT apply; ST applies at every other time. Configured per tenant in deploy/tenants.toml.

The rules checked here are the Festlegung's: ST is the standard working price, HT at most twice ST, NT between 10 %
and 40 % of ST, and HT at least two hours a day. A quarter without windows is all ST (the price sheet's "alle
Zeiten")."""

from datetime import time
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from itertools import pairwise
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MIDNIGHT = time(0, 0)
MIN_HT_MINUTES = 120


class FeeLevel(StrEnum):
    HT = "HT"  # Hochlasttarif
    ST = "ST"  # Standardtarif
    NT = "NT"  # Niedriglasttarif


class FeeWindow(BaseModel):
    """[start, end) in local time on every day of the quarter; ``end`` 00:00 means midnight at the day's end. A
    window does not run past midnight: one before and one after it are two windows."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    start: time = Field(alias="from", description="First local time of the window (on a quarter hour)")
    end: time = Field(alias="to", description="Local time the window ends (exclusive; 00:00: midnight)")

    @field_validator("start", "end")
    @classmethod
    def _on_a_quarter_hour(cls, moment: time) -> time:
        if moment.minute % 15 or moment.second or moment.microsecond:
            raise ValueError(f"{moment} is not on a quarter hour")
        return moment

    @model_validator(mode="after")
    def _order(self) -> Self:
        if self.end != MIDNIGHT and self.end <= self.start:
            raise ValueError(f"window {self.start:%H:%M}–{self.end:%H:%M} ends before it begins")
        return self


Price = Annotated[Decimal, Field(gt=0, max_digits=8, decimal_places=4, description="ct/kWh, net")]


class FeeQuarter(BaseModel):
    """One quarter of the price sheet."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    quarter: str = Field(pattern=r"^\d{4}-Q[1-4]$", description="e.g. 2026-Q1")
    ht_ct_per_kwh: Price
    st_ct_per_kwh: Price
    nt_ct_per_kwh: Price
    ht: tuple[FeeWindow, ...] = ()
    nt: tuple[FeeWindow, ...] = ()

    @model_validator(mode="after")
    def _festlegung(self) -> Self:
        st = self.st_ct_per_kwh
        if not st < self.ht_ct_per_kwh <= 2 * st:
            raise ValueError(f"{self.quarter}: HT must lie above ST and at most at twice ST")
        # Price sheets print cents with two decimals: the bounds are rounded the same way.
        if not _cents(st / 10) <= self.nt_ct_per_kwh <= _cents(st * Decimal("0.4")):
            raise ValueError(f"{self.quarter}: NT must lie between 10 % and 40 % of ST")
        if self.ht and sum(_minutes(window) for window in self.ht) < MIN_HT_MINUTES:
            raise ValueError(f"{self.quarter}: HT must apply at least two hours a day")
        windows = sorted((*self.ht, *self.nt), key=lambda window: window.start)
        for before, after in pairwise(windows):
            if before.end == MIDNIGHT or after.start < before.end:
                raise ValueError(f"{self.quarter}: windows from {before.start} and from {after.start} overlap")
        return self


def _cents(ct: Decimal) -> Decimal:
    return ct.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _minutes(window: FeeWindow) -> int:
    end = 24 * 60 if window.end == MIDNIGHT else window.end.hour * 60 + window.end.minute
    return end - (window.start.hour * 60 + window.start.minute)
