"""FindScreen: the text ctrl+f looks for in the loaded logs' messages."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from hlog.tui.widgets.safe_input import SafeInput


class FindScreen(ModalScreen[str | None]):
    """Dismisses with the text to find ("" clears it), or None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="find.cancel")]

    def __init__(self, current: str = "") -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="view-dialog"):
            yield Label("Find in the loaded logs", classes="dialog-title")
            yield Label("highlighted in the messages; n / N go to the next / previous one")
            yield SafeInput(value=self.current, placeholder="text, in any case", id="find-text")

    def on_mount(self) -> None:
        self.query_one("#find-text", Input).focus()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)
