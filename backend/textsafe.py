"""Neutralise untrusted text before it reaches a terminal: control characters become visible escapes.

This is the one choke point for text that comes from the store, the network, a webhook
response, the history file or the clipboard. Whatever a terminal could act on is written
out visibly: C0 and C1 controls (ESC, BEL, the 8-bit CSI...), DEL, and the bidi and
invisible format characters that reorder or hide what is shown.
"""

from __future__ import annotations

import re

# C0 controls, DEL, C1 controls, the Arabic letter mark, LRM/RLM, the bidi embeddings and
# overrides, and the bidi isolates.
UNSAFE_CHARS = "\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_UNSAFE = re.compile(f"[{UNSAFE_CHARS}]")
_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe(text: str) -> str:
    """`text` with every control or bidi character shown as an escape (`\\x1b`, `\\n`, `\\u202e`)."""
    return _UNSAFE.sub(_escape, text)


def is_safe(text: str) -> bool:
    """Whether safe(text) would be `text` itself (one check for many strings joined by spaces)."""
    return _UNSAFE.search(text) is None


def json_safe(text: str) -> str:
    """JSON text (from json.dumps) with the characters JSON leaves raw (DEL, C1, bidi) written as
    `\\uXXXX` escapes: the same data for a JSON reader, inert on a terminal."""
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def safe_lines(text: str) -> str:
    """safe() line by line: the line breaks of a multi-line message stay line breaks."""
    return "\n".join(safe(line) for line in text.split("\n"))
