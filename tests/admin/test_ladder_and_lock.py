"""The action ladder and the settings lock through ``admin rules set`` (docs/rules-extra.md §4-§5,
ADMIN_GUIDE.md §6) against a real simulator and daemon of this module's own (the lock changes what
other modules' console tests could do): the rung and warning levels are written and applied live,
removing a rung is a weakening, the lock is switched on in the global settings, and a loosening is
then refused by the daemon with the file, key and line, with how to undo it."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from risk_manager.admin.daemon_client import DaemonClient
from risk_manager.config.loader import load_config

from .env import AdminEnv


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AdminEnv]:
    e = AdminEnv(tmp_path_factory.mktemp("admin-ladder"))
    yield e
    e.close()


def rule_limit(env: AdminEnv, account: int, rule: str) -> str | None:
    """The limit the daemon works with now (its snapshot's rule status)."""
    with DaemonClient(env.api_url).open() as client:
        for acct in client.snapshot["accounts"]:
            if acct["accountId"] == account:
                return next(r["limit"] for r in acct["rules"] if r["ruleId"] == rule)
    return None


def test_ladder_keys_are_set_shown_and_applied(env: AdminEnv) -> None:
    result = env.run("rules", "set", "3", "ladder.reduce_only_at", "80")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "+ ladder.reduce_only_at: 80" in result.stdout and "Applied live" in result.stdout
    assert env.run("rules", "set", "3", "ladder.warn_at", "70, 50").returncode == 0
    shown = json.loads(env.run("rules", "show", "3", "--json").stdout)
    assert shown["ladder"] == {"warn_at": [50, 70], "reduce_only_at": 80}
    ladder = load_config(env.config).risk.rules.daily_realized_loss.ladder
    assert ladder is not None and ladder.reduce_only_at == 80
    panel = env.run("rules", "show", "3").stdout
    assert "ladder.reduce_only_at" in panel and "1-99, off = none" in panel

    too_high = env.run("rules", "set", "3", "ladder.reduce_only_at", "100")
    assert too_high.returncode == 5 and "must be at most 99" in too_high.stderr
    removed = env.run("rules", "set", "3", "ladder.reduce_only_at", "off")
    assert removed.returncode == 1
    assert "Weaker protection: Daily realized loss › ladder.reduce_only_at removed (was 80)" in removed.stdout
    # A ladder on a rule that cannot have one is the daemon's own validation error, with the line.
    per_position = env.run("rules", "set", "4", "ladder.reduce_only_at", "50")
    assert per_position.returncode == 5
    assert "a ladder needs scope: total" in per_position.stderr
    # The firm's numbers of RULE-013 are per account; setting one loosens (rules-extra.md §5.2).
    floor = env.run("rules", "set", "13", "floor", "48600", "--account", "1001")
    assert floor.returncode == 1 and "Trailing drawdown › floor: off → 48600.00" in floor.stdout
    assert env.run("rules", "set", "13", "floor", "48600", "--account", "1001", "--yes").returncode == 0
    assert "floor: 48600.00" in (env.config / "accounts.yaml").read_text()


def test_settings_lock_is_switched_on_and_refuses_a_loosening_until_the_reset(env: AdminEnv) -> None:
    assert env.run("rules", "set", "global", "settings_lock.enabled", "true", "--account", "1001").returncode == 2
    on = env.run("rules", "set", "global", "settings_lock.enabled", "true", "--reason", "no mid-day edits")
    assert on.returncode == 0, on.stdout + on.stderr
    assert "+ settings_lock.enabled: true" in on.stdout and "Applied live" in on.stdout
    assert load_config(env.config).risk.global_.settings_lock.enabled

    looser = env.run("rules", "set", "3", "loss_limit", "800", "--yes", "--reason", "more room")
    assert looser.returncode == 5, looser.stdout + looser.stderr
    text = " ".join((looser.stdout + looser.stderr).split())
    assert "risk_config.yaml › rules.daily_realized_loss.loss_limit (line" in text
    assert "loosening is locked until" in text and "It keeps running with the previous one." in text
    assert "admin config restore --previous --yes; or schedule it for a later day with `pending`" in text
    assert rule_limit(env, 1001, "RULE-003") == "500.00"  # the daemon kept the limit in force

    assert env.run("config", "restore", "--previous", "--yes").returncode == 0
    assert load_config(env.config).risk.rules.daily_realized_loss.loss_limit == 500
    tighter = env.run("rules", "set", "3", "loss_limit", "400")
    assert tighter.returncode == 0 and "Applied live" in tighter.stdout  # tightening is always allowed
    assert rule_limit(env, 1001, "RULE-003") == "400.00"
    off = env.run("rules", "set", "global", "settings_lock.enabled", "false", "--yes")
    assert off.returncode == 5 and "loosening is locked" in off.stdout + off.stderr  # switching it off loosens

