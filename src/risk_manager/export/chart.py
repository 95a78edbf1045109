"""The report's timeline: one inline SVG (no script, no external asset) of the day's P&L.

Drawn: net P&L (realized + unrealized, from the minute samples) as a line, realized P&L (from the
trades) as steps, a dashed line for every limit, each lockout as a shaded span, and each enforcement
action as a numbered marker whose number is its row in the report's table. Times on the axis are the
account's local time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from html import escape
from typing import Any

from risk_manager.export.report_data import DayReport, when

W, H = 960, 340
LEFT, RIGHT, TOP, BOTTOM = 80, 170, 20, 40
MIN_SPAN = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class Point:
    at: datetime
    value: Decimal


def _dec(value: Any) -> Decimal:
    try:
        return Decimal(str(value)) if value not in (None, "") else Decimal(0)
    except ArithmeticError:
        return Decimal(0)


def realized_steps(report: DayReport) -> list[Point]:
    """Realized P&L after each trade; net of fees when that is how the day's total was counted."""
    trades = [t for t in report.trades if not t.get("voided") and when(t.get("executed_at"))]
    gross = sum((_dec(t.get("pnl")) for t in trades), Decimal(0))
    fees = sum((_dec(t.get("fees")) for t in trades), Decimal(0))
    with_fees = report.pnl is not None and fees and _dec(report.pnl.get("realized")) == gross - fees
    total = Decimal(0)
    points: list[Point] = []
    for t in trades:
        total += _dec(t.get("pnl")) - (_dec(t.get("fees")) if with_fees else 0)
        at = when(t.get("executed_at"))
        assert at is not None
        points.append(Point(at, total))
    return points


def net_line(report: DayReport) -> list[Point]:
    out = []
    for s in report.samples:
        at = when(s.get("at"))
        if at is not None:
            out.append(Point(at, _dec(s.get("realized")) + _dec(s.get("unrealized"))))
    return out


def _events(report: DayReport) -> list[datetime]:
    times = [when(a.get("created_at")) for a in report.actions]
    times += [when(lk.get("created_at")) for lk in report.lockouts]
    return [t for t in times if t is not None]


def _span(report: DayReport, series: list[Point]) -> tuple[datetime, datetime]:
    times = [p.at for p in series] + _events(report)
    if not times:
        return report.start, report.end
    lo, hi = max(min(times), report.start), min(max(times), report.end)
    if hi - lo < MIN_SPAN:
        middle = lo + (hi - lo) / 2
        lo, hi = middle - MIN_SPAN / 2, middle + MIN_SPAN / 2
    pad = (hi - lo) * 0.04
    return lo - pad, hi + pad


def _nice_step(span: Decimal) -> Decimal:
    raw = span / 5 if span > 0 else Decimal(1)
    magnitude = Decimal(10) ** (len(str(int(raw))) - 1) if raw >= 1 else Decimal("0.1")
    for m in (1, 2, 5, 10):
        if raw <= magnitude * m:
            return magnitude * m
    return magnitude * 10


def timeline_svg(report: DayReport) -> str:
    realized, net = realized_steps(report), net_line(report)
    t0, t1 = _span(report, realized + net)
    values = [p.value for p in realized + net] + [lim.value for lim in report.limits] + [Decimal(0)]
    v0, v1 = min(values), max(values)
    pad = (v1 - v0) * Decimal("0.1") or Decimal(10)
    v0, v1 = v0 - pad, v1 + pad
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM
    seconds = (t1 - t0).total_seconds() or 1.0

    def x(at: datetime) -> float:
        at = min(max(at, t0), t1)
        return LEFT + plot_w * (at - t0).total_seconds() / seconds

    def y(value: Decimal) -> float:
        return TOP + plot_h * float((v1 - value) / (v1 - v0))

    parts = [
        # Inline SVG in HTML5 needs no namespace declaration (and the file then names no web address).
        f'<svg viewBox="0 0 {W} {H}" width="{W}" height="{H}" '
        'role="img" aria-label="P&amp;L timeline" font-family="sans-serif" font-size="11">',
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="#fff" stroke="#bbb"/>',
    ]
    step = _nice_step(v1 - v0)
    tick = (v0 / step).to_integral_value(rounding="ROUND_CEILING") * step
    while tick <= v1:
        parts.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
                     f'stroke="{"#888" if tick == 0 else "#eee"}"/>')  # fmt: skip
        parts.append(f'<text x="{LEFT - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">{tick:.2f}</text>')
        tick += step
    for i in range(7):
        at = t0 + (t1 - t0) * i / 6
        parts.append(f'<text x="{x(at):.1f}" y="{H - BOTTOM + 16}" text-anchor="middle">'
                     f'{at.astimezone(report.zone):%H:%M}</text>')  # fmt: skip
    parts.append(f'<text x="{LEFT + plot_w / 2}" y="{H - 6}" text-anchor="middle" fill="#555">'
                 f'time ({escape(str(report.zone))})</text>')  # fmt: skip
    for lk in report.lockouts:
        start = when(lk.get("created_at")) or t0
        stop = when(lk.get("cleared_at")) or when(lk.get("until")) or t1
        if stop < t0 or start > t1:
            continue
        parts.append(
            f'<rect x="{x(start):.1f}" y="{TOP}" width="{max(x(stop) - x(start), 1.5):.1f}" height="{plot_h}" '
            f'fill="#d62728" fill-opacity="0.10"><title>lockout {escape(str(lk.get("rule_id")))}: '
            f'{escape(str(lk.get("reason") or ""))}</title></rect>'
        )
    for i, lim in enumerate(report.limits):
        colour = "#d62728" if lim.value < 0 else "#2ca02c"
        yy = y(lim.value)
        parts.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="{colour}" '
                     'stroke-dasharray="6 4"/>')  # fmt: skip
        note = " (config)" if lim.source == "config" else ""
        parts.append(f'<text x="{LEFT + plot_w + 6}" y="{yy + 4 + (i % 2) * 11:.1f}" fill="{colour}">'
                     f'{escape(lim.rule)} {lim.value:.2f} {escape(lim.measure)}{note}</text>')  # fmt: skip
    if net:
        pts = " ".join(f"{x(p.at):.1f},{y(p.value):.1f}" for p in net)
        parts.append(f'<polyline points="{pts}" fill="none" stroke="#1f77b4" stroke-width="2"/>')
    if realized:
        steps = [f"{x(realized[0].at):.1f},{y(Decimal(0)):.1f}"]
        for prev, p in zip([None, *realized[:-1]], realized, strict=True):
            if prev is not None:
                steps.append(f"{x(p.at):.1f},{y(prev.value):.1f}")
            steps.append(f"{x(p.at):.1f},{y(p.value):.1f}")
        steps.append(f"{x(t1):.1f},{y(realized[-1].value):.1f}")
        parts.append(f'<polyline points="{" ".join(steps)}" fill="none" stroke="#444" stroke-width="1.5"/>')
    for number, a in enumerate(report.actions, start=1):
        created = when(a.get("created_at"))
        if created is None:
            continue
        xx = x(created)
        label = f"#{number} {a.get('rule_id')} {a.get('action')}: {a.get('reason') or ''}"
        parts.append(
            f'<g><title>{escape(label)}</title><line x1="{xx:.1f}" x2="{xx:.1f}" y1="{TOP}" y2="{TOP + plot_h}" '
            f'stroke="#ff7f0e"/><circle cx="{xx:.1f}" cy="{TOP + 10 + (number - 1) % 4 * 14}" r="7" '
            f'fill="#ff7f0e"/><text x="{xx:.1f}" y="{TOP + 14 + (number - 1) % 4 * 14}" text-anchor="middle" '
            f'fill="#fff" font-size="9">{number}</text></g>'
        )
    legend = [("#1f77b4", "net P&amp;L (samples)"), ("#444", "realized P&amp;L (trades)"),
              ("#ff7f0e", "enforcement action"), ("#d62728", "lockout / loss limit")]  # fmt: skip
    for i, (colour, text) in enumerate(legend):
        yy = TOP + plot_h - 60 + i * 15
        parts.append(f'<rect x="{LEFT + plot_w + 6}" y="{yy - 8}" width="10" height="10" fill="{colour}"/>'
                     f'<text x="{LEFT + plot_w + 20}" y="{yy + 1}">{text}</text>')  # fmt: skip
    if not realized and not net:
        parts.append(f'<text x="{LEFT + plot_w / 2}" y="{TOP + plot_h / 2}" text-anchor="middle" fill="#888">'
                     "no P&amp;L recorded for this day</text>")  # fmt: skip
    parts.append("</svg>")
    return "\n".join(parts)
