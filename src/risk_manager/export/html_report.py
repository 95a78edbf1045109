"""One self-contained HTML file per account and trading day: the dispute report a trader sends to the
firm's support.

Self-contained means: one file, inline CSS, an inline SVG chart, no script, no font, image or link to
anything outside it, so it opens the same anywhere, offline, years later. Every figure is printed as
the database holds it (money as decimal text, the numbers each rule saw as recorded), times in the
account's zone with the UTC instant next to them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any

from risk_manager import __version__
from risk_manager.export.chart import timeline_svg
from risk_manager.export.report_data import DayReport, when

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px;border-bottom:1px solid #ddd}
.sub{color:#555;margin:2px 0}table{border-collapse:collapse;width:100%;font-size:12px}
th,td{border:1px solid #ddd;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.utc{color:#888;font-size:11px}.bad{color:#b00;font-weight:600}.ok{color:#080}
table.summary{width:auto}table.summary th{width:220px}.seen{white-space:nowrap}
.empty{color:#888;font-style:italic}footer{margin-top:32px;color:#777;font-size:11px}
"""
SIDES = {0: "Buy", 1: "Sell"}


def _e(value: Any) -> str:
    return "" if value is None else escape(str(value))


def _time(report: DayReport, text: Any) -> str:
    at = when(text)
    if at is None:
        return _e(text)
    local = at.astimezone(report.zone)
    return (f'{local:%H:%M:%S}.{local.microsecond // 1000:03d}'
            f'<br><span class="utc">{_e(text)}</span>')  # fmt: skip


SEEN_ORDER = ("realized", "unrealized", "net", "openContracts", "tradeCount", "limit", "measure")


def _seen(seen: Any) -> str:
    if isinstance(seen, dict):
        keys = [k for k in SEEN_ORDER if k in seen] + sorted(k for k in seen if k not in SEEN_ORDER)
        return "<br>".join(f"{_e(k)} <b>{_e(seen[k])}</b>" for k in keys)
    return _e(seen)


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], empty: str, numeric: set[int]) -> str:
    body = []
    for row in rows:
        cells = "".join(f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(row))
        body.append(f"<tr>{cells}</tr>")
    if not body:
        return f'<p class="empty">{escape(empty)}</p>'
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _actions(report: DayReport) -> str:
    rows = []
    for number, a in enumerate(report.actions, start=1):
        state = _e(a.get("state"))
        if a.get("state") == "failed":
            state = f'<span class="bad">{state}</span>'
        timing = " / ".join("-" if v is None else f"{v:.1f}" if isinstance(v, float) else _e(v)
                            for v in (a.get("first_request_ms"), a.get("confirmed_ms")))  # fmt: skip
        rows.append([
            f"#{number}", _time(report, a.get("created_at")), _e(a.get("rule_id")), _e(a.get("action")),
            _e(a.get("target")), state, _e(a.get("attempts")), _e(a.get("reason")),
            f'<span class="seen">{_seen(a.get("seen"))}</span>', timing, _e(a.get("lockout_id")),
        ])  # fmt: skip
    headers = ["#", "Time", "Rule", "Action", "Target", "State", "Tries", "Reason", "Numbers the rule saw",
               "Request / confirmed (ms)", "Lockout"]  # fmt: skip
    return _table(headers, rows, "No enforcement action on this day.", {6, 9})


def _lockouts(report: DayReport) -> str:
    rows = []
    for lk in report.lockouts:
        if lk.get("active"):
            cleared = '<span class="bad">active</span>'
        else:
            cleared = _time(report, lk.get("cleared_at")) + " " + _e(lk.get("cleared_by"))
            extra = ", ".join(_e(v) for v in (lk.get("clear_reason"), lk.get("cleared_by_user")) if v)
            cleared += f"<br>{extra}" if extra else ""
        scope = _e(lk.get("scope")) + (f" {_e(lk.get('symbol'))}" if lk.get("symbol") else "")
        rows.append([
            _time(report, lk.get("created_at")), _e(lk.get("rule_id")), _e(lk.get("kind")), scope,
            _time(report, lk.get("until")) if lk.get("until") else "indefinite", _e(lk.get("clears_on")),
            _e(lk.get("reason")), "yes" if lk.get("observed") else "no", cleared,
        ])  # fmt: skip
    headers = ["Set", "Rule", "Kind", "Scope", "Until", "Clears on", "Reason", "Observe-only", "Cleared"]
    return _table(headers, rows, "No lockout on this day.", set())


def _trades(report: DayReport) -> str:
    rows = []
    for t in report.trades:
        rows.append([
            _time(report, t.get("executed_at")), _e(t.get("trade_id")), _e(t.get("symbol")),
            _e(t.get("contract_id")), SIDES.get(t.get("side", -1), _e(t.get("side"))), _e(t.get("size")),
            _e(t.get("price")), _e(t.get("pnl")) if t.get("pnl") is not None else "(opening)", _e(t.get("fees")),
            "voided" if t.get("voided") else "", _e(t.get("order_id")),
        ])  # fmt: skip
    headers = ["Time", "Trade", "Symbol", "Contract", "Side", "Size", "Price", "P&L", "Fees", "", "Order"]
    return _table(headers, rows, "No trade on this day.", {5, 6, 7, 8})


def _audit(report: DayReport) -> str:
    rows = [[_time(report, r.get("at")), _e(r.get("actor")), _e(r.get("action")), _e(r.get("target")),
             _e(r.get("reason")), _e(r.get("outcome"))] for r in report.audit]  # fmt: skip
    return _table(["Time", "Who", "Action", "Target", "Reason", "Outcome"], rows,
                  "No administrator action during this trading day.", set())  # fmt: skip


def _summary(report: DayReport) -> str:
    pnl = report.pnl or {}
    failed = sum(1 for a in report.actions if a.get("state") == "failed")
    items = [
        ("Realized P&L", _e(pnl.get("realized", "-"))),
        ("Fees", _e(pnl.get("fees", "-"))),
        ("Trades (winning / losing)", f"{_e(pnl.get('trade_count', len(report.trades)))} "
                                      f"({_e(pnl.get('winning', '-'))} / {_e(pnl.get('losing', '-'))})"),
        ("Highest / lowest net P&L", f"{_e(pnl.get('max_net', '-'))} / {_e(pnl.get('min_net', '-'))}"),
        ("Enforcement actions", f"{len(report.actions)}"
                                + (f' (<span class="bad">{failed} failed</span>)' if failed else "")),
        ("Lockouts", str(len(report.lockouts))),
        ("Limits drawn", ", ".join(f"{_e(lim.rule)} {lim.value:.2f} {_e(lim.measure)}"
                                   + (" (current configuration)" if lim.source == "config" else "")
                                   for lim in report.limits) or "none recorded"),
    ]  # fmt: skip
    rows = "".join(f"<tr><th>{escape(k)}</th><td>{v}</td></tr>" for k, v in items)
    return f'<table class="summary">{rows}</table>'


def render(report: DayReport, database: str) -> str:
    acct = report.account
    name = " / ".join(str(v) for v in (acct.get("name"), acct.get("nickname")) if v)
    title = f"Account {report.account_id}{f' ({name})' if name else ''} - trading day {report.day.isoformat()}"
    start, end = report.start.astimezone(report.zone), report.end.astimezone(report.zone)
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    meta = report.meta
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} - risk-manager report</title>
<style>{CSS}</style></head>
<body>
<h1>{escape(title)}</h1>
<p class="sub">Trading day from {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} {escape(str(report.zone))}
({report.start:%Y-%m-%d %H:%M} to {report.end:%Y-%m-%d %H:%M} UTC).</p>
<p class="sub">Login {_e(acct.get("login") or "-")}; report made {generated} by risk-manager {escape(__version__)}
from {escape(database)} (schema {_e(meta.get("schema_version"))}, written by {_e(meta.get("product_version"))}).</p>
<h2>Summary</h2>
{_summary(report)}
<h2>Timeline</h2>
{timeline_svg(report)}
<h2>Enforcement actions</h2>
{_actions(report)}
<h2>Lockouts</h2>
{_lockouts(report)}
<h2>Trades</h2>
{_trades(report)}
<h2>Administrator actions</h2>
{_audit(report)}
<footer>Every figure is copied from the risk-manager database without recalculation: money in the account's
currency as decimal text, times in {escape(str(report.zone))} with the UTC instant below. "Numbers the rule
saw" are those recorded with the action when the rule decided (P&amp;L, open contracts, trade count and the
rule's limit). Limit lines marked "current configuration" come from the configuration as it is now, not as it
was that day.</footer>
</body></html>
"""
