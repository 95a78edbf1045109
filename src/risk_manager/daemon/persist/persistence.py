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
* Nothing here ever holds up enforcement: a commit is awaited beside the pipeline (``commits.py``),
  storage health is watched and told (``health.py``), and what the daemon holds in memory is written
  back after a replacement or an outage that dropped records (``rewrite.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Callable, Coroutine, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from risk_manager import __version__
from risk_manager.daemon.enforcement.work import WorkItem, WorkState
from risk_manager.daemon.notify import Notifier
from risk_manager.daemon.persist import commits, rewrite
from risk_manager.daemon.persist.batched import BatchedRecords
from risk_manager.daemon.persist.caught_up import extremes
from risk_manager.daemon.persist.health import StorageMonitor
from risk_manager.daemon.persist.previous_run import PreviousRun, mark_start
from risk_manager.daemon.persist.restore import RestoreSummary, restore
from risk_manager.daemon.persist.values import audit_row, day_bounds, enforcement_values
from risk_manager.engine import Engine
from risk_manager.engine.events import TradeUpdate
from risk_manager.engine.lockouts import Lockout
from risk_manager.engine.rule_state import STREAK, StreakMemo, streak_export, streak_memo
from risk_manager.engine.state import AccountState
from risk_manager.engine.symbols import canonical_symbol
from risk_manager.store import queries, retention, rows, writes
from risk_manager.store.codec import money, parse_ts, ts
from risk_manager.store.database import CORRUPT_ALERT, OpenedDatabase, open_database, replace_while_running
from risk_manager.store.errors import StorageUnavailable, StoreError
from risk_manager.store.integrity import is_corruption
from risk_manager.store.reader import Reader
from risk_manager.store.writer import Writer

log = logging.getLogger("risk_manager.daemon.persist")

Clock = Callable[[], datetime]
SAMPLE_EVERY = timedelta(minutes=1)
FINAL_WRITE_S = 5.0  # drain and mark-interrupted budget at a clean stop (1 s otherwise)
T = TypeVar("T")


class DatabaseError(Exception):
    """``risk.db`` cannot be used; the daemon prints the message and exits 3."""


class Persistence:
    """The daemon's persistence (this module's docstring says what it promises)."""

    def __init__(
        self,
        opened: OpenedDatabase,
        writer: Writer,
        previous_run: PreviousRun,
        clock: Clock,
        maintenance_day: str | None,
        *,
        reader: Reader | None = None,
        monitor: StorageMonitor | None = None,
    ) -> None:
        self.path = opened.path
        self.backups_dir = opened.backups_dir
        self.opened = opened
        self.previous_run = previous_run
        #: where a corrupt database was moved at open (the daemon raises the alert), else None
        self.replaced_corrupt: Path | None = opened.moved_aside
        self._writer = writer
        self._reader = reader or Reader(opened.path)
        #: storage health (status, snapshot, connection views), fed by the writer thread
        self.monitor = monitor or StorageMonitor(asyncio.get_running_loop(), clock, None, self.rewrite_memory)
        self.monitor.rewrite = self.rewrite_memory
        self._recent = rewrite.RecentRecords()
        self._unsaved = commits.Unsaved()
        self._background: set[asyncio.Task[Any]] = set()
        self._watchdog: asyncio.Task[None] | None = None
        self._clock = clock
        self._engine: Engine | None = None
        self._run_keys = writes.RecentKeys()  # enforcement keys written by this run (writer thread only)
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
        cls,
        data_dir: Path,
        *,
        clock: Clock | None = None,
        batch_window: float = 0.2,
        notifier: Notifier | None = None,
        retry_every: float = 1.0,
        give_up_after: float = 10.0,
    ) -> Persistence:
        """Check, migrate and open ``data_dir/risk.db``; raises ``DatabaseError`` (exit 3).

        ``notifier`` hears ``StorageDegraded``, ``StorageRecovered`` and ``DatabaseReplaced``."""
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
        stamp_clock = clock
        reader = Reader(opened.path)

        def reopen(conn: sqlite3.Connection, problem: str) -> tuple[sqlite3.Connection, Path | None]:
            reader.close()  # its file is about to be moved (Windows cannot rename an open file)
            return replace_while_running(opened.path, conn, now=stamp_clock(), product_version=__version__)

        monitor = StorageMonitor(asyncio.get_running_loop(), clock, notifier, lambda why: None)
        writer = Writer(
            opened.conn,
            batch_window=batch_window,
            retry_every=retry_every,
            give_up_after=give_up_after,
            events=monitor,
            reopen=reopen,
        )
        writer.start()
        self = cls(opened, writer, previous, clock, day, reader=reader, monitor=monitor)
        self._watchdog = asyncio.get_running_loop().create_task(monitor.watch(writer), name="storage-watchdog")
        if opened.moved_aside is not None:
            log.critical("%s (damaged file kept as %s)", CORRUPT_ALERT, opened.moved_aside)
            monitor.announce_replaced_at_open(opened.moved_aside)
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
        return self.monitor.health.degraded

    def health_view(self) -> dict[str, Any]:
        """``{"state": "ok" | "degraded", "reason", "since", "unsaved"}`` for ``status`` and snapshots."""
        return self.monitor.health.view(self._writer.backlog)

    def storage_note(self) -> str:
        """What a push says when its record is not (yet) saved."""
        return self.monitor.health.note()

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """A read-only query; corruption met here makes the writer confirm it and replace the file."""
        try:
            return await self._reader.run(fn)
        except sqlite3.DatabaseError as exc:
            if is_corruption(exc) and not self._closed:
                self._writer.request_replace(f"read failed: {exc}")
            raise

    def rewrite_memory(self, why: str) -> None:
        """Write back every record the daemon holds (``rewrite.py``): after a replacement, or after
        records had to be dropped while storage was failing."""
        engine = self._engine
        if engine is None or self._closed:
            return
        state = rewrite.take(engine, self._recent, self._symbol, self._clock())
        completed = [str(st) for st in WorkState if st.completed]
        log.warning("%s: writing back what the daemon holds (%s)", why, state.counts())
        commit = self._critical(rewrite.job(state, self._run_keys, completed), "records held in memory")
        task = asyncio.get_running_loop().create_task(commit)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

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
        if self.degraded:
            return  # retention and the daily backup wait for a writable disk
        if self._maintenance_day != today and (self._maintenance is None or self._maintenance.done()):
            self._maintenance_day = today
            self._maintenance = asyncio.get_running_loop().create_task(self._maintain(now, today))

    def note_meta(self, items: Mapping[str, str | None]) -> None:
        """Batched ``meta`` rows (the dashboard's offline view reads the last rule status from here)."""
        if self._closed:
            return
        values = dict(items)
        self._writer.post(lambda conn: writes.set_meta(conn, values))

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

    def trade(
        self, acct: AccountState, trade: TradeUpdate, streak: StreakMemo | None = None
    ) -> Coroutine[Any, Any, None]:
        """Commit a fill together with the account's ``daily_pnl`` row and RULE-015's streak (one
        transaction). ``streak``: as it stood right after this fill was decided (the daemon queues
        the commit a little later); default: now."""
        now = self._clock()
        values = rows.trade_values(acct, trade, self._symbol(trade.contract_id), now)
        pnl = rows.daily_pnl_values(acct, now)
        day = rows.day_state_values(acct, now)
        memory = self._streak_rows(acct, streak, now)
        self._batched.day_known(acct)

        def job(conn: sqlite3.Connection) -> None:
            writes.trade(conn, values, pnl, day)
            writes.rule_state(conn, memory, None)

        return self._critical(job, f"trade {trade.trade_id}")

    def trades_caught_up(self, acct: AccountState, trades: list[TradeUpdate]) -> Coroutine[Any, Any, None]:
        """Commit the fills a reconcile gave the engine (missed during a restart or a hub gap) with
        the account's ``daily_pnl`` row and RULE-015's streak as it stands now, in one transaction
        (spec/daemon.md §6.3: every trade the engine counts is stored, whichever path brought it).
        The day's extremes include the running figures the replayed fills passed through. The
        caller queues this once the trade rows of every fill decided before are queued."""
        if not trades:
            return _nothing()
        now = self._clock()
        values = [rows.trade_values(acct, t, self._symbol(t.contract_id), now) for t in trades]
        pnl = rows.daily_pnl_values(acct, now)
        low, high = extremes(acct, trades)
        pnl["min_net"], pnl["max_net"] = money(low), money(high)
        day = rows.day_state_values(acct, now)
        memory = self._streak_rows(acct, None, now)
        self._batched.day_known(acct)

        def job(conn: sqlite3.Connection) -> None:
            for v in values:
                writes.trade(conn, v, pnl, day)
            writes.rule_state(conn, memory, None)

        ids = ", ".join(str(t.trade_id) for t in trades[:5]) + (" ..." if len(trades) > 5 else "")
        return self._critical(job, f"{len(trades)} reconciled trades ({ids})")

    def enforcement(self, item: WorkItem, record: Mapping[str, Any]) -> Coroutine[Any, Any, int | None]:
        """Commit a work item's intent or state change (one row per idempotency key); returns its id."""
        values, lock_id = enforcement_values(item, record, self._account(item.account_id), self._clock())
        self._recent.note(values, lock_id)
        run_keys = self._run_keys
        completed = [str(s) for s in WorkState if s.completed]
        return self._critical(
            lambda conn: writes.record_enforcement(conn, values, lock_id, run_keys, completed),
            f"enforcement {item.key} ({values['state']})",
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
        row = audit_row(action, outcome, actor, target, reason, before, after, self._clock())
        return self._critical(lambda conn: writes.insert_audit(conn, row), f"audit {action}")

    async def auth_failures(self) -> tuple[int, datetime | None]:
        """The cross-launch admin lockout counter (spec/admin-cli.md): failures and locked-until."""
        meta = await self._read(queries.meta)
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
        return await self._read(fn)

    def _day_bounds(self, account_id: int, day: str) -> tuple[str, str]:
        return day_bounds(self._account(account_id), day)

    # ----- maintenance and shutdown ----------------------------------------------------------------------
    async def _maintain(self, now: datetime, today: str) -> None:
        """Once a day: prune old rows (small batches) and take the daily online backup."""
        try:
            await retention.prune(self._writer, now)
            target = await self._read(
                lambda conn: retention.daily_backup(conn, self.backups_dir, now.date(), self.path.name)
            )
            await self._writer.call(lambda conn: writes.set_meta(conn, {"maintenance_day": today}))
            log.info("daily database backup written to %s", target)
        except asyncio.CancelledError:
            raise
        except StorageUnavailable as exc:
            log.warning("daily database maintenance postponed until storage recovers: %s", exc)
            self._maintenance_day = None
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
        if engine is not None and self._writer.alive:  # RULE-013's memory changed since the last heartbeat
            for account_id in engine.account_ids():
                self._batched.note_rules(engine, engine.account(account_id), self._clock())
        self._closed = True
        self._batched.closed = True
        if self._watchdog is not None:
            self._watchdog.cancel()
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
            return commits.refused(what)
        return commits.settle(self._writer.submit(job), what, self._unsaved)

    # ----- helpers ------------------------------------------------------------------------------------------
    @staticmethod
    def _streak_rows(acct: AccountState, memo: StreakMemo | None, now: datetime) -> list[dict[str, Any]]:
        """RULE-015's ``rule_state`` row, written with the fills it counts (engine/rule_state.py)."""
        state = streak_export(acct, streak_memo(acct) if memo is None else memo, now)
        return rows.rule_state_rows(acct.account_id, {STREAK: state}, now)

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


async def _nothing() -> None:
    return None
