"""Tab 8, Connection: the daemon, each broker login of the account, protection, and the dashboard's own
link (messages, reconnects, backoff, the offline source). Ages tick every second."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll

from risk_manager.trader.fmt import clock, duration, parse_time
from risk_manager.trader.widgets.base import Figure, ViewContext, line


class ConnectionTab(VerticalScroll):
    DEFAULT_CSS = "ConnectionTab Figure { height: auto; margin-bottom: 1; }"

    def compose(self) -> ComposeResult:
        yield Figure(id="conn-daemon")
        yield Figure(id="conn-broker")
        yield Figure(id="conn-protection")
        yield Figure(id="conn-dashboard")

    def refresh_view(self, ctx: ViewContext, link: Any = None, notifier_status: str = "") -> None:
        p = ctx.palette
        model = ctx.model
        daemon = model.daemon
        if ctx.live:
            uptime = model.heartbeat.get("uptimeS")
            last = ctx.since(model.last_message_at)
            text = line(
                "Daemon      ",
                p.dot(True),
                f" running · version {daemon.get('version')} · {link.url if link else ''} · protocol {daemon.get('protocol')}"
                f" · up {duration(uptime or 0)} · last message {duration(last or 0)} ago",
            )
        else:
            beat = model.as_of
            text = line(
                "Daemon      ",
                p.dot(False),
                " offline",
                f" · last heartbeat {clock(beat, ctx.tz)}" if beat else "",
            )
        self.query_one("#conn-daemon", Figure).show(text, palette=p)
        conn = ctx.view.connection if ctx.view else {}
        hubs = (model.heartbeat.get("hubs") or {}) if ctx.live else {}
        login = conn.get("login") or (ctx.view.info.get("login") if ctx.view else None)
        user, market = conn.get("userHub"), conn.get("marketHub")
        last_event = ctx.since(conn.get("lastEventAt"))
        broker = line(
            f"Broker      login {login or '—'} · user hub ",
            p.dot(_up(user) if ctx.live else None),
            f" {user or 'unknown'}{'' if last_event is None else f' (last event {duration(last_event)} ago)'} · market hub ",
            p.dot(_up(market) if ctx.live else None),
            f" {market or 'unknown'}",
        )
        if hubs:
            broker.append(f" · hubs {hubs_text(hubs)}"[:120])
        self.query_one("#conn-broker", Figure).show(broker, palette=p)
        prot = ctx.view.protection if ctx.view else "unknown"
        since = parse_time(conn.get("since"))
        if not ctx.live:
            protect = Text("NOT PROTECTED — the daemon is not running", style=p.crit)
        elif prot in ("protected", "degraded"):
            protect = Text(
                f"protected{' (no market data)' if prot == 'degraded' else ''}",
                style=p.ok if prot == "protected" else p.warn,
            )
        else:
            protect = Text(
                f"NOT PROTECTED — {conn.get('reason') or prot}"
                + (f" since {clock(since, ctx.tz)}" if since else ""),
                style=p.crit,
            )
        self.query_one("#conn-protection", Figure).show(line("Protection  ", protect), palette=p)
        dash = f"Dashboard   {model.messages} messages · {model.ignored} ignored"
        if link is not None:
            dash += f" · {link.malformed_total} malformed · {link.reconnects} reconnects"
            if link.retry_at is not None:
                dash += f" · next attempt in {duration(link.current_delay)} (attempt {link.backoff.attempt})"
            if not ctx.live:
                dash += f" · offline source {link.db_path}" + (
                    f" ({link.offline_error})" if link.offline_error else ""
                )
        if notifier_status:
            dash += f" · {notifier_status}"
        self.query_one("#conn-dashboard", Figure).show(Text(dash), palette=p)


def _up(state: Any) -> bool:
    return str(state) in ("connected", "up")


def hubs_text(hubs: dict[str, Any]) -> str:
    """``demo: user connected, market connected; other: …`` (the heartbeat's per-login hub states)."""
    parts = []
    for login, states in hubs.items():
        if isinstance(states, dict):
            parts.append(f"{login}: " + ", ".join(f"{hub} {state}" for hub, state in states.items()))
        else:
            parts.append(f"{login}: {states}")
    return "; ".join(parts)
