"""SearchBar: the query input, with history on up/down and suggestions of keys, values and operators."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from textual.binding import Binding
from textual.suggester import Suggester

from hlog.query import format_value
from hlog.tui.history import History
from hlog.tui.widgets.safe_input import SafeInput

OPERATORS = (":", "=", "!=", ">", ">=", "<", "<=", " EXISTS")
_LAST_TERM = re.compile(r"(?:^|[\s(])(-?)([A-Za-z0-9_@$.\-/]*)(?:(!=|>=|<=|[:=<>])([^\s()]*))?$")


class QuerySuggester(Suggester):
    """Completes the last term: a key from the store, then a top value of that key."""

    def __init__(
        self,
        keys: Callable[[], Awaitable[list[str]]],
        values: Callable[[str, str], Awaitable[list[str]]],
    ) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self._keys = keys
        self._values = values

    async def get_suggestion(self, value: str) -> str | None:
        m = _LAST_TERM.search(value)
        if not m or value.endswith(" "):
            return None
        key, op, typed = m.group(2), m.group(3), m.group(4)
        head = value[: len(value) - len(key) - len(op or "") - len(typed or "")]
        if op is None:
            if not key:
                return None
            for candidate in await self._keys():
                if candidate.startswith(key) and candidate != key and candidate.isprintable():
                    return head + candidate + ":"
            return None
        typed = typed or ""
        for candidate in await self._values(key, typed):
            # a value with control characters is offered as an inert regex that still matches it
            shown = format_value(candidate)
            if shown.startswith(typed) and shown != typed:
                return head + key + op + shown
        return None


class SearchBar(SafeInput):
    """The query line: Enter runs it, up/down walk the history."""

    BINDINGS = [
        Binding("up", "history(-1)", "Previous query", show=False, id="search.history_prev"),
        Binding("down", "history(1)", "Next query", show=False, id="search.history_next"),
    ]

    def __init__(self, history: History, suggester: Suggester | None = None, **kwargs: Any) -> None:
        super().__init__(
            placeholder='search: level:error service:checkout "card declined"  (Enter to run)',
            suggester=suggester,
            **kwargs,
        )
        self.history = history
        self._position = len(history.entries)

    def remember(self, query: str) -> None:
        """Add a query to the history and reset the walk."""
        self.history.add(query)
        self._position = len(self.history.entries)

    def action_history(self, step: int) -> None:
        entries = self.history.entries
        if not entries:
            return
        self._position = max(0, min(len(entries), self._position + step))
        self.value = entries[self._position] if self._position < len(entries) else ""
        self.cursor_position = len(self.value)
