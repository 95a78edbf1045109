"""A DataTable that re-renders only the cells whose content changed (trader-cli.md §12).

Why: Textual's DataTable keys its cell cache by a table-wide update counter, so writing one cell, or
adding a row, makes the next paint render every visible cell again through Rich (padding, wrapping,
styles). On the P&L tab at 10 fills a second that full re-render of the recent-trades table was most
of the dashboard's CPU and the source of its latency spikes: each fill adds a row at the top, which
shifts every row without changing a single cell's text.

This subclass keeps a second cache keyed by what decides a cell's look: its text (characters, spans,
style), width, row height, the row's base style and the cursor/hover/focus state. A hit is the same
drawing; only the mouse metadata (``row``/``column``, used for clicks) is re-stamped when the cell
moved to another row. Header and label cells, cells that are not ``Text``, and rows whose height is
still being measured go through Textual's own path unchanged.

It overrides ``_render_cell``, a private method: the signature is pinned by ``textual>=8.2,<9`` in
pyproject.toml and checked by the dashboard's snapshot tests.
"""

from __future__ import annotations

from typing import Any

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.coordinate import Coordinate
from textual.widgets import DataTable

MAX_CELLS = 4000

Lines = list[list[Segment]]


class CellCachedTable(DataTable[Any]):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._drawn_cells: dict[tuple[Any, ...], tuple[int, int, Lines]] = {}
        self.cell_renders = 0  # cells rendered through Rich (tests and the benchmark read it)

    def notify_style_update(self) -> None:
        self._drawn_cells.clear()  # a theme or CSS change alters every cell's look
        super().notify_style_update()

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> Lines:
        key = self._look(row_index, column_index, base_style, width, cursor, hover)
        if key is None:
            # Textual's own object: measuring an auto-height row pads it in place afterwards
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        found = self._drawn_cells.get(key)
        if found is None:
            self.cell_renders += 1
            lines = super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
            if len(self._drawn_cells) >= MAX_CELLS:
                self._drawn_cells.clear()
            self._drawn_cells[key] = (row_index, column_index, lines)
            return lines
        drawn_row, drawn_column, lines = found
        if (drawn_row, drawn_column) == (row_index, column_index):
            return lines
        meta = Style.from_meta({"row": row_index, "column": column_index})
        return [list(Segment.apply_style(line, post_style=meta)) for line in lines]

    def _look(
        self, row_index: int, column_index: int, base_style: Style, width: int, cursor: bool, hover: bool
    ) -> tuple[Any, ...] | None:
        """Everything that decides how a body cell looks; None: leave it to Textual."""
        if row_index < 0 or column_index < 0:
            return None
        row_key, column_key = self.coordinate_to_cell_key(Coordinate(row_index, column_index))
        cell = self.get_cell(row_key, column_key)
        height = self.rows[row_key].height
        if not isinstance(cell, Text) or height == 0:
            return None
        return (
            cell.plain,
            tuple(cell.spans),
            str(cell.style),
            cell.justify,
            cell.overflow,
            cell.no_wrap,
            column_index < self.fixed_columns or row_index < self.fixed_rows,
            base_style,
            width,
            height,
            self.cell_padding,
            cursor,
            hover,
            self.show_cursor,
            self.cursor_type,
            getattr(self, "_show_hover_cursor", None),
            getattr(self, "_pseudo_class_state", None),
        )
