"""API keys: the map that never prints its values, environment overrides, and the file-permission check."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Mapping
from pathlib import Path

from risk_manager.config.issues import ConfigIssue

ENV_SINGLE = "RISK_MANAGER_API_KEY"
ENV_MANY = "RISK_MANAGER_API_KEYS"
SERVICE_GROUPS = frozenset({"riskmanager", "risk-manager"})


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
    """Why ``path`` is readable by too many users, or None. POSIX only: on Windows the installer sets ACLs.

    Group read is fine when the group is the service group (the service install uses ``0640
    root:riskmanager``); any other group or world access is reported.
    """
    if os.name == "nt":
        return None
    try:
        info = path.stat()
    except OSError:
        return None
    mode = stat.S_IMODE(info.st_mode)
    if mode & stat.S_IROTH:
        return f"is readable by every user (mode {mode:04o}); run: chmod 600 {path}"
    if mode & stat.S_IRGRP:
        import grp  # POSIX only; imported here so the module loads on Windows

        try:
            group = grp.getgrgid(info.st_gid).gr_name
        except KeyError:
            group = str(info.st_gid)
        if group not in SERVICE_GROUPS:
            return f"is readable by group {group!r} (mode {mode:04o}); run: chmod 600 {path}"
    return None
