"""Crash simulation: a real child process commits, then dies with os._exit(1) (no close, no
checkpoint). The next open finds every reported record and knows the previous run was unclean."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

from risk_manager.daemon.persist.persistence import Persistence
from risk_manager.engine import Engine, events
from tests.store.conftest import ACCOUNT, MNQ, T0, make_config, make_engine, trade

CHILD = textwrap.dedent(
    """
    import asyncio, os, sys
    from pathlib import Path
    from risk_manager.daemon.persist.persistence import Persistence
    from risk_manager.engine import events
    from tests.store.conftest import ACCOUNT, T0, make_engine, trade

    async def main() -> None:
        engine = make_engine()
        p = await Persistence.open(Path(sys.argv[1]))
        await p.restore(engine, T0)
        payload = trade(int(sys.argv[2]), -600, T0)
        actions = engine.evaluate(events.TRADE, payload, T0)
        await p.trade(engine.account(ACCOUNT), events.parse_trade(payload))
        fresh = [a.lockout for a in actions if a.lockout is not None]
        lock = fresh[0] if fresh else engine.lockouts(ACCOUNT)[0]  # already locked: extend/keep it
        await p.lockout_set(lock, observed=False)
        print("committed", lock.id, flush=True)
        os._exit(1)  # no close(): no clean-shutdown marker, no checkpoint, WAL left behind

    asyncio.run(main())
    """
)


STREAK_CHILD = textwrap.dedent(
    """
    import asyncio, os, sys
    from datetime import timedelta
    from pathlib import Path
    from risk_manager.daemon.persist.persistence import Persistence
    from risk_manager.engine import Engine, events
    from tests.store.conftest import ACCOUNT, MNQ, T0, make_config, trade

    async def main() -> None:
        engine = Engine.from_config(make_config({"consecutive_losses": {"max_losses": 3}}))
        engine.evaluate("Contract", MNQ, T0)
        p = await Persistence.open(Path(sys.argv[1]), clock=lambda: T0 + timedelta(minutes=5))
        await p.restore(engine, T0)
        for n, pnl in enumerate([None, -100, None, -100], start=1):
            at = T0 + timedelta(minutes=n)
            payload = trade(n, pnl, at)
            engine.evaluate(events.TRADE, payload, at)
            await p.trade(engine.account(ACCOUNT), events.parse_trade(payload))
            if n == 2:
                p.heartbeat()  # the rule memory as the heartbeat saw it: one loss
        print("committed", engine.account(ACCOUNT).streak.losses, flush=True)
        os._exit(1)  # killed before the next heartbeat: no close(), no final rule-state write

    asyncio.run(main())
    """
)


def _crash(data: Path, trade_id: int = 1, child: str = CHILD) -> str:
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [sys.executable, "-c", child, str(data), str(trade_id)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.startswith("committed"), proc.stderr
    return proc.stdout.split()[1]


async def test_data_survives_a_crash_and_the_unclean_end_is_detected(tmp_path: Path) -> None:
    lock_id = _crash(tmp_path)
    assert (tmp_path / "risk.db-wal").exists()  # the commits live in the WAL only
    p = await Persistence.open(tmp_path)
    try:
        assert p.replaced_corrupt is None
        assert not p.previous_run.clean and not p.previous_run.first_start
        assert p.previous_run.clean_shutdown_at is None
        assert p.previous_run.unclean_ends_last_hour == 1 and not p.previous_run.repeated_failures
        engine = make_engine()
        await p.restore(engine, T0)
        assert engine.realized_pnl(ACCOUNT) == -600
        assert [r.id for r in engine.lockouts(ACCOUNT)] == [lock_id]
    finally:
        await p.close(clean=True)
    p = await Persistence.open(tmp_path)  # that run ended cleanly
    try:
        assert p.previous_run.clean
    finally:
        await p.close(clean=False)
    p = await Persistence.open(tmp_path)  # close(clean=False) writes no marker
    try:
        assert not p.previous_run.clean
    finally:
        await p.close(clean=True)


async def test_three_unclean_ends_within_an_hour_are_repeated_failures(tmp_path: Path) -> None:
    seen = []
    for n in range(3):
        _crash(tmp_path, trade_id=n + 1)
        p = await Persistence.open(tmp_path)
        seen.append((p.previous_run.unclean_ends_last_hour, p.previous_run.repeated_failures))
        await p.close(clean=True)  # a clean run in between does not reset the count
    assert seen == [(1, False), (2, False), (3, True)]
    with sqlite3.connect(tmp_path / "risk.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM trades").fetchone() == (3,)
        assert conn.execute("SELECT COUNT(*) FROM lockouts WHERE active = 1").fetchone() == (1,)


async def test_a_losing_streak_committed_with_its_fills_survives_a_crash(tmp_path: Path) -> None:
    """RULE-015's streak is derived from fills, which are committed at once; a crash between two
    heartbeats must not take it back to what the last heartbeat saw (spec: nothing committed is
    lost), nor may the stored fills be counted twice."""
    assert _crash(tmp_path, child=STREAK_CHILD) == "2"
    p = await Persistence.open(tmp_path)
    try:
        engine = Engine.from_config(make_config({"consecutive_losses": {"max_losses": 3}}))
        engine.evaluate("Contract", MNQ, T0)
        await p.restore(engine, T0 + timedelta(minutes=6))
        assert engine.account(ACCOUNT).streak.losses == 2
        assert engine.realized_pnl(ACCOUNT) == -200 and engine.lockouts(ACCOUNT) == []
        # The next loss is the third in a row: the cooldown starts.
        actions = engine.evaluate(events.TRADE, trade(6, -100, T0 + timedelta(minutes=7)), T0 + timedelta(minutes=7))
        assert [(a.rule, str(a.kind)) for a in actions if a.lockout is not None] == [("RULE-015", "lockout")]
    finally:
        await p.close(clean=True)
