"""Charts as inline SVG, drawn on the server (no script, no third-party code): a bar per period."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT = 760, 220
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 10, 34


@dataclass(frozen=True)
class Bar:
    label: str  # the period, as printed under the bar
    value: float | None  # 0..1; None: nothing judged in the period (no bar)
    href: str  # the items behind the figure
    tip: str  # the full figure, shown on hover and read by screen readers


def _attr(value: object) -> str:
    return escape(str(value), quote=True)


def share_bars(bars: list[Bar], title: str, empty: str) -> str:
    """A bar chart of shares (0..1, shown as percent), each bar a link to the items behind it."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-label="{_attr(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    for pct in (0, 50, 100):
        y = TOP + plot_h * (1 - pct / 100)
        parts.append(f'<line class="grid" x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}"/>')
        parts.append(f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{pct}%</text>')
    if not bars:
        parts.append(f'<text class="axis" x="{WIDTH / 2:.1f}" y="{HEIGHT / 2:.1f}" text-anchor="middle">')
        parts.append(f"{escape(empty)}</text></svg>")
        return "".join(parts)
    slot = plot_w / len(bars)
    width = max(1.0, min(40.0, slot * 0.7))
    every = max(1, round(len(bars) / 10))  # at most about ten labels under the bars
    for n, bar in enumerate(bars):
        x = LEFT + slot * n + (slot - width) / 2
        if bar.value is not None:
            h = max(1.0, plot_h * max(0.0, min(1.0, bar.value)))
            kind = "good" if bar.value >= 0.95 else "fair" if bar.value >= 0.8 else "poor"
            parts.append(f'<a href="{_attr(bar.href)}"><title>{escape(bar.tip)}</title>')
            top = TOP + plot_h - h
            parts.append(f'<rect class="bar {kind}" x="{x:.1f}" y="{top:.1f}" width="{width:.1f}" height="{h:.1f}"/>')
            parts.append("</a>")
        if n % every == 0:
            cx, cy = LEFT + slot * n + slot / 2, HEIGHT - BOTTOM + 16
            label = escape(bar.label)
            parts.append(f'<text class="axis" x="{cx:.1f}" y="{cy}" text-anchor="middle">{label}</text>')
    parts.append("</svg>")
    return "".join(parts)
