"""The systemd unit (daemon.md §10.2), rendered from the command line and the directories.

Decision: ``UMask=0022``, not the ``0027`` of the §10.2 sample. §11 requires the trader's standard
account to read ``risk.db`` and the logs (the offline dashboard), and every file the daemon creates
(rotated logs, the database's side files, backups) takes its mode from the umask; ``0027`` would
hide them from the trader after the first log rotation. Nothing secret is created by the daemon:
the config directory (secrets, password hash) is root-owned, read-only to the service, and its
modes are set by the installer, not by the umask.
"""

from __future__ import annotations

from collections.abc import Sequence

from risk_manager.service.layout import Layout
from risk_manager.service.names import SERVICE_GROUP, SERVICE_USER, SYSLOG_IDENTIFIER, UNIT_DESCRIPTION

UMASK = "0022"
WATCHDOG_S = 30

HARDENING = (
    "NoNewPrivileges=yes",
    "ProtectSystem=strict",
    "ProtectHome=yes",
    "PrivateTmp=yes",
    "PrivateDevices=yes",
    "ProtectKernelTunables=yes",
    "ProtectKernelModules=yes",
    "ProtectControlGroups=yes",
    "RestrictNamespaces=yes",
    "LockPersonality=yes",
    "CapabilityBoundingSet=",
    "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
)


def quote_arg(arg: str, *, command: bool = True) -> str:
    """One word of a systemd command line or path list: ``%`` specifiers and (in commands) ``$``
    expansion escaped, quoted when it holds whitespace or quotes."""
    text = arg.replace("%", "%%")
    if command:
        text = text.replace("$", "$$")
    if text and not any(c.isspace() or c in "\"'\\;" for c in text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_unit(command: Sequence[str], layout: Layout) -> str:
    exec_start = " ".join(quote_arg(a) for a in command)
    read_only = quote_arg(str(layout.config_dir), command=False)
    read_write = " ".join(quote_arg(str(p), command=False) for p in (layout.data_dir, layout.log_dir))
    lines = [
        "# Written by `risk-manager service install`; re-run it (with --upgrade) instead of editing.",
        "[Unit]",
        f"Description={UNIT_DESCRIPTION}",
        "After=network-online.target",
        "Wants=network-online.target",
        "StartLimitIntervalSec=3600",
        "StartLimitBurst=20",
        "",
        "[Service]",
        "Type=notify",
        f"ExecStart={exec_start}",
        "ExecReload=/bin/kill -HUP $MAINPID",
        f"User={SERVICE_USER}",
        f"Group={SERVICE_GROUP}",
        "Restart=on-failure",
        "RestartSec=10",
        "TimeoutStopSec=15",
        f"WatchdogSec={WATCHDOG_S}",
        f"UMask={UMASK}",
        f"SyslogIdentifier={SYSLOG_IDENTIFIER}",
        f"ReadOnlyPaths={read_only}",
        f"ReadWritePaths={read_write}",
        *HARDENING,
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ]
    return "\n".join(lines)


def exec_start(unit_text: str) -> str | None:
    """The raw ``ExecStart=`` value of a unit (None when absent)."""
    for line in unit_text.splitlines():
        if line.startswith("ExecStart="):
            return line[len("ExecStart=") :]
    return None


def split_command(value: str) -> list[str]:
    """Parse a command line written by ``render_unit`` back into words (inverse of ``quote_arg``)."""
    words: list[str] = []
    i, n = 0, len(value)
    while i < n:
        while i < n and value[i].isspace():
            i += 1
        if i >= n:
            break
        word: list[str] = []
        if value[i] == '"':
            i += 1
            while i < n and value[i] != '"':
                if value[i] == "\\" and i + 1 < n:
                    i += 1
                word.append(value[i])
                i += 1
            i += 1
        else:
            while i < n and not value[i].isspace():
                word.append(value[i])
                i += 1
        words.append("".join(word).replace("$$", "$").replace("%%", "%"))
    return words
