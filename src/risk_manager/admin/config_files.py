"""The console's config editor back end: round-trip YAML, validation, backups and atomic saves (§7.1).

Files are edited as ruamel round-trip documents, so comments, key order, quoting and flow style
survive; only the edited values change. Nothing is written before the complete new configuration
(every file, as it would be after the save) passes the daemon's own loader. A save then backs up each
file it replaces (``backups/<file>.<UTC stamp>.yaml``, newest 50 kept), writes through a temporary
file and an atomic rename, puts the previous permissions back (the secrets file stays owner-only),
and re-reads and re-validates the result before reporting success.
"""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from risk_manager.config.issues import ConfigError, ConfigIssue
from risk_manager.config.loader import (
    ACCOUNTS_FILE,
    RISK_FILE,
    SECRETS_FILE,
    AppConfig,
    validate_texts,
)
from risk_manager.config.secrets import permission_problem
from risk_manager.platform import fileperms

BACKUP_DIR = "backups"
BACKUP_INDEX = "index.jsonl"
KEEP_BACKUPS = 50
EDITABLE = (RISK_FILE, ACCOUNTS_FILE, SECRETS_FILE)
_STAMP = re.compile(r"^(?P<stem>[a-z_]+)\.(?P<stamp>\d{8}T\d{6}Z)(?:-(?P<n>\d+))?\.yaml$")


def yaml_rt() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    return yaml


def load_text(text: str) -> Any:
    """A round-trip document (CommentedMap) from YAML text; ``{}`` for an empty file."""
    data = yaml_rt().load(text)
    return {} if data is None else data


def dump(data: Any) -> str:
    out = io.StringIO()
    yaml_rt().dump(data, out)
    return out.getvalue()


@dataclass(frozen=True)
class Backup:
    name: str
    file: str
    at: datetime
    os_user: str | None
    summary: str | None

    @property
    def time_text(self) -> str:
        return self.at.strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass
class SaveResult:
    backups: dict[str, str]
    config: AppConfig


class SaveRefused(Exception):
    """The new configuration does not validate; nothing was written."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        super().__init__("\n".join(str(i) for i in issues))
        self.issues = issues


def issue_line(issue: ConfigIssue, sep: str = "›") -> str:
    """``risk_config.yaml › rules.daily_realized_loss.loss_limit (line 12): expected …`` (§7.1)."""
    where = f"{issue.file} {sep} {issue.path}" if issue.path else issue.file
    if issue.line is not None:
        where += f" (line {issue.line})"
    return f"{where}: {issue.message}"


class ConfigFiles:
    """The config directory as the console sees it."""

    def __init__(self, config_dir: Path, os_user: str | None = None) -> None:
        self.dir = config_dir
        self.backup_dir = config_dir / BACKUP_DIR
        self.os_user = os_user

    def path(self, name: str) -> Path:
        return self.dir / name

    def exists(self, name: str) -> bool:
        return self.path(name).is_file()

    def text(self, name: str) -> str | None:
        try:
            return self.path(name).read_bytes().decode("utf-8-sig")
        except FileNotFoundError:
            return None

    def document(self, name: str) -> Any:
        """The round-trip document of ``name`` (``{}`` when missing). Raises SaveRefused on bad YAML."""
        text = self.text(name)
        if text is None:
            return {}
        try:
            return load_text(text)
        except (YAMLError, ValueError) as exc:
            raise SaveRefused([ConfigIssue(name, "", None, f"YAML syntax error: {exc}")]) from None

    # ----- validation -----------------------------------------------------------------------------------
    def secrets_hidden(self) -> bool:
        """secrets.yaml exists but this user may not read it (read-only console, no rights)."""
        try:
            with self.path(SECRETS_FILE).open("rb"):
                return False
        except FileNotFoundError:
            return False
        except PermissionError:
            return True

    def validate(self, texts: Mapping[str, str]) -> AppConfig:
        """Validate as the daemon would after the save; SaveRefused lists every problem.

        When the secrets file is not readable (a user without rights, read-only screens), it is left
        out: such a user can look but not save, and keys are never shown anyway.
        """
        texts = dict(texts)
        hidden = SECRETS_FILE not in texts and self.secrets_hidden()
        if hidden:
            texts[SECRETS_FILE] = "version: 1\n"
        try:
            config = validate_texts(self.dir, texts, env=os.environ)
        except ConfigError as exc:
            raise SaveRefused(exc.issues) from None
        missing = [] if hidden else config.missing_api_keys()
        if missing:
            raise SaveRefused(
                [
                    ConfigIssue(
                        SECRETS_FILE,
                        f"api_keys.{login.user_name}",
                        None,
                        f"no API key for login {login.user_name}, which has an enabled account "
                        "(the daemon would reject this configuration)",
                    )
                    for login in missing
                ]
            )
        return config

    def current(self) -> AppConfig:
        """What is on disk now, validated (the re-read after a save uses this too)."""
        return self.validate({})

    # ----- saving ---------------------------------------------------------------------------------------
    def save(self, texts: Mapping[str, str], *, summary: str) -> SaveResult:
        """Validate, back up, write atomically (secrets first), re-read and re-validate."""
        self.validate(texts)
        order = sorted(texts, key=lambda n: 0 if n == SECRETS_FILE else 1)
        backups: dict[str, str] = {}
        for name in order:
            if self.text(name) == texts[name]:
                continue
            backup = self._backup(name, summary)
            if backup is not None:
                backups[name] = backup
            self._write(name, texts[name])
        config = self.current()  # re-read what is on disk now
        for name in order:
            if self.text(name) != texts[name]:
                raise OSError(f"{self.path(name)} does not hold what was written")
        return SaveResult(backups, config)

    def _write(self, name: str, text: str) -> None:
        path = self.path(name)
        keep = fileperms.capture(path)
        private = name == SECRETS_FILE
        if private and keep is not None and permission_problem(path) is not None:
            keep = None  # too open before: owner-only now
        self.dir.mkdir(parents=True, exist_ok=True)
        fileperms.write_atomic(path, text.encode("utf-8"), private=private, keep=keep)

    # ----- backups --------------------------------------------------------------------------------------
    def _backup(self, name: str, summary: str) -> str | None:
        text = self.text(name)
        if text is None:
            return None
        self.backup_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        now = datetime.now(UTC)
        stem = Path(name).stem
        stamp = now.strftime("%Y%m%dT%H%M%SZ")
        candidate = f"{stem}.{stamp}.yaml"
        n = 1
        while (self.backup_dir / candidate).exists():
            candidate = f"{stem}.{stamp}-{n}.yaml"
            n += 1
        target = self.backup_dir / candidate
        # Owner-only, whatever the original had: backups are for the administrator (the service never
        # reads them; the installer's permission table expects root-only files here).
        fileperms.write_atomic(target, text.encode("utf-8"), private=True)
        entry = {"backup": candidate, "file": name, "time": now.isoformat(), "os_user": self.os_user}
        entry["summary"] = summary
        index = os.open(self.backup_dir / BACKUP_INDEX, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(index, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry) + "\n")
        self._prune(stem)
        return candidate

    def _prune(self, stem: str) -> None:
        mine = [b for b in self.backups_of(f"{stem}.yaml")]
        for old in mine[KEEP_BACKUPS:]:
            try:
                (self.backup_dir / old.name).unlink()
            except OSError:
                pass

    def backups_of(self, name: str) -> list[Backup]:
        """Backups of ``name``, newest first, with who made the change and what it was."""
        stem = Path(name).stem
        index: dict[str, dict[str, Any]] = {}
        try:
            for line in (self.backup_dir / BACKUP_INDEX).read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if isinstance(entry, dict) and "backup" in entry:
                    index[str(entry["backup"])] = entry
        except OSError:
            pass
        out = []
        try:
            names = os.listdir(self.backup_dir)
        except OSError:
            return []
        for file_name in names:
            match = _STAMP.match(file_name)
            if not match or match.group("stem") != stem:
                continue
            at = datetime.strptime(match.group("stamp"), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            meta = index.get(file_name, {})
            out.append(Backup(file_name, name, at, meta.get("os_user"), meta.get("summary")))
        out.sort(key=lambda b: (b.at, int(_STAMP.match(b.name).group("n") or 0)), reverse=True)  # type: ignore[union-attr]
        return out

    def backup_text(self, backup: str) -> str:
        return (self.backup_dir / backup).read_text(encoding="utf-8")

    def find_backup(self, backup: str) -> Backup | None:
        for name in EDITABLE:
            for b in self.backups_of(name):
                if b.name == backup or b.name == Path(backup).name:
                    return b
        return None
