"""Patterns: the matching messages grouped by their shape, over every match in the range.

ClickHouse masks the variable parts of each message and groups the shapes (two passes: every
token with a digit in it, over each match; then quoted values and dates, over each distinct
shape); Drain (drain3) merges shapes that differ in a few words into one template."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from drain3.drain import Drain, LogCluster

from hlog.backend.search import TimeRange, bucket_step, where_sql
from hlog.backend.timeutil import format_ns
from hlog.query.compiler import literal_regex

if TYPE_CHECKING:
    from hlog.backend.search import LogSearch

PLACEHOLDER = "<*>"
MAX_CHARS = 500  # the first characters of a message are its shape; longer messages say so
MAX_SHAPES = 5_000  # the most common shapes are merged; the rest are counted as "other"
DEFAULT_TOP = 50
MAX_TOP = 1_000
DEFAULT_BUCKETS = 30
MAX_BUCKETS = 200
# Drain's similarity (share of equal words) and tree depth: one setting for every kind of log,
# chosen on the Loghub 2k samples (bench/patterns.py)
SIMILARITY = 0.5
DEPTH = 5

# Over every match: each token (a run without spaces, quotes, brackets, `=`, `,` or `;`; not
# starting with `:`) that has a digit: numbers, ids, hex, UUIDs, IPs and ports, times, versions,
# paths with a number in them. RE2 keeps this one pass at ~200 ms for a million messages.
_TOKEN_WITH_DIGIT = r"""(?:[^\s=,;:()\[\]{}"'][^\s=,;()\[\]{}"']*)?[0-9][^\s=,;()\[\]{}"']*"""
# Over each distinct shape: a double-quoted value after `=` or `:` (`user="bob smith"`, JSON
# values, not keys), a single-quoted string that starts a word, a date written out
# (`Sun Jul 14 15:16:01 2024`, its numbers already masked). The first two keep what precedes.
_DAYS = "Mon|Tue|Wed|Thu|Fri|Sat|Sun"
_MONTHS = "Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec"
_QUOTED_OR_DATE = (
    r"""([=:] ?)"[^"\n]*"|(^|[\s=:(\[,])'[^'\n]*'"""
    rf"|(?:{_DAYS})\s+(?:{_MONTHS})\s+<\*>\s+<\*>(?:\s+<\*>)?"
)
_MASK1 = f"replaceRegexpAll(leftUTF8(Body, {MAX_CHARS}), {{mask1:String}}, '{PLACEHOLDER}')"
_MASK2 = f"replaceRegexpAll(shape1, {{mask2:String}}, '\\\\1\\\\2{PLACEHOLDER}')"


def shape_sql(body: str = "Body") -> tuple[str, dict[str, str]]:
    """SQL of a message's shape (both masks), and its parameters: for one message at a time."""
    both = _MASK2.replace("shape1", _MASK1).replace("Body", body)
    return both, {"mask1": _TOKEN_WITH_DIGIT, "mask2": _QUOTED_OR_DATE}


def patterns(
    search: LogSearch,
    query: str,
    time_range: TimeRange,
    compare_ns: int | None = None,
    top: int = DEFAULT_TOP,
    buckets: int = DEFAULT_BUCKETS,
) -> dict[str, Any]:
    """The patterns of the matches in a closed range, most common first, each with its count,
    counts per bucket, first and last seen, and the search term that finds its logs. With
    `compare_ns`, the same length of time before the range's start is counted too: which
    patterns are new, and how each one's rate changed."""
    assert time_range.start_ns is not None and time_range.end_ns is not None
    compiled = search.compile(query)
    start = time_range.start_ns
    read = TimeRange(start - compare_ns, time_range.end_ns) if compare_ns else time_range
    where, params = where_sql(compiled, read)
    step = bucket_step(time_range, buckets)
    params.update(mask1=_TOKEN_WITH_DIGIT, mask2=_QUOTED_OR_DATE, start=start, step=step, shapes=MAX_SHAPES)
    bucket = (
        "if(Timestamp >= fromUnixTimestamp64Nano({start:Int64}), "
        "intDiv(toUnixTimestamp64Nano(Timestamp) - {start:Int64}, {step:Int64}), -1)"
    )
    rows = search.store.query(
        f"SELECT {_MASK2} AS shape, sumIf(n, b >= 0) AS now, sumIf(n, b < 0) AS before, "
        "minIf(first, b >= 0), maxIf(last, b >= 0), max(cut), sumMapIf([b], [n], b >= 0), "
        "sum(now) OVER () AS all_now, sum(before) OVER () AS all_before, count() OVER () AS distinct_shapes "
        f"FROM (SELECT {_MASK1} AS shape1, {bucket} AS b, count() AS n, "
        "toUnixTimestamp64Nano(min(Timestamp)) AS first, toUnixTimestamp64Nano(max(Timestamp)) AS last, "
        f"max(length(Body) > {MAX_CHARS}) AS cut "
        f"FROM {search.store.tables.all('logs')} WHERE {where} GROUP BY shape1, b) "
        "GROUP BY shape ORDER BY now DESC, shape LIMIT {shapes:UInt32}",
        params,
        scan=True,
    )
    total = int(rows[0][7]) if rows else 0
    total_before = int(rows[0][8]) if rows else 0
    shapes = [r for r in rows if r[1]]  # shapes only seen before the range are not patterns of it
    merged = _merge(shapes, buckets)
    length = time_range.end_ns - start
    found = []
    for p in sorted(merged, key=lambda p: (-p["count"], p["template"]))[:top]:
        p["share"] = round(p["count"] / total, 4) if total else 0.0
        if compare_ns:
            p["new"] = p["previous"] == 0
            p["growth"] = None if p["new"] else round((p["count"] / length) / (p["previous"] / compare_ns), 3)
        p["query"] = "message:" + pattern_regex(p["template"], p.pop("cut"))
        p["first"], p["last"] = format_ns(p["first_ns"]), format_ns(p["last_ns"])
        found.append(p)
    counted = sum(p["count"] for p in merged)
    return {
        "total": total,
        "start_ns": start,
        "end_ns": time_range.end_ns,
        "step_ns": step,
        "shapes": int(rows[0][9]) if rows else 0,
        "merged_shapes": len(shapes),
        "pattern_count": len(merged),
        "other": total - counted,  # logs of the rarer shapes past MAX_SHAPES
        "compare": {"start_ns": start - compare_ns, "end_ns": start, "total": total_before} if compare_ns else None,
        "patterns": found,
    }


def clusters(shapes: list[str]) -> list[LogCluster]:
    """Drain's cluster of each shape, fed most common first; a cluster's template is final
    once every shape is in."""
    drain = Drain(depth=DEPTH, sim_th=SIMILARITY, param_str=PLACEHOLDER)
    return [drain.add_log_message(shape)[0] for shape in shapes]


def _merge(shapes: list[Any], buckets: int) -> list[dict[str, Any]]:
    """Shapes (rows of the query, most common first) merged into patterns, their counts added up."""
    merged: dict[int, dict[str, Any]] = {}
    for cluster, (_, now, before, first, last, cut, (keys, values), *_) in zip(
        clusters([row[0] for row in shapes]), shapes, strict=True
    ):
        p = merged.setdefault(
            cluster.cluster_id,
            {
                "template": cluster.get_template(),
                "count": 0,
                "previous": 0,
                "first_ns": first,
                "last_ns": last,
                "cut": False,
                "shape_count": 0,
                "buckets": [0] * buckets,
            },
        )
        p["count"] += int(now)
        p["previous"] += int(before)
        p["first_ns"], p["last_ns"] = min(p["first_ns"], first), max(p["last_ns"], last)
        p["cut"] = p["cut"] or bool(cut)
        p["shape_count"] += 1
        for b, n in zip(keys, values, strict=True):
            if 0 <= b < buckets:
                p["buckets"][b] += int(n)
    return list(merged.values())


def pattern_regex(template: str, cut: bool = False) -> str:
    """A /regex/ term value that finds the messages of a template: its words as they are, any
    space between them, anything at a placeholder; a template of cut messages is a prefix."""
    words = template.split()
    if cut and len(words) > 1:
        words = words[:-1]  # the last word may be a cut one
    parts = []
    for word in words:
        literal = [literal_regex(piece)[2:-2] for piece in word.split(PLACEHOLDER)]
        parts.append(".+".join(literal))
    body = r"\s+".join(parts)
    return "/(?s)^\\s*" + body + ("" if cut else "\\s*$") + "/"


def sparkline(counts: list[int], ascii_only: bool = False) -> str:
    """Counts as a line of bars, one character each, scaled to the largest."""
    marks = " .:-=+*#" if ascii_only else " ▁▂▃▄▅▆▇█"
    top = max(counts, default=0)
    if not top:
        return " " * len(counts)
    return "".join(marks[0 if not n else max(1, round(n / top * (len(marks) - 1)))] for n in counts)
