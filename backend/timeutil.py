"""Parse the times and durations people type: `15m`, `2h`, `7d`, ISO 8601, `now`."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

from hlog.query import parse_timestamp_ns

# what ClickHouse's DateTime64(9) holds
MIN_TIME_NS = -2_208_988_800 * 10**9  # 1900-01-01T00:00:00Z
MAX_TIME_NS = 2**63 - 1  # 2262-04-11T23:47:16.854775807Z
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$", re.IGNORECASE)
_UNIT_NS = {"ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9, "d": 86400 * 10**9, "w": 7 * 86400 * 10**9}


def parse_duration_ns(text: str) -> int:
    """`90s`, `15m`, `2h`, `7d`, `1w` as nanoseconds; raises ValueError."""
    m = _DURATION.match(text)
    if not m:
        raise ValueError(f"invalid duration {text!r}: use a number and a unit, like 30s, 15m, 2h, 7d")
    return int(float(m.group(1)) * _UNIT_NS[m.group(2).lower()])


def parse_time_ns(text: str, now_ns: int | None = None) -> int:
    """A point in time: `now`, a duration ago (`15m`), ISO 8601 (UTC if no offset), or epoch seconds."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    text = text.strip()
    if text.lower() == "now":
        return now_ns
    if _DURATION.match(text):
        return now_ns - parse_duration_ns(text)
    ns = parse_timestamp_ns(text)
    if ns is None:
        raise ValueError(f"invalid time {text!r}: use ISO 8601 (2024-05-01T12:00:00Z) or a duration ago (15m, 2h, 7d)")
    if not MIN_TIME_NS <= ns <= MAX_TIME_NS:
        raise ValueError(f"time {text!r} is out of range: the store keeps times from 1900-01-01 to 2262-04-11")
    return ns


def format_ns(ns: int, digits: int = 3) -> str:
    """ISO 8601 in UTC with `digits` fractional digits (0, 3, 6 or 9)."""
    seconds, frac = divmod(ns, 10**9)
    base = datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if digits:
        base += "." + f"{frac:09d}"[:digits]
    return base + "Z"
