"""``risk-manager replay``: would these rules have saved me on Tuesday?"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from risk_manager.cli.common import EXIT_INVALID_CONFIG, EXIT_RUNTIME, config_dir_option, load_or_exit


def register(app: typer.Typer) -> None:
    @app.command("replay")
    def replay(
        events_file: Annotated[Path, typer.Argument(help="Recorded session: one JSON event per line.")],
        config_dir: config_dir_option = None,  # type: ignore[valid-type]
        account: Annotated[int | None, typer.Option("--account", help="Only this account's actions.")] = None,
    ) -> None:
        """Feed a recorded session through the engine; print every action as one JSON line.

        Input lines: {"at": ISO-8601 UTC, "event": name, "data": {...}}. Output (stdout): one action per
        line. Summary and any skipped lines go to stderr.
        """
        from risk_manager.engine import Engine
        from risk_manager.replay.runner import Replayer, ReplayInputError, parse_line

        config = load_or_exit(config_dir)
        if not events_file.is_file():
            typer.echo(f"error: {events_file}: no such file", err=True)
            raise typer.Exit(EXIT_INVALID_CONFIG)
        replayer = Replayer(Engine.from_config(config), account=account)
        errors: list[str] = []

        def report(message: str) -> None:
            errors.append(message)
            typer.echo(f"{events_file.name}: skipped {message}", err=True)

        def events():  # type: ignore[no-untyped-def]
            with events_file.open(encoding="utf-8") as fh:
                for number, line in enumerate(fh, start=1):
                    try:
                        event = parse_line(line, number)
                    except ReplayInputError as exc:
                        report(str(exc))
                        continue
                    if event is not None:
                        event["__line__"] = number
                        yield event

        out = sys.stdout
        try:
            for event in events():
                line = event.pop("__line__")
                try:
                    for action in replayer.feed(event, where=f"line {line}"):
                        out.write(json.dumps(action.to_dict(), separators=(", ", ": ")) + "\n")
                except ReplayInputError as exc:
                    replayer.stats.skipped += 1
                    report(str(exc))
            out.flush()
        except OSError as exc:  # e.g. a closed pipe
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(EXIT_RUNTIME) from None
        stats = replayer.stats
        per_rule = ", ".join(f"{rule} {n}" for rule, n in sorted(stats.actions.items())) or "none"
        span = (
            f" from {stats.first:%Y-%m-%d %H:%M:%S}Z to {stats.last:%Y-%m-%d %H:%M:%S}Z"
            if stats.first
            else ""
        )
        typer.echo(
            f"replayed {stats.events} events{span}; {sum(stats.actions.values())} actions ({per_rule}); "
            f"{len(errors)} lines skipped",
            err=True,
        )
