"""Write the commented template config files (``risk-manager init``) without clobbering an admin's edits."""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from risk_manager.config.loader import ALL_FILES, SECRETS_FILE


def template_text(name: str) -> str:
    """The packaged template ``name`` (one of ``ALL_FILES``)."""
    if name not in ALL_FILES:
        raise ValueError(f"no template named {name!r}")
    return files("risk_manager.config").joinpath("templates", name).read_text(encoding="utf-8")


@dataclass(frozen=True)
class Written:
    path: Path
    status: str  # "created" | "overwritten" | "kept"


def _write_atomic(path: Path, data: bytes, private: bool) -> None:
    # Write beside the target and rename, so a crash never leaves half a config file; the secrets
    # file is created owner-only from the first byte (the mode is ignored on Windows, where the
    # installer sets ACLs).
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(
        tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), 0o600 if private else 0o644
    )
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_templates(config_dir: Path, force: bool = False) -> list[Written]:
    """Create ``config_dir`` and every template missing there; with ``force`` replace existing files too.

    Raises OSError (e.g. PermissionError) when the directory or a file cannot be written.
    """
    config_dir.mkdir(parents=True, exist_ok=True)
    out: list[Written] = []
    for name in ALL_FILES:
        path = config_dir / name
        exists = path.exists()
        if exists and not force:
            out.append(Written(path, "kept"))
            continue
        _write_atomic(path, template_text(name).encode("utf-8"), private=name == SECRETS_FILE)
        out.append(Written(path, "overwritten" if exists else "created"))
    return out
