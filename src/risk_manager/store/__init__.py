"""The daemon's SQLite store (spec/daemon.md §6): schema and migrations, one writer thread, integrity
checks, retention and the read-side queries.

The package knows SQL and files; it does not know the daemon. ``risk_manager.daemon.persist.persistence`` maps
the engine's records onto it.
"""

from risk_manager.store.database import OpenedDatabase, open_database
from risk_manager.store.errors import MigrationError, SchemaTooNewError, StorageUnavailable, StoreError
from risk_manager.store.migrations import LATEST_VERSION
from risk_manager.store.reader import Reader
from risk_manager.store.writer import Writer

__all__ = [
    "LATEST_VERSION",
    "MigrationError",
    "OpenedDatabase",
    "Reader",
    "SchemaTooNewError",
    "StorageUnavailable",
    "StoreError",
    "Writer",
    "open_database",
]
