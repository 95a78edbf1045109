"""The dashboard's tab container: tabs change only by the trader's keys and clicks.

Textual's ``TabbedContent`` also activates the pane of any widget that receives focus, through a
message handled a moment later. The dashboard focuses a tab's table when it opens it, so a second key
pressed before that message (``6`` then ``1``) would be undone by it and the screen would stay on the
first tab. Hidden panes hold nothing focusable, so ignoring that message loses nothing.
"""

from __future__ import annotations

from textual.widgets import TabbedContent, TabPane


class DashboardTabs(TabbedContent):
    def _on_tab_pane_focused(self, event: TabPane.Focused) -> None:
        event.prevent_default()  # not the base class's handler either
        event.stop()
