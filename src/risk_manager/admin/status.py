"""One picture of the system for the status line, the main menu's warnings and ``admin status``.

Read when a screen is drawn, never polled in the background (admin-cli.md §4.2): the service state
from the service layer, everything else from the daemon's snapshot; what cannot be known is shown as
``unknown — daemon not reachable``, never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from risk_manager.admin.context import AdminContext
from risk_manager.admin.service_control import state_word


@dataclass
class SystemStatus:
    service: dict[str, Any]
    service_available: bool
    daemon: dict[str, Any] | None
    daemon_reason: str
    rights: bool
    accounts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def console_mode(self) -> bool:
        return (
            self.daemon is not None and self.daemon.get("mode") == "console" and not self.service["installed"]
        )

    def locked_accounts(self) -> int:
        return sum(1 for a in self.accounts if a.get("lockouts"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "service": self.service | {"available": self.service_available},
            "daemon": None
            if self.daemon is None
            else {
                "state": self.daemon.get("state"),
                "mode": self.daemon.get("mode"),
                "pid": self.daemon.get("pid"),
                "version": self.daemon.get("version"),
                "protocol": self.daemon.get("protocol"),
                "startedAt": self.daemon.get("startedAt"),
            },
            "daemonReason": self.daemon_reason or None,
            "osAdminRights": self.rights,
            "accounts": [
                {
                    "accountId": a.get("accountId"),
                    "nickname": a.get("nickname"),
                    "login": a.get("login"),
                    "mode": a.get("mode"),
                    "protection": a.get("protection"),
                    "canTrade": a.get("canTrade"),
                    "lockouts": len(a.get("lockouts") or []),
                }
                for a in self.accounts
            ],
            "lockouts": [
                {"accountId": a.get("accountId"), **lock}
                for a in self.accounts
                for lock in a.get("lockouts") or []
            ],
        }


def gather(ctx: AdminContext) -> SystemStatus:
    status = ctx.services.status()
    snap = ctx.daemon_snapshot()
    return SystemStatus(
        service=status.to_dict(),
        service_available=ctx.services.available,
        daemon=snap,
        daemon_reason="" if snap is not None else ctx.daemon_reason,
        rights=ctx.has_rights(),
        accounts=list((snap or {}).get("accounts") or []),
    )


def uptime(started: str | None) -> str:
    if not started:
        return ""
    try:
        at = datetime.fromisoformat(started.replace("Z", "+00:00"))
    except ValueError:
        return ""
    s = int((datetime.now(UTC) - at).total_seconds())
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"up {h}h {m:02d}m" if h else f"up {m}m {s:02d}s"


def service_text(ctx: AdminContext, st: SystemStatus) -> str:
    dot = ctx.ui.sym.dot
    if st.console_mode:
        return f"{dot} RUNNING (console mode, PID {st.daemon.get('pid') if st.daemon else '?'})"
    if not st.service_available:
        return f"{dot} UNKNOWN (service layer not available)"
    word = state_word(str(st.service.get("state")))
    return f"{dot} {word}"


def status_line(ctx: AdminContext, st: SystemStatus) -> str:
    sym = ctx.ui.sym
    service = service_text(ctx, st)
    if st.daemon is not None:
        daemon = f"{sym.dot} connected"
        up = uptime(st.daemon.get("startedAt"))
        if up and not st.console_mode:
            service += f"  {up}"
        accounts = f"Accounts {len(st.accounts)} ({st.locked_accounts()} locked)"
    else:
        daemon = f"{sym.dot} not reachable"
        accounts = "Accounts unknown"
    rights = f"Admin {sym.ok}" if st.rights else f"Admin {sym.fail} read-only"
    return f"Service {service}   Daemon {daemon}   {accounts}   {rights}"


def notices(ctx: AdminContext, st: SystemStatus) -> list[tuple[str, str]]:
    """``(kind, text)`` one-line warnings above the main menu (kind: error | warn)."""
    out: list[tuple[str, str]] = []
    state = st.service.get("state")
    if st.service.get("installed") and state in ("stopped", "stopping") and st.daemon is None:
        out.append(("error", "Service is STOPPED — accounts are NOT protected."))
    elif st.daemon is None:
        out.append(
            (
                "error",
                f"Daemon not reachable on {ctx.api_url} ({st.daemon_reason}) — accounts may NOT be protected.",
            )
        )
    for account in st.accounts:
        ident = account.get("accountId")
        protection = account.get("protection")
        if protection not in (None, "protected"):
            since = (account.get("connection") or {}).get("since") or ""
            when = ""
            if since:
                try:
                    when = " since " + datetime.fromisoformat(
                        since.replace("Z", "+00:00")
                    ).astimezone().strftime("%H:%M:%S")
                except ValueError:
                    when = ""
            out.append(("warn", f"Account {ident}: {protection} — NOT protected{when}."))
        if account.get("mode") == "observe":
            out.append(("warn", f"Account {ident} is in observe-only mode."))
    return out
