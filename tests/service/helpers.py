"""Shared pieces of the service tests: a staging root, a configuration against the simulator, the
admin password file, free ports, and running code as another (real, unprivileged) user."""

from __future__ import annotations

import functools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from argon2 import PasswordHasher

from tests.e2e.harness import write_config
from tests.e2e.rulesets import accounts_for, all_disabled

ADMIN_PASSWORD = "correct horse battery staple"
PY = sys.executable
# The trader's standard account in the tamper tests: Debian's unprivileged "nobody".
NOBODY_UID = 65534
NOBODY_GID = 65534


def not_root() -> str | None:
    """Why the installer tests cannot run here (they need root on a POSIX system), or None."""
    if os.name != "posix":
        return "the Linux installer (the Windows one: test_windows_*.py)"
    return None if os.geteuid() == 0 else "installs need root"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def staging_root() -> Iterator[Path]:
    """A world-traversable temporary root (pytest's tmp dirs are 0700: other users could not enter)
    whose etc/passwd and etc/group start as copies of this machine's, so the service account the
    installer allocates there has ids nobody on this machine uses. Removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix="rm-svc-"))
    try:
        os.chmod(root, 0o755)
        etc = root / "etc"
        etc.mkdir()
        for name in ("passwd", "group"):
            shutil.copyfile(f"/etc/{name}", etc / name)
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def write_service_config(
    config_dir: Path,
    urls: dict[str, str],
    users: dict[str, tuple[str, list[int]]],
    *,
    api_port: int | None = None,
    password: bool = True,
) -> Path:
    logins = [{"name": n, "user_name": n, "accounts": accounts_for(ids)} for n, (_, ids) in users.items()]
    write_config(config_dir, urls, logins, all_disabled(), {n: key for n, (key, _) in users.items()})
    if api_port is not None:
        (config_dir / "daemon.yaml").write_text(
            json.dumps({"version": 1, "api": {"host": "127.0.0.1", "port": api_port}}), encoding="utf-8"
        )
    if password:
        hash_file = config_dir / "admin_password.hash"
        hash_file.write_text(PasswordHasher().hash(ADMIN_PASSWORD) + "\n", encoding="utf-8")
        hash_file.chmod(0o600)  # as the admin console writes it (the daemon refuses a readable one)
    return config_dir


def as_user(uid: int, gid: int, args: list[str]) -> list[str]:
    """``args`` run as uid:gid (supplementary groups: gid only) without capabilities (util-linux
    setpriv), as systemd's ``User=``/``Group=`` would start them."""
    return ["setpriv", f"--reuid={uid}", f"--regid={gid}", f"--groups={gid}", "--inh-caps=-all", "--", *args]


def run_as(
    uid: int, gid: int, code: str, *, args: list[str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Python ``code`` (with ``args``) run as another user; its stdout is the result."""
    return subprocess.run(
        as_user(uid, gid, [PY, "-c", code, *(args or [])]),
        capture_output=True,
        text=True,
        timeout=timeout,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        cwd="/",
        check=False,
    )


@functools.cache
def can_run_as_nobody() -> str | None:
    """None when this interpreter and package work for an unprivileged user, else why not."""
    if os.name != "posix":
        return "POSIX users and modes (the Windows equivalents: test_windows_*.py)"
    if os.geteuid() != 0:
        return "needs root (creates users, changes owners)"
    if shutil.which("setpriv") is None:
        return "setpriv (util-linux) is not installed"
    proc = run_as(NOBODY_UID, NOBODY_GID, "import risk_manager; print('ok')", timeout=30)
    if proc.stdout.strip() != "ok":
        return f"this Python environment is not usable by an unprivileged user: {proc.stderr.strip()[-300:]}"
    return None
