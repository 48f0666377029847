"""SafeInput: a text input that never holds a character a terminal could act on."""

from __future__ import annotations

from textual import events
from textual.widgets import Input

from hlog.backend.textsafe import safe


class SafeInput(Input):
    """An Input whose value and suggestion never hold control, ESC, DEL or bidi characters:
    typed, pasted, suggested, recalled from history or set by code, such a character is
    written out visibly (`\\x1b`, `\\u202e`), so it can neither drive the terminal nor be
    saved back (history, alert rules) to fire later."""

    def validate_value(self, value: str) -> str:
        return safe(value)

    def validate__suggestion(self, suggestion: str) -> str:
        return safe(suggestion)

    def replace(self, text: str, start: int, end: int) -> None:
        # escape before the cursor moves past the inserted text
        super().replace(safe(text), start, end)

    async def _on_key(self, event: events.Key) -> None:
        """The input's own keys (Backspace, Ctrl+U, the arrows, Enter...) act here, in order with
        the characters around them. Left to bubble up, a binding runs on the app's queue, after
        the characters typed behind it: a fast typist's Ctrl+U then cleared what came after it,
        and Enter could run the query before its last characters were in."""
        for binding in self._bindings.key_to_bindings.get(event.key, ()):
            if not binding.priority:
                event.stop()
                event.prevent_default()
                await self.run_action(binding.action)
                return
        await super()._on_key(event)
