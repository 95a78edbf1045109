"""One Apprise URL (``daemon.yaml`` › ``notifications.apprise``) as one alert sink.

Apprise reaches Discord, Telegram, Slack, e-mail, ntfy, Pushover and a hundred more from one URL each.
Its sends are blocking (``requests``, ``smtplib``); its ``async_notify`` differs between releases and
may use a shared thread pool, so every call (import, URL parsing, each send) runs on this sink's own
``BlockingWorker`` thread and the event loop only awaits a future. A slow or dead endpoint therefore
delays only this URL's own queue - never enforcement, never the other sinks.

What Apprise logs while it sends is captured on that thread and redacted before it becomes our own
one-line reason; the URL appears only masked (``mask_url``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from risk_manager.config.notify_urls import apprise_log, mask_url, redact
from risk_manager.daemon.notify.alert_sink import RETRY_PAUSE_S, TRIES, AlertSink
from risk_manager.daemon.notify.alerts import Alert
from risk_manager.daemon.notify.worker import BlockingWorker
from risk_manager.engine.timefmt import iso

TITLES = {
    "not_protected": "NOT PROTECTED",
    "sign_in_rejected": "Sign-in rejected",
    "enforcement_failed": "ENFORCEMENT FAILED",
    "lockout_set": "Lockout set",
    "repeated_failures": "Repeated failures",
    "database_replaced": "Database replaced",
    "storage_degraded": "Storage degraded",
    "limit_warning": "Limit warning",
    "test": "Test notification",
}
_FAILURES = {"not_protected", "sign_in_rejected", "enforcement_failed", "repeated_failures", "database_replaced"}
_WARNINGS = {"lockout_set", "storage_degraded", "limit_warning"}


def notify_type(subject: str) -> str:
    """Apprise's message type (colour / icon on most services)."""
    return "failure" if subject in _FAILURES else "warning" if subject in _WARNINGS else "info"


def title_and_body(alert: Alert) -> tuple[str, str]:
    title = f"risk-manager: {TITLES.get(alert.subject, alert.subject)}"
    account = alert.message.account_id
    body = f"{alert.text}\n{iso(alert.message.at)}" + (f" - account {account}" if account is not None else "")
    return title, body


def _asset(apprise: Any) -> Any:
    """Apprise 2 runs a send in its own (non-daemon) thread pool when a service timeout is set, and
    the interpreter waits for those threads at exit; with the timeout off it sends inline, on this
    sink's daemon thread. Apprise 1 has neither (the keyword is refused: plain asset)."""
    try:
        return apprise.AppriseAsset(app_id="risk-manager", service_timeout=0)
    except Exception:
        return apprise.AppriseAsset(app_id="risk-manager")


class AppriseSink(AlertSink):
    def __init__(
        self,
        url: str,
        subjects: Iterable[str] | None = None,
        *,
        monotonic: Callable[[], float] | None = None,
        retry_pause_s: float = RETRY_PAUSE_S,
        tries: int = TRIES,
    ) -> None:
        super().__init__(subjects, monotonic=monotonic, retry_pause_s=retry_pause_s, tries=tries)
        self.url = url
        self.shown = mask_url(url)
        self.name = f"apprise {self.shown}"
        self._worker = BlockingWorker(f"notify-{self.shown}")
        self._apprise: Any = None  # built on the worker thread (``_load``)

    async def start(self) -> None:
        self._worker.start()
        # Importing Apprise and its plugins takes a few hundred ms of GIL time: paid now, on the
        # worker thread, rather than at the first alert (which usually comes with an enforcement).
        self._worker.post(self._load)
        await super().start()

    async def aclose(self) -> None:
        try:
            await super().aclose()
        finally:
            self._worker.stop()

    async def attempt(self, alert: Alert) -> str | None:
        title, body = title_and_body(alert)
        return await self._worker.run(lambda: self._send(title, body, notify_type(alert.subject)))

    def _load(self) -> str | None:
        """On the worker thread: the Apprise object for this URL; None, or why it could not be made."""
        if self._apprise is not None:
            return None
        with apprise_log() as said:
            try:
                import apprise

                sender = apprise.Apprise(asset=_asset(apprise))
                if not sender.add(self.url):
                    return self._reason(said, "Apprise could not load the URL")
            except Exception as exc:
                return self._reason([*said, f"{type(exc).__name__}: {exc}"], "Apprise could not load the URL")
        self._apprise = sender
        return None

    def _send(self, title: str, body: str, kind: str) -> str | None:
        """On the worker thread: one send; None when Apprise reports success, else a redacted reason."""
        failure = self._load()
        if failure is not None:
            return failure
        with apprise_log() as said:
            try:
                ok = bool(self._apprise.notify(title=title, body=body, notify_type=kind))
            except Exception as exc:  # a plugin bug must not end the sink; the text is redacted
                return self._reason([*said, f"{type(exc).__name__}: {exc}"], "Apprise raised an error")
        return None if ok else self._reason(said, "Apprise reported a failure")

    def _reason(self, said: list[str], fallback: str) -> str:
        lines = list(dict.fromkeys(redact(line, self.url).rstrip(". ") for line in said if line.strip()))
        return "; ".join(lines[-2:]) if lines else fallback
