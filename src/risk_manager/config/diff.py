"""What changed between two configurations (for the reload answer and the audit log)."""

from __future__ import annotations

from typing import Any

from risk_manager.config.loader import AppConfig
from risk_manager.config.notify_urls import mask_url

RESTART_PREFIXES = ("daemon.api", "daemon.logging", "daemon.broker")


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), inner, out)
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        for i, inner in enumerate(value):
            _flatten(f"{prefix}[{i}]", inner, out)
    else:
        out[prefix] = value


def _dump(config: AppConfig) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    _flatten("risk", config.risk.model_dump(mode="json", by_alias=True), flat)
    _flatten("accounts", config.accounts.model_dump(mode="json"), flat)
    _flatten("daemon", config.daemon.model_dump(mode="json"), flat)
    flat["holidays"] = sorted(str(d) for d in config.holidays)
    for user in sorted(config.secrets):
        flat[f"secrets.{user}"] = "set"
    return flat


def _is_url_key(key: str) -> bool:
    return key.startswith("daemon.notifications.") and key.endswith("url")


def _shown(key: str, value: Any) -> Any:
    """A notification URL holds its credentials: it is shown masked, like everywhere else."""
    return mask_url(value) if isinstance(value, str) and _is_url_key(key) else value


def diff_configs(old: AppConfig, new: AppConfig) -> tuple[list[str], list[str]]:
    """(changes, restart-required notes); secrets are reported as changed, never shown; notification
    URLs are shown masked."""
    a, b = _dump(old), _dump(new)
    changes: list[str] = []
    restart: list[str] = []
    secret_changed = {
        u for u in set(old.secrets) | set(new.secrets) if old.secrets.get(u) != new.secrets.get(u)
    }
    for key in sorted(set(a) | set(b)):
        if key.startswith("secrets."):
            if key.split(".", 1)[1] in secret_changed:
                changes.append(f"{key}: changed")
            continue
        if a.get(key) != b.get(key):
            before, after = _shown(key, a.get(key)), _shown(key, b.get(key))
            changes.append(f"{key}: changed" if before == after else f"{key}: {before!r} -> {after!r}")
            if key.startswith(RESTART_PREFIXES):
                restart.append(f"{key} applies after a restart.")
    return changes, restart
