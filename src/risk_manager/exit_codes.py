"""Process exit codes (spec/daemon.md §12), in a module of their own so the daemon need not import the CLI."""

EXIT_OK = 0
EXIT_RUNTIME = 1
EXIT_INVALID_CONFIG = 2
EXIT_DATABASE = 3
EXIT_RIGHTS = 4
EXIT_PORT_IN_USE = 5
EXIT_NOT_INSTALLED = 9
EXIT_INTERRUPTED = 130
