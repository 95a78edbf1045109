"""Exit codes and the one exception that ends a console action with a message (admin-cli.md §13).

The console keeps the codes of admin-cli.md §13 (the issue names them): 3 means *authentication* for
the admin console, while the daemon uses 3 for a database problem; no console error maps to a database
code, so the two never meet in one program.
"""

from __future__ import annotations

OK = 0
RUNTIME = 1  # service did not reach the expected state, OS error, "confirmation did not match"
USAGE = 2
AUTH = 3
RIGHTS = 4
VALIDATION = 5
DAEMON_UNREACHABLE = 6
NOT_FOUND = 7
BROKER = 8
NOT_INSTALLED = 9
CANCELLED = 130


class AdminExit(Exception):
    """Stop the current action: print ``lines`` (first one with the category's symbol), exit ``code``.

    In the menus it returns to the menu instead of exiting, except for codes that end the session
    (authentication and Ctrl+C).
    """

    def __init__(self, code: int, *lines: str, kind: str = "error") -> None:
        super().__init__(lines[0] if lines else "")
        self.code = code
        self.lines = list(lines)
        self.kind = kind  # error | warn | ok | plain


class IdleTimeout(Exception):
    """No key pressed for the idle timeout (admin-cli.md §2): lock the screen and ask the password."""
