"""Names and fixed settings of the installed service (daemon.md §10.1, §10.2), in one place."""

from __future__ import annotations

#: Windows service name, also the Event Log source (daemon.md §7.3, §10.1)
SERVICE_NAME = "RiskManager"
DISPLAY_NAME = "Risk Manager (TopstepX)"
DESCRIPTION = (
    "Enforces trading risk rules on TopstepX accounts. Stopping it removes all protection; "
    "only administrators can stop or change it."
)
EVENT_SOURCE = "RiskManager"

#: systemd unit and the Linux service account (daemon.md §10.2)
UNIT_NAME = "risk-manager.service"
UNIT_DESCRIPTION = "Risk Manager for TopstepX accounts"
SERVICE_USER = "risk-manager"
SERVICE_GROUP = "risk-manager"
SYSLOG_IDENTIFIER = "risk-manager"

#: restart delays after the 1st, 2nd and later failures; failure count reset after a day (§10.1)
RECOVERY_DELAYS_S = (10, 30, 60)
RECOVERY_RESET_S = 86_400
#: how long start/stop wait for the target state, and the poll interval (§10.3)
WAIT_S = 30.0
POLL_S = 0.5
