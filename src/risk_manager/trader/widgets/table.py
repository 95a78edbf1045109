"""A DataTable keyed by record id that updates only the cells that changed, and flashes them.

A push changes one row or one cell; rebuilding the table per message would redraw the whole tab.
``sync`` compares the wanted rows with what is shown: same keys in the same order -> only changed cells
are written; otherwise (a row added or removed) the rows are laid out again, keeping the cursor.
Changed cells flash for 1 s (green when the figure moved in the trader's favour, red when against,
neutral otherwise), at most once per 500 ms per cell; new rows are highlighted for 3 s. Painting
re-renders only cells whose content changed (``cell_cache.py``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

from rich.text import Text

from risk_manager.trader.style import Palette
from risk_manager.trader.widgets.cell_cache import CellCachedTable

FLASH_S = 1.0
NEW_ROW_S = 3.0
MIN_FLASH_GAP_S = 0.5
_NUMBER = re.compile(r"[−\-+]?[\d,]*\.?\d+")


def fit(
    total: int, fixed: Mapping[str, int], flex: str, columns: Sequence[tuple[str, str]], minimum: int = 12
) -> dict[str, int]:
    """Widths for ``columns`` inside ``total`` cells: the fixed ones, the rest to ``flex``."""
    shown = [c for c, _ in columns]
    used = sum(w for c, w in fixed.items() if c in shown) + 2 * len(shown) + 2  # cell padding, scrollbar
    out = {c: w for c, w in fixed.items() if c in shown}
    if flex in shown:
        out[flex] = max(minimum, total - used)
    return out


def _number(text: str) -> float | None:
    match = _NUMBER.search(text)
    if match is None:
        return None
    raw = match.group(0).replace(",", "").replace("−", "-")
    try:
        return float(raw)
    except ValueError:
        return None


class KeyedTable(CellCachedTable):
    DEFAULT_CSS = "KeyedTable { height: auto; max-height: 100%; }"

    def __init__(self, palette: Palette, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)
        self.palette = palette
        self.columns_wanted: list[tuple[str, str]] = []
        self.favour: dict[str, int] = {}  # column -> +1 higher is better, -1 lower is better, 0 neutral
        self.flash_cols: set[str] = set()
        self._shown: dict[str, dict[str, Text]] = {}
        self._base: dict[str, dict[str, Text]] = {}
        self._order: list[str] = []
        self._flash: dict[tuple[str, str], tuple[float, str]] = {}
        self._last_flash: dict[tuple[str, str], float] = {}
        self._new: dict[str, float] = {}
        self._loaded = False
        self._widths: dict[str, int] = {}
        self._base_prev: dict[str, dict[str, Text]] = {}

    def set_columns(
        self, columns: Sequence[tuple[str, str]], widths: Mapping[str, int] | None = None
    ) -> None:
        """(key, label) pairs and fixed column widths; re-lays the table only when they change.

        Columns with a width wrap their text inside it (rows grow), so nothing scrolls sideways.
        """
        layout = (list(columns), dict(widths or {}))
        if layout == (self.columns_wanted, self._widths):
            return
        self.columns_wanted, self._widths = layout
        self.clear(columns=True)
        for key, label in columns:
            self.add_column(label, key=key, width=self._widths.get(key))
        self._shown.clear()
        self._base.clear()
        self._order = []

    def sync(self, rows: Sequence[tuple[str, Mapping[str, Any]]]) -> set[str]:
        """Show ``rows`` (key, {column: cell}); returns the keys that are new since the last sync."""
        now = time.monotonic()
        keys = [k for k, _ in rows]
        wanted = {
            k: {c: v if isinstance(v, Text) else Text(str(v)) for c, v in cells.items()} for k, cells in rows
        }
        new = set(keys) - set(self._order) if self._loaded else set()
        for key in new:
            self._new[key] = now + NEW_ROW_S
        changed: dict[tuple[str, str], int] = {}
        for key in keys:
            old = self._base.get(key)
            if old is None:
                continue
            for col in self.flash_cols:
                before, after = old.get(col), wanted[key].get(col)
                if before is not None and after is not None and before.plain != after.plain:
                    changed[(key, col)] = self._direction(col, before.plain, after.plain)
        for spot, direction in changed.items():
            if now - self._last_flash.get(spot, 0.0) >= MIN_FLASH_GAP_S:
                self._last_flash[spot] = now
                self._flash[spot] = (now + FLASH_S, self.palette.flash(direction))
        self._base = wanted
        grown = any(
            len(cell.plain) > self._widths[col]
            and (self._base_prev.get(key, {}).get(col) or Text("")).plain != cell.plain
            for key, cells in wanted.items()
            for col, cell in cells.items()
            if col in self._widths
        )
        self._base_prev = wanted
        if keys != self._order or grown:
            self._relayout(keys, wanted, now)
        else:
            for key in keys:
                old = self._shown.get(key, {})
                for col, _ in self.columns_wanted:
                    cell = self._styled(key, col, wanted[key].get(col, Text("")), now)
                    if (
                        old.get(col) is None
                        or old[col].plain != cell.plain
                        or old[col].style != cell.style
                        or old[col].spans != cell.spans
                    ):
                        self.update_cell(key, col, cell)
                self._shown[key] = {
                    c: self._styled(key, c, wanted[key].get(c, Text("")), now) for c, _ in self.columns_wanted
                }
        self._loaded = True
        return new

    def patch(self, key: str, cells: Mapping[str, Any]) -> None:
        """Change some cells of one row (a quote: Last and Unrealized only); nothing else is touched."""
        base = self._base.get(key)
        if base is None or key not in self._order:
            return
        now = time.monotonic()
        visible = {c for c, _ in self.columns_wanted}
        for col, value in cells.items():
            cell = value if isinstance(value, Text) else Text(str(value))
            old = base.get(col)
            if (
                old is not None
                and old.plain == cell.plain
                and old.spans == cell.spans
                and old.style == cell.style
            ):
                continue
            if col in self.flash_cols and old is not None and old.plain != cell.plain:
                if now - self._last_flash.get((key, col), 0.0) >= MIN_FLASH_GAP_S:
                    self._last_flash[(key, col)] = now
                    self._flash[(key, col)] = (
                        now + FLASH_S,
                        self.palette.flash(self._direction(col, old.plain, cell.plain)),
                    )
            base[col] = cell
            if col in visible:
                styled = self._styled(key, col, cell, now)
                self.update_cell(key, col, styled)
                self._shown[key][col] = styled

    def expire(self) -> None:
        """Take finished flashes and highlights off (called by the app's ticker)."""
        now = time.monotonic()
        done = [cell for cell, (until, _) in self._flash.items() if until <= now]
        rows_done = [key for key, until in self._new.items() if until <= now]
        if not done and not rows_done:
            return
        for spot in done:
            del self._flash[spot]
        for key in rows_done:
            del self._new[key]
        touched = {key for key, _ in done} | set(rows_done)
        for key in touched:
            shown, base = self._shown.get(key), self._base.get(key)
            if shown is None or base is None or key not in self._order:
                continue
            for col, _ in self.columns_wanted:
                cell = self._styled(key, col, base.get(col, Text("")), now)
                self.update_cell(key, col, cell)
                shown[col] = cell

    def _relayout(self, keys: list[str], wanted: dict[str, dict[str, Text]], now: float) -> None:
        cursor_key = self._order[self.cursor_row] if 0 <= self.cursor_row < len(self._order) else None
        self.clear()
        self._shown = {}
        for key in keys:
            cells = [
                self._styled(key, col, wanted[key].get(col, Text("")), now) for col, _ in self.columns_wanted
            ]
            self.add_row(*cells, key=key, height=None if self._widths else 1)
            self._shown[key] = dict(zip([c for c, _ in self.columns_wanted], cells, strict=True))
        self._order = keys
        if cursor_key in keys:
            self.move_cursor(row=keys.index(cursor_key), animate=False)

    def _styled(self, key: str, col: str, cell: Text, now: float) -> Text:
        flash = self._flash.get((key, col))
        style = None
        if flash is not None and flash[0] > now:
            style = flash[1]
        elif self._new.get(key, 0.0) > now:
            style = self.palette.flat_bg if self.palette.mono else "on grey23"
        if style is None:
            return cell
        out = cell.copy()
        out.stylize(style)
        return out

    def _direction(self, col: str, before: str, after: str) -> int:
        sign = self.favour.get(col, 0)
        a, b = _number(before), _number(after)
        if sign == 0 or a is None or b is None or a == b:
            return 0
        return sign if b > a else -sign

    def cell_text(self, key: str, col: str) -> str:
        shown = self._shown.get(key, {}).get(col)
        return "" if shown is None else shown.plain

    def cell_style(self, key: str, col: str) -> str:
        """The style of a cell as drawn when not flashing (its colour or monochrome emphasis)."""
        base = self._base.get(key, {}).get(col)
        return "" if base is None else str(base.style)

    def row_keys(self) -> list[str]:
        return list(self._order)

    def selected_key(self) -> str | None:
        return self._order[self.cursor_row] if 0 <= self.cursor_row < len(self._order) else None
