"""RangeScreen: pick a preset time range or type a custom one."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from hlog.backend.timeutil import format_ns, parse_time_ns
from hlog.tui.timerange import PRESETS, Range
from hlog.tui.widgets.safe_input import SafeInput


class RangeScreen(ModalScreen[Range | None]):
    """Dismisses with the chosen Range, or None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="range.cancel")]

    def __init__(self, current: Range) -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="range-dialog"):
            yield Label("Time range", classes="dialog-title")
            yield OptionList(*[Option(f"last {p}", id=p) for p in PRESETS], id="presets")
            yield Label("or from / to (ISO 8601 or a duration ago: 2h, 3d):")
            start, end = self.current.start_ns, self.current.end_ns
            yield SafeInput(value=format_ns(start, 0) if start else "", placeholder="from, e.g. 2h", id="from")
            yield SafeInput(value=format_ns(end, 0) if end else "", placeholder="to (empty: now)", id="to")
            yield Static(id="range-error")

    def on_mount(self) -> None:
        presets = self.query_one("#presets", OptionList)
        presets.highlighted = PRESETS.index(self.current.preset) if self.current.preset in PRESETS else 0
        presets.focus()

    @on(OptionList.OptionSelected, "#presets")
    def _preset(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(Range(event.option.id))

    @on(Input.Submitted)
    def _custom(self) -> None:
        raw_from = self.query_one("#from", Input).value.strip()
        raw_to = self.query_one("#to", Input).value.strip()
        try:
            start = parse_time_ns(raw_from)
            end = parse_time_ns(raw_to) if raw_to else None
            if end is not None and start >= end:
                raise ValueError("from must be before to")
        except ValueError as err:
            self.query_one("#range-error", Static).update(f"✗ {err}")
            return
        self.dismiss(Range(None, start, end))

    def action_cancel(self) -> None:
        self.dismiss(None)
