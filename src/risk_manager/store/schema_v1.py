"""Migration 1: the tables of spec/daemon.md §6.2.

Additions to the spec's columns (additive, documented in docs/persistence.md):
``lockouts.engine_id`` (the engine's own lockout id, e.g. ``L7``, which the daemon reports and the
engine uses to clear it) and ``lockouts.baseline`` (a cooldown's exposure baseline, needed to restore
it); index ``trades(account_id, trading_day)`` for the history query.
"""

from __future__ import annotations

STATEMENTS: tuple[str, ...] = (
    """CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT
    )""",
    """CREATE TABLE schema_migrations (
        version INTEGER PRIMARY KEY,
        applied_at TEXT NOT NULL,
        product_version TEXT,
        description TEXT,
        backup_file TEXT,
        duration_ms INTEGER
    )""",
    """CREATE TABLE accounts (
        account_id INTEGER PRIMARY KEY,
        login TEXT,
        name TEXT,
        nickname TEXT,
        enabled INTEGER NOT NULL DEFAULT 1,
        observe_only INTEGER NOT NULL DEFAULT 0,
        can_trade INTEGER,
        balance TEXT,
        simulated INTEGER,
        protection TEXT,
        protection_reason TEXT,
        updated_at TEXT
    )""",
    """CREATE TABLE day_state (
        account_id INTEGER PRIMARY KEY,
        trading_day TEXT,
        reset_time TEXT,
        timezone TEXT,
        last_reset_at TEXT,
        next_reset_at TEXT
    )""",
    """CREATE TABLE lockouts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        account_id INTEGER NOT NULL,
        rule_id TEXT NOT NULL,
        scope TEXT NOT NULL,
        symbol TEXT,
        kind TEXT NOT NULL,
        created_at TEXT NOT NULL,
        until TEXT,
        clears_on TEXT NOT NULL,
        trading_day TEXT,
        reason TEXT,
        seen TEXT,
        observed INTEGER NOT NULL DEFAULT 0,
        active INTEGER NOT NULL DEFAULT 1,
        cleared_at TEXT,
        cleared_by TEXT,
        clear_reason TEXT,
        cleared_by_user TEXT,
        engine_id TEXT,
        baseline TEXT
    )""",
    "CREATE INDEX lockouts_account_active ON lockouts (account_id, active)",
    "CREATE INDEX lockouts_created ON lockouts (created_at)",
    """CREATE TABLE daily_pnl (
        account_id INTEGER NOT NULL,
        trading_day TEXT NOT NULL,
        realized TEXT NOT NULL,
        fees TEXT NOT NULL,
        trade_count INTEGER NOT NULL,
        winning INTEGER NOT NULL,
        losing INTEGER NOT NULL,
        max_net TEXT,
        min_net TEXT,
        updated_at TEXT,
        PRIMARY KEY (account_id, trading_day)
    )""",
    """CREATE TABLE trades (
        trade_id INTEGER PRIMARY KEY,
        account_id INTEGER NOT NULL,
        contract_id TEXT NOT NULL,
        symbol TEXT,
        trading_day TEXT,
        executed_at TEXT,
        side INTEGER,
        size INTEGER,
        price TEXT,
        pnl TEXT,
        fees TEXT,
        voided INTEGER NOT NULL DEFAULT 0,
        order_id INTEGER,
        received_at TEXT
    )""",
    "CREATE INDEX trades_account_executed ON trades (account_id, executed_at)",
    "CREATE INDEX trades_account_day ON trades (account_id, trading_day)",
    """CREATE TABLE positions (
        account_id INTEGER NOT NULL,
        contract_id TEXT NOT NULL,
        position_id INTEGER,
        type INTEGER,
        size INTEGER,
        average_price TEXT,
        opened_at TEXT,
        updated_at TEXT,
        confirmed_at TEXT,
        PRIMARY KEY (account_id, contract_id)
    )""",
    """CREATE TABLE orders (
        order_id INTEGER PRIMARY KEY,
        account_id INTEGER NOT NULL,
        contract_id TEXT,
        type INTEGER,
        side INTEGER,
        size INTEGER,
        limit_price TEXT,
        stop_price TEXT,
        status INTEGER,
        custom_tag TEXT,
        created_at TEXT,
        updated_at TEXT
    )""",
    """CREATE TABLE contracts (
        contract_id TEXT PRIMARY KEY,
        symbol TEXT,
        name TEXT,
        description TEXT,
        tick_size TEXT,
        tick_value TEXT,
        fetched_at TEXT
    )""",
    """CREATE TABLE enforcement_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        created_at TEXT NOT NULL,
        account_id INTEGER NOT NULL,
        trading_day TEXT,
        rule_id TEXT,
        action TEXT NOT NULL,
        target TEXT,
        key TEXT NOT NULL UNIQUE,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        reason TEXT,
        seen TEXT,
        result TEXT,
        first_request_ms REAL,
        confirmed_ms REAL,
        event_id TEXT,
        lockout_id INTEGER,
        completed_at TEXT
    )""",
    "CREATE INDEX enforcement_account_created ON enforcement_log (account_id, created_at)",
    "CREATE INDEX enforcement_state ON enforcement_log (state)",
    """CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        actor TEXT,
        peer TEXT,
        action TEXT NOT NULL,
        target TEXT,
        before TEXT,
        after TEXT,
        reason TEXT,
        outcome TEXT
    )""",
    "CREATE INDEX audit_at ON audit_log (at)",
    """CREATE TABLE pnl_samples (
        account_id INTEGER NOT NULL,
        at TEXT NOT NULL,
        realized TEXT,
        unrealized TEXT,
        PRIMARY KEY (account_id, at)
    )""",
)
