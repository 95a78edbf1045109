"""``python -m risk_manager.cli.admin``: the admin console without the console-script wrapper."""

from __future__ import annotations

from risk_manager.admin.commands import main

if __name__ == "__main__":
    main()
