"""The daemon's announcements: typed messages, one ``Notifier`` and the sinks subscribed to it.

``test_message(urls, *, webhook_url=None)`` sends one test alert to notification URLs and returns one
``NotifyTestResult`` per URL (``risk-manager admin test notify``).
"""

from risk_manager.daemon.notify.messages import (
    ConfigReloaded,
    DaemonCrashed,
    DaemonStarted,
    DaemonStopped,
    DaemonStopping,
    DashboardUpdate,
    DatabaseReplaced,
    EnforcementChanged,
    LockoutCleared,
    LockoutSet,
    Message,
    ProtectionChanged,
    ReloadRejected,
    RepeatedFailures,
    RuleWarning,
    SignInRejected,
    StatusChanged,
    StorageDegraded,
    StorageRecovered,
)
from risk_manager.daemon.notify.notifier import BackgroundSink, Notifier, QueuedSink, Sink
from risk_manager.daemon.notify.selftest import NotifyTestResult, send_test_message, test_message

__all__ = [
    "BackgroundSink",
    "ConfigReloaded",
    "DaemonCrashed",
    "DaemonStarted",
    "DaemonStopped",
    "DaemonStopping",
    "DashboardUpdate",
    "DatabaseReplaced",
    "EnforcementChanged",
    "LockoutCleared",
    "LockoutSet",
    "Message",
    "Notifier",
    "NotifyTestResult",
    "ProtectionChanged",
    "QueuedSink",
    "ReloadRejected",
    "RepeatedFailures",
    "RuleWarning",
    "SignInRejected",
    "Sink",
    "StatusChanged",
    "StorageDegraded",
    "StorageRecovered",
    "send_test_message",
    "test_message",
]
