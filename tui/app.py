"""Entry point of `hlog-tui`; the terminal UI itself is not built yet."""

from __future__ import annotations

import sys


def main() -> int:
    """Say that the TUI is coming and point at what works today."""
    print(
        "hlog-tui: the terminal UI is coming soon.\n"
        "Today: `hlog serve` receives OpenTelemetry logs, `hlog search QUERY` finds them.",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
