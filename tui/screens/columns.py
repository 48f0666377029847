"""ColumnsScreen: choose the log table's columns, attribute columns included; the choice is kept
across runs in the user's state directory (next to the search history)."""

from __future__ import annotations

import json
from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, SelectionList, Static

from hlog.query.fields import valid_attribute_key
from hlog.tui.widgets.log_table import DEFAULT_COLUMNS, Column
from hlog.tui.widgets.safe_input import SafeInput

OPTIONAL = [
    Column("service_version", "version", 8),
    Column("environment", "env", 8),
    Column("trace_id", "trace", 12),
    Column("span_id", "span", 8),
]
ATTRIBUTE_WIDTH = 14


def column_for(key: str) -> Column | None:
    """The column of a key (`attr:<name>` for an attribute); None for anything else."""
    for column in DEFAULT_COLUMNS + OPTIONAL:
        if column.key == key:
            return column
    name = key.removeprefix("attr:")
    return Column(key, name, ATTRIBUTE_WIDTH) if key.startswith("attr:") and valid_attribute_key(name) else None


def load_columns(path: Path | None) -> list[Column] | None:
    """The columns saved at `path`, or None (no file, or nothing usable in it: the file is
    untrusted, so only known keys and valid attribute keys are taken, titles come from the keys)."""
    if path is None:
        return None
    try:
        keys = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    columns = [c for c in (column_for(k) for k in keys if isinstance(k, str)) if c] if isinstance(keys, list) else []
    return list({c.key: c for c in columns}.values()) or None


def save_columns(path: Path | None, columns: list[Column]) -> None:
    """Remember the columns for the next run (a convenience: a read-only home is no error)."""
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps([c.key for c in columns]))
    except OSError:
        pass


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
            yield Label("Columns", classes="dialog-title")
            yield Static(
                "space shows or hides a column, enter applies; type an attribute key below to add it",
                classes="dialog-hint",
            )
            yield SelectionList[str](
                *[(self._prompt(c, c.key in self.current), c.key, c.key in self.current) for c in self.choices],
                id="choices",
            )
            yield SafeInput(placeholder="add an attribute column, e.g. user.id", id="attribute")

    @staticmethod
    def _prompt(column: Column, shown: bool) -> Text:
        """A row that says in words whether the column is shown (a tick's colour alone is not
        seen on every terminal)."""
        text = Text(f"{column.title:<24}", style="bold" if shown else "dim")
        text.append("shown" if shown else "hidden", style="bold" if shown else "dim")
        return text

    @on(SelectionList.SelectedChanged, "#choices")
    def _changed(self) -> None:
        choices = self.query_one("#choices", SelectionList)
        selected = set(choices.selected)
        for index, column in enumerate(self.choices):
            choices.replace_option_prompt_at_index(index, self._prompt(column, column.key in selected))

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
        column = Column(f"attr:{key}", key, ATTRIBUTE_WIDTH)
        self.choices.append(column)
        self.query_one(SelectionList).add_option((self._prompt(column, True), column.key, True))
        field.value = ""
        return True

    def action_apply(self) -> None:
        if not self._add_typed_attribute():
            return
        selected = set(self.query_one(SelectionList).selected)
        self.dismiss([c for c in self.choices if c.key in selected])

    def action_cancel(self) -> None:
        self.dismiss(None)
