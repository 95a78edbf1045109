"""API keys: the map that never prints its values, environment overrides, and the file-permission check."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from risk_manager.config.issues import ConfigIssue
from risk_manager.platform.permissions import secret_file_problem

ENV_SINGLE = "RISK_MANAGER_API_KEY"
ENV_MANY = "RISK_MANAGER_API_KEYS"


def mask(secret: str) -> str:
    """The last 4 characters only, as everywhere keys are shown (spec/daemon.md §7.2)."""
    return "••••" + secret[-4:] if len(secret) > 8 else "••••"


class SecretMap(dict[str, str]):
    """``user_name -> API key``. Its repr and str name the users, never the keys."""

    def __repr__(self) -> str:
        return "SecretMap({" + ", ".join(f"{user!r}: '***'" for user in self) + "})"

    __str__ = __repr__


def env_overrides(env: Mapping[str, str], user_names: list[str]) -> tuple[dict[str, str], list[ConfigIssue]]:
    """Keys from ``RISK_MANAGER_API_KEYS`` (JSON object) and ``RISK_MANAGER_API_KEY`` (single login).

    Errors never quote the variable's content: it is a secret.
    """
    keys: dict[str, str] = {}
    issues: list[ConfigIssue] = []
    many = env.get(ENV_MANY)
    if many:
        try:
            parsed = json.loads(many)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict) and all(
            isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in parsed.items()
        ):
            keys.update({k: v.strip() for k, v in parsed.items()})
        else:
            issues.append(
                ConfigIssue(
                    "environment", ENV_MANY, None, 'expected a JSON object {"user_name": "api key", ...}'
                )
            )
    single = env.get(ENV_SINGLE)
    if single and single.strip():
        if len(user_names) == 1:
            keys[user_names[0]] = single.strip()
        else:
            issues.append(
                ConfigIssue(
                    "environment",
                    ENV_SINGLE,
                    None,
                    f"applies only with exactly one login, but accounts.yaml has {len(user_names)}; "
                    f"use {ENV_MANY} instead",
                )
            )
    return keys, issues


def permission_problem(path: Path) -> str | None:
    """Why ``path`` is readable by too many users, or None (``platform.permissions`` decides: POSIX
    modes and the service group, Windows ACLs)."""
    return secret_file_problem(path)
