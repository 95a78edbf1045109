"""Process exit codes (spec/daemon.md §12), in a module of their own so the daemon need not import the CLI."""

EXIT_OK = 0
EXIT_RUNTIME = 1
EXIT_INVALID_CONFIG = 2
EXIT_DATABASE = 3
EXIT_RIGHTS = 4
EXIT_PORT_IN_USE = 5
#: the installer's validation failed (daemon.md §10.3; the daemon uses 5 for "port in use")
EXIT_VALIDATION = 5
#: ``risk-manager status``: the daemon does not answer (the admin console's code for it, admin-cli.md §13)
EXIT_DAEMON_UNREACHABLE = 6
EXIT_NOT_INSTALLED = 9
#: ``risk-manager status``: the daemon runs, but an account is NOT (or only partially) protected
EXIT_NOT_PROTECTED = 11
#: ``risk-manager status``: storage degraded is a database problem (the meaning of 3, not a new one)
EXIT_STORAGE_DEGRADED = EXIT_DATABASE
#: ``service install`` on an installed service without --upgrade (§10.3 printed 9, which already
#: means "not installed"; the second meaning gets its own code)
EXIT_ALREADY_INSTALLED = 10
EXIT_INTERRUPTED = 130
EXIT_UNKNOWN_ACCOUNT = 7  # trader dashboard: --account names no monitored account
EXIT_NOT_INTERACTIVE = 10  # trader dashboard: stdin/stdout is not a terminal
