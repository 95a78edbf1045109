"""The service layer (daemon.md §7.3, §10, §11, §12): the Windows service, the systemd unit, the
installer behind ``risk-manager service``, the service-side notification sinks and ``doctor``.

Everything platform specific sits behind one small interface each, so the installer's logic is the
same on Windows and Linux and can be tested on Linux:

- ``manager.ServiceManager``: the service manager (Windows SCM via pywin32, systemd via systemctl);
- ``access.AccessControl``: OS accounts and permissions (Windows ACLs, POSIX users, groups, modes).

``risk_manager.service.api`` is the public entry point (the CLI and the admin console use it).
"""
