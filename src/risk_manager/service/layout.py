"""Where an installed service keeps its files (daemon.md §8.1), optionally under a staging root.

``root`` (Linux ``service install --root DIR``) relocates the whole installation under DIR: the unit,
the account database entries (``DIR/etc/passwd``), the directories, and the paths written into the
unit itself. The result is self-consistent, so the daemon can be started exactly as the unit's
``ExecStart`` says against the staged directories (that is how the Linux tests prove an install
without booting systemd).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from risk_manager.paths import default_config_dir, default_data_dir, default_log_dir
from risk_manager.service.names import UNIT_NAME

CONFIG_FILES = ("accounts.yaml", "risk_config.yaml", "holidays.yaml", "daemon.yaml")
SECRETS_FILE = "secrets.yaml"
ADMIN_HASH_FILE = "admin_password.hash"
DB_FILE = "risk.db"
LOCK_FILE = "daemon.lock"

_LINUX = {
    "config": PurePosixPath("/etc/risk-manager"),
    "data": PurePosixPath("/var/lib/risk-manager"),
    "logs": PurePosixPath("/var/log/risk-manager"),
}


@dataclass(frozen=True)
class Layout:
    config_dir: Path
    data_dir: Path
    log_dir: Path
    #: staging root (Linux only); None for a real installation
    root: Path | None = None

    @classmethod
    def for_service(
        cls,
        root: Path | None = None,
        *,
        platform: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Layout:
        """The service directories of this platform (under ``root`` when given)."""
        if root is not None:
            root = root.resolve()
            return cls(
                root / _LINUX["config"].relative_to("/"),
                root / _LINUX["data"].relative_to("/"),
                root / _LINUX["logs"].relative_to("/"),
                root,
            )
        platform = platform or sys.platform
        return cls(
            default_config_dir(env, platform, mode="service"),
            default_data_dir(env, platform, mode="service"),
            default_log_dir(env, platform, mode="service"),
        )

    # ----- files ---------------------------------------------------------------------------------
    @property
    def secrets_path(self) -> Path:
        return self.config_dir / SECRETS_FILE

    @property
    def admin_hash_path(self) -> Path:
        return self.config_dir / ADMIN_HASH_FILE

    @property
    def db_path(self) -> Path:
        return self.data_dir / DB_FILE

    @property
    def lock_path(self) -> Path:
        return self.data_dir / LOCK_FILE

    @property
    def system_root(self) -> Path:
        return self.root if self.root is not None else Path("/")

    @property
    def unit_path(self) -> Path:
        return self.system_root / "etc" / "systemd" / "system" / UNIT_NAME

    @property
    def config_backups(self) -> Path:
        return self.config_dir / "backups"

    @property
    def data_backups(self) -> Path:
        return self.data_dir / "backups"

    def directories(self) -> dict[str, str]:
        return {"config": str(self.config_dir), "data": str(self.data_dir), "logs": str(self.log_dir)}
