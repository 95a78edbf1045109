"""What every tab needs: the render context (account, clock, palette, online or offline), a figure
that flashes when its value changes (trader-cli.md §8.1), and ``show_text``: a line of text updated
without a screen layout when its height cannot change.

Why ``show_text``: Textual's ``Static.update`` asks for a layout of the whole screen by default (the
new text might need more lines). At 10 fills a second that reflow, run for every P&L figure and the
status bar, cost more than everything else the dashboard does per message (trader-cli.md §12: no full
redraw per message); a repaint of the one widget is enough when the text keeps its line count.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, tzinfo
from decimal import Decimal
from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual.widgets import Static

from risk_manager.trader.fmt import clock, dec, duration
from risk_manager.trader.model import AccountView, DashboardModel
from risk_manager.trader.style import Palette

FLASH_S = 1.0


@dataclass
class ViewContext:
    model: DashboardModel
    view: AccountView | None
    palette: Palette
    now: datetime
    tz: tzinfo
    live: bool
    width: int

    @property
    def offline(self) -> bool:
        return self.model.source == "offline"

    def figure_age(self) -> float | None:
        """Seconds since the shown account's figures were last confirmed."""
        if self.offline:
            at = self.model.as_of
        else:
            at = self.view.confirmed_at if self.view is not None else None
        return None if at is None else max(0.0, (self.now - at).total_seconds())

    def freshness(self) -> Text:
        """Appended to figures: nothing when fresh, the age when stale, ``as of`` offline (§4.5)."""
        age = self.figure_age()
        if self.offline:
            if age is None:
                return Text(" · as of unknown", style=self.palette.crit)
            return Text(
                f" · as of {clock(self.model.as_of, self.tz)} ({duration(age)} ago)", style=self.palette.crit
            )
        return self.palette.age(age)

    def since(self, value: Any) -> float | None:
        from risk_manager.trader.fmt import parse_time

        at = parse_time(value) if not isinstance(value, datetime) else value
        return None if at is None else max(0.0, (self.now - at).total_seconds())


class Figure(Static):
    """A one-line figure; a change of its number flashes it for 1 s (green in favour, red against)."""

    def __init__(self, *, favour: int = 0, **kwargs: Any) -> None:
        super().__init__("", **kwargs)
        self.favour = favour
        self._value: Decimal | None = None
        self._text = Text("")
        self._flash_style: str | None = None
        self._flash_until = 0.0
        self.palette: Palette | None = None

    def show(self, text: Text, value: Any = None, palette: Palette | None = None) -> None:
        self.palette = palette or self.palette
        number = dec(value)
        if (
            number is not None
            and self._value is not None
            and number != self._value
            and self.palette is not None
        ):
            direction = 0 if self.favour == 0 else (self.favour if number > self._value else -self.favour)
            self._flash_style = self.palette.flash(direction)
            self._flash_until = time.monotonic() + FLASH_S
            self.set_timer(FLASH_S + 0.05, self._repaint)
        if number is not None:
            self._value = number
        if (
            text.plain == self._text.plain
            and text.spans == self._text.spans
            and text.style == self._text.style
        ):
            if self._flash_until <= time.monotonic():
                return
        before, self._text = self._text, text
        self._repaint(before)

    @property
    def flashing(self) -> bool:
        return self._flash_until > time.monotonic()

    def _repaint(self, before: Text | None = None) -> None:
        text = self._text
        if self._flash_style and self.flashing:
            text = text.copy()
            text.stylize(self._flash_style)
        show_text(self, text, self._text if before is None else before)

    @property
    def text(self) -> str:
        return self._text.plain


def show_text(widget: Static, text: Text | str, before: Text | str | None) -> None:
    """``widget.update(text)``, asking for a screen layout only when the height may change: the widget
    sizes itself to its content, and ``before`` (what it showed) and ``text`` do not both fit its
    width in the same number of lines. Unknown ``before`` or an unsized widget: a layout, as always."""
    widget.update(text, layout=before is None or not _same_height(widget, before, text))


def _same_height(widget: Static, before: Text | str, after: Text | str) -> bool:
    width = widget.content_size.width
    styles = widget.styles
    if width <= 0 or (styles.width is not None and styles.width.is_auto):
        return False
    if styles.height is not None and not styles.height.is_auto:
        return True  # a fixed height: the text is clipped or padded, never resizes the widget
    old_plain = before.plain if isinstance(before, Text) else before
    new_plain = after.plain if isinstance(after, Text) else after
    if not old_plain or not new_plain:
        return False  # an empty text may take no line at all
    old, new = old_plain.split("\n"), new_plain.split("\n")
    return len(old) == len(new) and all(cell_len(part) <= width for part in (*old, *new))


def line(*parts: Text | str) -> Text:
    out = Text()
    for part in parts:
        out.append_text(part if isinstance(part, Text) else Text(part))
    return out
