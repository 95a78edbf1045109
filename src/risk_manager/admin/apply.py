"""Save and apply (admin-cli.md §7.1), shared by accounts, rules and restore.

Validate everything → back up → atomic write → re-read and re-validate → audit → ask the daemon to
reload (authenticated) and report its verdict. A rejected reload leaves the daemon on its previous
configuration; the console then offers to put the previous files back on disk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from risk_manager.admin import exits
from risk_manager.admin.config_files import SaveRefused, issue_line
from risk_manager.admin.context import AdminContext
from risk_manager.admin.daemon_client import DaemonError, DaemonUnavailable
from risk_manager.admin.exits import AdminExit
from risk_manager.admin.service_actions import restart_service, start_service
from risk_manager.config.issues import ConfigIssue

RELOAD_TIMEOUT_S = 10.0


@dataclass
class Applied:
    saved: bool = False
    backups: dict[str, str] = field(default_factory=dict)
    live: str = "not_tried"  # applied | rejected | restored | saved_only
    errors: list[str] = field(default_factory=list)
    answer: dict[str, Any] = field(default_factory=dict)


def refuse(ctx: AdminContext, issues: list[ConfigIssue]) -> AdminExit:
    """Every problem listed, nothing saved (exit 5)."""
    sep = ctx.ui.sym.arrow
    lines = [issue_line(issue, sep) for issue in issues]
    for line in lines:
        ctx.ui.error(line)
    return AdminExit(exits.VALIDATION, "Nothing was saved.", kind="plain")


def save(
    ctx: AdminContext,
    texts: dict[str, str],
    *,
    action: str,
    target: str,
    before: Any = None,
    after: Any = None,
    reason: str | None = None,
    summary: str,
) -> Applied:
    """Steps 1-4 of §7.1. AdminExit(5) with every problem when the result would be invalid."""
    ui = ctx.ui
    ctx.require_rights()
    result = Applied()
    try:
        ctx.files.validate(texts)
    except SaveRefused as exc:
        raise refuse(ctx, exc.issues) from None
    with ui.step("Saving", timed=False) as step:
        try:
            saved = ctx.files.save(texts, summary=summary)
        except SaveRefused as exc:  # re-read found a problem: reported, never called a success
            step.failed = "The saved file does not validate."
            raise refuse(ctx, exc.issues) from None
        except OSError as exc:
            step.failed = f"Save failed: {exc.strerror or exc}"
            raise AdminExit(exits.RUNTIME) from None
        names = ", ".join(saved.backups.values())
        step.done = f"Saved (backup {names})" if names else "Saved"
    result.saved = True
    result.backups = saved.backups
    backup_note = f" (backup {', '.join(saved.backups.values())})" if saved.backups else ""
    ctx.audit(action, target=target + backup_note, before=before, after=after, reason=reason)
    return result


def reload_daemon(ctx: AdminContext, result: Applied, *, interactive: bool) -> Applied:
    """Step 5 of §7.1: the daemon's verdict, or what to do when it is not running."""
    ui = ctx.ui
    client = ctx.daemon()
    if client is None:
        _not_running(ctx, interactive)
        result.live = "saved_only"
        return result
    admin = ctx.daemon_admin()
    with ui.step("Reloading daemon", timed=False) as step:
        try:
            answer = admin.request("reload_config", {"osUser": ctx.os_user}, timeout=RELOAD_TIMEOUT_S)
        except DaemonError as exc:
            if exc.code != "config_invalid":
                step.failed = f"The daemon did not reload: {exc.message}"
                raise AdminExit(exits.DAEMON_UNREACHABLE if exc.code == "busy" else exits.RUNTIME) from None
            errors = [_daemon_issue(e, ui.sym.arrow) for e in exc.error.get("errors") or []]
            result.errors = errors
            step.failed = (
                f"The daemon rejected the new configuration: {'; '.join(errors) or exc.message}. "
                "It keeps running with the previous one."
            )
            result.live = "rejected"
        except DaemonUnavailable as exc:
            step.failed = f"No answer to the reload: {exc.reason}"
            raise AdminExit(exits.DAEMON_UNREACHABLE) from None
        else:
            result.answer = answer
            result.live = "applied"
            step.done = f"Applied live at {datetime.now().strftime('%H:%M:%S')}."
    if result.live == "applied":
        for note in result.answer.get("restartRequired") or []:
            ui.warn(str(note))
    else:
        ctx.audit("reload_rejected", target="config", after={"errors": result.errors})
    return result


def _daemon_issue(error: Any, sep: str) -> str:
    if not isinstance(error, dict):
        return str(error)
    return issue_line(
        ConfigIssue(
            str(error.get("file", "")),
            str(error.get("path") or ""),
            error.get("line"),
            str(error.get("message")),
        ),
        sep,
    )


def _not_running(ctx: AdminContext, interactive: bool) -> None:
    ui = ctx.ui
    status = ctx.services.status()
    if status.installed and status.state != "running":
        if interactive and ui.confirm("Saved. The service is stopped; start it now?"):
            start_service(ctx)
        elif not interactive:
            ui.info("Saved. The service is stopped; changes apply when it starts.")
        return
    if status.installed:
        if interactive and ui.confirm("Saved. The daemon is not answering; restart the service to apply?"):
            restart_service(ctx)
        elif not interactive:
            ui.info("Saved. The daemon is not answering; restart the service to apply.")
        return
    ui.info("Saved. Changes apply when the daemon starts.")


def save_and_apply(ctx: AdminContext, texts: dict[str, str], *, interactive: bool, **what: Any) -> Applied:
    """The whole of §7.1; on a rejected reload (interactive) offers to restore the previous files."""
    result = save(ctx, texts, **what)
    result = reload_daemon(ctx, result, interactive=interactive)
    if result.live == "rejected" and interactive and result.backups:
        if ctx.ui.confirm("Restore the previous version on disk?", default=True):
            restore_backups(ctx, result.backups, interactive=interactive)
            result.live = "restored"
    return result


def restore_backups(ctx: AdminContext, backups: dict[str, str], *, interactive: bool) -> Applied:
    """Put the given backups back through §7.1 (so the current files are backed up in turn)."""
    texts = {name: ctx.files.backup_text(backup) for name, backup in backups.items()}
    listing = ", ".join(backups.values())
    result = save(
        ctx,
        texts,
        action="config_restored",
        target=", ".join(backups),
        after={"restored": listing},
        summary=f"restore of {listing}",
    )
    return reload_daemon(ctx, result, interactive=interactive)
