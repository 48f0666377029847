"""`M`: the marked logs, as JSON lines in time order, copied (OSC 52) or written to a file."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from hlog.tui.format import copied_where, one_line, plural
from hlog.tui.widgets.safe_input import SafeInput


def json_lines(logs: list[dict[str, Any]]) -> str:
    """The logs as JSON lines, oldest first (without the table's paging cursor)."""
    ordered = sorted(logs, key=lambda r: (r["timestamp_ns"], int(r["id"])))
    records = ({k: v for k, v in log.items() if k != "cursor"} for log in ordered)
    return "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)


def write_new_file(path: Path, text: str) -> None:
    """Write `text` to a file that must not exist yet, readable by its owner only (logs may be
    private); raises OSError saying why not."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


class MarkedScreen(ModalScreen[None]):
    """Enter with no file copies the marked logs; with a file name writes them there."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="marked.cancel")]

    def __init__(self, logs: list[dict[str, Any]]) -> None:
        super().__init__()
        self.logs = logs

    def compose(self) -> ComposeResult:
        with Vertical(id="view-dialog"):
            yield Label(f"{plural(len(self.logs), 'marked log')}, as JSON lines", classes="dialog-title")
            yield Label("Enter copies them (OSC 52); or type a file to write them to")
            yield SafeInput(placeholder="a new file, e.g. ~/incident.jsonl", id="marked-file")
            yield Static(id="marked-error")

    def on_mount(self) -> None:
        self.query_one("#marked-file", Input).focus()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        text = json_lines(self.logs)
        what = plural(len(self.logs), "marked log")
        name = event.value.strip()
        if not name:
            self.app.copy_to_clipboard(text.rstrip("\n"))
            self.app.notify(copied_where(what, "as JSON lines"), timeout=6)
            self.dismiss(None)
            return
        path = Path(name).expanduser()
        try:
            write_new_file(path, text)
        except FileExistsError:
            self.query_one("#marked-error", Static).update("✗ that file exists: choose a new name")
            return
        except OSError as err:
            self.query_one("#marked-error", Static).update(f"✗ {one_line(err.strerror or str(err))}")
            return
        self.app.notify(f"Wrote {what} to {one_line(str(path))}", timeout=6)
        self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
