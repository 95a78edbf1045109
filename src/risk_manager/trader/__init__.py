"""The trader dashboard (``risk-manager trader``, trader-cli.md): a read-only Textual view of one account.

Everything shown comes from the daemon's local API (snapshot, then pushes) or, when the daemon is
down, from a read-only view of its SQLite database. Nothing here can change an account, a rule or the
daemon: the client only knows read-only requests, and the database is opened with ``mode=ro``.

Modules: ``app`` (the Textual application), ``link`` (connection, reconnect and offline fallback),
``client`` (the WebSocket client), ``model`` (state built from the snapshot and pushes), ``alerts``
(toasts, bell and desktop notifications), ``notifier`` (bell and desktop notification seam),
``offline`` (the SQLite reader), ``fmt`` (money, prices, times), ``widgets`` (one module per tab).
"""
