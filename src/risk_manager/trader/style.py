"""Colour and its monochrome stand-ins (trader-cli.md §10).

Every state has a textual marker as well as a colour, so nothing depends on colour alone: signs on
money, ``OK``/``WARN``/``CRIT`` after percentages in monochrome, ``!! LOCKED !!`` in banners, reverse
video for flashes. One ``Palette`` per app decides which of the two is drawn.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text

from risk_manager.trader.fmt import dec, duration, money, pct

STALE_S = 5.0
VERY_STALE_S = 30.0


class Palette:
    def __init__(self, mono: bool) -> None:
        self.mono = mono
        self.ok = "" if mono else "green"
        self.warn = "bold" if mono else "yellow"
        self.crit = "bold" if mono else "bold red"
        self.muted = "" if mono else "grey50"
        self.good_bg = "reverse" if mono else "on dark_green"
        self.bad_bg = "reverse" if mono else "on dark_red"
        self.flat_bg = "reverse" if mono else "on grey30"
        self.banner_red = "reverse bold" if mono else "bold white on dark_red"
        self.banner_yellow = "reverse" if mono else "bold black on yellow"

    def money(self, value: Any, *, signed: bool = True) -> Text:
        amount = dec(value)
        text = money(value, signed=signed, plus=self.mono and signed)
        if amount is None or not signed or self.mono:
            return Text(text)
        return Text(text, style=self.ok if amount > 0 else ("red" if amount < 0 else ""))

    def level(self, used: float | None) -> str:
        if used is None:
            return ""
        if used >= 90:
            return self.crit
        if used >= 70:
            return self.warn
        return self.ok

    def marker(self, used: float | None) -> str:
        if used is None:
            return ""
        return "CRIT" if used >= 90 else ("WARN" if used >= 70 else "OK")

    def pct(self, used: float | None) -> Text:
        text = pct(used)
        if used is not None and self.mono:
            text += f" {self.marker(used)}"
        return Text(text, style=self.level(used))

    def bar(self, used: float | None, width: int = 10) -> Text:
        if used is None:
            return Text("")
        filled = max(0, min(width, round(width * used / 100)))
        return Text("▕" + "█" * filled + "░" * (width - filled) + "▏", style=self.level(used))

    def age(self, seconds: float | None, *, plain_below: float = STALE_S) -> Text:
        """``3m 12s ago`` in yellow (> 5 s) or red (> 30 s); empty when fresh."""
        if seconds is None:
            return Text("")
        if seconds <= plain_below:
            return Text("")
        style = self.crit if seconds > VERY_STALE_S else self.warn
        return Text(f" · {duration(seconds)} ago", style=style)

    def dot(self, good: bool | None) -> Text:
        if good is None:
            return Text("?", style=self.warn)
        if self.mono:
            return Text("●" if good else "✗", style="" if good else "bold")
        return Text("●" if good else "✗", style="green" if good else "bold red")

    def flash(self, direction: int) -> str:
        return self.good_bg if direction > 0 else (self.bad_bg if direction < 0 else self.flat_bg)
