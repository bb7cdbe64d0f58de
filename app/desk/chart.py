"""The month's clearing at a glance: fund payments by day and treatment region, drawn on the
server as SVG (``templates/_chart.html``), so the page needs no script and loads nothing.

One bar per day of the month, stacked by treatment region (a day's reversals, made that day and
greater than its settlements, stack below the axis).  The geometry is computed here, in whole
SVG units; the template only writes it out.  Each bar segment carries its day, region and amount
as a tooltip (``<title>``), and the table beside the chart holds the same figures for a screen
reader.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from app.desk import i18n
from app.engine.money import ZERO
from app.services.reports import DayFunds

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 72, 8, 12, 28
#: One colour per treatment region (the first six by amount), then grey for the rest.
PALETTE = ("#0b5cad", "#d97706", "#15803d", "#9333ea", "#be123c", "#0e7490")
OTHER = "#8b949e"


@dataclass(frozen=True, slots=True)
class Segment:
    x: int
    y: int
    width: int
    height: int
    colour: str
    title: str


@dataclass(frozen=True, slots=True)
class Tick:
    y: int
    label: str


@dataclass(frozen=True, slots=True)
class DayLabel:
    x: int
    label: str


@dataclass(frozen=True, slots=True)
class Key:
    colour: str
    region: str
    total: Decimal


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    left: int
    right: int
    zero_y: int
    segments: tuple[Segment, ...]
    ticks: tuple[Tick, ...]
    days: tuple[DayLabel, ...]
    keys: tuple[Key, ...]


def _step(top: Decimal) -> Decimal:
    """A round gridline step: 1, 2 or 5 times a power of ten, about four lines up to ``top``."""
    raw = top / 4
    power = Decimal(10) ** (len(str(int(raw))) - 1) if raw >= 1 else Decimal("0.01")
    for factor in (1, 2, 5, 10):
        if raw <= factor * power:
            return factor * power
    return 10 * power


def draw(period: str, days: tuple[DayFunds, ...]) -> Chart | None:
    """The chart of a month (``YYYY-MM``), or None when nothing moved in it."""
    if not days:
        return None
    year, month = int(period[:4]), int(period[5:7])
    length = calendar.monthrange(year, month)[1]
    by_region: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for d in days:
        by_region[d.treatment_region] += d.fund_payment
    ranked = sorted(by_region, key=lambda region: (-abs(by_region[region]), region))
    colour = {region: PALETTE[i] if i < len(PALETTE) else OTHER for i, region in enumerate(ranked)}
    up: dict[int, Decimal] = defaultdict(lambda: ZERO)
    down: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for d in days:
        (up if d.fund_payment >= 0 else down)[d.day.day] += d.fund_payment
    top = max([*up.values(), ZERO])
    bottom = min([*down.values(), ZERO])
    step = _step(max(top - bottom, Decimal("1")))
    top = (top / step).to_integral_value(rounding=ROUND_CEILING) * step
    bottom = (bottom / step).to_integral_value(rounding=ROUND_FLOOR) * step
    span = top - bottom if top != bottom else step
    plot = HEIGHT - TOP - BOTTOM
    band = (WIDTH - LEFT - RIGHT) // length

    def y_of(value: Decimal) -> int:
        return TOP + int((top - value) * plot / span)

    segments: list[Segment] = []
    stacked_up: dict[int, Decimal] = defaultdict(lambda: ZERO)
    stacked_down: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for d in sorted(days, key=lambda d: (d.day, ranked.index(d.treatment_region))):
        n = d.day.day
        stack = stacked_up if d.fund_payment >= 0 else stacked_down
        start, end = stack[n], stack[n] + d.fund_payment
        stack[n] = end
        y1, y2 = sorted((y_of(start), y_of(end)))
        title = f"{d.day.isoformat()} · {d.treatment_region} · {i18n.amount(d.fund_payment)}"
        gap = max(1, band // 8)
        x = LEFT + (n - 1) * band + gap
        segments.append(Segment(x, y1, max(1, band - 2 * gap), max(1, y2 - y1), colour[d.treatment_region], title))
    ticks = []
    value = bottom
    while value <= top:
        ticks.append(Tick(y_of(value), i18n.amount(value).removesuffix(".00")))
        value += step
    labels = [DayLabel(LEFT + (n - 1) * band + band // 2, str(n)) for n in range(1, length + 1) if n == 1 or n % 5 == 0]
    keys = tuple(Key(colour[region], region, by_region[region]) for region in ranked)
    return Chart(WIDTH, HEIGHT, LEFT, WIDTH - RIGHT, y_of(ZERO), tuple(segments), tuple(ticks), tuple(labels), keys)
