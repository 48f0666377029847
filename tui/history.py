"""Search history, kept across runs in the user's state directory."""

from __future__ import annotations

import json
import os
from pathlib import Path

from hlog.backend.textsafe import safe

MAX_HISTORY = 200


def default_history_path() -> Path:
    """`$XDG_STATE_HOME/hlog/history.json`, else `~/.local/state/hlog/history.json`."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "hlog" / "history.json"


class History:
    """Queries run, oldest first, without repeats; saved on every add."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.entries: list[str] = []
        if path is not None:
            try:
                loaded = json.loads(path.read_text())
                # the file is untrusted: a control character in it is made inert before any widget sees it
                cleaned = (safe(e) for e in (loaded if isinstance(loaded, list) else []) if isinstance(e, str))
                self.entries = list(dict.fromkeys(cleaned))[-MAX_HISTORY:]
            except (OSError, ValueError):
                self.entries = []

    def add(self, query: str) -> None:
        """Remember a query (moving it to the end if it was there)."""
        query = safe(query)
        if not query.strip():
            return
        if query in self.entries:
            self.entries.remove(query)
        self.entries.append(query)
        del self.entries[:-MAX_HISTORY]
        if self.path is not None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.path.write_text(json.dumps(self.entries))
            except OSError:
                pass  # history is a convenience; a read-only home must not break searching


SETTINGS = {"tz"}  # what settings.json may hold (it is read as untrusted: nothing else is taken)


def load_settings(path: Path | None) -> dict[str, str]:
    """The user's settings kept beside the history (`settings.json`): known keys with text values."""
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if k in SETTINGS and isinstance(v, str) and len(v) <= 64}


def save_setting(path: Path | None, key: str, value: str) -> None:
    """Keep a setting for the next run (a convenience: a read-only home is no error)."""
    if path is None:
        return
    settings = {**load_settings(path), key: value}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(settings))
    except OSError:
        pass
