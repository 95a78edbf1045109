"""What the daemon stores and restores (spec/daemon.md §6); the SQL lives in ``risk_manager.store``."""
