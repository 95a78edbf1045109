"""Migration 2 (issue 15, docs/persistence.md): the memory of the rules added after the first twelve.

* ``rule_state``: one JSON object per account and rule (RULE-013's starting balance, floor,
  high-water mark and the configured numbers they came from; RULE-015's losing streak), stamped with
  the trading day it belongs to.
* ``eod_balances``: the net balance at each end of trading day and the drawdown floor after it
  (RULE-013's history; a dispute report can show it).
* ``lockouts.engine_kind``: the engine's exact lockout kind; ``kind``/``clears_on`` no longer tell
  every kind apart (``until_week_end`` and ``until_session_start`` are both (hard, time)).

Weekly P&L (RULE-014) needs no table: it is the sum of the week's ``daily_pnl`` rows, which every
fill already commits.
"""

from __future__ import annotations

STATEMENTS: tuple[str, ...] = (
    "ALTER TABLE lockouts ADD COLUMN engine_kind TEXT",
    """CREATE TABLE rule_state (
        account_id INTEGER NOT NULL,
        rule_id TEXT NOT NULL,
        trading_day TEXT,
        state TEXT NOT NULL,
        updated_at TEXT,
        PRIMARY KEY (account_id, rule_id)
    )""",
    """CREATE TABLE eod_balances (
        account_id INTEGER NOT NULL,
        trading_day TEXT NOT NULL,
        net_balance TEXT NOT NULL,
        floor TEXT,
        recorded_at TEXT,
        PRIMARY KEY (account_id, trading_day)
    )""",
)
