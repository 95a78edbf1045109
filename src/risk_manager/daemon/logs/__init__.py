"""Log files and their redaction; the log subscribers of the notifier (spec/daemon.md §7)."""
