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


@functools.lru_cache(maxsize=1024)
def normalize_severity(text: str, number: int) -> tuple[str, int]:
    """Normalised (SeverityText, SeverityNumber) from what a record carries.

    A known text wins and gives the number when it is missing; a missing text
    is derived from the number; an unknown text is kept upper-cased.
    """
    name = level_from_text(text) if text else None
    if name is not None:
        low, high = LEVEL_RANGES[name]
        if not low <= number <= high:
            number = low
        return name, number
    if text:
        return text.strip().upper()[:64], number if 0 <= number <= 24 else 0
    from_number = level_from_number(number)
    if from_number is not None:
        return from_number, number
    return "", 0
