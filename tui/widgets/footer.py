"""The footer: Textual's, with Help and Quit first, so that a narrow terminal never hides them."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

FIRST = ("toggle_help", "quit")


class HlogFooter(Footer):
    """The screen's keys as Textual shows them, `? Help` and `q Quit` at the left."""

    def compose(self) -> ComposeResult:
        keys = list(super().compose())
        first = [k for k in keys if isinstance(k, FooterKey) and k.action in FIRST]
        first.sort(key=lambda k: FIRST.index(k.action))
        yield from first + [k for k in keys if k not in first]
