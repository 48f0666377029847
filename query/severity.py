"""Log levels: OpenTelemetry severity names, numbers and the aliases people type."""

from __future__ import annotations

import functools

# OpenTelemetry severity ranges: each level owns four numbers (ERROR is 17..20).
LEVEL_RANGES: dict[str, tuple[int, int]] = {
    "TRACE": (1, 4),
    "DEBUG": (5, 8),
    "INFO": (9, 12),
    "WARN": (13, 16),
    "ERROR": (17, 20),
    "FATAL": (21, 24),
}
LEVELS: tuple[str, ...] = tuple(LEVEL_RANGES)

_ALIASES: dict[str, str] = {
    "TRACE": "TRACE",
    "TRC": "TRACE",
    "VERBOSE": "TRACE",
    "FINEST": "TRACE",
    "FINER": "TRACE",
    "DEBUG": "DEBUG",
    "DBG": "DEBUG",
    "FINE": "DEBUG",
    "D": "DEBUG",
    "INFO": "INFO",
    "INF": "INFO",
    "INFORMATION": "INFO",
    "INFORMATIONAL": "INFO",
    "NOTICE": "INFO",
    "LOG": "INFO",
    "I": "INFO",
    "WARN": "WARN",
    "WARNING": "WARN",
    "WRN": "WARN",
    "W": "WARN",
    "ERROR": "ERROR",
    "ERR": "ERROR",
    "ERRO": "ERROR",
    "SEVERE": "ERROR",
    "E": "ERROR",
    "FATAL": "FATAL",
    "CRITICAL": "FATAL",
    "CRIT": "FATAL",
    "CRT": "FATAL",
    "EMERG": "FATAL",
    "EMERGENCY": "FATAL",
    "ALERT": "FATAL",
    "PANIC": "FATAL",
    "F": "FATAL",
}


def level_from_text(text: str) -> str | None:
    """The OTel level name for a level text (`warning` -> WARN, `ERROR2` -> ERROR), or None."""
    key = text.strip().upper()
    if key in _ALIASES:
        return _ALIASES[key]
    # OTel also names sub-levels, e.g. ERROR2..ERROR4
    base = key.rstrip("234")
    if base != key and base in LEVEL_RANGES:
        return base
    return None


def level_from_number(number: int) -> str | None:
    """The level name owning an OTel severity number, or None when out of 1..24."""
    for name, (low, high) in LEVEL_RANGES.items():
        if low <= number <= high:
            return name
    return None


def level_of(text: str, number: int) -> str:
    """The level a record shows (its colour, the histogram's stack): from SeverityNumber's OTel
    range, from the text only when the number is 0, else the text itself."""
    return level_from_number(number) or (level_from_text(text) if not number else None) or text


def texts_of(name: str) -> tuple[str, ...]:
    """Every upper-cased text that means level `name` (its aliases and OTel sub-levels)."""
    aliases = [alias for alias, level in _ALIASES.items() if level == name]
    return (*aliases, *(f"{name}{n}" for n in (2, 3, 4)))


# The OTel severity number a log counts as: SeverityNumber when it is one (1..24), else the
# lowest number of the level its text names (case and spaces aside), else 0. The logs table
# keeps it as a column ClickHouse computes on insert (SeverityLevel), so that a level search
# reads one small number instead of the text.
SEVERITY_LEVEL_SQL = (
    "if(SeverityNumber BETWEEN 1 AND 24, SeverityNumber, multiIf("
    + ", ".join(
        f"upperUTF8(trimBoth(SeverityText)) IN ({', '.join(repr(t) for t in texts_of(name))}), {LEVEL_RANGES[name][0]}"
        for name in LEVEL_RANGES
    )
    + ", 0))"
)


def level_condition(names: list[str]) -> str:
    """SQL true for the logs of these levels (adjacent ones, in order): by SeverityLevel."""
    order = list(LEVEL_RANGES)
    at = [order.index(name) for name in names]
    assert at == list(range(at[0], at[0] + len(at))), names
    return f"SeverityLevel BETWEEN {LEVEL_RANGES[names[0]][0]} AND {LEVEL_RANGES[names[-1]][1]}"


# The level a log shows, as level_of() computes it in Python (for grouping by level).
LEVEL_SQL = (
    "multiIf("
    + ", ".join(f"SeverityLevel BETWEEN {lo} AND {hi}, '{name}'" for name, (lo, hi) in LEVEL_RANGES.items())
    + ", SeverityText)"
)


@functools.lru_cache(maxsize=1024)
def normalize_severity(text: str, number: int) -> tuple[str, int]:
    """For sources without OTel severities (log files): the level name and its number when the
    text names one; else the text as it is, and the number as given."""
    name = level_from_text(text) if text else None
    if name is not None and not number:
        return text.strip(), LEVEL_RANGES[name][0]
    if not text:
        from_number = level_from_number(number)
        return (from_number or "", number if from_number else 0)
    return text.strip(), number if 0 <= number <= 24 else 0
