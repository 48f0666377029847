"""A small shop made of real services instrumented with the SDK, and the traffic that plays its users."""

from __future__ import annotations

import importlib.util

NEEDS_SDK = (
    "the demo shop's services use the hlog SDK, which is not installed here: "
    "pip install hlog-sdk (pipx inject hlog hlog-sdk), or install hlog[demo]"
)


def has_sdk() -> bool:
    """Whether the shop can run: hlog-sdk is a separate distribution (the `demo` extra)."""
    return importlib.util.find_spec("hlog_sdk") is not None
