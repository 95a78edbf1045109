"""The throwaway configuration of the demo: the simulator's demo users and a rule set whose limits
make each step of the simulator's ``demo`` scenario breach as intended (spec/gateway.md §6.8),
including RULE-013's floor with a reduce-only rung and RULE-014's weekly figure (issue 15)."""

from __future__ import annotations

from pathlib import Path

DEMO_USER = "demo"
DEMO_KEY = "demo-key"

RISK_CONFIG = """\
# Demo rule set: tight limits so the scripted trader breaks them within minutes.
version: 1
global:
  include_fees: false
  max_quote_age_seconds: 10
  warn_at_percent: [80, 90]
rules:
  max_contracts: {enabled: true, limit: 10, count_type: net, enforcement: close_all}
  max_contracts_per_instrument:
    enabled: true
    limits: {MNQ: 4, MES: 3, ES: 1, NQ: 1}
    enforcement: reduce_to_limit
    unknown_symbol_action: "allow_with_limit:2"
  daily_realized_loss: {enabled: true, loss_limit: 400.00, lockout_until: daily_reset}
  daily_unrealized_loss: {enabled: true, loss_limit: 250.00, scope: per_position}
  max_unrealized_profit: {enabled: true, mode: profit_target, profit_target: 2000.00, scope: per_position}
  trade_frequency_limit:
    enabled: true
    per_minute: {limit: 10, cooldown_seconds: 60}
    per_hour: {limit: 100, cooldown_seconds: 600}
    per_session: {limit: 200}
  cooldown_after_loss: {enabled: false}
  no_stop_loss_grace: {enabled: true, grace_period_seconds: 20}
  session_block_outside: {enabled: false}
  auth_loss_guard: {enabled: true, auto_unlock_on_restore: true}
  symbol_blocks: {enabled: true, blocked_symbols: [CL], close_existing: true}
  trade_management: {enabled: false}
  # The firm's trailing maximum loss: the floor sits at 49,000 (EOD mode: intraday highs do not move
  # it); the Overview's Floor line shows it coming closer all day. From 50 % of the room used (net
  # 49,500) the ladder puts the account on reduce-only (exits only): the last slide of the story.
  trailing_drawdown:
    enabled: true
    mode: eod
    max_drawdown: 1000.00
    lock_at_start: true
    ladder: {reduce_only_at: 50}
  weekly_limits: {enabled: true, loss_limit: 1500.00}
"""


def accounts_yaml(api_url: str, user_hub_url: str, market_hub_url: str) -> str:
    return f"""\
version: 1
gateway:
  environment: custom
  api_url: {api_url}
  user_hub_url: {user_hub_url}
  market_hub_url: {market_hub_url}
logins:
  - name: demo
    user_name: {DEMO_USER}
    accounts:
      - {{id: 1001, name: "50KTC-V2-1001", reset_time: "17:00", timezone: America/Chicago}}
      - {{id: 1002, name: "50KTC-V2-1002", reset_time: "17:00", timezone: America/Chicago}}
"""


def write_demo_config(directory: Path, api_url: str, user_hub_url: str, market_hub_url: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "risk_config.yaml").write_text(RISK_CONFIG, encoding="utf-8")
    (directory / "accounts.yaml").write_text(
        accounts_yaml(api_url, user_hub_url, market_hub_url), encoding="utf-8"
    )
    secrets = directory / "secrets.yaml"
    secrets.write_text(f'api_keys:\n  "{DEMO_USER}": "{DEMO_KEY}"\n', encoding="utf-8")
    secrets.chmod(0o600)
