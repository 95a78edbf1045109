"""Store exceptions. Messages are written for the person reading the daemon's console or Event Log."""

from __future__ import annotations


class StoreError(Exception):
    """The database cannot be used; the message says why and what to do."""


class SchemaTooNewError(StoreError):
    """The file was written by a newer risk-manager (spec/daemon.md §6.5: exit 3)."""

    def __init__(self, found: int, known: int) -> None:
        super().__init__(
            f"Database schema {found} is newer than this risk-manager ({known}). "
            "Upgrade the program or restore a backup."
        )
        self.found = found
        self.known = known


class MigrationError(StoreError):
    """A migration failed and was rolled back; the message names the backup taken before it."""


class StorageUnavailable(StoreError):
    """Writes have failed for longer than the retry budget (disk full, I/O error, corruption).

    The records stay queued and are retried; callers carry on from memory (spec/daemon.md §6.6).
    """
