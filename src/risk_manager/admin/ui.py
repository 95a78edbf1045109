"""Everything the console prints or asks goes through ``Ui`` (admin-cli.md §4).

One place decides colour (off with ``--no-color``, ``NO_COLOR``, ``TERM=dumb`` or a non-terminal
stdout: then no ANSI at all and no screen clearing), the symbols (``✓ ✗ !`` on UTF-8, ``[OK] [FAIL]
[WARN]`` otherwise), the prompt texts the tests match, the idle timeout on menu input, and the
timed steps that become ``✓ Signed in (412 ms)``. Prompts and messages are identical in both modes.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from rich import box
from rich.console import Console, RenderableType
from rich.panel import Panel
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from risk_manager.admin.exits import AdminExit, IdleTimeout
from risk_manager.platform.console import enable_vt_mode, wait_for_input

MAX_WIDTH = 100
PIPE_WIDTH = 200
IDLE_TIMEOUT_S = 15 * 60


def colour_wanted(no_color_flag: bool, stream: TextIO) -> bool:
    if no_color_flag or os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def utf8_output(stream: TextIO) -> bool:
    encoding = (getattr(stream, "encoding", None) or "utf-8").lower().replace("-", "")
    return encoding in ("utf8", "utf8sig")


@dataclass
class Symbols:
    ok: str
    fail: str
    warn: str
    dot: str
    dash: str
    ellipsis: str
    arrow: str
    sep: str
    secret: str
    rule_char: str

    @classmethod
    def for_output(cls, unicode: bool) -> Symbols:
        if unicode:
            return cls("✓", "✗", "!", "●", "—", "…", "›", "·", "••••", "─")
        return cls("[OK]", "[FAIL]", "[WARN]", "*", "-", "...", ">", "-", "****", "-")


@dataclass
class Step:
    """Result holder of ``Ui.step``: set ``done`` / ``failed`` text; elapsed time is measured."""

    label: str
    done: str | None = None
    failed: str | None = None
    warned: str | None = None
    elapsed_ms: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def idle_timeout_s() -> float:
    """15 min; ``RISK_MANAGER_ADMIN_IDLE_S`` may only shorten it (tests, stricter sites)."""
    raw = os.environ.get("RISK_MANAGER_ADMIN_IDLE_S", "").strip()
    try:
        value = float(raw)
    except ValueError:
        return IDLE_TIMEOUT_S
    return min(IDLE_TIMEOUT_S, value) if value > 0 else IDLE_TIMEOUT_S


class Ui:
    """Output and input of one console run. ``scripted`` sends errors to stderr and never clears."""

    def __init__(
        self,
        *,
        no_color: bool = False,
        scripted: bool = False,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
    ) -> None:
        self.stdin = stdin or sys.stdin
        out = stdout or sys.stdout
        err = stderr or sys.stderr
        self.colour = colour_wanted(no_color, out)
        if self.colour:
            enable_vt_mode()
        self.unicode = utf8_output(out)
        self.sym = Symbols.for_output(self.unicode)
        self.scripted = scripted
        if _isatty(out):
            width = min(shutil.get_terminal_size((MAX_WIDTH, 40)).columns, MAX_WIDTH)
        else:
            width = PIPE_WIDTH  # redirected (scripts, files): long table cells stay on one line
        common: dict[str, Any] = {
            "width": width,
            "highlight": False,
            "emoji": False,
            "soft_wrap": True,  # messages are never broken by us (copy-paste); tables fit the width
            "color_system": "auto" if self.colour else None,
            "force_terminal": self.colour or None,
            "legacy_windows": False,
        }
        self.console = Console(file=out, **common)
        self.err_console = Console(file=err, **common) if scripted else self.console
        self.idle_timeout_s = idle_timeout_s()
        self.box = box.ROUNDED if self.unicode else box.ASCII
        self.double_box = box.DOUBLE if self.unicode else box.ASCII

    # ----- plain output ---------------------------------------------------------------------------------
    @property
    def width(self) -> int:
        return self.console.width

    def print(self, *objects: RenderableType, style: str | None = None, err: bool = False) -> None:
        target = self.err_console if err else self.console
        target.print(*objects, style=style if self.colour else None, markup=False)

    def text(self, line: str, style: str | None = None) -> None:
        self.console.print(Text(line, style=(style or "") if self.colour else ""))

    def blank(self) -> None:
        self.console.print()

    def _message(self, symbol: str, text: str, style: str, details: Sequence[str], err: bool) -> None:
        target = self.err_console if (err and self.scripted) else self.console
        line = Text(f" {symbol} {text}", style=style if self.colour else "")
        target.print(line)
        for detail in details:
            target.print(Text(f"   {detail}"))

    def ok(self, text: str, *details: str) -> None:
        self._message(self.sym.ok, text, "green", details, err=False)

    def warn(self, text: str, *details: str) -> None:
        self._message(self.sym.warn, text, "yellow", details, err=False)

    def error(self, text: str, *details: str) -> None:
        self._message(self.sym.fail, text, "bold red", details, err=True)

    def info(self, text: str, *details: str) -> None:
        target = self.console
        target.print(Text(f" {text}"))
        for detail in details:
            target.print(Text(f"   {detail}"))

    def report(self, exc: AdminExit) -> None:
        """Print an AdminExit's lines in its category's style (first line with the symbol)."""
        if not exc.lines:
            return
        first, *rest = exc.lines
        if exc.kind == "warn":
            self.warn(first, *rest)
        elif exc.kind == "ok":
            self.ok(first, *rest)
        elif exc.kind == "plain":
            self.info(first, *rest)
        else:
            self.error(first, *rest)

    def banner(self, text: str) -> None:
        """A protection warning (red bold line), e.g. ``✗ Service is STOPPED — accounts are NOT protected.``"""
        self.console.print(Text(f" {text}", style="bold red" if self.colour else ""))

    def table(
        self, columns: Sequence[str], rows: Sequence[Sequence[Any]], *, title: str | None = None
    ) -> None:
        table = Table(
            box=None,
            show_edge=False,
            pad_edge=False,
            header_style="bold" if self.colour else "",
            title=title,
            expand=False,
        )
        cells = [
            [cell if isinstance(cell, Text) else Text("" if cell is None else str(cell)) for cell in row]
            for row in rows
        ]
        longest = [
            max([len(name)] + [len(row[i].plain) for row in cells if i < len(row)])
            for i, name in enumerate(columns)
        ]
        # The narrowest columns (IDs, numbers, marks, times) never wrap, as long as they leave a quarter
        # of the width to the others; the rest fold within their column (nothing is ever cut off).
        keep: set[int] = set()
        used = 0
        for index in sorted(range(len(columns)), key=lambda i: longest[i]):
            if used + longest[index] + 2 > self.width * 3 // 4:
                break
            keep.add(index)
            used += longest[index] + 2
        for index, name in enumerate(columns):
            table.add_column(name, overflow="fold", no_wrap=index in keep)
        for row in cells:
            table.add_row(*row)
        self.console.print(table)

    def panel(self, lines: Sequence[str], *, title: str, danger: bool = False) -> None:
        body = Text("\n".join(lines))
        style = "bold red" if danger and self.colour else ""
        self.console.print(
            Panel(body, title=title, box=self.box, border_style=style, expand=False), soft_wrap=False
        )

    def rule(self, title: str = "", style: str | None = None) -> None:
        self.console.print(
            Rule(title, characters=self.sym.rule_char, style=(style or "") if self.colour else "")
        )

    def clear(self) -> None:
        if self.colour and not self.scripted:
            self.console.clear()

    def title_box(self, lines: Sequence[str]) -> None:
        body = Text("\n".join(lines), justify="center")
        self.console.print(Panel(body, box=self.double_box, expand=True), soft_wrap=False)

    # ----- input ----------------------------------------------------------------------------------------
    def _readline(self, prompt: str, *, idle: bool) -> str:
        self.console.print(Text(prompt), end="")
        self.console.file.flush()
        if idle and not wait_for_input(self.stdin, self.idle_timeout_s):
            self.console.print()
            raise IdleTimeout()
        line = self.stdin.readline()
        if not line:
            raise EOFError("input closed")
        return line.rstrip("\r\n")

    def ask(self, prompt: str, *, idle: bool = True) -> str:
        """One line of input after ``prompt`` (printed as given), surrounding spaces removed."""
        return self._readline(prompt, idle=idle).strip()

    def ask_raw(self, prompt: str) -> str:
        return self._readline(prompt, idle=True)

    def ask_hidden(self, prompt: str) -> str:
        """No echo (getpass on the terminal). The typed text is never printed or logged."""
        self.console.file.flush()
        if self.stdin is sys.stdin and _isatty(self.stdin):
            return getpass.getpass(prompt)
        # Not a terminal (piped): read a line without echo control (only reached in tests of Ui).
        return self._readline(prompt, idle=False)

    def confirm(self, question: str, *, default: bool = False) -> bool:
        """``question [y/N]: `` (the safe default in capitals); anything but y/yes is the default."""
        hint = "[Y/n]" if default else "[y/N]"
        answer = self.ask(f"{question} {hint}: ").lower()
        if not answer:
            return default
        return answer in ("y", "yes")

    def typed_confirm(self, prompt: str, expected: str) -> bool:
        """The exact word (case sensitive); anything else prints the cancellation message."""
        if self.ask(prompt) == expected:
            return True
        self.info("Cancelled: confirmation did not match.")
        return False

    def choose(self, prompt: str, low: int, high: int, extra: Sequence[str] = ()) -> str:
        """A menu number from ``low`` to ``high`` (or one of ``extra`` letters); re-asks when invalid."""
        while True:
            answer = self.ask(prompt)
            if answer in extra:
                return answer
            if answer.isdigit() and low <= int(answer) <= high:
                return str(int(answer))
            self.error(f'Invalid choice: "{answer}". Enter a number from {low} to {high}.')

    def pause(self) -> None:
        with contextlib.suppress(EOFError):
            self.ask("Press Enter to continue")

    # ----- timed steps ----------------------------------------------------------------------------------
    @contextlib.contextmanager
    def step(self, label: str, *, timed: bool = True) -> Iterator[Step]:
        """``… Signing in`` then ``✓ Signed in (412 ms)`` / ``✗ Sign-in failed: reason`` (caller sets them).

        In colour mode a spinner runs while the block executes; in plain mode one line announces it.
        """
        result = Step(label)
        started = time.perf_counter()
        status: Any = None
        if self.colour:
            status = self.console.status(f"{label}{self.sym.ellipsis}")
            status.start()
        else:
            self.console.print(Text(f" {self.sym.ellipsis} {label}"))
        try:
            yield result
        finally:
            result.elapsed_ms = (time.perf_counter() - started) * 1000
            if status is not None:
                status.stop()
        took = f" ({format_ms(result.elapsed_ms)})" if timed else ""
        if result.failed is not None:
            self.error(result.failed)
        elif result.warned is not None:
            self.warn(f"{result.warned}{took}")
        else:
            self.ok(f"{result.done or label}{took}")


def format_ms(ms: float) -> str:
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
