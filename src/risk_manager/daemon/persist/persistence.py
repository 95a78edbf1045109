"""The daemon's persistence: what the daemon saves, when, and how it comes back (spec/daemon.md §6, §2.3).

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
import logging
import sqlite3
from collections.abc import Callable, Coroutine, Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from risk_manager import __version__
from risk_manager.daemon.enforcement.work import WorkItem, WorkState
from risk_manager.daemon.persist.batched import BatchedRecords
from risk_manager.daemon.persist.previous_run import PreviousRun, mark_start
from risk_manager.daemon.persist.restore import RestoreSummary, restore
from risk_manager.engine import Engine
from risk_manager.engine.events import TradeUpdate
from risk_manager.engine.lockouts import Lockout
from risk_manager.engine.state import AccountState
from risk_manager.engine.symbols import canonical_symbol
from risk_manager.engine.trading_day import local_instant
from risk_manager.store import queries, retention, rows, writes
from risk_manager.store.codec import dumps, parse_ts, ts
from risk_manager.store.database import CORRUPT_ALERT, OpenedDatabase, open_database
from risk_manager.store.errors import StoreError
from risk_manager.store.reader import Reader
from risk_manager.store.writer import Writer

log = logging.getLogger("risk_manager.daemon.persist")

Clock = Callable[[], datetime]
SAMPLE_EVERY = timedelta(minutes=1)
FINAL_WRITE_S = 5.0  # drain and mark-interrupted budget at a clean stop (1 s otherwise)


class DatabaseError(Exception):
    """``risk.db`` cannot be used; the daemon prints the message and exits 3."""


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
    """The daemon's persistence (spec/daemon.md §6): the only object the daemon talks to about
    storage; ``risk_manager.store`` does the SQL.

    * Critical records (lockouts set and cleared, trades with their ``daily_pnl`` row, enforcement
      records, audit rows, the admin lockout counter) are queued the moment the daemon hands them over
      and their awaitable returns only after COMMIT (``synchronous=FULL``). They are queued
      synchronously at call time (the methods return a coroutine rather than being ``async def``), so
      the values are those of that instant and the queue order is the call order, even when the
      caller awaits in a task.
    * Positions, working orders, contracts, day state, P&L samples and the heartbeat are batched.
    * ``restore`` puts active lockouts, the day state and today's trades back (``restore.py``).
    * ``meta.started_at`` / ``meta.clean_shutdown_at`` tell whether the previous run ended cleanly.
    """

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
        self._batched = BatchedRecords(writer, clock)
        # Batched records are written as they come, without waiting (``batched.py``).
        self.position = self._batched.position
        self.order = self._batched.order
        self.contract = self._batched.contract
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
                previous = mark_start(opened.conn, now)
                day = queries.meta(opened.conn).get("maintenance_day")
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
        """Put persisted state back into ``engine`` (``restore.py``); retire duplicate lockout rows."""
        self._engine = engine
        summary = await restore(engine, self._reader, now, WorkState.unfinished())
        for account_id in engine.account_ids():
            self._batched.day_known(engine.account(account_id))
            self._batched.rules_known(engine, engine.account(account_id), now)
        if summary.superseded:
            stamp, pairs = ts(now), list(summary.superseded)
            await self._critical(lambda conn: writes.retire_lockouts(conn, stamp, pairs), "superseded lockouts")
        self._batched.post_accounts(engine, now)
        self.unfinished = summary.unfinished_rows
        log.info(
            "restored %d lockouts, %d trades and %d contracts for %d accounts%s",
            summary.lockouts,
            summary.trades,
            summary.contracts,
            summary.accounts,
            f"; {summary.unfinished} unfinished enforcement items" if summary.unfinished else "",
        )
        return summary

    async def restore_accounts(self, engine: Engine, account_ids: list[int], now: datetime) -> RestoreSummary:
        """Accounts a hot reload adds: their lockouts, day state and today's trades come back too."""
        summary = await restore(engine, self._reader, now, WorkState.unfinished(), account_ids)
        for account_id in account_ids:
            self._batched.day_known(engine.account(account_id))
        self._batched.post_accounts(engine, now)
        return summary

    # ----- batched records -----------------------------------------------------------------------------
    def heartbeat(self) -> None:
        """Every 5 s: ``meta.heartbeat_at``, day-state changes, P&L samples, daily maintenance."""
        if self._closed:
            return
        now = self._clock()
        stamp = ts(now)
        self._writer.post(lambda conn: writes.set_meta(conn, {"heartbeat_at": stamp}))
        engine = self._engine
        if engine is not None:
            for account_id in engine.account_ids():
                acct = engine.account(account_id)
                self._batched.note_day(acct, now)
                self._batched.note_rules(engine, acct, now)
                self._batched.sample(engine, acct, now)
        today = now.date().isoformat()
        if self._maintenance_day != today and (self._maintenance is None or self._maintenance.done()):
            self._maintenance_day = today
            self._maintenance = asyncio.get_running_loop().create_task(self._maintain(now, today))

    # ----- critical records -------------------------------------------------------------------------------
    def lockout_set(self, lockout: Lockout, *, observed: bool) -> Coroutine[Any, Any, int | None]:
        """Commit a lockout (new, or the extension of an active one); returns its row id."""
        now = self._clock()
        acct = self._account(lockout.account_id)
        values = rows.lockout_values(lockout, acct, observed, now)
        day = rows.day_state_values(acct, now) if acct is not None else None
        return self._critical(lambda conn: writes.set_lockout(conn, values, day), f"lockout {lockout.id}")

    def lockout_cleared(
        self, lockout: Lockout, cleared_by: str, reason: str | None, *, actor: str | None = None
    ) -> Coroutine[Any, Any, int | None]:
        """Commit the end of a lockout (expiry, daily reset, condition, admin); returns rows updated."""
        now = self._clock()
        acct = self._account(lockout.account_id)
        change = {
            "account_id": lockout.account_id,
            "engine_id": lockout.id,
            "cleared_at": ts(now),
            "cleared_by": str(cleared_by),
            "clear_reason": reason,
            "cleared_by_user": actor,
        }
        fallback = rows.lockout_values(lockout, acct, False, now) | {"active": 0}
        day = rows.day_state_values(acct, now) if acct is not None else None
        pnl = rows.daily_pnl_values(acct, now) if acct is not None and cleared_by == "daily_reset" else None
        if acct is not None:
            self._batched.day_known(acct)
        return self._critical(
            lambda conn: writes.clear_lockout(conn, change, fallback, day, pnl), f"end of lockout {lockout.id}"
        )

    def trade(self, acct: AccountState, trade: TradeUpdate) -> Coroutine[Any, Any, None]:
        """Commit a fill together with the account's ``daily_pnl`` row (one transaction)."""
        now = self._clock()
        values = rows.trade_values(acct, trade, self._symbol(trade.contract_id), now)
        pnl = rows.daily_pnl_values(acct, now)
        day = rows.day_state_values(acct, now)
        self._batched.day_known(acct)
        return self._critical(lambda conn: writes.trade(conn, values, pnl, day), f"trade {trade.trade_id}")

    def enforcement(self, item: WorkItem, record: Mapping[str, Any]) -> Coroutine[Any, Any, int | None]:
        """Commit a work item's intent or state change (one row per idempotency key); returns its id."""
        now = self._clock()
        action = item.action
        acct = self._account(item.account_id)
        created = item.created
        state = WorkState(item.state)
        lock = record.get("lockout")
        values = {
            "created_at": ts(created),
            "account_id": item.account_id,
            "trading_day": rows.day_label(acct, created) if acct is not None else created.date().isoformat(),
            "rule_id": action.rule,
            "action": str(action.kind),
            "target": None if record.get("target") is None else str(record.get("target")),
            "key": item.key,
            "state": str(state),
            "attempts": item.attempts,
            "reason": action.reason,
            "seen": dumps(dict(action.extra)) if action.extra else None,
            "result": dumps(dict(item.result)) if item.result else None,
            "first_request_ms": item.first_request_ms,
            "confirmed_ms": item.confirmed_ms,
            "event_id": item.cause,
            "completed_at": ts(now) if state.completed else None,
        }
        lock_id = lock.get("id") if isinstance(lock, Mapping) else None
        run_keys = self._run_keys
        completed = [str(s) for s in WorkState if s.completed]
        return self._critical(
            lambda conn: writes.record_enforcement(conn, values, lock_id, run_keys, completed),
            f"enforcement {item.key} ({state})",
        )

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
        return self._critical(lambda conn: writes.insert_audit(conn, row), f"audit {action}")

    async def auth_failures(self) -> tuple[int, datetime | None]:
        """The cross-launch admin lockout counter (spec/admin-cli.md): failures and locked-until."""
        meta = await self._reader.run(queries.meta)
        text = meta.get("admin_auth_failures") or "0"
        return (int(text) if text.isdigit() else 0), parse_ts(meta.get("admin_locked_until"))

    def save_auth_failures(self, failures: int, locked_until: datetime | None) -> Coroutine[Any, Any, None]:
        items = {"admin_auth_failures": str(int(failures)), "admin_locked_until": ts(locked_until)}
        return self._critical(lambda conn: writes.set_meta(conn, items), "admin login counter")

    # ----- queries ------------------------------------------------------------------------------------------
    async def history(self, op: str, data: Mapping[str, Any]) -> dict[str, Any]:
        """A page of ``history.*`` (spec/daemon.md §9.4); bad filters raise ``queries.QueryError``."""
        if not isinstance(data, Mapping):
            raise queries.QueryError("field 'data' must be an object")
        if op == "history.pnl":

            def fn(conn: sqlite3.Connection) -> dict[str, Any]:
                return queries.history_pnl(conn, data, self._day_bounds)

        elif op in queries.HISTORY:
            query = queries.HISTORY[op]

            def fn(conn: sqlite3.Connection) -> dict[str, Any]:
                return query(conn, data)

        else:
            raise queries.QueryError(f"unknown history query '{op}'")
        return await self._reader.run(fn)

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
            await self._writer.call(lambda conn: writes.set_meta(conn, {"maintenance_day": today}))
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
        engine = self._engine
        if engine is not None and self._writer.alive:  # rule memory changed since the last heartbeat
            for account_id in engine.account_ids():
                self._batched.note_rules(engine, engine.account(account_id), self._clock())
        self._closed = True
        self._batched.closed = True
        if self._maintenance is not None and not self._maintenance.done():
            self._maintenance.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._maintenance
        now = self._clock()
        items = {"heartbeat_at": ts(now)}
        if clean:
            items["clean_shutdown_at"] = ts(now)
        open_states = [str(s) for s in WorkState.open_states()]

        def final(conn: sqlite3.Connection) -> None:
            writes.mark_interrupted(conn, open_states)
            writes.set_meta(conn, items)

        cap = FINAL_WRITE_S if clean else 1.0
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
