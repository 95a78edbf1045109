"""The rules the engine runs, in evaluation order: the one place rule ids and config keys come from.

Each rule is a small plugin (``rules/base.py``); adding one is a new module plus a line here and its
block in ``config/models.py`` (a test ties the three together with the docs).
"""

from __future__ import annotations

from risk_manager.engine.rules.auth_loss_guard import AuthLossGuard
from risk_manager.engine.rules.base import Rule
from risk_manager.engine.rules.consecutive_losses import ConsecutiveLosses
from risk_manager.engine.rules.cooldown_after_loss import CooldownAfterLoss
from risk_manager.engine.rules.daily_realized_loss import DailyRealizedLoss
from risk_manager.engine.rules.daily_unrealized_loss import DailyUnrealizedLoss
from risk_manager.engine.rules.max_contracts import MaxContracts
from risk_manager.engine.rules.max_contracts_per_instrument import MaxContractsPerInstrument
from risk_manager.engine.rules.max_unrealized_profit import MaxUnrealizedProfit
from risk_manager.engine.rules.no_stop_loss_grace import NoStopLossGrace
from risk_manager.engine.rules.session_block import SessionBlockOutside
from risk_manager.engine.rules.symbol_blocks import SymbolBlocks
from risk_manager.engine.rules.trade_frequency import TradeFrequencyLimit
from risk_manager.engine.rules.trade_management import TradeManagement
from risk_manager.engine.rules.trailing_drawdown import TrailingDrawdown
from risk_manager.engine.rules.weekly_limits import WeeklyLimits

RULES: tuple[Rule, ...] = (
    MaxContracts(),
    MaxContractsPerInstrument(),
    DailyRealizedLoss(),
    DailyUnrealizedLoss(),
    MaxUnrealizedProfit(),
    TradeFrequencyLimit(),
    CooldownAfterLoss(),
    NoStopLossGrace(),
    SessionBlockOutside(),
    AuthLossGuard(),
    SymbolBlocks(),
    TradeManagement(),
    TrailingDrawdown(),
    WeeklyLimits(),
    ConsecutiveLosses(),
)

#: the rules that react to quotes
PRICE_RULES: tuple[Rule, ...] = tuple(r for r in RULES if r.price_driven)
#: rule id -> rule ("RULE-003" -> DailyRealizedLoss())
RULES_BY_ID: dict[str, Rule] = {rule.rule_id: rule for rule in RULES}
#: config block name -> rule id ("daily_realized_loss" -> "RULE-003")
RULE_IDS: dict[str, str] = {rule.config_key: rule.rule_id for rule in RULES}
