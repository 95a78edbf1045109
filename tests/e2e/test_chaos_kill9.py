"""kill -9 at random moments, trading while the daemon is down, restart: nothing lost, nothing owed
(issue 8, section 3), with real processes (simulator, daemon child process, SQLite file).

Every iteration takes two fresh accounts. While the daemon watches, the script trades on them
(small round trips, sometimes a daily loss past the limit, a position over the size limit) and
kills the daemon with SIGKILL at a random point of that script, often while an enforcement is in
flight; sometimes its hubs are cut off first (a daily loss that goes past the limit and comes back
during the gap). While it is down: a daily loss that goes past the limit and comes back, a position
over the limit, fills on older accounts. Sometimes the daemon is killed again during its start-up. After the
restart that is let finish, every account so far must agree to the cent between the broker, the
daemon's snapshot and its database (``agreement.py``), every lockout owed must be in force with the
live reason, and no enforcement record may be left unfinished.

Seeded: the seed is printed (and named in any failure). ``RM_CHAOS_SEED`` replays a run,
``RM_CHAOS_ITERATIONS`` (default 8) makes a longer one.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from pathlib import Path

from risk_manager.procs import daemon_command

from .harness import Proc, Simulator
from .rig import Rig, lose_then_recover, round_trip

ITERATIONS = int(os.environ.get("RM_CHAOS_ITERATIONS") or 8)
SEED = int(os.environ.get("RM_CHAOS_SEED") or random.SystemRandom().randrange(2**32))
FIRST = 7001

Step = Callable[[], None]


def live_script(rng: random.Random, sim: Simulator, a: int, b: int) -> list[Step]:
    """What the trader does while the daemon watches (shuffled a little)."""
    steps: list[Step] = [
        lambda: round_trip(sim, a, rng.choice([-1.0, -0.4, 0.3, 0.8])),
        lambda: sim.order(b, "MNQ", "buy", 2),  # over the 1-contract limit: closed by the daemon
        lambda: round_trip(sim, b, rng.choice([-0.6, 0.5])),
    ]
    if rng.random() < 0.4:
        steps.append(lambda: round_trip(sim, a, -2.5))  # past the daily loss limit, live
    rng.shuffle(steps)
    return steps


def down_script(rng: random.Random, sim: Simulator, a: int, b: int, older: list[int]) -> list[Step]:
    """What happens while nobody watches."""
    steps: list[Step] = [
        lambda: lose_then_recover(sim, a),  # owed: a RULE-003 lockout with the live reason
        lambda: sim.order(b, "MNQ", "buy", 2),  # owed: a close at the restart
    ]
    if older:
        old = rng.choice(older)
        steps.append(lambda: round_trip(sim, old, rng.choice([-0.7, 0.4])))
        steps.append(lambda: sim.order(rng.choice(older), "MES", "buy", 1))  # allowed, unless locked
    rng.shuffle(steps)
    return steps


async def test_kill9_at_random_points_loses_nothing_and_owes_nothing(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    print(f"\nchaos seed {SEED} ({ITERATIONS} iterations; RM_CHAOS_SEED={SEED} replays it)")
    ids = [FIRST + i for i in range(2 * ITERATIONS)]
    rig = Rig(tmp_path / "chaos", "chaos", ids, per_login=10)
    # Each restart reconciles every account so far; the broker's request budget is not under test here.
    rig.sim.control("POST", "/settings", {"rate_limit_enabled": False})
    started = time.monotonic()
    kills = startup_kills = gaps = 0
    agree_after: list[float] = []
    try:
        rig.start()
        for i in range(ITERATIONS):
            a, b = ids[2 * i], ids[2 * i + 1]
            older = ids[: 2 * i]
            where = f"seed {SEED}, iteration {i}"
            # live trading, killed at a random point of it
            script = live_script(rng, rig.sim, a, b)
            cut = rng.randint(1, len(script))
            for step in script[:cut]:
                step()
            if rng.random() < 0.25:  # a hub gap first: the same fills missed, then caught up live
                rig.sim.control(
                    "POST", "/faults", {"kind": "hub_outage", "duration_s": 1, "userName": rig.login_of[b]}
                )
                lose_then_recover(rig.sim, b)
                gaps += 1
                try:
                    await rig.settle(ids[: 2 * i + 2], timeout=25)
                except AssertionError as exc:
                    raise AssertionError(f"{where} (after a hub gap): {exc}{_log_tail(rig)}") from None
            _pause(rng.choice([0.0, rng.uniform(0.0, 0.01), rng.uniform(0.0, 0.08)]))  # often mid-enforcement
            rig.kill()
            kills += 1
            for step in down_script(rng, rig.sim, a, b, older):
                step()
            if rng.random() < 0.35:  # killed again while starting up (before or after it is ready)
                proc = Proc(daemon_command(rig.config_dir, rig.root))
                _pause(rng.uniform(0.2, 1.8))
                proc.kill()
                startup_kills += 1
                round_trip(rig.sim, rng.choice([a, b]), rng.choice([-0.3, 0.6]))
            rig.start()
            try:
                took = await rig.settle(ids[: 2 * i + 2], timeout=25)
            except AssertionError as exc:
                raise AssertionError(f"{where}: {exc}{_log_tail(rig)}") from None
            agree_after.append(took)
            print(f"iteration {i}: cut after {cut}/{len(script)} steps; agreement {took:.2f} s after ready")
    finally:
        rig.close()
    total = time.monotonic() - started
    print(
        f"chaos seed {SEED}: {kills} kills during trading, {startup_kills} during start-up, {gaps} hub gaps, "
        f"agreement at most {max(agree_after):.2f} s after ready, {total:.1f} s in all"
    )
    assert len(agree_after) == ITERATIONS


def _log_tail(rig: Rig, lines: int = 80) -> str:
    """The end of the daemon's log (every run of it writes there), so a failure in CI explains itself."""
    path = rig.root / "logs" / "daemon.log"
    try:
        tail = path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
    except OSError as exc:
        return f"\n(no daemon log: {exc})"
    return "\n--- daemon.log (last lines) ---\n" + "\n".join(line[:300] for line in tail)


def _pause(seconds: float) -> None:
    """A random instant for the kill (chaos timing, not synchronisation)."""
    time.sleep(seconds)
