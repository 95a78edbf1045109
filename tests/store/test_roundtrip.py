"""Lockouts, P&L, trade counters and enforcement records through Persistence and back into a real
Engine; every critical write is visible to another connection as soon as its await returns."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

from risk_manager.daemon.enforcement.work import WorkItem, work_key
from risk_manager.daemon.persist.persistence import Persistence
from risk_manager.engine import Action, Engine, events
from risk_manager.engine.actions import ActionKind
from tests.store.conftest import ACCOUNT, MNQ, T0, Clock, make_engine, trade


def _row(path: Path, sql: str, *args: Any) -> Any:
    conn = sqlite3.connect(path)  # a second, independent connection
    try:
        return conn.execute(sql, args).fetchone()
    finally:
        conn.close()


async def _feed(p: Persistence, engine: Engine, payload: dict[str, Any], at: Any) -> list[Action]:
    actions = engine.evaluate(events.TRADE, payload, at)
    await p.trade(engine.account(ACCOUNT), events.parse_trade(payload))
    for a in actions:
        if a.kind == ActionKind.LOCKOUT and a.lockout is not None:
            await p.lockout_set(a.lockout, observed=a.observe_only)
    return actions


async def test_round_trip_restores_lockouts_pnl_and_counters(tmp_path: Path, clock: Clock) -> None:
    engine = make_engine()
    p = await Persistence.open(tmp_path, clock=clock)
    await p.restore(engine, T0)
    p.contract(MNQ)
    await _feed(p, engine, trade(1, None, T0), T0)
    await _feed(p, engine, trade(2, -300.5, T0 + timedelta(minutes=1)), T0 + timedelta(minutes=1))
    actions = await _feed(p, engine, trade(3, -250, T0 + timedelta(minutes=2)), T0 + timedelta(minutes=2))
    lockouts = [a.lockout for a in actions if a.kind == ActionKind.LOCKOUT and a.lockout is not None]
    assert lockouts, [a.to_dict() for a in actions]
    broker = next(a for a in actions if a.kind in (ActionKind.CLOSE_ALL, ActionKind.CLOSE_POSITION, ActionKind.CANCEL_ALL))
    item = WorkItem(work_key(ACCOUNT, broker.kind, None, lockouts[0].id), broker, lockouts[0].id, None, created=broker.at)
    record = {"target": None, "lockout": lockouts[0].to_dict() | {"id": lockouts[0].id}}
    first_id = await p.enforcement(item, record)
    item.state, item.attempts, item.confirmed_ms = "done", 1, 61.0
    item.result = {"closed": [MNQ["id"]]}
    assert await p.enforcement(item, record) == first_id  # one row per key, updated in place
    realized = engine.realized_pnl(ACCOUNT)
    counted = engine.account(ACCOUNT).session_trades
    last_reset = engine.last_reset(ACCOUNT)
    assert realized == -550.5 and counted == 3
    await p.close(clean=True)

    db = tmp_path / "risk.db"
    assert _row(db, "SELECT realized, trade_count, losing, min_net FROM daily_pnl") == (
        "-550.5",
        3,
        2,
        "-550.5",
    )
    state, attempts, result, lockout_id = _row(
        db, "SELECT state, attempts, result, lockout_id FROM enforcement_log WHERE id = ?", first_id
    )
    assert (state, attempts, result) == ("done", 1, '{"closed":["CON.F.US.MNQ.Z25"]}')
    assert lockout_id == _row(db, "SELECT id FROM lockouts WHERE engine_id = ?", lockouts[0].id)[0]

    fresh = make_engine()
    clock.advance(600)
    p2 = await Persistence.open(tmp_path, clock=clock)
    try:
        summary = await p2.restore(fresh, clock.now)
        assert p2.previous_run.clean
        assert summary.trades == 3 and summary.lockouts == len(lockouts)
        assert fresh.realized_pnl(ACCOUNT) == realized
        assert fresh.account(ACCOUNT).session_trades == counted
        assert fresh.last_reset(ACCOUNT) == last_reset
        assert set(fresh.account(ACCOUNT).trade_ids) == {1, 2, 3}
        restored = {r.key: r for r in fresh.lockouts(ACCOUNT)}
        for original in lockouts:
            got = restored[original.key]
            assert (got.id, got.kind, got.until, got.reason, got.created) == (
                original.id,
                original.kind,
                original.until,
                original.reason,
                original.created,
            )
        # The engine keeps enforcing: a new fill while locked does not re-trigger, P&L keeps counting.
        fresh.evaluate(events.TRADE, trade(4, -10, clock.now), clock.now)
        assert fresh.realized_pnl(ACCOUNT) == realized - 10
        assert "CON.F.US.MNQ.Z25" in fresh.state.contracts
    finally:
        await p2.close(clean=True)


async def test_critical_writes_are_committed_when_the_await_returns(tmp_path: Path, clock: Clock) -> None:
    engine = make_engine()
    p = await Persistence.open(tmp_path, clock=clock, batch_window=5.0)  # batched writes would lag
    db = tmp_path / "risk.db"
    try:
        await p.restore(engine, T0)
        payload = trade(7, -600, T0)
        actions = engine.evaluate(events.TRADE, payload, T0)
        await p.trade(engine.account(ACCOUNT), events.parse_trade(payload))
        assert _row(db, "SELECT pnl FROM trades WHERE trade_id = 7") == ("-600",)
        assert _row(db, "SELECT realized, trade_count FROM daily_pnl") == ("-600", 1)
        lock = next(a.lockout for a in actions if a.lockout is not None)
        rid = await p.lockout_set(lock, observed=False)
        assert _row(db, "SELECT active, kind, clears_on, engine_id FROM lockouts WHERE id = ?", rid) == (
            1,
            "hard",
            "reset",
            lock.id,
        )
        await p.lockout_cleared(lock, "admin", "admin unlock by pc\\jane: reviewed the account", actor="pc\\jane")
        assert _row(db, "SELECT active, cleared_by, cleared_by_user FROM lockouts WHERE id = ?", rid) == (
            0,
            "admin",
            "pc\\jane",
        )
        await p.audit("lockout_unlocked", "ok", {"osUser": "pc\\jane", "session": True}, "L1", "reviewed")
        assert _row(db, "SELECT actor, action FROM audit_log") == ("pc\\jane", "lockout_unlocked")
        until = T0 + timedelta(minutes=15)
        await p.save_auth_failures(4, until)
        assert _row(db, "SELECT value FROM meta WHERE key = 'admin_auth_failures'") == ("4",)
        assert await p.auth_failures() == (4, until)
    finally:
        await p.close(clean=True)


async def test_trade_values_are_taken_when_handed_over(tmp_path: Path, clock: Clock) -> None:
    """The daemon spawns ``persist.trade`` as a task; later engine changes must not leak into it."""
    engine = make_engine()
    p = await Persistence.open(tmp_path, clock=clock)
    try:
        await p.restore(engine, T0)
        engine.evaluate(events.TRADE, trade(1, -100, T0), T0)
        pending = p.trade(engine.account(ACCOUNT), events.parse_trade(trade(1, -100, T0)))
        engine.evaluate(events.TRADE, trade(2, -50, T0), T0)  # before the first write ran
        await pending
        assert _row(tmp_path / "risk.db", "SELECT realized, trade_count FROM daily_pnl") == ("-100", 1)
    finally:
        await p.close(clean=True)


async def test_missed_reset_is_left_to_the_engine(tmp_path: Path, clock: Clock) -> None:
    engine = make_engine()
    p = await Persistence.open(tmp_path, clock=clock)
    await p.restore(engine, T0)
    payload = trade(1, -600, T0)
    actions = engine.evaluate(events.TRADE, payload, T0)
    await p.trade(engine.account(ACCOUNT), events.parse_trade(payload))
    lock = next(a.lockout for a in actions if a.lockout is not None)
    await p.lockout_set(lock, observed=False)
    await p.close(clean=True)

    later = T0 + timedelta(days=1, hours=2)  # past the 17:00 Chicago reset
    clock.now = later
    fresh = make_engine()
    p2 = await Persistence.open(tmp_path, clock=clock)
    try:
        summary = await p2.restore(fresh, later)
        assert summary.missed_resets == [ACCOUNT] and summary.trades == 0
        assert [r.id for r in fresh.lockouts(ACCOUNT)] == [lock.id]  # still there until the tick
        unlocks = [a for a in fresh.tick(later) if a.kind == ActionKind.UNLOCK]
        assert [a.lockout.id for a in unlocks if a.lockout] == [lock.id]
        assert fresh.realized_pnl(ACCOUNT) == 0
        for a in unlocks:
            assert a.lockout is not None
            await p2.lockout_cleared(a.lockout, "daily_reset", a.reason)
        p2.heartbeat()
        await p2._writer.flush()
        db = tmp_path / "risk.db"
        assert _row(db, "SELECT active, cleared_by FROM lockouts") == (0, "daily_reset")
        assert _row(db, "SELECT COUNT(*) FROM daily_pnl") == (2,)  # the new day has its (zero) row
    finally:
        await p2.close(clean=True)


async def test_enforcement_key_from_an_earlier_run_starts_a_new_row(tmp_path: Path, clock: Clock) -> None:
    engine = make_engine()
    action = Action(ACCOUNT, "RULE-001", ActionKind.CLOSE_ALL, "too many contracts", T0)
    key = work_key(ACCOUNT, ActionKind.CLOSE_ALL, None, "e1")
    p = await Persistence.open(tmp_path, clock=clock)
    await p.restore(engine, T0)
    done = WorkItem(key, action, "e1", None, created=action.at, state="done")
    first = await p.enforcement(done, {"target": None})
    await p.close(clean=True)
    p2 = await Persistence.open(tmp_path, clock=clock)
    try:
        await p2.restore(make_engine(), T0)
        second = await p2.enforcement(WorkItem(key, action, "e1", None, created=action.at), {"target": None})
        assert second != first
        assert _row(tmp_path / "risk.db", "SELECT key FROM enforcement_log WHERE id = ?", first) == (
            f"{key}#{first}",
        )
    finally:
        await p2.close(clean=True)


async def test_open_enforcement_is_marked_interrupted_and_offered_at_restore(
    tmp_path: Path, clock: Clock
) -> None:
    action = Action(ACCOUNT, "RULE-001", ActionKind.CLOSE_ALL, "too many contracts", T0)
    p = await Persistence.open(tmp_path, clock=clock)
    await p.restore(make_engine(), T0)
    rid = await p.enforcement(WorkItem("k1", action, "e1", None, created=action.at, state="retrying"), {"target": None})
    await p.close(clean=True)
    p2 = await Persistence.open(tmp_path, clock=clock)
    try:
        summary = await p2.restore(make_engine(), T0)
        assert summary.unfinished == 1
        assert p2.unfinished[0]["id"] == rid and p2.unfinished[0]["state"] == "interrupted"
    finally:
        await p2.close(clean=True)


async def test_positions_orders_and_heartbeat_are_batched(tmp_path: Path, clock: Clock) -> None:
    engine = make_engine()
    p = await Persistence.open(tmp_path, clock=clock)
    db = tmp_path / "risk.db"
    try:
        await p.restore(engine, T0)
        pos = {
            "id": 5,
            "accountId": ACCOUNT,
            "contractId": MNQ["id"],
            "creationTimestamp": T0.isoformat(),
            "type": 1,
            "size": 2,
            "averagePrice": 24500.25,
        }
        engine.evaluate(events.POSITION, pos, T0)
        acct = engine.account(ACCOUNT)
        p.position(acct, MNQ["id"], acct.positions.get(MNQ["id"]))
        order = {
            "id": 77,
            "accountId": ACCOUNT,
            "contractId": MNQ["id"],
            "status": 1,
            "type": 4,
            "side": 1,
            "size": 2,
            "stopPrice": 24480.0,
            "customTag": "rm-x",
        }
        p.order(ACCOUNT, events.parse_order(order))
        clock.advance(5)
        p.heartbeat()
        await p._writer.flush()
        assert _row(db, "SELECT size, average_price, type FROM positions") == (2, "24500.25", 1)
        assert _row(db, "SELECT stop_price, custom_tag FROM orders") == ("24480.0", "rm-x")
        assert _row(db, "SELECT value FROM meta WHERE key = 'heartbeat_at'") == ("2026-11-17T16:00:05.000Z",)
        assert _row(db, "SELECT COUNT(*) FROM pnl_samples") == (1,)
        p.position(acct, MNQ["id"], None)
        p.order(ACCOUNT, events.parse_order(order | {"status": 3}))
        await p._writer.flush()
        assert _row(db, "SELECT COUNT(*) FROM positions") == (0,)
        assert _row(db, "SELECT COUNT(*) FROM orders") == (0,)
    finally:
        await p.close(clean=True)
