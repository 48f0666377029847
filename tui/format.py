"""Turning log fields into terminal text: times, level colours, and untrusted text made safe."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rich.style import Style
from rich.text import Text

from hlog.backend.attributes import format_double
from hlog.backend.textsafe import safe, safe_lines

LEVEL_STYLES: dict[str, Style] = {
    "TRACE": Style(color="bright_black"),
    "DEBUG": Style(color="bright_black"),
    "INFO": Style(color="green"),
    "WARN": Style(color="yellow", bold=True),
    "ERROR": Style(color="red", bold=True),
    "FATAL": Style(color="white", bgcolor="red", bold=True),
}
ERROR_LEVELS = frozenset({"ERROR", "FATAL"})


def on_grey(style: Style) -> Style:
    """`style` for text on a grey highlight: grey text there (DEBUG, times) would vanish on a
    16-colour terminal, where both greys are bright black; it takes the default colour instead."""
    if style.color is not None and style.color.name in ("bright_black", "color(8)"):
        return style + Style(color="default")
    return style


def level_style(level: str) -> Style:
    """The colour of a level name (plain for unknown levels)."""
    return LEVEL_STYLES.get(level, Style())


# the time zone times are shown in (hlog-tui --tz, T): UTC unless chosen
_zone: tzinfo = UTC
_zone_name = "UTC"


def zone(name: str) -> tzinfo:
    """The time zone `name` names: `UTC`, `local` (this machine's) or an IANA name such as
    `Europe/Paris`; raises ValueError."""
    if name.upper() == "UTC":
        return UTC
    if name == "local":
        local = datetime.now().astimezone().tzinfo
        assert local is not None
        return local
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}: use UTC, local or an IANA name such as Europe/Paris") from None


def set_zone(name: str) -> None:
    """Show times in the zone `name` from now on (see zone())."""
    global _zone, _zone_name
    _zone, _zone_name = zone(name), "UTC" if name.upper() == "UTC" else name


def zone_name() -> str:
    """The zone times are shown in: `UTC`, `local` or an IANA name."""
    return _zone_name


def _local(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, tz=_zone)


def clock(ns: int, with_date: bool = False) -> str:
    """`HH:MM:SS.mmm` in the chosen zone (UTC by default), with `MM-DD ` in front when asked."""
    text = _local(ns).strftime("%m-%d %H:%M:%S" if with_date else "%H:%M:%S")
    return f"{text}.{(ns // 1_000_000) % 1000:03d}"


def stamp(ns: int) -> str:
    """A full timestamp for headers: `2024-05-01 12:00:00.123Z` in UTC, else with the zone's
    offset (`2024-05-01 14:00:00.123+02:00`)."""
    dt = _local(ns)
    suffix = "Z" if _zone is UTC else dt.strftime("%z")[:3] + ":" + dt.strftime("%z")[3:]
    return dt.strftime("%Y-%m-%d %H:%M:%S") + f".{(ns // 1_000_000) % 1000:03d}{suffix}"


def duration(ns: int) -> str:
    """A short human duration: `850µs`, `12.3ms`, `4.2s`, `3m05s`, `2h10m`."""
    if ns < 1_000_000:
        return f"{ns / 1000:.0f}µs"
    if ns < 1_000_000_000:
        return f"{ns / 1e6:.1f}ms"
    seconds = ns / 1e9
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
    return f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m"


def one_line(text: str) -> str:
    """Untrusted text on one line: control characters (newlines included) shown as escapes."""
    return safe(text)


def pretty_body(body: str) -> Text:
    """The message for the detail pane: indented when it is JSON, escaped either way."""
    stripped = body.strip()
    if stripped[:1] in "{[":
        try:
            parsed = json.loads(stripped)
        except ValueError:
            pass
        else:
            lines = json.dumps(parsed, indent=2, ensure_ascii=False).splitlines()
            return Text(safe_lines("\n".join(lines)))
    return Text(safe_lines(body))


def service_label(name: str) -> str:
    """A service name for the screen: "unknown" when the sender gave none (stored as "")."""
    return one_line(name) if name and name != "unknown_service" else "unknown"


def span_status(code: str) -> str:
    """A span's status code without the exporter's prefix: OK, ERROR, UNSET."""
    return one_line(code.removeprefix("STATUS_CODE_"))


def needs_date(start_ns: int, end_ns: int, now_ns: int) -> bool:
    """Whether times in [start, end) need their date: the range is longer than a day, crosses
    midnight (in the zone shown) or lies on another day than now, so a time alone could be misread."""
    day = 86400 * 10**9
    dates = {_local(ns).date() for ns in (start_ns, max(start_ns, end_ns - 1), now_ns)}
    return end_ns - start_ns > day or len(dates) > 1


def plural(count: int, one: str, many: str | None = None) -> str:
    """`1 match`, `2 matches`, `1,204 logs`."""
    return f"{count:,} {one if count == 1 else (many or one + 's')}"


def attribute_text(value: Any, nested: bool = False) -> str:
    """An attribute value as the store holds its text (what `key:value` matches): doubles as the
    exporter writes them, arrays and maps (and anything inside them) as compact JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and not nested:
        return format_double(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def attribute_rows(attributes: dict[str, Any]) -> list[tuple[str, str]]:
    """Attributes as (key, text) rows, sorted, with maps opened into `key.path` rows (the search
    finds nested values by that path); two keys that read the same are both shown."""
    rows: list[tuple[str, str]] = []

    def add(key: str, value: Any, nested: bool) -> None:
        if isinstance(value, dict) and value:
            for name, item in value.items():
                add(f"{key}.{name}", item, True)
        else:
            rows.append((key, attribute_text(value, nested)))

    for key, value in attributes.items():
        add(key, value, False)
    return sorted(rows)


def copied_where(what: str, form: str = "as JSON") -> str:
    """Where a copy (OSC 52) went, and what it needs to arrive: terminals differ (docs/tui.md)."""
    if os.environ.get("TMUX"):
        return (
            f"{what} sent to the clipboard through tmux {form}: tmux passes it on only with "
            "`set -g set-clipboard on` (docs/tui.md)"
        )
    if os.environ.get("STY") or os.environ.get("TERM", "").startswith("screen"):
        return f"{what} sent to the clipboard {form} (OSC 52): GNU screen does not pass it on (docs/tui.md)"
    return f"{what} copied {form} to the terminal's clipboard (OSC 52; if nothing arrives, docs/tui.md)"


def copy_log_link(screen: Any, log: dict[str, Any] | None) -> None:
    """Copy the link to a log (`hlog-tui open LINK` opens it in its context)."""
    if log is None:
        return
    from hlog.backend.permalink import log_link

    screen.app.copy_to_clipboard(log_link(log["log_id"]))
    screen.notify(copied_where("Link to the log", "as hlog://log/…"), timeout=6)
