"""A customer's consumption split by the operator's time-variable grid fee (Modul 3, contracts.grid_fees): energy
and fee per price level, what the same energy costs at the standard price, and where shifting a kWh saves most.

Each quarter hour counts at the level its local (Europe/Berlin) start time has on that day, so the 23- and
25-hour days come out right: 02:00–03:00 does not exist on the first and happens twice on the second. Money is
exact (Wh × ct/kWh as decimals); each line is rounded to the cent, half up, and totals are sums of lines, as on a
bill. Plain Python, no I/O."""

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from contracts.grid_fees import MIDNIGHT, FeeLevel, FeeQuarter, FeeWindow
from kit.energy_day import BERLIN

CENT = Decimal("0.01")
_EUR_PER_WH_CT = Decimal("0.00001")  # Wh × ct/kWh → €: / 1,000 (Wh → kWh) / 100 (ct → €)


def quarter_of(day: date) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def price_of(quarter: FeeQuarter, level: FeeLevel) -> Decimal:
    prices = {
        FeeLevel.HT: quarter.ht_ct_per_kwh,
        FeeLevel.ST: quarter.st_ct_per_kwh,
        FeeLevel.NT: quarter.nt_ct_per_kwh,
    }
    return prices[level]


def _holds(window: FeeWindow, moment: datetime) -> bool:
    wall = moment.time()
    return window.start <= wall and (window.end == MIDNIGHT or wall < window.end)


def level_at(quarter: FeeQuarter, local_start: datetime) -> FeeLevel:
    """The price level of the quarter hour that starts at this local wall-clock time."""
    if any(_holds(window, local_start) for window in quarter.ht):
        return FeeLevel.HT
    if any(_holds(window, local_start) for window in quarter.nt):
        return FeeLevel.NT
    return FeeLevel.ST


def label(window: FeeWindow) -> str:
    return f"{window.start:%H:%M}–{'24:00' if window.end == MIDNIGHT else f'{window.end:%H:%M}'}"


def euros(wh: int, ct_per_kwh: Decimal) -> Decimal:
    return (wh * ct_per_kwh * _EUR_PER_WH_CT).quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class LevelLine:
    """One line of the split: a price level in one quarter."""

    quarter: str
    level: FeeLevel
    windows: tuple[str, ...]  # local times, e.g. ("17:00–19:00",); ST: every other time
    ct_per_kwh: Decimal
    wh: int
    eur: Decimal


@dataclass(frozen=True)
class Shift:
    """Moving consumption from one level's windows to another's in the same quarter."""

    quarter: str
    source: FeeLevel
    source_windows: tuple[str, ...]
    target: FeeLevel
    target_windows: tuple[str, ...]
    saving_ct_per_kwh: Decimal
    wh_in_source: int  # what the customer used in the source's windows in the period
    saving_eur_if_all_moved: Decimal


@dataclass(frozen=True)
class GridFeeSplit:
    lines: tuple[LevelLine, ...]
    modul3_eur: Decimal
    standard_eur: Decimal  # the same energy at ST, the standard working price
    present: int  # quarter-hour values counted
    expected: int
    quarters_without_prices: tuple[str, ...]  # quarters of the period the price sheet does not give
    best_shift: Shift | None

    @property
    def saving_eur(self) -> Decimal:
        return self.standard_eur - self.modul3_eur


def split(quarter_hours: Iterable[tuple[datetime, int | None]], sheet: Mapping[str, FeeQuarter]) -> GridFeeSplit:
    """``quarter_hours``: (UTC start, Wh or None) of the quarter hours the partner may see in the period."""
    wh_by: dict[tuple[str, FeeLevel], int] = defaultdict(int)
    present = expected = 0
    missing: set[str] = set()
    for start, wh in quarter_hours:
        local = start.astimezone(BERLIN)
        quarter_name = quarter_of(local.date())
        expected += 1
        quarter = sheet.get(quarter_name)
        if quarter is None:
            missing.add(quarter_name)
            continue
        if wh is not None:
            present += 1
            wh_by[(quarter_name, level_at(quarter, local))] += wh
    lines = tuple(
        _line(sheet[quarter_name], level, wh)
        for (quarter_name, level), wh in sorted(wh_by.items(), key=lambda item: (item[0][0], _ORDER[item[0][1]]))
    )
    wh_by_quarter: dict[str, int] = defaultdict(int)
    for line in lines:
        wh_by_quarter[line.quarter] += line.wh
    standard = sum(
        (euros(wh, sheet[quarter_name].st_ct_per_kwh) for quarter_name, wh in wh_by_quarter.items()), Decimal("0.00")
    )
    return GridFeeSplit(
        lines,
        sum((line.eur for line in lines), Decimal("0.00")),
        standard,
        present,
        expected,
        tuple(sorted(missing)),
        _best_shift(lines, sheet),
    )


_ORDER = {FeeLevel.HT: 0, FeeLevel.ST: 1, FeeLevel.NT: 2}


def _windows(quarter: FeeQuarter, level: FeeLevel) -> tuple[str, ...]:
    return tuple(label(w) for w in (quarter.ht if level == FeeLevel.HT else quarter.nt if level == FeeLevel.NT else ()))


def _line(quarter: FeeQuarter, level: FeeLevel, wh: int) -> LevelLine:
    price = price_of(quarter, level)
    return LevelLine(quarter.quarter, level, _windows(quarter, level), price, wh, euros(wh, price))


def _best_shift(lines: Sequence[LevelLine], sheet: Mapping[str, FeeQuarter]) -> Shift | None:
    """Of the levels the customer used, the move into NT that saves most per kWh (HT before ST on a tie: the
    dearer hours first); none where no quarter of the period has an NT window."""
    candidates = []
    for line in lines:
        quarter = sheet[line.quarter]
        if line.level == FeeLevel.NT or not quarter.nt or line.wh <= 0:
            continue
        saving = line.ct_per_kwh - quarter.nt_ct_per_kwh
        candidates.append((saving, -_ORDER[line.level], line, quarter))
    if not candidates:
        return None
    saving, _, line, quarter = max(candidates, key=lambda item: (item[0], item[1], item[2].wh))
    return Shift(
        line.quarter,
        line.level,
        line.windows,
        FeeLevel.NT,
        _windows(quarter, FeeLevel.NT),
        saving,
        line.wh,
        euros(line.wh, saving),
    )
