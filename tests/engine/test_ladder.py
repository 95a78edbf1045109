"""docs/rules-extra.md §4, the action ladder: examples L-a..L-f through the replay runner, and the
``reduce_only`` lockout kind in the gate (exits allowed, anything that grows exposure flattened)."""

from __future__ import annotations

from typing import Any

from risk_manager.engine.lockouts import Lockout, LockoutBook, LockoutKind, LockoutScope
from tests.engine.conftest import (
    ES,
    MNQ,
    T0,
    Session,
    config,
    ct,
    enforcement,
    order,
    pos,
    quote,
    shape,
    trade,
    z,
)
from tests.engine.test_acceptance import ACCOUNT, ORDER, POSITION, QUOTE, TRADE, S

RESET_AT = ct(2026, 11, 17, 17, 0)
LADDER_003 = {"loss_limit": 500, "ladder": {"warn_at": [50], "reduce_only_at": 80}}


def rung(actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        a["lockout"] for a in actions if a["action"] == "lockout" and a["lockout"]["kind"] == "reduce_only"
    ]


def test_L_a() -> None:
    """RULE-003 500 with warn at 50 %, reduce-only from 80 %."""
    s = Session(config({"daily_realized_loss": LADDER_003}))
    s.feed(T0, POSITION, pos(MNQ, 1, 21000.0, T0))
    s.feed(T0, ORDER, order(11, MNQ, side=1, otype=4, stop=20990.0))  # protective sell stop
    s.feed(T0, ORDER, order(12, MNQ, side=0, otype=1, limit=20950.0))  # entry: buy limit
    out = s.feed(T0 + S, TRADE, trade(1, -260.0, T0 + S))
    assert [(a["action"], a["reason"]) for a in out] == [
        ("warn", "daily realized loss at 50% of limit: 260.00 of 500.00")
    ]
    out = s.feed(T0 + 2 * S, TRADE, trade(2, -150.0, T0 + 2 * S))  # 410 = 82 %
    assert shape(out) == [("RULE-003", "cancel_order", 12), ("RULE-003", "lockout", None)]
    assert rung(out) == [{"scope": "account", "kind": "reduce_only", "until": z(RESET_AT)}]
    assert "reached the reduce-only rung at 80%" in out[0]["reason"]
    # While reduce-only: entries are cancelled, protective orders stay, growth is flattened.
    assert shape(s.feed(T0 + 3 * S, ORDER, order(13, MNQ, side=0, otype=1, limit=20940.0))) == [
        ("LOCKOUT", "cancel_order", 13)
    ]
    assert shape(s.feed(T0 + 4 * S, ORDER, order(14, MNQ, side=1, otype=4, stop=20980.0))) == []
    assert shape(s.feed(T0 + 5 * S, POSITION, pos(MNQ, 2, 21000.0, T0))) == [
        ("LOCKOUT", "close_position", MNQ)
    ]
    flat = {
        "action": 1,
        "data": {"id": 1, "accountId": 123, "contractId": MNQ, "type": 1, "size": 0, "averagePrice": 0},
    }
    assert shape(s.feed(T0 + 6 * S, POSITION, flat)) == []  # an exit is never blocked
    # At 100 % the rule's own action: the strongest rung applies.
    out = s.feed(T0 + 7 * S, TRADE, trade(3, -100.0, T0 + 7 * S))  # 510 > 500
    assert shape(out) == [
        ("RULE-003", "close_all", None),
        ("RULE-003", "cancel_all", None),
        ("RULE-003", "lockout", None),
    ]
    assert [lock.kind for lock in s.engine.lockouts(123)] == ["reduce_only", "until_reset"]
    # Both end at the reset.
    s.tick(RESET_AT + S)
    assert s.engine.lockouts(123) == []
    assert sorted(a["rule"] for a in s.log if a["action"] == "unlock") == ["RESET", "RULE-003"]


def test_L_b() -> None:
    """Without a ladder nothing changes: the global 80/90 % warnings, no reduce-only."""
    s = Session(config({"daily_realized_loss": {"loss_limit": 500}}))
    out = s.feed(T0, TRADE, trade(1, -260.0, T0)) + s.feed(T0 + S, TRADE, trade(2, -150.0, T0 + S))
    assert [a["reason"] for a in out] == ["daily realized loss at 80% of limit: 410.00 of 500.00"]
    assert s.engine.lockouts(123) == []


def test_L_c() -> None:
    """RULE-013 with reduce-only from 75 % of the room: net 48,500 against a 48,000 floor."""
    rule = {
        "mode": "intraday",
        "max_drawdown": 2000,
        "lock_at_start": False,
        "ladder": {"reduce_only_at": 75},
    }
    s = Session(config({"trailing_drawdown": rule}))
    s.feed(T0, ACCOUNT, {"id": 123, "name": "A", "balance": 50000.0, "canTrade": True})
    s.feed(T0 + S, POSITION, pos(ES, 1, 6000.0, T0 + S))
    assert enforcement(s.feed(T0 + 2 * S, QUOTE, quote(ES, 5970.25))) == []  # 1,487.50 used: 74 %
    out = s.feed(T0 + 3 * S, QUOTE, quote(ES, 5970.0))  # 1,500 of 2,000 used
    assert rung(out) == [{"scope": "account", "kind": "reduce_only", "until": z(RESET_AT)}]
    assert enforcement(s.feed(T0 + 4 * S, QUOTE, quote(ES, 5969.0))) == []  # set once


def test_L_d() -> None:
    """RULE-015: warn after the 1st loss (33 %), reduce-only after the 2nd (66 %); a win restarts
    the streak but not the rung; the 3rd loss in a row starts the cooldown."""
    rule = {"max_losses": 3, "cooldown_seconds": 600, "ladder": {"warn_at": [30], "reduce_only_at": 60}}
    s = Session(config({"consecutive_losses": rule}))
    out = s.feed(T0, TRADE, trade(1, -10.0, T0))
    assert [a["action"] for a in out] == ["warn"] and "1 of 3" in out[0]["reason"]
    out = s.feed(T0 + S, TRADE, trade(2, -10.0, T0 + S))
    assert rung(out) == [{"scope": "account", "kind": "reduce_only", "until": z(RESET_AT)}]
    assert enforcement(s.feed(T0 + 2 * S, TRADE, trade(3, 25.0, T0 + 2 * S))) == []
    out = []
    for i in range(4, 7):
        out += enforcement(s.feed(T0 + i * S, TRADE, trade(i, -10.0, T0 + i * S)))
    assert [(a["lockout"]["kind"], a["lockout"]["until"]) for a in out] == [
        ("cooldown", z(T0 + 6 * S + 600 * S))
    ]
    assert sorted(str(lock.kind) for lock in s.engine.lockouts(123)) == ["cooldown", "reduce_only"]


def test_L_e() -> None:
    """RULE-004 total with reduce-only from 50 %: decided on the quote, fast path or not."""
    for fast in (True, False):
        s = Session(
            config(
                {
                    "daily_unrealized_loss": {
                        "loss_limit": 300,
                        "scope": "total",
                        "ladder": {"reduce_only_at": 50},
                    }
                }
            )
        )
        s.engine.state.quiet_bands = fast
        s.feed(T0, POSITION, pos(MNQ, 2, 21000.0, T0))
        assert enforcement(s.feed(T0 + S, QUOTE, quote(MNQ, 20970.0))) == []  # -120: 40 %
        assert enforcement(s.feed(T0 + 2 * S, QUOTE, quote(MNQ, 20962.75))) == []  # -149: 49.7 %
        out = s.feed(T0 + 3 * S, QUOTE, quote(MNQ, 20962.5))  # -150: 50 %
        assert rung(out) == [{"scope": "account", "kind": "reduce_only", "until": z(RESET_AT)}], fast


def test_L_f() -> None:
    """RULE-014 reduce-only until the week's end; RULE-006 per-session count with a ladder."""
    s = Session(config({"weekly_limits": {"loss_limit": 1000, "ladder": {"reduce_only_at": 75}}}))
    out = s.feed(T0, TRADE, trade(1, -800.0, T0))
    assert rung(out) == [{"scope": "account", "kind": "reduce_only", "until": "2026-11-22T23:00:00Z"}]
    s.tick(ct(2026, 11, 18, 17, 0) + S)  # a daily reset does not end a weekly rung
    assert [str(lock.kind) for lock in s.engine.lockouts(123)] == ["reduce_only"]
    s = Session(
        config(
            {
                "trade_frequency_limit": {
                    "per_minute": None,
                    "per_hour": None,
                    "per_session": {"limit": 4},
                    "ladder": {"reduce_only_at": 75},
                }
            }
        )
    )
    outs = [s.feed(T0 + i * S, TRADE, trade(i, 1.0, T0 + i * S)) for i in range(1, 4)]
    assert [len(rung(o)) for o in outs] == [0, 0, 1]  # 3 of 4


def test_reduce_only_is_soft_and_its_own_record() -> None:
    book = LockoutBook()

    def lock(kind: LockoutKind, until: Any) -> Lockout:
        return Lockout("L1", 123, "RULE-003", LockoutScope.ACCOUNT, kind, until, "r", T0)

    assert book.add(lock(LockoutKind.REDUCE_ONLY, RESET_AT)) is not None
    assert not book.has_hard() and book.reduce_only() is not None and book.cooldowns() == []
    assert book.add(lock(LockoutKind.UNTIL_RESET, RESET_AT)) is not None  # beside it, not merged
    assert len(book) == 2 and book.hard() is not None
    assert LockoutKind.REDUCE_ONLY.family == "reduce_only" and LockoutKind.REDUCE_ONLY.clears_on == "time"
    assert LockoutKind.from_columns("reduce_only", "time") is LockoutKind.REDUCE_ONLY
    assert LockoutKind.UNTIL_WEEK_END.family == "hard"


def test_reduce_only_keeps_what_was_held_through_a_reconcile_but_not_a_reopen() -> None:
    s = Session(config({"daily_realized_loss": LADDER_003}))
    s.feed(T0, POSITION, pos(MNQ, 2, 21000.0, T0))
    s.feed(T0 + S, TRADE, trade(1, -410.0, T0 + S))  # the rung, with MNQ long 2 held
    assert rung(s.log)
    snapshot = {"positions": [pos(MNQ, 2, 21000.0, T0)["data"]], "orders": [], "trades": []}
    out = [a.to_dict() for a in s.engine.reconcile_account(123, T0 + 2 * S, **snapshot)]
    assert shape(out) == []  # held before the rung: not new exposure
    assert shape(s.feed(T0 + 3 * S, POSITION, pos(MNQ, 1, 21000.0, T0))) == []  # an exit
    # Back to 2 is growth beyond the smallest size held since the rung.
    assert shape(s.feed(T0 + 4 * S, POSITION, pos(MNQ, 2, 21000.0, T0))) == [
        ("LOCKOUT", "close_position", MNQ)
    ]
