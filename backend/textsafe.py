"""Neutralise untrusted text before it reaches a terminal: control characters become visible escapes."""

from __future__ import annotations

import re

# C0 controls, DEL, C1 controls (including the 8-bit CSI), and bidi overrides.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe(text: str) -> str:
    """`text` with every control or bidi character shown as an escape (`\\x1b`, `\\n`)."""
    return _UNSAFE.sub(_escape, text)
