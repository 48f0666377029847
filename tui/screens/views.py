"""Saved views: Ctrl+S names and saves the current search; `v` lists them and opens one."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from hlog.backend.timeutil import format_ns
from hlog.backend.views import NAME
from hlog.tui.format import one_line
from hlog.tui.widgets.safe_input import SafeInput


class SaveViewScreen(ModalScreen[str | None]):
    """Asks for a name; dismisses with it, or None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="save_view.cancel")]

    def __init__(self, suggested: str = "") -> None:
        super().__init__()
        self.suggested = suggested

    def compose(self) -> ComposeResult:
        with Vertical(id="view-dialog"):
            yield Label("Save this view", classes="dialog-title")
            yield Label("its search, range, columns and breakdown, kept in the store for everyone")
            yield SafeInput(value=self.suggested, placeholder="a name, e.g. checkout errors", id="view-name")
            yield Static(id="view-error")

    def on_mount(self) -> None:
        self.query_one("#view-name", Input).focus()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        name = event.value.strip()
        if not NAME.match(name):
            self.query_one("#view-error", Static).update(
                "✗ 1 to 64 letters, digits, spaces, dots, dashes or underscores, starting with a letter or digit"
            )
            return
        self.dismiss(name)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ViewsScreen(ModalScreen[dict[str, Any] | None]):
    """The saved views; dismisses with the one chosen, or None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="views.cancel")]

    def __init__(self, views: list[dict[str, Any]]) -> None:
        super().__init__()
        self.views = views

    def compose(self) -> ComposeResult:
        with Vertical(id="view-dialog"):
            yield Label("Saved views", classes="dialog-title")
            if self.views:
                yield OptionList(*[Option(self._line(v), id=str(i)) for i, v in enumerate(self.views)], id="views")
            else:
                yield Label("none yet: Ctrl+S saves the current search as a view")

    def on_mount(self) -> None:
        if self.views:
            self.query_one("#views", OptionList).focus()

    @staticmethod
    def _line(view: dict[str, Any]) -> Text:
        text = Text()
        text.append(one_line(view["name"]), style="bold")
        text.append(f"  {one_line(view['query']) or '*'}")
        if view["since"]:
            text.append(f"  last {view['since']}", style="dim")
        elif view["from_ns"]:
            end = format_ns(view["to_ns"], 0) if view["to_ns"] else "now"
            text.append(f"  {format_ns(view['from_ns'], 0)} → {end}", style="dim")
        if view["by"]:
            text.append(f"  by {one_line(view['by'])}", style="dim")
        return text

    @on(OptionList.OptionSelected, "#views")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.views[int(event.option.id or 0)])

    def action_cancel(self) -> None:
        self.dismiss(None)
