"""The daemon's persistence: what the daemon saves, when, and how it comes back (daemon.md §6, §2.3).

``Persistence`` is the only object the daemon talks to; ``risk_manager.store`` does the SQL.

* Critical records (lockouts set and cleared, trades with their ``daily_pnl`` row, enforcement
  records, audit rows, the admin lockout counter) are queued the moment the daemon hands them over
  and their awaitable returns only after COMMIT (``synchronous=FULL``): what the daemon reports is
  on disk. They are queued synchronously at call time (the methods return a coroutine rather than
  being ``async def``) so that the values are those of that instant and the queue order is the call
  order, even when the caller spawns the await as a task.
* Positions, working orders, contracts, day state, P&L samples and the heartbeat are batched.
* ``restore`` puts active lockouts, the day state and today's trades (hence realized P&L, trade
  counters and frequency windows) back into the engine through its public API.
* ``meta.started_at`` / ``meta.clean_shutdown_at`` tell whether the previous run ended cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sqlite3
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from risk_manager import __version__
from risk_manager.daemon.api_protocol import ApiError
from risk_manager.engine import Engine
from risk_manager.engine import events as E
from risk_manager.engine.events import ContractInfo, OrderUpdate, TradeUpdate
from risk_manager.engine.lockouts import Lockout
from risk_manager.engine.state import AccountState, PositionState
from risk_manager.engine.symbols import canonical_symbol
from risk_manager.engine.trading_day import local_instant, reset_at_or_before
from risk_manager.store import queries as Q
from risk_manager.store import retention
from risk_manager.store import rows as R
from risk_manager.store.codec import dumps, parse_ts, ts
from risk_manager.store.database import CORRUPT_ALERT, OpenedDatabase, open_database
from risk_manager.store.errors import StoreError
from risk_manager.store.reader import Reader
from risk_manager.store.writer import Writer

log = logging.getLogger("risk_manager.daemon.persist")

Clock = Callable[[], datetime]
TERMINAL = ("done", "failed", "observed")
OPEN_STATES = ("pending", "sent", "uncertain", "verifying", "retrying")
UNCLEAN_WINDOW = timedelta(hours=1)
REPEATED_FAILURES = 3
SAMPLE_EVERY = timedelta(minutes=1)


class DatabaseError(Exception):
    """``risk.db`` cannot be used; the daemon prints the message and exits 3."""


@dataclass(frozen=True, slots=True)
class PreviousRun:
    """How the previous run ended, read at open (daemon.md §2.3)."""

    first_start: bool
    clean: bool
    started_at: datetime | None
    clean_shutdown_at: datetime | None
    last_heartbeat_at: datetime | None
    pid: int | None
    unclean_ends_last_hour: int

    @property
    def repeated_failures(self) -> bool:
        """Three unclean ends within an hour: the "repeated failures" alert."""
        return self.unclean_ends_last_hour >= REPEATED_FAILURES


@dataclass(slots=True)
class RestoreSummary:
    accounts: int = 0
    lockouts: int = 0
    trades: int = 0
    contracts: int = 0
    missed_resets: list[int] = field(default_factory=list)
    unfinished: int = 0


def _meta_sql() -> str:
    return "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value"


def _set_meta(conn: sqlite3.Connection, items: Mapping[str, str | None]) -> None:
    conn.executemany(_meta_sql(), list(items.items()))


def _mark_start(conn: sqlite3.Connection, now: datetime) -> PreviousRun:
    """Read how the last run ended, then record this start (runs before the writer starts)."""
    meta = Q.meta(conn)
    started = meta.get("started_at")
    clean_at = meta.get("clean_shutdown_at")
    first = started is None
    clean = first or (clean_at is not None and clean_at >= started)  # type: ignore[operator]
    try:
        ends = [e for e in json.loads(meta.get("unclean_ends") or "[]") if isinstance(e, str)]
    except ValueError:
        ends = []
    if not clean:
        ends.append(ts(now) or "")
    horizon = ts(now - UNCLEAN_WINDOW) or ""
    ends = [e for e in ends if e >= horizon]
    pid_text = meta.get("daemon_pid")
    previous = PreviousRun(
        first_start=first,
        clean=clean,
        started_at=parse_ts(started),
        clean_shutdown_at=parse_ts(clean_at),
        last_heartbeat_at=parse_ts(meta.get("heartbeat_at")),
        pid=int(pid_text) if pid_text and pid_text.isdigit() else None,
        unclean_ends_last_hour=len(ends),
    )
    conn.execute("BEGIN IMMEDIATE")
    _set_meta(
        conn,
        {
            "started_at": ts(now),
            "heartbeat_at": ts(now),
            "daemon_pid": str(os.getpid()),
            "product_version": __version__,
            "unclean_ends": json.dumps(ends),
        },
    )
    conn.execute("COMMIT")
    return previous


async def _settle(fut: asyncio.Future[Any], what: str) -> Any:
    """Await a critical write; a storage failure is logged, never raised into the pipeline."""
    try:
        return await fut
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.error("%s could not be saved: %s", what, exc)
        return None


class Persistence:
    def __init__(
        self,
        opened: OpenedDatabase,
        writer: Writer,
        previous_run: PreviousRun,
        clock: Clock,
        maintenance_day: str | None,
    ) -> None:
        self.path = opened.path
        self.backups_dir = opened.backups_dir
        self.opened = opened
        self.previous_run = previous_run
        #: where a corrupt database was moved at open (the daemon raises the alert), else None
        self.replaced_corrupt: Path | None = opened.moved_aside
        self._writer = writer
        self._reader = Reader(opened.path)
        self._clock = clock
        self._engine: Engine | None = None
        self._run_keys: set[str] = set()  # enforcement keys written by this run (writer thread only)
        self._day_cache: dict[int, tuple[datetime | None, datetime | None]] = {}
        self._samples: dict[int, tuple[datetime, str]] = {}
        self._maintenance_day = maintenance_day
        self._maintenance: asyncio.Task[None] | None = None
        self._closed = False
        #: unfinished enforcement rows found at restore, for the daemon to resume after reconciling
        self.unfinished: list[dict[str, Any]] = []

    # ----- opening ------------------------------------------------------------------------------------
    @classmethod
    async def open(
        cls, data_dir: Path, *, clock: Clock | None = None, batch_window: float = 0.2
    ) -> Persistence:
        """Check, migrate and open ``data_dir/risk.db``; raises ``DatabaseError`` (exit 3)."""
        clock = clock or (lambda: datetime.now(UTC))
        now = clock()

        def work() -> tuple[OpenedDatabase, PreviousRun, str | None]:
            opened = open_database(Path(data_dir), now=now, product_version=__version__)
            try:
                previous = _mark_start(opened.conn, now)
                day = Q.meta(opened.conn).get("maintenance_day")
            except BaseException:
                opened.conn.close()
                raise
            return opened, previous, day

        try:
            opened, previous, day = await asyncio.to_thread(work)
        except StoreError as exc:
            raise DatabaseError(str(exc)) from None
        except (sqlite3.Error, OSError) as exc:
            raise DatabaseError(f"cannot open the database in {data_dir}: {exc}") from None
        writer = Writer(opened.conn, batch_window=batch_window, on_degraded=_log_degraded)
        writer.start()
        self = cls(opened, writer, previous, clock, day)
        if opened.moved_aside is not None:
            log.critical("%s (damaged file kept as %s)", CORRUPT_ALERT, opened.moved_aside)
        if not previous.clean:
            log.warning(
                "the previous run did not shut down cleanly (started %s, last heartbeat %s)",
                ts(previous.started_at),
                ts(previous.last_heartbeat_at),
            )
        if previous.repeated_failures:
            log.error(
                "repeated failures: %d unclean ends within the last hour", previous.unclean_ends_last_hour
            )
        return self

    @property
    def degraded(self) -> bool:
        """Writes have been failing for more than 10 s (``degraded: storage``)."""
        return self._writer.degraded

    # ----- restore ---------------------------------------------------------------------------------------
    async def restore(self, engine: Engine, now: datetime) -> RestoreSummary:
        """Put persisted state back into ``engine`` (daemon.md §2.1 step 6).

        Per account: the stored last reset, today's trades replayed with ``apply_only`` (realized P&L,
        trade counts, frequency windows, trade ids), then the active lockouts. When the stored trading
        day is over (a reset was missed while stopped) no trades are replayed and the engine's next
        tick performs the reset, emitting the unlocks the daemon persists. Positions and orders are not
        restored: reconciliation adopts the broker's (stale ones must never drive a decision).
        """
        self._engine = engine
        summary = RestoreSummary()

        def load(conn: sqlite3.Connection) -> tuple[Any, ...]:
            return (
                Q.active_lockouts(conn),
                Q.day_states(conn),
                Q.contracts(conn),
                [dict(r) for r in Q.unfinished_enforcement(conn)],
            )

        lock_rows, days, contract_rows, unfinished = await self._reader.run(load)
        for row in contract_rows:
            try:
                engine.apply_only(E.CONTRACT, R.contract_payload(row), now)
                summary.contracts += 1
            except E.MalformedEvent as exc:
                log.warning("stored contract %s ignored: %s", row["contract_id"], exc)
        since: dict[int, str] = {}
        stored_reset: dict[int, datetime | None] = {}
        for account_id in engine.account_ids():
            s = engine.account(account_id).settings
            start = reset_at_or_before(now, s.reset_time, s.timezone)
            day = days.get(account_id)
            last = parse_ts(day["last_reset_at"]) if day is not None else None
            stored_reset[account_id] = last
            if last is None or last >= start:
                since[account_id] = ts(max(start, last) if last else start) or ""
            else:
                summary.missed_resets.append(account_id)
        trade_rows = await self._reader.run(
            lambda conn: {a: Q.trades_since(conn, a, t) for a, t in since.items()}
        )
        by_account: dict[int, list[Lockout]] = {}
        superseded: list[tuple[int, str]] = []
        for row in lock_rows:
            if row["account_id"] not in engine.state.accounts:
                continue
            rec = R.lockout_from_row(row)
            group = by_account.setdefault(rec.account_id, [])
            twin = next((g for g in group if g.key == rec.key), None)
            if twin is not None:
                # Two active rows for one (rule, scope, symbol): a clear was lost. The engine keeps one.
                superseded.append((row["id"], twin.id))
            group.append(rec)
        for account_id in engine.account_ids():
            engine.restore_account(account_id, last_reset=stored_reset[account_id], lockouts=())
            for row in trade_rows.get(account_id, []):
                try:
                    engine.apply_only(E.TRADE, R.trade_payload(row), now)
                    summary.trades += 1
                except E.MalformedEvent as exc:
                    log.warning("stored trade %s ignored: %s", row["trade_id"], exc)
            records = by_account.get(account_id, [])
            engine.restore_account(account_id, last_reset=engine.last_reset(account_id), lockouts=records)
            summary.lockouts += len(records)
            summary.accounts += 1
            acct = engine.account(account_id)
            self._day_cache[account_id] = (acct.last_reset, acct.next_reset)
        if superseded:
            stamp = ts(now)

            def retire(conn: sqlite3.Connection) -> None:
                conn.executemany(
                    "UPDATE lockouts SET active = 0, cleared_at = ?, cleared_by = 'restore', "
                    "clear_reason = ? WHERE id = ?",
                    [(stamp, f"superseded by lockout {other} at restore", rid) for rid, other in superseded],
                )

            await self._critical((retire), "superseded lockouts")
        self._post_accounts(engine, now)
        self.unfinished = unfinished
        summary.unfinished = len(unfinished)
        log.info(
            "restored %d lockouts, %d trades and %d contracts for %d accounts%s",
            summary.lockouts,
            summary.trades,
            summary.contracts,
            summary.accounts,
            f"; {len(unfinished)} unfinished enforcement items" if unfinished else "",
        )
        return summary

    def _post_accounts(self, engine: Engine, now: datetime) -> None:
        values = [
            {
                "account_id": a,
                "nickname": engine.account(a).settings.name,
                "enabled": 1,
                "observe_only": int(engine.account(a).settings.observe_only),
                "updated_at": ts(now),
            }
            for a in engine.account_ids()
        ]
        if values:
            sql = R.insert_sql("accounts", values[0], conflict=("account_id",))
            self._writer.post(lambda conn: conn.executemany(sql, values))

    # ----- batched records -----------------------------------------------------------------------------
    def heartbeat(self) -> None:
        """Every 5 s: ``meta.heartbeat_at``, day-state changes, P&L samples, daily maintenance."""
        if self._closed:
            return
        now = self._clock()
        stamp = ts(now)
        self._writer.post(lambda conn: _set_meta(conn, {"heartbeat_at": stamp}))
        engine = self._engine
        if engine is not None:
            for account_id in engine.account_ids():
                acct = engine.account(account_id)
                self._note_day(acct, now)
                self._sample(engine, acct, now)
        today = now.date().isoformat()
        if self._maintenance_day != today and (self._maintenance is None or self._maintenance.done()):
            self._maintenance_day = today
            self._maintenance = asyncio.get_running_loop().create_task(self._maintain(now, today))

    def note_meta(self, items: Mapping[str, str | None]) -> None:
        """Batched ``meta`` rows (the dashboard's offline view reads the last rule status from here)."""
        if self._closed:
            return
        values = dict(items)
        self._writer.post(lambda conn: _set_meta(conn, values))

    def _note_day(self, acct: AccountState, now: datetime) -> None:
        """Persist the account's day state when its reset instants changed (a daily reset ran)."""
        current = (acct.last_reset, acct.next_reset)
        if self._day_cache.get(acct.account_id) == current:
            return
        self._day_cache[acct.account_id] = current
        values = R.day_state_values(acct, now)
        pnl = R.daily_pnl_values(acct, now)
        self._writer.post(lambda conn: _write_day(conn, values, pnl))

    def _sample(self, engine: Engine, acct: AccountState, now: datetime) -> None:
        minute = now.replace(second=0, microsecond=0)
        realized = str(acct.realized)
        last = self._samples.get(acct.account_id)
        if last is not None and (last[0] == minute or (not acct.positions and last[1] == realized)):
            return
        if last is None and not acct.positions and acct.realized == 0:
            return
        try:
            unrealized = str(engine.unrealized_pnl(acct.account_id))
        except Exception:  # a missing quote or contract: sample realized only
            unrealized = None
        self._samples[acct.account_id] = (minute, realized)
        row = (acct.account_id, ts(minute), realized, unrealized)
        self._writer.post(
            lambda conn: conn.execute(
                "INSERT OR REPLACE INTO pnl_samples (account_id, at, realized, unrealized) VALUES (?, ?, ?, ?)",
                row,
            )
        )

    def position(self, acct: AccountState, contract_id: str, pos: PositionState | None) -> None:
        """Last known position (batched); the row goes when the position is flat."""
        if self._closed:
            return
        account_id = acct.account_id
        if pos is None or pos.size == 0:
            key = (account_id, contract_id)
            self._writer.post(
                lambda conn: conn.execute(
                    "DELETE FROM positions WHERE account_id = ? AND contract_id = ?", key
                )
            )
            return
        values = R.position_values(account_id, pos, self._clock())
        sql = R.insert_sql("positions", values, conflict=("account_id", "contract_id"))
        self._writer.post(lambda conn: conn.execute(sql, values))

    def order(self, account_id: int, order: OrderUpdate) -> None:
        """Working orders only (batched); a final status deletes the row."""
        if self._closed:
            return
        if not order.working:
            oid = order.order_id
            self._writer.post(lambda conn: conn.execute("DELETE FROM orders WHERE order_id = ?", (oid,)))
            return
        values = R.order_values(account_id, order, self._clock())
        sql = R.insert_sql("orders", values, conflict=("order_id",), keep=("created_at",))
        self._writer.post(lambda conn: conn.execute(sql, values))

    def contract(self, info: ContractInfo | Mapping[str, Any]) -> None:
        """Contract metadata cache (batched); accepts a ``ContractInfo`` or the gateway's object."""
        if self._closed:
            return
        if not isinstance(info, ContractInfo):
            try:
                info = E.parse_contract(info)
            except E.MalformedEvent as exc:
                log.warning("contract not cached: %s", exc)
                return
        values = R.contract_values(info, self._clock())
        sql = R.insert_sql("contracts", values, conflict=("contract_id",))
        self._writer.post(lambda conn: conn.execute(sql, values))

    # ----- critical records -------------------------------------------------------------------------------
    def lockout_set(self, lockout: Lockout, *, observed: bool) -> Coroutine[Any, Any, int | None]:
        """Commit a lockout (new, or the extension of an active one); returns its row id."""
        now = self._clock()
        acct = self._account(lockout.account_id)
        values = R.lockout_values(lockout, acct, observed, now)
        day = R.day_state_values(acct, now) if acct is not None else None

        def job(conn: sqlite3.Connection) -> int:
            row = conn.execute(
                "SELECT id FROM lockouts WHERE account_id = ? AND engine_id = ? AND active = 1 "
                "ORDER BY id DESC LIMIT 1",
                (values["account_id"], values["engine_id"]),
            ).fetchone()
            if row is not None:
                conn.execute(
                    "UPDATE lockouts SET kind = :kind, until = :until, clears_on = :clears_on, "
                    "reason = :reason, observed = :observed, baseline = :baseline WHERE id = :id",
                    values | {"id": row[0]},
                )
                rid = int(row[0])
            else:
                cur = conn.execute(R.insert_sql("lockouts", values), values)
                rid = int(cur.lastrowid or 0)
            if day is not None:
                _upsert_day(conn, day)
            return rid

        return self._critical((job), f"lockout {lockout.id}")

    def lockout_cleared(
        self, lockout: Lockout, cleared_by: str, reason: str | None
    ) -> Coroutine[Any, Any, int | None]:
        """Commit the end of a lockout (expiry, daily reset, condition, admin); returns rows updated."""
        now = self._clock()
        acct = self._account(lockout.account_id)
        user = None
        prefix = "admin unlock by "
        if cleared_by == "admin" and reason and reason.startswith(prefix):
            user = reason[len(prefix) :].split(":", 1)[0].strip() or None
        change = {
            "account_id": lockout.account_id,
            "engine_id": lockout.id,
            "cleared_at": ts(now),
            "cleared_by": cleared_by,
            "clear_reason": reason,
            "cleared_by_user": user,
        }
        fallback = R.lockout_values(lockout, acct, False, now) | {"active": 0}
        day = R.day_state_values(acct, now) if acct is not None else None
        pnl = R.daily_pnl_values(acct, now) if acct is not None and cleared_by == "daily_reset" else None

        def job(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                "UPDATE lockouts SET active = 0, cleared_at = :cleared_at, cleared_by = :cleared_by, "
                "clear_reason = :clear_reason, cleared_by_user = :cleared_by_user "
                "WHERE account_id = :account_id AND engine_id = :engine_id AND active = 1",
                change,
            )
            n = cur.rowcount
            if n == 0:  # its set was never committed (crash in between): keep the history anyway
                row = fallback | {k: v for k, v in change.items() if k not in ("account_id", "engine_id")}
                conn.execute(R.insert_sql("lockouts", row), row)
            if day is not None:
                if pnl is not None:
                    _write_day(conn, day, pnl)
                else:
                    _upsert_day(conn, day)
            return n

        if acct is not None:
            self._day_cache[acct.account_id] = (acct.last_reset, acct.next_reset)
        return self._critical((job), f"end of lockout {lockout.id}")

    def trade(self, acct: AccountState, trade: TradeUpdate) -> Coroutine[Any, Any, None]:
        """Commit a fill together with the account's ``daily_pnl`` row (one transaction)."""
        now = self._clock()
        symbol = self._symbol(trade.contract_id)
        values = R.trade_values(acct, trade, symbol, now)
        pnl = R.daily_pnl_values(acct, now)
        day = R.day_state_values(acct, now)
        trade_sql = R.insert_sql("trades", values, conflict=("trade_id",), keep=("received_at",))
        self._day_cache[acct.account_id] = (acct.last_reset, acct.next_reset)

        def job(conn: sqlite3.Connection) -> None:
            conn.execute(trade_sql, values)
            _upsert_pnl(conn, pnl)
            _upsert_day(conn, day)

        return self._critical((job), f"trade {trade.trade_id}")

    def enforcement(self, item: Any, record: Mapping[str, Any]) -> Coroutine[Any, Any, int | None]:
        """Commit a work item's intent or state change (one row per idempotency key); returns its id."""
        now = self._clock()
        action = item.action
        acct = self._account(item.account_id)
        created = item.created
        state = item.state
        lock = record.get("lockout") if isinstance(record, Mapping) else None
        values = {
            "created_at": ts(created),
            "account_id": item.account_id,
            "trading_day": R.day_label(acct, created) if acct is not None else created.date().isoformat(),
            "rule_id": action.rule,
            "action": action.action,
            "target": None if record.get("target") is None else str(record.get("target")),
            "key": item.key,
            "state": state,
            "attempts": item.attempts,
            "reason": action.reason,
            "seen": dumps(dict(action.extra)) if getattr(action, "extra", None) else None,
            "result": dumps(dict(item.result)) if item.result else None,
            "first_request_ms": item.first_request_ms,
            "confirmed_ms": item.confirmed_ms,
            "event_id": item.cause,
            "completed_at": ts(now) if state in TERMINAL else None,
        }
        lock_id = lock.get("id") if isinstance(lock, Mapping) else None
        run_keys = self._run_keys

        def job(conn: sqlite3.Connection) -> int:
            key = values["key"]
            lockout_row = None
            if lock_id is not None:
                found = conn.execute(
                    "SELECT id FROM lockouts WHERE account_id = ? AND engine_id = ? ORDER BY id DESC LIMIT 1",
                    (values["account_id"], lock_id),
                ).fetchone()
                lockout_row = found[0] if found else None
            row = conn.execute("SELECT id, state FROM enforcement_log WHERE key = ?", (key,)).fetchone()
            if row is not None and key not in run_keys and row[1] in TERMINAL:
                # The same key from an earlier run (event sequence numbers restart): keep that
                # finished row's history under a suffixed key and start a new row.
                conn.execute("UPDATE enforcement_log SET key = key || '#' || id WHERE id = ?", (row[0],))
                row = None
            run_keys.add(key)
            if row is None:
                full = values | {"lockout_id": lockout_row}
                cur = conn.execute(R.insert_sql("enforcement_log", full), full)
                return int(cur.lastrowid or 0)
            conn.execute(
                "UPDATE enforcement_log SET state = :state, attempts = :attempts, result = :result, "
                "first_request_ms = :first_request_ms, confirmed_ms = :confirmed_ms, "
                "completed_at = :completed_at, reason = :reason, seen = COALESCE(:seen, seen), "
                "lockout_id = COALESCE(:lockout_id, lockout_id) WHERE id = :id",
                values | {"lockout_id": lockout_row, "id": row[0]},
            )
            return int(row[0])

        return self._critical((job), f"enforcement {item.key} ({state})")

    def audit(
        self,
        action: str,
        outcome: str,
        actor: Mapping[str, Any] | str | None,
        target: str | None = None,
        reason: str | None = None,
        *,
        before: Any = None,
        after: Any = None,
    ) -> Coroutine[Any, Any, int | None]:
        """Commit an ``audit_log`` row before the admin command is answered."""
        if isinstance(actor, Mapping):
            who = actor.get("osUser") or ("admin-session" if actor.get("session") else None)
            peer = actor.get("peer")
        else:
            who, peer = actor, None
        row = {
            "at": ts(self._clock()),
            "actor": None if who is None else str(who),
            "peer": None if peer is None else str(peer),
            "action": action,
            "target": target,
            "before": dumps(before),
            "after": dumps(after),
            "reason": reason,
            "outcome": outcome,
        }
        sql = R.insert_sql("audit_log", row)
        return self._critical(lambda conn: int(conn.execute(sql, row).lastrowid or 0), f"audit {action}")

    async def auth_failures(self) -> tuple[int, datetime | None]:
        """The cross-launch admin lockout counter (admin-cli.md): failures and locked-until."""
        meta = await self._reader.run(Q.meta)
        text = meta.get("admin_auth_failures") or "0"
        return (int(text) if text.isdigit() else 0), parse_ts(meta.get("admin_locked_until"))

    def save_auth_failures(self, failures: int, locked_until: datetime | None) -> Coroutine[Any, Any, None]:
        items = {"admin_auth_failures": str(int(failures)), "admin_locked_until": ts(locked_until)}
        return self._critical((lambda conn: _set_meta(conn, items)), "admin login counter")

    # ----- queries ------------------------------------------------------------------------------------------
    async def history(self, op: str, data: Mapping[str, Any]) -> dict[str, Any]:
        """A page of ``history.*`` (daemon.md §9.4); bad filters raise ``ApiError('bad_request')``."""
        if not isinstance(data, Mapping):
            raise ApiError("bad_request", "field 'data' must be an object")
        if op == "history.pnl":

            def fn(conn: sqlite3.Connection) -> dict[str, Any]:
                return Q.history_pnl(conn, data, self._day_bounds)

        elif op in Q.HISTORY:
            query = Q.HISTORY[op]

            def fn(conn: sqlite3.Connection) -> dict[str, Any]:
                return query(conn, data)

        else:
            raise ApiError("bad_request", f"unknown history query '{op}'")
        try:
            return await self._reader.run(fn)
        except Q.QueryError as exc:
            raise ApiError("bad_request", str(exc)) from None

    def _day_bounds(self, account_id: int, day: str) -> tuple[str, str]:
        end_day = date.fromisoformat(day)
        acct = self._account(account_id)
        if acct is None:
            start = datetime.combine(end_day - timedelta(days=1), datetime.min.time(), UTC)
            return ts(start) or "", ts(start + timedelta(days=1)) or ""
        s = acct.settings
        start = local_instant(end_day - timedelta(days=1), s.reset_time, s.timezone)
        end = local_instant(end_day, s.reset_time, s.timezone)
        return ts(start) or "", ts(end) or ""

    # ----- maintenance and shutdown ----------------------------------------------------------------------
    async def _maintain(self, now: datetime, today: str) -> None:
        """Once a day: prune old rows (small batches) and take the daily online backup."""
        try:
            await retention.prune(self._writer, now)
            target = await self._reader.run(
                lambda conn: retention.daily_backup(conn, self.backups_dir, now.date(), self.path.name)
            )
            await self._writer.call(lambda conn: _set_meta(conn, {"maintenance_day": today}))
            log.info("daily database backup written to %s", target)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("daily database maintenance failed")

    async def run_maintenance(self, now: datetime | None = None) -> None:
        """Run retention and the daily backup now (``doctor``, tests)."""
        now = now or self._clock()
        await self._maintain(now, now.date().isoformat())

    async def close(self, clean: bool) -> None:
        """Drain the write queue, mark open enforcement ``interrupted``, write the clean-shutdown
        marker (only when ``clean``), ``PRAGMA optimize`` and close. 5 s cap (1 s when not clean)."""
        if self._closed:
            return
        self._closed = True
        if self._maintenance is not None and not self._maintenance.done():
            self._maintenance.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._maintenance
        now = self._clock()
        marks = ", ".join("?" for _ in OPEN_STATES)
        items = {"heartbeat_at": ts(now)}
        if clean:
            items["clean_shutdown_at"] = ts(now)

        def final(conn: sqlite3.Connection) -> None:
            conn.execute(
                f"UPDATE enforcement_log SET state = 'interrupted' WHERE state IN ({marks})", OPEN_STATES
            )
            _set_meta(conn, items)

        cap = 5.0 if clean else 1.0
        if self._writer.alive:
            try:
                await asyncio.wait_for(self._writer.call(final), cap)
            except Exception as exc:
                log.error("final database write failed: %s", exc)
        await asyncio.to_thread(self._writer.stop, cap)
        await asyncio.to_thread(self._reader.close)

    def _critical(self, job: Callable[[sqlite3.Connection], Any], what: str) -> Coroutine[Any, Any, Any]:
        """Queue a critical write now and return the awaitable of its commit."""
        if self._closed:
            return _refused(what)
        return _settle(self._writer.submit(job), what)

    # ----- helpers ------------------------------------------------------------------------------------------
    def _account(self, account_id: int) -> AccountState | None:
        engine = self._engine
        if engine is None:
            return None
        return engine.state.accounts.get(account_id)

    def _symbol(self, contract_id: str) -> str | None:
        engine = self._engine
        info = engine.state.contracts.get(contract_id) if engine is not None else None
        try:
            return canonical_symbol(contract_id, info.name if info else None)
        except Exception:
            return None


async def _refused(what: str) -> None:
    log.error("%s not saved: the database is closed", what)


def _log_degraded(degraded: bool) -> None:
    if degraded:
        log.critical(
            "storage degraded: database writes have failed for 10 s; enforcement continues from memory"
        )
    else:
        log.warning("storage recovered: database writes succeed again")


def _upsert_day(conn: sqlite3.Connection, day: Mapping[str, Any]) -> None:
    conn.execute(R.insert_sql("day_state", day, conflict=("account_id",)), day)


def _upsert_pnl(conn: sqlite3.Connection, pnl: Mapping[str, Any]) -> None:
    conn.execute(
        R.insert_sql("daily_pnl", pnl, conflict=("account_id", "trading_day"), keep=("max_net", "min_net"))
        + ", max_net = CASE WHEN daily_pnl.max_net IS NULL OR CAST(excluded.max_net AS REAL) > "
        "CAST(daily_pnl.max_net AS REAL) THEN excluded.max_net ELSE daily_pnl.max_net END"
        ", min_net = CASE WHEN daily_pnl.min_net IS NULL OR CAST(excluded.min_net AS REAL) < "
        "CAST(daily_pnl.min_net AS REAL) THEN excluded.min_net ELSE daily_pnl.min_net END",
        pnl,
    )


def _write_day(conn: sqlite3.Connection, day: Mapping[str, Any], pnl: Mapping[str, Any]) -> None:
    """Day state plus the (possibly new, zero) ``daily_pnl`` row of the current trading day."""
    _upsert_day(conn, day)
    _upsert_pnl(conn, pnl)
