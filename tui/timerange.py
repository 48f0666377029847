"""The time range of a search: a preset relative to now, or fixed bounds."""

from __future__ import annotations

from dataclasses import dataclass

from hlog.backend.timeutil import format_ns, parse_duration_ns

PRESETS = ("15m", "1h", "4h", "24h", "7d", "30d")
DEFAULT_PRESET = "24h"


@dataclass(frozen=True)
class Range:
    """`preset` ("1h") means the last hour up to now; else [start_ns, end_ns)."""

    preset: str | None = DEFAULT_PRESET
    start_ns: int | None = None
    end_ns: int | None = None

    def bounds(self, now_ns: int) -> tuple[int, int | None]:
        """(start, end); end None means open (now and later)."""
        if self.preset is not None:
            return now_ns - parse_duration_ns(self.preset), None
        assert self.start_ns is not None
        return self.start_ns, self.end_ns

    def params(self, now_ns: int) -> dict[str, str | None]:
        """`from` and `to` for the API."""
        start, end = self.bounds(now_ns)
        return {"from": format_ns(start, 9), "to": format_ns(end, 9) if end is not None else None}

    def label(self) -> str:
        """How the status line names the range."""
        if self.preset is not None:
            return f"last {self.preset}"
        assert self.start_ns is not None
        end = format_ns(self.end_ns, 0) if self.end_ns is not None else "now"
        return f"{format_ns(self.start_ns, 0)} → {end}"

    @property
    def live_capable(self) -> bool:
        """Live tail needs a range open towards now."""
        return self.preset is not None or self.end_ns is None
