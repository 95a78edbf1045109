"""Enforcement: engine actions carried out at the broker and verified (spec/daemon.md §4)."""
