"""Rule ids come from one place: the rulebook, the config schema and the docs agree."""

from __future__ import annotations

import re
from pathlib import Path

from risk_manager.config.models import RULE_KEYS, RulesConfig
from risk_manager.engine.rulebook import RULE_IDS, RULES, RULES_BY_ID

DOCS = Path(__file__).resolve().parents[2] / "docs" / "engine.md"


def test_every_rule_has_its_config_block_and_every_block_its_rule() -> None:
    assert [r.config_key for r in RULES] == list(RulesConfig.model_fields) == list(RULE_KEYS)
    assert list(RULE_IDS) == list(RULE_KEYS)


def test_rule_ids_are_unique_and_numbered_in_order() -> None:
    ids = [r.rule_id for r in RULES]
    assert ids == [f"RULE-{n:03d}" for n in range(1, len(RULES) + 1)]
    assert set(RULES_BY_ID) == set(ids)


def test_the_docs_table_names_each_rule_with_its_block_and_module() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for rule in RULES:
        module = type(rule).__module__.rsplit(".", 1)[-1]
        row = rf"\| {rule.rule_id} \| `{rule.config_key}` \| `rules/{module}\.py` \|"
        assert re.search(row, text), f"docs/engine.md has no row for {rule.rule_id} ({rule.config_key})"
