"""Money saved vs lost over time, by channel: the geometry of a small bar chart.

Saved money stacks upwards from the zero line, lost money downwards, one colour per channel.
Everything is computed here (pure, testable); the page template only draws the rectangles as
inline SVG, so the chart needs no script and no external library.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from domain.money import format_money, from_minor
from support.losses import CHANNELS, LossItem

__all__ = ["CHANNEL_COLOURS", "Bar", "LossChart", "Tick", "build_chart"]

CHANNEL_COLOURS = {
    "call": "#2563eb",
    "sms": "#9333ea",
    "in_app": "#0d9488",
    "none": "#94a3b8",
}
_OTHER_COLOUR = "#f59e0b"
_BUCKETS = (
    (timedelta(minutes=1), "minute"),
    (timedelta(minutes=5), "5 minutes"),
    (timedelta(minutes=15), "15 minutes"),
    (timedelta(hours=1), "hour"),
    (timedelta(hours=6), "6 hours"),
    (timedelta(days=1), "day"),
    (timedelta(days=7), "week"),
)
_MAX_BUCKETS = 24  # a week shows as days, a day as hours
WIDTH, HEIGHT = 760, 300
LEFT, RIGHT, TOP, BOTTOM = 70, 16, 18, 34


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    colour: str
    label: str  # the tooltip: when, saved/lost, channel, amount


@dataclass(frozen=True)
class Tick:
    at: float
    text: str


@dataclass(frozen=True)
class LossChart:
    width: int
    height: int
    plot_left: int
    plot_right: int
    zero_y: float
    currency: str
    bucket: str
    bars: list[Bar]
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    legend: list[tuple[str, str]]
    saved_total: str
    lost_total: str
    empty: bool

    @property
    def description(self) -> str:
        return f"Saved {self.saved_total} and lost {self.lost_total} per {self.bucket}, by channel"


def _bucket(since: datetime, until: datetime) -> tuple[timedelta, str]:
    span = until - since
    for size, name in _BUCKETS:
        if span / size <= _MAX_BUCKETS:
            return size, name
    return _BUCKETS[-1]


def _nice(value: int) -> int:
    """A round number ≥ value for the axis (1, 2, 5 × 10^n)."""
    if value <= 0:
        return 1
    magnitude = int(10 ** (len(str(value)) - 1))
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude


def _pick_currency(items: list[LossItem], wanted: str | None) -> str:
    if wanted:
        return wanted.upper()
    counts = Counter(item.currency for item in items if item.kind != "open")
    return counts.most_common(1)[0][0] if counts else "CNY"


def build_chart(
    items: list[LossItem], *, since: datetime, until: datetime, currency: str | None = None
) -> LossChart:
    currency = _pick_currency(items, currency)
    size, bucket_name = _bucket(since, until)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    first = epoch + size * ((since - epoch) // size)
    count = max(1, -(-(until - first) // size))  # ceiling division
    saved = [dict.fromkeys(CHANNELS, 0) for _ in range(count)]
    lost = [dict.fromkeys(CHANNELS, 0) for _ in range(count)]
    for item in items:
        if item.kind == "open" or item.at is None or item.currency != currency:
            continue
        index = min(count - 1, max(0, (item.at - first) // size))
        target = saved if item.kind == "saved" else lost
        target[index][item.channel] = target[index].get(item.channel, 0) + item.amount_minor

    top = _nice(max(sum(b.values()) for b in saved))
    bottom = _nice(max(sum(b.values()) for b in lost))
    plot_height = HEIGHT - TOP - BOTTOM
    # The zero line splits the height in proportion to the biggest saved and lost bars.
    zero_y = TOP + plot_height * top / (top + bottom)
    scale = plot_height / (top + bottom)
    plot_width = WIDTH - LEFT - RIGHT
    slot = plot_width / count
    bar_width = max(2.0, min(36.0, slot * 0.7))

    channels = list(CHANNELS) + sorted(
        {c for b in saved + lost for c in b if c not in CHANNELS and b[c]}
    )
    bars: list[Bar] = []
    for index in range(count):
        start = first + size * index
        x = LEFT + slot * index + (slot - bar_width) / 2
        when = start.strftime("%Y-%m-%d %H:%M UTC")
        up, down = zero_y, zero_y
        for channel in channels:
            colour = CHANNEL_COLOURS.get(channel, _OTHER_COLOUR)
            amount = saved[index].get(channel, 0)
            if amount:
                height = amount * scale
                up -= height
                label = f"{when}: saved via {channel} {format_money(amount, currency)}"
                bars.append(Bar(x, up, bar_width, height, colour, label))
            amount = lost[index].get(channel, 0)
            if amount:
                height = amount * scale
                label = f"{when}: lost via {channel} {format_money(amount, currency)}"
                bars.append(Bar(x, down, bar_width, height, colour, label))
                down += height

    label_every = max(1, -(-count // 8))
    fmt = "%m-%d" if size >= timedelta(days=1) else "%m-%d %H:%M"
    x_ticks = [
        Tick(LEFT + slot * i + slot / 2, (first + size * i).strftime(fmt))
        for i in range(0, count, label_every)
    ]
    # The caption names the currency; the bands say which side is saved and which lost.
    y_ticks = [
        Tick(TOP, f"{from_minor(top, currency):,.0f}"),
        Tick(zero_y, "0"),
        Tick(TOP + plot_height, f"{from_minor(bottom, currency):,.0f}"),
    ]
    saved_total = sum(sum(b.values()) for b in saved)
    lost_total = sum(sum(b.values()) for b in lost)
    return LossChart(
        width=WIDTH,
        height=HEIGHT,
        plot_left=LEFT,
        plot_right=WIDTH - RIGHT,
        zero_y=zero_y,
        currency=currency,
        bucket=bucket_name,
        bars=bars,
        x_ticks=x_ticks,
        y_ticks=y_ticks,
        legend=[(c, CHANNEL_COLOURS.get(c, _OTHER_COLOUR)) for c in channels],
        saved_total=format_money(saved_total, currency),
        lost_total=format_money(lost_total, currency),
        empty=not bars,
    )
