"""ASCII output for terminals that cannot show UTF-8 (`LANG=C`, a serial console, an old
terminal): everything hlog-tui writes is brought down to ASCII stand-ins of the same width, so
boxes, bars and scrollbars stay lines and blocks instead of mojibake.

The locale decides (`LC_ALL`, else `LC_CTYPE`, else `LANG`); `hlog-tui --charset` overrides it.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

# what Textual and hlog-tui draw, by name fragment, in the order they are tried
_SHAPES = (
    ("FULL BLOCK", "#"),
    ("SHADE", "#"),
    ("LOWER ONE EIGHTH", "_"),
    ("UPPER ONE EIGHTH", "-"),
    ("EIGHTH BLOCK", "|"),  # the thin left and right eighths that frame inputs
    ("ONE QUARTER BLOCK", "|"),
    ("BLOCK", "#"),
    ("HORIZONTAL", "-"),
)
_CHARACTERS = {
    "…": ".",
    "·": ".",
    "•": "*",
    "✗": "x",
    "✓": "v",
    "✔": "v",
    "⚠": "!",
    "→": ">",
    "←": "<",
    "↑": "^",
    "↓": "v",
    "⏎": "<",
    "▶": ">",
    "▼": "v",
    "µ": "u",
    "—": "-",
    "–": "-",
}
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


@lru_cache(maxsize=4096)
def stand_in(character: str) -> str:
    """The ASCII text that takes `character`'s place: as many cells as it has (wide characters
    two, combining marks none)."""
    if character in _CHARACTERS:
        return _CHARACTERS[character]
    if unicodedata.combining(character):
        return ""
    if unicodedata.east_asian_width(character) in ("W", "F"):
        return "??"
    name = unicodedata.name(character, "")
    if "BOX DRAWINGS" in name:
        if "VERTICAL" in name and "HORIZONTAL" not in name:
            return "|"
        if "HORIZONTAL" in name and "VERTICAL" not in name:
            return "-"
        return "+"
    for fragment, text in _SHAPES:
        if fragment in name:
            return text
    return "?"


def to_ascii(text: str) -> str:
    """`text` with every character outside ASCII replaced by its stand-in."""
    return _NON_ASCII.sub(lambda match: stand_in(match.group()), text)


def locale_is_utf8(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the user's locale can show UTF-8. Python turns a `C` locale into `C.UTF-8` for
    itself at start (PEP 538) and says so in LC_CTYPE: that is not the terminal's."""
    lc_all, lc_ctype, lang = (environ.get(k, "") for k in ("LC_ALL", "LC_CTYPE", "LANG"))
    if not lc_all and lc_ctype == "C.UTF-8" and lang in ("", "C", "POSIX"):
        lc_ctype = ""  # coerced by Python, not chosen
    chosen = lc_all or lc_ctype or lang
    return bool(re.search(r"utf-?8", chosen, re.IGNORECASE))


def ascii_driver() -> type[Any]:
    """The terminal driver of this platform, writing ASCII."""
    from textual.drivers.linux_driver import LinuxDriver

    class AsciiDriver(LinuxDriver):
        def write(self, data: str) -> None:
            super().write(to_ascii(data))

    return AsciiDriver
