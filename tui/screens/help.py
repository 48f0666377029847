"""Help: every key of the screen underneath, grouped, in a scrollable panel."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

# binding ids are `<group>.<name>`: the group says where a key works
GROUPS = {
    "search": "Search",
    "log": "The list of logs",
    "detail": "A log's fields (Tab to reach them)",
    "session": "Session",
    "trace": "Trace",
    "alerts": "Alert rules",
    "form": "Alert form",
    "app": "Everywhere",
}
KEY_NAMES = {
    "down": "↓",
    "up": "↑",
    "left": "←",
    "right": "→",
    "pagedown": "PgDn",
    "pageup": "PgUp",
    "home": "Home",
    "end": "End",
    "enter": "Enter",
    "escape": "Esc",
    "slash": "/",
    "question_mark": "?",
    "left_square_bracket": "[",
    "right_square_bracket": "]",
    "space": "Space",
    "tab": "Tab",
    "shift+tab": "Shift+Tab",
}


def key_text(keys: str) -> str:
    """`j,down` as `j ↓`; `ctrl+s` as `Ctrl+S`."""
    shown = []
    for key in keys.split(","):
        key = key.strip()
        if key in KEY_NAMES:
            shown.append(KEY_NAMES[key])
        elif key.startswith("ctrl+"):
            shown.append("Ctrl+" + key[5:].upper())
        else:
            shown.append(key)
    return " ".join(shown)


def screen_keys(screen: Screen[Any]) -> dict[str, list[Binding]]:
    """The keys of `screen`, its widgets and the app, by group (hlog's own bindings: those with an id)."""
    nodes = [screen, *screen.query("*"), screen.app]
    groups: dict[str, list[Binding]] = {}
    seen: set[str] = set()
    for node in nodes:
        for binding in getattr(node, "BINDINGS", []):
            if not isinstance(binding, Binding) or not binding.id or binding.id in seen or not binding.description:
                continue
            seen.add(binding.id)
            groups.setdefault(GROUPS.get(binding.id.split(".")[0], "Other"), []).append(binding)
    return groups


class HelpScreen(ModalScreen[None]):
    """Every key of the screen underneath. Esc, ? or q closes it."""

    BINDINGS = [
        Binding("escape,question_mark,q", "dismiss", "Close", id="help.close"),
    ]

    def __init__(self, under: Screen[Any]) -> None:
        super().__init__()
        self.under = under

    def compose(self) -> ComposeResult:
        text = Text()
        text.append("Keys  ", style="bold")
        text.append("(↑ ↓ PgUp PgDn to scroll; Esc, ? or q to close)\n", style="dim")
        for group, bindings in screen_keys(self.under).items():
            text.append(f"\n{group}\n", style="bold cyan")
            for binding in bindings:
                text.append(f"  {key_text(binding.key):>14}  ", style="bold")
                text.append(binding.description)
                if binding.tooltip and binding.tooltip != binding.description:
                    text.append(f"  {binding.tooltip}", style="dim")
                text.append("\n")
        with VerticalScroll(id="help-scroll"):
            yield Static(text, id="help-text")

    def on_mount(self) -> None:
        self.query_one("#help-scroll", VerticalScroll).focus()
