"""The trader dashboard application (Textual): frame, eight tabs, keys, alerts (trader-cli.md §5-§12).

The link (``link.py``) feeds the model; each message refreshes only the chrome and the active tab's
parts its topics name, so a push is on screen within milliseconds and quotes touch two cells. A 1 s
ticker moves clocks, ages and countdowns. No handler can close the app: failures are logged to the
dashboard's own log file and shown in a red toast.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import events
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.filter import Monochrome
from textual.widgets import DataTable, Static, TabbedContent, TabPane

from risk_manager.collector import GC_THRESHOLD_0_DASHBOARD, settle_gc
from risk_manager.trader.alerts import Alert, AlertPolicy
from risk_manager.trader.fmt import money, zone
from risk_manager.trader.link import LIVE, Link
from risk_manager.trader.model import DashboardModel
from risk_manager.trader.notifier import Notifier, SystemNotifier
from risk_manager.trader.screens import AccountScreen, DetailScreen, HelpScreen
from risk_manager.trader.style import Palette
from risk_manager.trader.widgets.base import ViewContext, show_text
from risk_manager.trader.widgets.chrome import banners, header, status_bar
from risk_manager.trader.widgets.common import account_status
from risk_manager.trader.widgets.connection import ConnectionTab
from risk_manager.trader.widgets.enforcement import EnforcementTab, row_key
from risk_manager.trader.widgets.lockouts import LockoutsTab
from risk_manager.trader.widgets.orders import OrdersTab
from risk_manager.trader.widgets.overview import OverviewTab
from risk_manager.trader.widgets.pnl import PnlTab
from risk_manager.trader.widgets.positions import PositionsTab
from risk_manager.trader.widgets.rules import RulesTab
from risk_manager.trader.widgets.table import KeyedTable
from risk_manager.trader.widgets.tabs import DashboardTabs

log = logging.getLogger("risk_manager.trader")

TABS = [
    ("overview", "1 Overview"),
    ("pnl", "2 P&L"),
    ("positions", "3 Positions"),
    ("orders", "4 Orders"),
    ("rules", "5 Rules"),
    ("lockouts", "6 Lockouts"),
    ("enforcement", "7 Enforcement"),
    ("connection", "8 Conn."),
]
TAB_IDS = [t for t, _ in TABS]
TOPIC_TABS = {
    "overview": {"pnl", "positions", "rules", "lockouts", "enforcement", "connection", "overview", "header"},
    "pnl": {"pnl", "trades", "chart"},
    "positions": {"positions", "orders", "rules", "pnl"},
    "orders": {"orders", "enforcement"},
    "rules": {"rules"},
    "lockouts": {"lockouts", "rules"},
    "enforcement": {"enforcement", "lockouts"},
    "connection": {"connection", "header"},
}
MIN_W, MIN_H = 80, 24


class TraderApp(App[int]):
    TITLE = "Risk Manager — Trader"
    CSS = """
    Screen { layout: vertical; }
    #header { height: 1; background: $panel; }
    #banners { height: auto; max-height: 2; }
    #main { height: 1fr; }
    #tabs { height: 1fr; }
    TabPane { padding: 0 1; }
    #narration { height: auto; max-height: 2; color: $text-muted; }
    #statusbar { height: 1; background: $panel; }
    #too-small { display: none; height: 1fr; content-align: center middle; }
    Screen.-small #header, Screen.-small #main, Screen.-small #statusbar { display: none; }
    Screen.-small #too-small { display: block; }
    """
    BINDINGS = [
        *[Binding(str(i + 1), f"tab('{tab}')", label, show=False) for i, (tab, label) in enumerate(TABS)],
        Binding("tab", "next_tab(1)", "Next tab", priority=True, show=False),
        Binding("shift+tab", "next_tab(-1)", "Previous tab", priority=True, show=False),
        Binding("a", "accounts", "Account"),
        Binding("r", "reconnect", "Reconnect"),
        Binding("p", "older", "Older"),
        Binding("m", "mute", "Mute"),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit_app", "Quit"),
        Binding("ctrl+c", "quit_app", "Quit", priority=True),
    ]

    def __init__(
        self,
        url: str,
        *,
        db_path: Path | None = None,
        account: int | None = None,
        mono: bool = False,
        no_bell: bool = False,
        no_notify: bool = False,
        notifier: Notifier | None = None,
        clock: Callable[[], datetime] | None = None,
        narration: Sequence[str] | None = None,
        log_file: Path | None = None,
        link_options: dict[str, Any] | None = None,
        stop_after: float | None = None,
        settle_gc: bool = False,
    ) -> None:
        super().__init__()
        if mono and not self.no_color:
            self.no_color = True
            self._filters.append(Monochrome())
        self.palette = Palette(mono or self.no_color)
        self.model = DashboardModel()
        self.policy = AlertPolicy()
        self.account_id = account
        self.requested_account = account
        self.no_bell = no_bell
        self.no_notify = no_notify
        self.muted = False
        self.notifier: Notifier = notifier or SystemNotifier(self.bell)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.narration = narration
        self.log_file = log_file
        self.stop_after = stop_after
        self.link = Link(url, db_path, self, **(link_options or {}))
        self.protocol_error: str | None = None
        self.notice: str | None = None
        self.offline_error: str | None = None
        self._link_task: asyncio.Task[None] | None = None
        self._choosing = False
        self._sticky = False
        self._pnl_requested: set[tuple[int, str]] = set()
        self._history_requested: set[tuple[int, str]] = set()
        self._known: set[int] = set()
        self._pending: set[str] = set()
        self._flush_scheduled = False
        self._chrome_cache: dict[str, Any] = {}
        self._screen_ready = False
        #: the program's own process (the CLI): settle the collector once the first snapshot is on
        #: screen (``risk_manager/collector.py``; a full collection took 80 ms mid-update before)
        self._settle_gc = settle_gc

    # ----- layout ---------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Static(id="header")
        yield Static(id="banners")
        with Vertical(id="main"):
            with DashboardTabs(id="tabs", initial="overview"):
                for tab, label in TABS:
                    with TabPane(label, id=tab):
                        yield self._tab_widget(tab)
            if self.narration is not None:
                yield Static(id="narration")
        yield Static(id="statusbar")
        yield Static(id="too-small")

    def _tab_widget(self, tab: str) -> Any:
        p = self.palette
        return {
            "overview": lambda: OverviewTab(id="overview-view"),
            "pnl": lambda: PnlTab(p, id="pnl-view"),
            "positions": lambda: PositionsTab(p, id="positions-view"),
            "orders": lambda: OrdersTab(p, id="orders-view"),
            "rules": lambda: RulesTab(p, id="rules-view"),
            "lockouts": lambda: LockoutsTab(p, id="lockouts-view"),
            "enforcement": lambda: EnforcementTab(p, id="enforcement-view"),
            "connection": lambda: ConnectionTab(id="connection-view"),
        }[tab]()

    def on_mount(self) -> None:
        if self.log_file is not None:
            _file_log(self.log_file)
        self.call_after_refresh(self._start_link)  # messages only once the screen exists
        self.set_interval(1.0, self._tick)
        if self.stop_after is not None:
            self.set_timer(self.stop_after, lambda: self.exit(0))
        self._check_size()
        self._redraw(None)
        probe = getattr(self.notifier, "probe", None)
        if probe is not None and not self.no_notify:
            self.run_worker(probe(), exclusive=False)

    def _start_link(self) -> None:
        self._screen_ready = True
        self._link_task = asyncio.get_running_loop().create_task(self.link.run(), name="trader-link")
        self._safe(lambda: self._redraw(None))

    async def on_unmount(self) -> None:
        self._screen_ready = False
        if self._link_task is not None:
            self._link_task.cancel()
            await asyncio.gather(self._link_task, return_exceptions=True)

    def on_resize(self, event: events.Resize) -> None:
        self._check_size(event.size.width, event.size.height)
        self._safe(lambda: self._redraw(None))

    def _check_size(self, width: int | None = None, height: int | None = None) -> None:
        if width is None or height is None:
            width, height = self.size
        small = width < MIN_W or height < MIN_H
        self.screen.set_class(small, "-small")
        if small:
            self.query_one("#too-small", Static).update(
                f"Terminal too small: need {MIN_W}×{MIN_H}, now {width}×{height}. Enlarge the window."
            )

    # ----- context ---------------------------------------------------------------------------------
    @property
    def view(self) -> Any:
        return self.model.accounts.get(self.account_id) if self.account_id is not None else None

    def context(self) -> ViewContext:
        view = self.view
        tz = zone(view.info.get("timezone") if view is not None else None)
        return ViewContext(
            self.model, view, self.palette, self.clock(), tz, self.link.state == LIVE, self.size.width
        )

    @property
    def active_tab(self) -> str:
        return str(self.query_one("#tabs", TabbedContent).active) if self.drawn else "overview"

    @property
    def drawn(self) -> bool:
        """The main screen is composed and not yet torn down."""
        return self._screen_ready and self.is_running

    def _safe(self, work: Callable[[], Any]) -> Any:
        """Run a handler; a failure is logged and shown, never fatal (§11)."""
        try:
            return work()
        except Exception as exc:
            log.exception("dashboard error")
            where = f" (details in {self.log_file})" if self.log_file else ""
            self.notify(
                f"Internal error: {exc.__class__.__name__}: {exc}{where}", severity="error", timeout=10
            )
            return None

    # ----- drawing ---------------------------------------------------------------------------------
    def _redraw(self, topics: set[str] | None) -> None:
        """Chrome always; the active tab when ``topics`` touch it (None: everything it shows)."""
        if not self.drawn:
            return
        ctx = self.context()
        self._chrome(ctx)
        tab = self.active_tab
        if topics is None or topics & TOPIC_TABS[tab]:
            self._refresh_tab(tab, ctx, topics)

    def _set(self, selector: str, content: Any) -> None:
        """Update a line of the frame only when its text or style changed (no needless repaint), and
        without a layout of the screen when its height stays (``show_text``)."""
        key = (
            (content.plain, tuple(content.spans), str(content.style))
            if isinstance(content, Text)
            else content
        )
        cached = self._chrome_cache.get(selector)
        if cached is not None and cached[0] == key:
            return
        self._chrome_cache[selector] = (key, content)
        show_text(self.query_one(selector, Static), content, None if cached is None else cached[1])

    def _chrome(self, ctx: ViewContext) -> None:
        self._set("#header", header(ctx, self.link))
        lines = banners(
            ctx,
            protocol=self.protocol_error,
            offline_error=self.offline_error,
            notice=self.notice,
            connecting=self.link is not None and self.link.first_attempt,
        )
        text = Text()
        for i, (line_text, style) in enumerate(lines[:2]):
            if i:
                text.append("\n")
            text.append(line_text.ljust(max(0, self.size.width)), style=style)
        banner = self.query_one("#banners", Static)
        if banner.display != bool(lines):
            banner.display = bool(lines)
            self._chrome_cache.pop("#banners", None)  # shown or hidden: lay it out again
        self._set("#banners", text)
        self._set("#statusbar", status_bar(ctx, muted=self.muted))
        if self.narration is not None:
            said = [
                s.strip().removeprefix("[scenario]").strip() for s in list(self.narration)[-2:] if s.strip()
            ]
            self._set("#narration", Text("Demo: " + "  ·  ".join(said), style="italic") if said else "")

    def _refresh_tab(self, tab: str, ctx: ViewContext, topics: set[str] | None) -> None:
        widget = self.query_one(f"#{tab}-view")
        if isinstance(widget, ConnectionTab):
            widget.refresh_view(ctx, self.link, self._notify_status())
        elif isinstance(widget, OverviewTab):
            widget.refresh_view(ctx)
        else:
            widget.refresh_view(ctx, topics)  # type: ignore[attr-defined]
        if tab == "pnl":
            self._load_series()

    def _notify_status(self) -> str:
        if self.no_notify:
            return "desktop notifications off (--no-notify)"
        return str(getattr(self.notifier, "status", ""))

    def _tick(self) -> None:
        def work() -> None:
            if not self.drawn:
                return
            self._redraw(None)
            for table in self.query(KeyedTable):
                table.expire()

        self._safe(work)

    # ----- link callbacks ----------------------------------------------------------------------------
    def link_snapshot(self, data: dict[str, Any], *, recovered: bool) -> None:
        self._safe(lambda: self._snapshot(data, recovered))

    def _snapshot(self, data: dict[str, Any], recovered: bool) -> None:
        self.protocol_error = None
        self.offline_error = None
        self.model.load_snapshot(data, self.clock())
        for view in self.model.accounts.values():
            self.policy.baseline(view)
        self._pnl_requested.clear()
        self._history_requested.clear()
        if self._sticky or recovered:
            self.clear_notifications()
            self._sticky = False
            self.notify("Daemon back online — data is live.", severity="information", timeout=5)
        self._pick_account()
        self._load_history()
        self._redraw(None)
        if self._settle_gc:
            self._settle_gc = False
            self.call_after_refresh(
                lambda: log.info("garbage collector settled: %s", settle_gc(GC_THRESHOLD_0_DASHBOARD))
            )

    def _load_history(self) -> None:
        """Today's lockout history of the shown account (the snapshot carries only active lockouts)."""
        view = self.view
        if view is None or self.link.state != LIVE:
            return
        day = str(view.info.get("tradingDay"))
        key = (view.account_id, day)
        if key in self._history_requested:
            return
        self._history_requested.add(key)

        async def load() -> None:
            data = {"accountId": view.account_id, "tradingDay": day, "limit": 200}
            reply = await self.link.request("history.lockouts", data)
            if reply is None or not isinstance(reply.get("data"), dict):
                return
            items = [i for i in reply["data"].get("items") or [] if isinstance(i, dict)]
            delta = self.model.apply_history(view.account_id, "history.lockouts", items)
            self._safe(lambda: self._redraw(delta.topics))

        self.run_worker(load(), exclusive=False)

    def link_message(self, msg: dict[str, Any]) -> None:
        self._safe(lambda: self._message(msg))

    def _message(self, msg: dict[str, Any]) -> None:
        if msg.get("type") == "error":
            data = msg.get("data") if isinstance(msg.get("data"), dict) else {}
            self.protocol_error = str((data or {}).get("message") or "the daemon reported an error")
            self._redraw(set())
            return
        delta = self.model.apply(msg, self.clock())
        if delta.account_id is not None and delta.account_id not in self.model.accounts:
            return
        if delta.account_id is not None and delta.account_id != self.account_id:
            return
        view = self.view
        if view is not None and delta.events:
            for alert in self.policy.consume(delta, view):
                self._alert(alert)
        quotes = {t for t in delta.topics if t.startswith("quote:")}
        if quotes and self.drawn:
            ctx = self.context()
            if self.active_tab == "positions":
                positions = self.query_one("#positions-view", PositionsTab)
                for topic in quotes:
                    positions.quote_cells(ctx, topic.split(":", 1)[1])
        topics = delta.topics - quotes
        if topics:
            self._pending |= topics
            if not self._flush_scheduled:
                self._flush_scheduled = True
                self.call_later(
                    self._flush_pending
                )  # after the messages already queued: one redraw per burst

    def _flush_pending(self) -> None:
        self._flush_scheduled = False
        topics, self._pending = self._pending, set()
        if topics:
            self._safe(lambda: self._redraw(topics))

    def link_state(self, reason: str) -> None:
        def work() -> None:
            if self.link.state != LIVE and self.model.source == "live":
                self.model.source = "none"
                if not self._sticky:
                    self._sticky = True
                    self._alert(
                        Alert(
                            "DAEMON OFFLINE",
                            "Daemon offline — accounts NOT protected.",
                            "error",
                            24 * 3600.0,
                            True,
                            True,
                        )
                    )
            self._redraw(set())

        self._safe(work)

    def link_offline(self, data: dict[str, Any] | None, error: str | None) -> None:
        def work() -> None:
            self.offline_error = error
            if data is not None:
                self.model.load_snapshot(data, self.clock(), source="offline")
                self._pick_account()
            self._redraw(None)

        self._safe(work)

    def link_protocol(self, text: str) -> None:
        def work() -> None:
            self.protocol_error = text
            self._redraw(set())

        self._safe(work)

    def _pick_account(self) -> None:
        ids = sorted(self.model.accounts)
        if self.account_id in ids:
            self.notice = None
            return
        if self.account_id is not None and self.model.source == "live" and self.account_id in self._known:
            self.notice = f"Account {self.account_id} is no longer monitored."
        if len(ids) == 1 and self.account_id is None:
            self.account_id = ids[0]
        elif ids and not self._choosing:
            self.action_accounts()
        self._known = set(ids)

    # ----- alerts ----------------------------------------------------------------------------------
    def _alert(self, alert: Alert) -> None:
        self.notify(alert.text, title=alert.title, severity=alert.severity, timeout=alert.timeout)  # type: ignore[arg-type]
        silent = self.muted
        if alert.bell and not (silent or self.no_bell):
            self.notifier.bell()
        if alert.desktop and not (silent or self.no_notify):
            self.notifier.desktop(alert.title, alert.text)

    # ----- actions ---------------------------------------------------------------------------------
    def action_tab(self, tab: str) -> None:
        focused = self.focused
        if (
            focused is not None
            and any(isinstance(node, TabPane) for node in focused.ancestors)
            and not self.query_one(f"#{tab}-view").query(KeyedTable)
        ):
            # Nothing to focus in the new tab: let go of the old tab's table first. Left focused while
            # its pane hides, Textual hands focus to a sibling table in that pane, which switches back.
            self.set_focus(None)
        self.query_one("#tabs", TabbedContent).active = tab
        self._safe(lambda: self._redraw(None))
        self._focus_table(tab)

    def action_next_tab(self, step: int) -> None:
        index = (TAB_IDS.index(self.active_tab) + step) % len(TAB_IDS)
        self.action_tab(TAB_IDS[index])

    def _focus_table(self, tab: str) -> None:
        tables = list(self.query_one(f"#{tab}-view").query(KeyedTable))
        if tables:
            tables[0].focus()

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self._safe(lambda: self._redraw(None))

    def action_accounts(self) -> None:
        if self._choosing or not self.model.accounts:
            return
        rows = []
        ctx = self.context()
        for account_id, view in sorted(self.model.accounts.items()):
            sub = ViewContext(self.model, view, self.palette, ctx.now, ctx.tz, ctx.live, ctx.width)
            rows.append(
                {
                    "accountId": account_id,
                    "name": view.display_name,
                    "mode": "observe" if view.observe_only else "enforce",
                    "net": view.pnl.get("net")
                    if view.pnl.get("net") is not None
                    else view.pnl.get("realized"),
                    "status": account_status(sub).plain,
                }
            )
        self._choosing = True

        def chosen(account_id: int | None) -> None:
            self._choosing = False
            if account_id is not None:
                self.account_id = account_id
                self.notice = None
            self._load_history()
            self._safe(lambda: self._redraw(None))

        self.push_screen(AccountScreen(rows, self.account_id), chosen)

    def action_reconnect(self) -> None:
        if self.link.state != LIVE:
            self.link.retry_now()
            return

        async def fresh() -> None:
            reply = await self.link.request("snapshot")
            if reply is not None and isinstance(reply.get("data"), dict):
                self.link_snapshot(reply["data"], recovered=False)

        self.run_worker(fresh(), exclusive=False)

    def action_older(self) -> None:
        view = self.view
        if view is None or self.link.state != LIVE:
            return
        tab = self.active_tab
        if tab not in ("enforcement", "lockouts"):
            return
        op = "history.enforcement" if tab == "enforcement" else "history.lockouts"
        source = view.enforcement.values() if tab == "enforcement" else view.history.values()
        ids = [int(e["id"]) for e in source if isinstance(e.get("id"), int)]
        data: dict[str, Any] = {"accountId": view.account_id, "limit": 50}
        if ids:
            data["before"] = min(ids)

        async def page() -> None:
            reply = await self.link.request(op, data)
            if reply is None or not isinstance(reply.get("data"), dict):
                return
            items = [i for i in reply["data"].get("items") or [] if isinstance(i, dict)]
            if tab == "enforcement":
                view.more_enforcement = bool(reply["data"].get("more"))
            delta = self.model.apply_history(view.account_id, op, items)
            self._safe(lambda: self._redraw(delta.topics))

        self.run_worker(page(), exclusive=False)

    def _load_series(self) -> None:
        """First open of the P&L tab: the intraday series from the daemon, then extended live."""
        view = self.view
        if view is None or self.link.state != LIVE:
            return
        day = str(view.info.get("tradingDay"))
        key = (view.account_id, day)
        if key in self._pnl_requested:
            return
        self._pnl_requested.add(key)

        async def load() -> None:
            reply = await self.link.request(
                "history.pnl", {"accountId": view.account_id, "tradingDay": day, "intraday": True}
            )
            if reply is None or not isinstance(reply.get("data"), dict):
                return
            items = [i for i in reply["data"].get("items") or [] if isinstance(i, dict)]
            delta = self.model.apply_history(view.account_id, "history.pnl", items)
            self._safe(lambda: self._redraw(delta.topics))

        self.run_worker(load(), exclusive=False)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self._safe(lambda: self._detail(event))

    def _detail(self, event: DataTable.RowSelected) -> None:
        view = self.view
        key = str(event.row_key.value)
        table_id = event.data_table.id
        if view is None:
            return
        if table_id == "rules-table":
            rule = view.rules.get(key) or {}
            lines = [f"{rule.get('name')} ({key}) — {rule.get('limitText') or ''}", ""]
            for item in rule.get("limits") or []:
                value, limit = item.get("value"), item.get("limit")
                if item.get("unit") == "money":
                    value, limit = money(value), money(limit, signed=False)
                pct = "—" if item.get("pctUsed") is None else f"{float(item['pctUsed']):.0f} %"
                lines.append(f"  {item.get('label')}: {value} of {limit} — {pct}")
            if not rule.get("limits"):
                lines.append(f"  {rule.get('text') or 'no limit to show'}")
            self.push_screen(DetailScreen("Rule", "\n".join(lines)))
        elif table_id == "enf-table":
            entry = next((e for k, e in view.enforcement.items() if row_key(k) == key), None)
            if entry is None:
                return
            screen = DetailScreen("Enforcement record", _describe(entry))
            self.push_screen(screen)
            if isinstance(entry.get("id"), int) and self.link.state == LIVE:

                async def full() -> None:
                    reply = await self.link.request(
                        "history.enforcement",
                        {"accountId": view.account_id, "before": entry["id"] + 1, "limit": 1},
                    )
                    items = (reply or {}).get("data", {}).get("items") or []
                    if items and items[0].get("id") == entry["id"]:
                        screen.set_body(_describe({**entry, **items[0]}))

                self.run_worker(full(), exclusive=False)

    def action_mute(self) -> None:
        self.muted = not self.muted
        self.notify(
            "Bell and desktop notifications muted for this session."
            if self.muted
            else "Bell and desktop notifications on.",
            timeout=4,
        )
        self._safe(lambda: self._redraw(set()))

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_quit_app(self) -> None:
        self.exit(0)


def _describe(entry: dict[str, Any]) -> str:
    import json

    order = [
        "id",
        "createdAt",
        "ruleId",
        "action",
        "target",
        "state",
        "attempts",
        "reason",
        "seen",
        "result",
        "firstRequestMs",
        "confirmedMs",
        "completedAt",
        "lockoutId",
        "key",
    ]
    keys = [k for k in order if k in entry] + [k for k in entry if k not in order]
    lines = []
    for key in keys:
        value = entry[key]
        if isinstance(value, (dict, list)):
            value = json.dumps(value, indent=1)
        lines.append(f"{key:>15}  {value}")
    return "\n".join(lines)


def _file_log(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, encoding="utf-8")
    except OSError:
        return
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("risk_manager.trader")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
