"""FacetPanel: the top values of each field among the matches, beside the logs (`F`)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from hlog.tui.format import one_line, service_label

BAR_CELLS = 8
VALUE_CELLS = 14  # the panel is 36 cells wide: border, 2, value, share, bar


class FacetPanel(OptionList):
    """Each field a heading, its top values below it; Enter filters to a value, `x` excludes it."""

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False, id="facets.down"),
        Binding("k", "cursor_up", "Up", show=False, id="facets.up"),
        Binding("x", "exclude", "Exclude", tooltip="Exclude the highlighted value", id="facets.exclude"),
    ]

    class Picked(Message):
        """Add `key:value` (or `-key:value`) to the query."""

        def __init__(self, key: str, value: str, exclude: bool) -> None:
            super().__init__()
            self.key, self.value, self.exclude = key, value, exclude

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.picks: dict[str, tuple[str, str]] = {}  # option id -> (key, value)

    def mark_loading(self) -> None:
        """Say that the facets of a new search are on their way."""
        self.border_subtitle = "loading…"

    def show_facets(self, found: dict[str, Any]) -> None:
        """Fill the panel from an /api/facets answer."""
        self.clear_options()
        self.picks.clear()
        options: list[Option] = []
        for facet in found["facets"]:
            key = facet["key"]
            options.append(Option(Text(one_line(key), style="bold"), disabled=True))
            for value in facet["values"]:
                option_id = f"v{len(self.picks)}"
                self.picks[option_id] = (key, value["value"])
                options.append(Option(self._line(key, value), id=option_id))
            if facet["other"]:
                other = Text(f"  {plural_values(facet['distinct'] - len(facet['values']))}", style="dim")
                options.append(Option(other, disabled=True))
        if not options:
            options.append(Option(Text("no logs match", style="dim"), disabled=True))
        self.add_options(options)
        self.border_title = "Facets"
        total = f"{found['total']:,} logs"
        self.border_subtitle = total if found["exact"] else f"{total}, 1 in {found['sample_rate']} sampled"
        first = next((i for i, o in enumerate(options) if not o.disabled), None)
        self.highlighted = first

    @staticmethod
    def _line(key: str, value: dict[str, Any]) -> Text:
        shown = service_label(value["value"]) if key == "service_name" else one_line(value["value"]) or '""'
        cells = round(value["share"] * BAR_CELLS)
        bar = "█" * cells if cells else "▏"
        text = Text("  ")
        text.append(f"{shown[:VALUE_CELLS]:<{VALUE_CELLS}} ")
        text.append(f"{value['share']:>4.0%} ", style="cyan")
        text.append(bar, style="cyan")
        return text

    def picked(self) -> tuple[str, str] | None:
        """The key and value of the highlighted row."""
        if self.highlighted is None:
            return None
        option = self.get_option_at_index(self.highlighted)
        return self.picks.get(option.id or "")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        pick = self.picks.get(event.option.id or "")
        if pick is not None:
            self.post_message(self.Picked(pick[0], pick[1], exclude=False))

    def action_exclude(self) -> None:
        pick = self.picked()
        if pick is not None:
            self.post_message(self.Picked(pick[0], pick[1], exclude=True))


def plural_values(n: int) -> str:
    """'… and N more values' for the values a facet does not list."""
    return f"… {n:,} more value{'' if n == 1 else 's'}" if n > 0 else "… more"
