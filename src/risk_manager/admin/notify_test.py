"""``risk-manager admin test notify`` and Connection Testing › 4: one test message through every alert
channel of ``daemon.yaml`` (docs/notifications.md), with a result per channel.

The message is sent from the console's own process (``risk_manager.daemon.notify.test_message``: the
same sink classes the daemon uses, every URL at once, one try each), so a channel can be tested while
the service is stopped, and a change to ``daemon.yaml`` can be tried before the daemon reloads it.
Only ``daemon.yaml`` is read: a problem in another file does not stop a notification test. URLs are
shown masked (``json://127.0.0.1:8080/***``); the audit row keeps the masked targets and the counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from risk_manager.admin import exits
from risk_manager.admin.config_files import issue_line
from risk_manager.admin.context import AdminContext
from risk_manager.admin.exits import AdminExit
from risk_manager.admin.ui import Ui, format_ms
from risk_manager.config.issues import ConfigIssue
from risk_manager.config.loader import DAEMON_FILE
from risk_manager.config.messages import issues_from_validation
from risk_manager.config.models import DaemonSettings
from risk_manager.config.yaml_source import YamlSyntaxError, parse_yaml

KIND_NAMES = {"apprise": "Apprise", "webhook": "Webhook"}


@dataclass(frozen=True)
class Channels:
    """The alert channels configured in daemon.yaml (the URLs unmasked: never print these)."""

    webhook_url: str | None
    apprise: tuple[str, ...]

    @property
    def count(self) -> int:
        return len(self.apprise) + (1 if self.webhook_url else 0)


def configured_channels(ctx: AdminContext) -> Channels:
    """``daemon.yaml › notifications``, validated as the daemon validates it (AdminExit 5 with every
    problem, each with file, key and line; 7 when the file is missing)."""
    text = ctx.files.text(DAEMON_FILE)
    if text is None:
        raise AdminExit(exits.NOT_FOUND, *_nothing_configured(ctx, f"{DAEMON_FILE} does not exist"))
    issues: list[ConfigIssue] = []
    settings: DaemonSettings | None = None
    try:
        doc = parse_yaml(text, DAEMON_FILE)
        data = doc.data if doc.data is not None else {}
        if not isinstance(data, dict):
            issues.append(ConfigIssue(DAEMON_FILE, "", 1, "expected key: value pairs at the top of the file"))
        else:
            settings = DaemonSettings.model_validate(data)
    except YamlSyntaxError as exc:
        issues.append(exc.issue)
    except ValidationError as exc:
        issues.extend(issues_from_validation(exc, DaemonSettings, doc))
    if issues or settings is None:
        for issue in issues:
            ctx.ui.error(issue_line(issue, ctx.ui.sym.arrow))
        raise AdminExit(exits.VALIDATION, f"{DAEMON_FILE} is invalid: nothing was sent.", kind="plain")
    notes = settings.notifications
    return Channels(notes.webhook_url, tuple(target.url for target in notes.apprise))


def _nothing_configured(ctx: AdminContext, why: str) -> tuple[str, ...]:
    return (
        f"No notification channel to test: {why}.",
        f"Add notifications.webhook_url or notifications.apprise to {ctx.config_dir / DAEMON_FILE} "
        "(see docs/notifications.md), then run this again.",
    )


def result_rows(ui: Ui, results: list[Any]) -> list[list[str]]:
    return [
        [
            KIND_NAMES.get(r.kind, r.kind),
            r.target,
            ui.sym.ok if r.ok else ui.sym.fail,
            format_ms(r.seconds * 1000),
            r.detail,
        ]
        for r in results
    ]


def send_test(ctx: AdminContext, *, text: str | None = None, as_json: bool = False) -> int:
    """Send, print one row per channel (or JSON), audit; the exit code: 0, or 8 when any failed."""
    from risk_manager.daemon.notify import test_message

    channels = configured_channels(ctx)
    if channels.count == 0:
        raise AdminExit(exits.NOT_FOUND, *_nothing_configured(ctx, f"{DAEMON_FILE} has no notifications"))
    ui = ctx.ui
    if not as_json:
        plural = "s" if channels.count != 1 else ""
        ui.info(f"Sending a test message to {channels.count} channel{plural} (each at most 30 s)…")
    results = test_message(list(channels.apprise), webhook_url=channels.webhook_url, text=text)
    failed = sum(1 for r in results if not r.ok)
    if as_json:
        import json

        body = {"results": [r.to_dict() for r in results], "delivered": len(results) - failed, "failed": failed}
        print(json.dumps(body, indent=2), flush=True)
    else:
        ui.table(["Channel", "URL", "Result", "Time", "Detail"], result_rows(ui, results))
        summary = f"{len(results) - failed} delivered, {failed} failed"
        (ui.error if failed else ui.ok)(summary + ("" if failed else ": check that the message arrived."))
    ctx.audit(
        "notify_test",
        target=", ".join(r.target for r in results),
        after={"delivered": len(results) - failed, "failed": failed},
        outcome="ok" if not failed else f"{failed} failed",
    )
    return exits.BROKER if failed else exits.OK
