"""Connection Testing (admin-cli.md §9): config, database, daemon, REST sign-in, user hub, market hub.

The broker tests run in the console's own process with their own short sessions (they never touch
the daemon's), per login, and stop at the first failure of a chain: a login whose sign-in fails skips
its hub tests. Times are wall-clock around the real calls; reasons never contain a key or a token.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from risk_manager.admin.broker import REST_TIMEOUT_S, BrokerFailure, reason_of, settings
from risk_manager.admin.config_files import SaveRefused, issue_line
from risk_manager.admin.context import AdminContext
from risk_manager.admin.daemon_client import DaemonClient, DaemonUnavailable
from risk_manager.config.loader import SECRETS_FILE, AppConfig
from risk_manager.config.secrets import permission_problem
from risk_manager.daemon.api.protocol import PROTOCOL_VERSION
from risk_manager.gateway.errors import GatewayError
from risk_manager.gateway.hub import HubConnection, HubSettings, HubState
from risk_manager.gateway.hubs import MarketHub, UserHub
from risk_manager.gateway.rest import RestClient
from risk_manager.store.migrations import LATEST_VERSION

TESTS = ("config", "database", "daemon", "rest", "user-hub", "market-hub")
HUB_TIMEOUT_S = 10.0
MARKET_TIMEOUT_S = 15.0
QUOTE_WAIT_S = 5.0
DB_TIMEOUT_S = 5.0


@dataclass
class TestResult:
    name: str
    status: str  # pass | fail | warn | skip
    ms: float | None
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"test": self.name, "result": self.status, "ms": self.ms, "detail": self.detail}


def _ago(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago"


def uptime_text(seconds: float) -> str:
    s = int(seconds)
    d, rest = divmod(s, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    if d:
        return f"{d}d {h}h"
    if h:
        return f"{h}h {m}m"
    return f"{m}m {s}s"


def _timed(name: str, fn: Callable[[], tuple[str, str]]) -> TestResult:
    started = time.perf_counter()
    status, detail = fn()
    return TestResult(name, status, (time.perf_counter() - started) * 1000, detail)


# ----- local tests -------------------------------------------------------------------------------------------
def test_config(ctx: AdminContext) -> tuple[TestResult, AppConfig | None]:
    config: AppConfig | None = None

    def check() -> tuple[str, str]:
        nonlocal config
        try:
            config = ctx.files.current()
        except SaveRefused as exc:
            first = issue_line(exc.issues[0], ctx.ui.sym.arrow)
            more = f" (+{len(exc.issues) - 1} more)" if len(exc.issues) > 1 else ""
            return "fail", first + more
        if ctx.files.secrets_hidden():
            return "warn", "secrets.yaml is not readable by this user: run as administrator to check the keys"
        missing = config.missing_api_keys()
        if missing:
            return "fail", f"no API key for login {missing[0].user_name} in secrets.yaml"
        problem = permission_problem(ctx.config_dir / SECRETS_FILE)
        if problem:
            head = problem.split(";", 1)[0]
            return "fail", (
                f"secrets.yaml {head} — run install again to fix permissions "
                "(a console-mode config directory: chmod 600 secrets.yaml)"
            )
        files = sum(
            1 for name in ("risk_config.yaml", "accounts.yaml", "secrets.yaml") if ctx.files.exists(name)
        )
        return "pass", f"{files} files valid"

    return _timed("Config", check), config


def test_database(ctx: AdminContext) -> TestResult:
    path = ctx.data_dir / "risk.db"

    def check() -> tuple[str, str]:
        if not path.is_file():
            return "fail", f"file not found ({path})"
        try:
            conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=DB_TIMEOUT_S)
        except sqlite3.Error as exc:
            return "fail", f"cannot open: {exc}"
        try:
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            version = int(meta.get("schema_version") or 0)
            problems = [r[0] for r in conn.execute("PRAGMA quick_check").fetchall()]
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc):
                return "fail", f"database is locked for more than {DB_TIMEOUT_S:.0f} s"
            return "fail", str(exc)
        except sqlite3.DatabaseError as exc:
            return "fail", f"damaged: {exc}"
        finally:
            conn.close()
        if problems != ["ok"]:
            return "fail", "quick_check: " + "; ".join(str(p) for p in problems[:3])
        if version != LATEST_VERSION:
            return "fail", f"schema version {version}, this console expects {LATEST_VERSION} — upgrade"
        files = [path, path.with_name(path.name + "-wal")]
        size = sum(f.stat().st_size for f in files if f.exists())
        last = max(f.stat().st_mtime for f in files if f.exists())
        return "pass", f"schema {version} · {size / 1e6:.1f} MB · last write {_ago(time.time() - last)}"

    return _timed("Database", check)


def test_daemon(ctx: AdminContext) -> TestResult:
    def check() -> tuple[str, str]:
        try:
            with DaemonClient(ctx.api_url, connect_timeout_s=3.0).open() as client:
                snap = client.snapshot
        except DaemonUnavailable as exc:
            return "fail", exc.reason
        protocol = snap.get("protocol")
        if protocol != PROTOCOL_VERSION:
            return "fail", f"protocol {protocol} not supported by this console ({PROTOCOL_VERSION})"
        started = snap.get("startedAt")
        up = ""
        if isinstance(started, str):
            at = datetime.fromisoformat(started.replace("Z", "+00:00"))
            up = f" · up {uptime_text((datetime.now(UTC) - at).total_seconds())}"
        return "pass", f"protocol {protocol} · v{snap.get('version')}{up} · {snap.get('mode')} mode"

    return _timed("Daemon", check)


# ----- broker tests ----------------------------------------------------------------------------------------
async def _hub(
    hub_type: type[HubConnection],
    url: str,
    client: RestClient,
    setup: Callable[[HubConnection], Any],
    timeout: float,
    on_event: Callable[[str, Any], None] | None = None,
) -> tuple[HubConnection | None, str | None]:
    """Connect ``hub_type`` with its subscriptions; ``(hub, None)`` or ``(None, reason)``."""
    reasons: list[str] = []

    failed = asyncio.Event()

    def on_state(state: HubState, detail: str) -> None:
        # A diagnostic reports the first failed attempt (the daemon's own session keeps retrying).
        if state is HubState.RECONNECTING:
            reasons.append(detail)
            failed.set()

    hub = hub_type(
        url,
        client.token,
        on_event or (lambda target, payload: None),
        on_state=on_state,
        token_rejected=client.session.token_rejected,
        settings=HubSettings(connect_timeout_s=timeout, invoke_timeout_s=timeout, reconnect_delays_s=(1.0,)),
        name=f"admin-test-{hub_type.kind}",
    )
    await setup(hub)
    hub.start()
    connected = asyncio.ensure_future(hub.wait_connected())
    failing = asyncio.ensure_future(failed.wait())
    done, pending = await asyncio.wait(
        {connected, failing}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
    )
    for task in pending:
        task.cancel()
    if connected in done and connected.exception() is None:
        return hub, None
    await hub.stop()
    return None, _hub_reason(reasons[0] if reasons else f"timed out after {timeout:.0f} s")


def _hub_reason(detail: str) -> str:
    if "negotiate: HTTP 401" in detail or "upgrade: HTTP 401" in detail:
        return "negotiate returned HTTP 401 (token rejected)"
    if detail.startswith("handshake refused"):
        return "handshake error: " + detail.split(":", 1)[1].strip()
    if detail.startswith("closed"):
        return f"closed by server: {detail}"
    return detail


async def _login_tests(
    api_url: str,
    user_url: str,
    market_url: str,
    user: str,
    key: str,
    account_ids: list[int],
    symbol: str,
    only: set[str],
) -> list[TestResult]:
    out: list[TestResult] = []
    client = RestClient(user, key, settings(api_url))
    try:
        visible: list[dict[str, Any]] = []
        if "rest" in only or "user-hub" in only or "market-hub" in only:
            started = time.perf_counter()
            try:
                await asyncio.wait_for(client.login(), REST_TIMEOUT_S)
                visible = await asyncio.wait_for(client.search_accounts(only_active=True), REST_TIMEOUT_S)
                status, detail = "pass", f"{len(visible)} account{'s' if len(visible) != 1 else ''} visible"
                ids = {a.get("id") for a in visible}
                missing = [i for i in account_ids if i not in ids]
                if missing:
                    status = "fail"
                    detail = f"account {missing[0]} not returned by the broker (inactive or other login)"
            except (GatewayError, TimeoutError) as exc:
                failure: BrokerFailure = reason_of(exc, api_url)
                status, detail = "fail", failure.reason
            out.append(
                TestResult(f"REST sign-in {user}", status, (time.perf_counter() - started) * 1000, detail)
            )
            if status == "fail":
                for name in ("User hub", "Market hub"):
                    if name.lower().replace(" ", "-") in only:
                        out.append(TestResult(f"{name} {user}", "skip", None, "skipped (sign-in failed)"))
                return [r for r in out if "rest" in only or not r.name.startswith("REST")]
        if "user-hub" in only:
            out.append(await _user_hub(user_url, client, user, account_ids))
        if "market-hub" in only:
            if any(r.status == "fail" for r in out if r.name.startswith("User hub")):
                out.append(TestResult(f"Market hub {user}", "skip", None, "skipped (user hub failed)"))
            else:
                out.append(await _market_hub(market_url, client, user, symbol))
    finally:
        await client.aclose()
    return [r for r in out if "rest" in only or not r.name.startswith("REST")]


async def _user_hub(url: str, client: RestClient, user: str, account_ids: list[int]) -> TestResult:
    started = time.perf_counter()

    async def setup(hub: HubConnection) -> None:
        assert isinstance(hub, UserHub)
        await hub.subscribe_accounts()
        for account in account_ids:
            await hub.subscribe_account(account)

    hub, reason = await _hub(UserHub, url, client, setup, HUB_TIMEOUT_S)
    ms = (time.perf_counter() - started) * 1000
    if hub is None:
        return TestResult(f"User hub {user}", "fail", ms, reason or "failed")
    await hub.stop()
    return TestResult(f"User hub {user}", "pass", ms, "subscribed " + ", ".join(str(a) for a in account_ids))


async def _market_hub(url: str, client: RestClient, user: str, symbol: str) -> TestResult:
    started = time.perf_counter()
    try:
        contracts = await asyncio.wait_for(client.search_contracts(symbol), REST_TIMEOUT_S)
    except (GatewayError, TimeoutError) as exc:
        return TestResult(f"Market hub {user}", "fail", None, f"contract search: {reason_of(exc, '')}")
    active = [c for c in contracts if c.get("activeContract", True)] or contracts
    if not active:
        return TestResult(f"Market hub {user}", "fail", None, f"no contract found for {symbol}")
    contract_id = str(active[0].get("id"))
    quoted = asyncio.Event()

    def on_event(target: str, payload: Any) -> None:
        if target == "GatewayQuote":
            quoted.set()

    async def setup(hub: HubConnection) -> None:
        assert isinstance(hub, MarketHub)
        await hub.subscribe_quotes(contract_id)

    hub, reason = await _hub(MarketHub, url, client, setup, MARKET_TIMEOUT_S - QUOTE_WAIT_S, on_event)
    if hub is None:
        return TestResult(
            f"Market hub {user}", "fail", (time.perf_counter() - started) * 1000, reason or "failed"
        )
    try:
        await asyncio.wait_for(quoted.wait(), QUOTE_WAIT_S)
        status, detail = "pass", f"quote received for {contract_id}"
    except TimeoutError:
        status, detail = "warn", "connected, no quote in 5 s (market may be closed)"
    finally:
        await hub.stop()
    return TestResult(f"Market hub {user}", status, (time.perf_counter() - started) * 1000, detail)


def broker_tests(
    ctx: AdminContext, config: AppConfig, only: set[str], logins: list[str] | None
) -> list[TestResult]:
    api_url, user_url, market_url = config.accounts.gateway.urls()
    limits = list(config.risk.rules.max_contracts_per_instrument.limits)
    symbol = limits[0] if limits else "MNQ"
    out: list[TestResult] = []
    for login in config.accounts.logins:
        if logins and login.user_name not in logins and login.name not in logins:
            continue
        ids = [a.id for a in login.accounts if a.enabled]
        if not ids:
            continue
        key = config.api_key(login.user_name)
        if not key and ctx.files.secrets_hidden():
            reason = "skipped (secrets.yaml not readable: run as administrator)"
            out.append(TestResult(f"REST sign-in {login.user_name}", "skip", None, reason))
            continue
        if not key:
            out.append(
                TestResult(f"REST sign-in {login.user_name}", "fail", None, "no API key in secrets.yaml")
            )
            continue
        out += asyncio.run(
            _login_tests(api_url, user_url, market_url, login.user_name, key, ids, symbol, only)
        )
    return out


def run_tests(
    ctx: AdminContext,
    only: set[str] | None = None,
    logins: list[str] | None = None,
    progress: Callable[[TestResult], None] | None = None,
) -> list[TestResult]:
    only = set(TESTS) if not only else only
    results: list[TestResult] = []

    def add(result: TestResult) -> None:
        results.append(result)
        if progress is not None:
            progress(result)

    config_result, config = test_config(ctx)
    if "config" in only:
        add(config_result)
    if "database" in only:
        add(test_database(ctx))
    if "daemon" in only:
        add(test_daemon(ctx))
    if only & {"rest", "user-hub", "market-hub"}:
        if config is None:
            add(TestResult("Broker", "skip", None, "skipped (configuration invalid)"))
        else:
            for result in broker_tests(ctx, config, only, logins):
                add(result)
    return results


def summary(results: list[TestResult]) -> tuple[int, int, int]:
    failed = sum(1 for r in results if r.status == "fail")
    warned = sum(1 for r in results if r.status == "warn")
    passed = sum(1 for r in results if r.status == "pass")
    return failed, warned, passed
