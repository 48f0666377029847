"""ColumnsScreen: choose the log table's columns, attribute columns included."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, SelectionList

from hlog.query.fields import valid_attribute_key
from hlog.tui.widgets.log_table import DEFAULT_COLUMNS, Column
from hlog.tui.widgets.safe_input import SafeInput

OPTIONAL = [
    Column("service_version", "version", 8),
    Column("environment", "env", 8),
    Column("trace_id", "trace", 12),
    Column("span_id", "span", 8),
]


class ColumnsScreen(ModalScreen[list[Column] | None]):
    """Space toggles a column, Enter applies; type an attribute key to add it as a column."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="columns.cancel"),
        Binding("enter", "apply", "Apply", priority=True, id="columns.apply"),
    ]

    def __init__(self, current: list[Column]) -> None:
        super().__init__()
        known = {c.key for c in DEFAULT_COLUMNS + OPTIONAL}
        self.choices = DEFAULT_COLUMNS + OPTIONAL + [c for c in current if c.key not in known]
        self.current = {c.key for c in current}

    def compose(self) -> ComposeResult:
        with Vertical(id="columns-dialog"):
            yield Label(
                "Columns: space toggles, enter applies (with the attribute typed below)", classes="dialog-title"
            )
            yield SelectionList[str](*[(c.title, c.key, c.key in self.current) for c in self.choices], id="choices")
            yield SafeInput(placeholder="add an attribute column, e.g. user.id", id="attribute")

    def on_mount(self) -> None:
        self.query_one(SelectionList).focus()

    def _add_typed_attribute(self) -> bool:
        field = self.query_one("#attribute", Input)
        key = field.value.strip()
        if not key:
            return True
        if not valid_attribute_key(key):
            self.notify(f"{key!r} is not an attribute key", severity="warning")
            return False
        column = Column(f"attr:{key}", key, 14)
        self.choices.append(column)
        self.query_one(SelectionList).add_option((column.title, column.key, True))
        field.value = ""
        return True

    def action_apply(self) -> None:
        if not self._add_typed_attribute():
            return
        selected = set(self.query_one(SelectionList).selected)
        self.dismiss([c for c in self.choices if c.key in selected])

    def action_cancel(self) -> None:
        self.dismiss(None)
