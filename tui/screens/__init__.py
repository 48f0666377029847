"""Screens of the hlog TUI."""

from __future__ import annotations

from typing import Any

from textual.screen import Screen


def left(screen: Screen[Any]) -> bool:
    """Whether the user left `screen` while the backend answered: popped, it is out of the stack at
    once, while its widgets are still being removed (a late answer must not look for them)."""
    return not screen.is_attached or screen not in screen.app.screen_stack
