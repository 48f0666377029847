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

MAX_CANDIDATES = 10
OPERATORS = (":", "=", "!=", ">", ">=", "<", "<=", " EXISTS")
_LAST_TERM = re.compile(r"(?:^|[\s(])(-?)([A-Za-z0-9_@$.\-/]*)(?:(!=|>=|<=|[:=<>])([^\s()]*))?$")


class QuerySuggester(Suggester):
    """Completes the last term: a key from the store, then a top value of that key, in any case.
    Every candidate is kept (`candidates`, for `value`), so the bar can cycle through them."""

    def __init__(
        self,
        keys: Callable[[], Awaitable[list[str]]],
        values: Callable[[str, str], Awaitable[list[str]]],
    ) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self._keys = keys
        self._values = values
        self.value = ""
        self.candidates: list[str] = []

    async def get_suggestion(self, value: str) -> str | None:
        self.candidates = await self._candidates(value)
        self.value = value
        return self.candidates[0] if self.candidates else None

    async def _candidates(self, value: str) -> list[str]:
        m = _LAST_TERM.search(value)
        if not m or value.endswith(" "):
            return []
        key, op, typed = m.group(2), m.group(3), m.group(4)
        head = value[: len(value) - len(key) - len(op or "") - len(typed or "")]
        if op is None:
            if not key:
                return []
            folded = key.casefold()
            found = [k for k in await self._keys() if k.casefold().startswith(folded) and k != key and k.isprintable()]
            return [head + k + ":" for k in found[:MAX_CANDIDATES]]
        typed = typed or ""
        prefix = typed.lstrip("\"'`").replace("\\\\", "\\")  # what a quoted value typed so far holds
        out = []
        for candidate in await self._values(key, prefix):
            # quoted when it needs to be; a value with control characters as an inert regex that matches it
            shown = format_value(candidate)
            if candidate.casefold().startswith(prefix.casefold()) and shown != typed:
                out.append(head + key + op + shown)
        return out[:MAX_CANDIDATES]


class SearchBar(SafeInput):
    """The query line: Enter runs it, up/down walk the history."""

    BINDINGS = [
        Binding("up", "history(-1)", "Previous query", show=False, id="search.history_prev"),
        Binding("down", "history(1)", "Next query", show=False, id="search.history_next"),
        Binding("tab", "cycle(1)", "Next suggestion", id="search.suggestion_next"),
        Binding("shift+tab", "cycle(-1)", "Previous suggestion", show=False, id="search.suggestion_prev"),
    ]

    def __init__(self, history: History, suggester: Suggester | None = None, **kwargs: Any) -> None:
        super().__init__(
            placeholder='search: level:error service_name:checkout "card declined"  (Enter to run)',
            suggester=suggester,
            **kwargs,
        )
        self.history = history
        self._position = len(history.entries)

    def action_cycle(self, step: int) -> None:
        """Show the next (or previous) suggestion for what is typed; without any, move the focus."""
        suggester = self.suggester
        if not isinstance(suggester, QuerySuggester) or suggester.value != self.value or not suggester.candidates:
            self.app.action_focus_next() if step > 0 else self.app.action_focus_previous()
            return
        candidates = suggester.candidates
        at = candidates.index(self._suggestion) if self._suggestion in candidates else -1
        self._suggestion = candidates[(at + step) % len(candidates)]

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
