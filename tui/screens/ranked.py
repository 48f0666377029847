"""A screen that ranks the matches of a search (patterns, groups): a summary line, a header, one
row each, most common first; it dismisses with a search term to add, or None."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import OptionList, Static

from hlog.tui.format import one_line
from hlog.tui.widgets.footer import HlogFooter

if TYPE_CHECKING:
    from hlog.tui.app import HlogApp


class RankedScreen(Screen[str | None]):
    BINDINGS = [
        Binding("escape", "back", "Back", tooltip="Back to the search", id="ranked.back"),
        Binding("j", "down", "Down", show=False, id="ranked.down"),
        Binding("k", "up", "Up", show=False, id="ranked.up"),
    ]

    @property
    def hlog(self) -> HlogApp:
        return self.app  # type: ignore[return-value]

    @property
    def ranked(self) -> OptionList:
        return self.query_one("#ranked", OptionList)

    def compose(self) -> ComposeResult:
        yield Static(id="ranked-summary")
        yield Static(id="ranked-header")
        yield OptionList(id="ranked")
        yield HlogFooter()

    def on_mount(self) -> None:
        self.ranked.focus()

    def summary(self, text: Text) -> None:
        self.query_one("#ranked-summary", Static).update(text)

    def header(self, text: str) -> None:
        self.query_one("#ranked-header", Static).update(Text(text, style="dim"))

    def failed(self, err: Exception) -> None:
        self.summary(Text(f"✗ {one_line(str(err))}", style="bold red"))

    def fit(self, line: Text) -> Text:
        """A row cut to the screen's width, leaving room for the scrollbar."""
        line.truncate(max(20, self.size.width - 4), overflow="ellipsis")
        return line

    def action_down(self) -> None:
        self.ranked.action_cursor_down()

    def action_up(self) -> None:
        self.ranked.action_cursor_up()

    def action_back(self) -> None:
        self.dismiss(None)
