"""``python -m risk_manager.cli.trader``: the trader dashboard without the console-script wrapper."""

from __future__ import annotations

import typer

from risk_manager.cli.trader_cmd import trader


def main() -> None:
    typer.run(trader)


if __name__ == "__main__":
    main()
