"""Links to one log or to a search, to paste into a chat or a ticket and open with
`hlog-tui open LINK`:

    hlog://log/1716901234000000000-7531134830696726528
    hlog://search?q=level%3Aerror&since=1h
    hlog://search?q=level%3Aerror&from=2026-12-01T10:00:00Z&to=2026-12-01T11:00:00Z

A link is untrusted text: it is parsed, never run, and what it holds is checked as any input.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from hlog.backend.search import Cursor
from hlog.backend.timeutil import format_ns, parse_duration_ns, parse_time_ns

SCHEME = "hlog"
MAX_LINK_CHARS = 8192


@dataclass(frozen=True)
class Permalink:
    """What a link opens: one log (`log_id`), or a search (`query` over the last `since`, or
    from `start_ns` to `end_ns`; neither: the default range)."""

    log_id: str | None = None
    query: str = ""
    since: str | None = None
    start_ns: int | None = None
    end_ns: int | None = None


def log_link(log_id: str) -> str:
    """The link to one log."""
    return f"{SCHEME}://log/{quote(log_id, safe='-')}"


def search_link(query: str, since: str | None = None, start_ns: int | None = None, end_ns: int | None = None) -> str:
    """The link to a search over the last `since` (a relative range stays relative) or from
    `start_ns` to `end_ns` (open when None)."""
    params = {"q": query}
    if since is not None:
        params["since"] = since
    elif start_ns is not None:
        params["from"] = format_ns(start_ns, 9)
        if end_ns is not None:
            params["to"] = format_ns(end_ns, 9)
    return f"{SCHEME}://search?{urlencode(params)}"


def parse_link(text: str) -> Permalink:
    """What a link opens; raises ValueError saying what is wrong with it."""
    text = text.strip()
    if len(text) > MAX_LINK_CHARS:
        raise ValueError(f"the link is longer than {MAX_LINK_CHARS} characters")
    parts = urlsplit(text)
    if parts.scheme != SCHEME:
        raise ValueError("not an hlog link: it starts hlog://log/… or hlog://search?…")
    if parts.netloc == "log":
        log_id = parts.path.strip("/")
        try:
            Cursor.decode(log_id)
        except ValueError:
            raise ValueError("the link names no log: hlog://log/TIMESTAMP_NS-ROW_ID") from None
        return Permalink(log_id=log_id)
    if parts.netloc == "search":
        params = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        query = params.get("q", "")
        if "since" in params:
            parse_duration_ns(params["since"])  # ValueError for what is no duration
            return Permalink(query=query, since=params["since"])
        if "from" in params:
            start = parse_time_ns(params["from"])
            end = parse_time_ns(params["to"]) if params.get("to") else None
            if end is not None and end <= start:
                raise ValueError("the link's range ends before it starts")
            return Permalink(query=query, start_ns=start, end_ns=end)
        return Permalink(query=query)
    raise ValueError("an hlog link opens a log (hlog://log/ID) or a search (hlog://search?q=…)")
