"""`hlog search` and `hlog ingest`: API clients with terminal-friendly output."""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import shutil
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from hlog.backend.client import ApiClient, connect
from hlog.backend.facets import MAX_TOP
from hlog.backend.fileingest import BATCH_RECORDS, parse_lines, to_request
from hlog.backend.patterns import MAX_TOP as PATTERNS_MAX_TOP
from hlog.backend.patterns import sparkline
from hlog.backend.search import MAX_BREAKDOWN_GROUPS, MAX_CONTEXT_ROWS, Cursor, TimeRange, page_sql
from hlog.backend.store import DEFAULT_DATABASE, StoreError, Tables, parse_dsn
from hlog.backend.textsafe import json_safe, safe, safe_lines
from hlog.backend.timeutil import format_ns, parse_duration_ns, parse_time_ns
from hlog.query import QueryError, compile_query, describe, parse

FOLLOW_POLL_SECONDS = 1.0
PAGE_ROWS = 1_000
PROGRESS_INTERVAL_SECONDS = 0.2
EXIT_USAGE = 2
_LEVEL_COLORS = {"TRACE": "2", "DEBUG": "2", "INFO": "32", "WARN": "33", "ERROR": "31", "FATAL": "1;31"}
CSV_FIELDS = ("timestamp", "level", "service_name", "environment", "session_id", "trace_id", "span_id", "body")


class Printer:
    """Writes logs in one of the output formats; escapes anything that could drive a terminal."""

    def __init__(self, fmt: str, out: IO[str]) -> None:
        self.fmt = fmt
        self.out = out
        self.tty = out.isatty()
        self.width = shutil.get_terminal_size((160, 40)).columns
        # RFC 4180's \r\n into a pipe; on a terminal a bare \r is a control character like any other
        self._csv = csv.writer(out, lineterminator="\n" if self.tty else "\r\n") if fmt == "csv" else None
        if self._csv is not None:
            self._csv.writerow(CSV_FIELDS)

    def write(self, logs: Iterable[dict[str, Any]], marks: Iterable[str] | None = None) -> None:
        """Print logs, in the order given; in a table, each after its mark (`marks`, one a log) when given."""
        marks = iter(marks) if marks is not None else None
        for log in logs:
            mark = next(marks) if marks is not None else ""
            if self.fmt == "jsonl":
                # JSON leaves DEL, C1 and bidi controls raw: written as \u escapes, the data stays exact
                self.out.write(json_safe(json.dumps(log, ensure_ascii=False)) + "\n")
            elif self._csv is not None:
                self._csv.writerow([safe(str(log[f])) if self.tty else log[f] for f in CSV_FIELDS])
            else:
                self.out.write(mark + self._table_line(log) + "\n")
        self.out.flush()

    def _table_line(self, log: dict[str, Any]) -> str:
        level = safe(log["level"]) or "-"
        stamp = format_ns(log["timestamp_ns"], 3)
        service = safe(log["service_name"])[:18]
        session = safe(log["session_id"])[:12]
        prefix_plain = f"{stamp}  {level:<5}  {service:<18}  {session:<12}  "
        message = safe(log["body"])
        if self.tty:
            room = max(20, self.width - len(prefix_plain))
            if len(message) > room:
                message = message[: room - 1] + "…"
            color = _LEVEL_COLORS.get(level)
            if color:
                level_text = f"\x1b[{color}m{level:<5}\x1b[0m"
                return f"{stamp}  {level_text}  {service:<18}  {session:<12}  {message}"
        return prefix_plain + message


def _time_range(args: argparse.Namespace) -> TimeRange:
    now = time.time_ns()
    start = now - parse_duration_ns(args.since) if args.since else None
    if args.from_:
        start = parse_time_ns(args.from_, now)
    end = parse_time_ns(args.to, now) if args.to else None
    if start is not None and end is not None and start >= end:
        raise ValueError("--from must be before --to")
    return TimeRange(start, end)


def _range_words(args: argparse.Namespace) -> str:
    """The searched range in words, for messages."""
    if args.from_:
        return f"from {safe(args.from_)} to {safe(args.to or 'now')}"
    return f"in the last {args.since}" if args.since else "at any time"


def _range_params(time_range: TimeRange) -> dict[str, Any]:
    return {
        "from": format_ns(time_range.start_ns, 9) if time_range.start_ns is not None else None,
        "to": format_ns(time_range.end_ns, 9) if time_range.end_ns is not None else None,
    }


async def search(args: argparse.Namespace) -> int:
    """Run `hlog search`."""
    try:
        compiled = compile_query(args.query)
        time_range = _time_range(args)
        if args.limit < 1:
            raise ValueError("--limit must be at least 1")
        if args.by is not None and not args.count:
            raise ValueError("--by counts: use it with --count")
        if args.by is not None and not 1 <= args.top <= MAX_BREAKDOWN_GROUPS:
            raise ValueError(f"--top must be between 1 and {MAX_BREAKDOWN_GROUPS}")
    except QueryError as err:
        print(f"hlog: invalid query: {safe_lines(err.describe())}", file=sys.stderr)
        return EXIT_USAGE
    except ValueError as err:
        print(f"hlog: {err}", file=sys.stderr)
        return EXIT_USAGE
    if args.sql:
        try:
            target = parse_dsn(args.store) if args.store else None
        except StoreError as err:
            print(f"hlog: {err}", file=sys.stderr)
            return EXIT_USAGE
        tables = Tables(target.database if target else DEFAULT_DATABASE)
        if target is not None and target.otel is not None:  # the views over the Collector's tables
            compiled = compile_query(args.query, indexed=False)
        sql, params = page_sql(tables, compiled, time_range, min(args.limit, PAGE_ROWS))
        print(f"-- the query, as read: {safe(describe(parse(args.query)))}")
        print(sql)
        print(json.dumps(params, indent=2, default=str))
        return 0
    base = {"q": args.query, **_range_params(time_range)}
    if args.format == "jsonl":  # an export: each log whole, with the rest of its OpenTelemetry record
        base["whole"] = "1"
    async with connect(args.backend, args.store, args.token) as api:
        if args.count and args.by:
            await _count_by(api, args, time_range)
        elif args.count:
            print(await api.count(**base))
        elif args.follow:
            return await _follow(api, base, args.limit, Printer(args.format, sys.stdout))
        else:
            printer = Printer(args.format, sys.stdout)
            remaining, cursor = args.limit, None
            while remaining > 0:
                page = await api.logs(**base, limit=min(remaining, PAGE_ROWS), cursor=cursor)
                printer.write(page["logs"])
                remaining -= len(page["logs"])
                cursor = page["next_cursor"]
                if not cursor:
                    break
            if remaining == args.limit and sys.stdout.isatty():  # nothing printed: say so (pipes stay empty)
                print(f"no logs match {safe(args.query)!r} {_range_words(args)}", file=sys.stderr)
        if api.partial:
            print(f"hlog: warning: {safe(api.partial)}", file=sys.stderr)
    return 0


async def _count_by(api: ApiClient, args: argparse.Namespace, time_range: TimeRange) -> None:
    """`--count --by KEY`: matches per value of KEY, biggest first, then the rest."""
    whole = TimeRange(time_range.start_ns or 0, time_range.end_ns)  # the API ends an open range now
    found = await api.histogram(q=args.query, **_range_params(whole), buckets=1, by=args.by, top=args.top)
    [bucket] = found["buckets"]
    rows = [(safe(g) or '""', bucket["counts"].get(g, 0)) for g in found["groups"]]
    if bucket["other"]:
        rows.append(("(other values)", bucket["other"]))
    width = max([len(name) for name, _ in rows] + [5])
    for name, n in rows:
        share = n / found["total"] if found["total"] else 0.0
        print(f"{name:<{width}}  {n:>12,}  {share:6.1%}")
    if not rows and sys.stdout.isatty():
        print(f"no logs match {safe(args.query)!r} {_range_words(args)}", file=sys.stderr)


def _checked_range(args: argparse.Namespace, max_top: int) -> TimeRange | None:
    """The range of `hlog facets` or `hlog patterns` once its query, range and --top are
    checked; None, said why, when one is wrong."""
    try:
        compile_query(args.query)
        time_range = _time_range(args)
        if not 1 <= args.top <= max_top:
            raise ValueError(f"--top must be between 1 and {max_top}")
    except QueryError as err:
        print(f"hlog: invalid query: {safe_lines(err.describe())}", file=sys.stderr)
        return None
    except ValueError as err:
        print(f"hlog: {err}", file=sys.stderr)
        return None
    return time_range


async def facets(args: argparse.Namespace) -> int:
    """Run `hlog facets`: the top values of each field among the matches."""
    time_range = _checked_range(args, MAX_TOP)
    if time_range is None:
        return EXIT_USAGE
    async with connect(args.backend, args.store, args.token) as api:
        found = await api.facets(q=args.query, key=args.key or None, top=args.top, **_range_params(time_range))
        if args.format == "jsonl":
            for facet in found["facets"]:
                print(json_safe(json.dumps(facet, ensure_ascii=False)))
        else:
            _print_facets(found, _range_words(args))
        if api.partial:
            print(f"hlog: warning: {safe(api.partial)}", file=sys.stderr)
    return 0


def _print_facets(found: dict[str, Any], range_words: str) -> None:
    total = found["total"]
    how = (
        "exact"
        if found["exact"]
        else (f"estimated from a sample of 1 in {found['sample_rate']}: {found['sampled_logs']:,} logs read")
    )
    print(f"{total:,} logs match {range_words} (counts {how})")
    for facet in found["facets"]:
        key = safe(facet["key"])
        values = f"{facet['distinct']:,} value{'' if facet['distinct'] == 1 else 's'}"
        print(f"\n{key}  ({values}{'' if found['exact'] else ' in the sample'})")
        width = min(48, max([len("(other values)")] + [len(safe(v["value"]) or '""') for v in facet["values"]]))
        for value in facet["values"]:
            text = (safe(value["value"]) or '""')[:48]
            bar = "#" * max(1, round(value["share"] * 20)) if value["count"] else ""
            print(f"  {text:<{width}}  {value['count']:>12,}  {value['share']:6.1%}  {bar}")
        if facet["other"]:
            print(f"  {'(other values)':<{width}}  {facet['other']:>12,}  {facet['other_share']:6.1%}")


async def patterns(args: argparse.Namespace) -> int:
    """Run `hlog patterns`: the matches grouped into patterns."""
    time_range = _checked_range(args, PATTERNS_MAX_TOP)
    if time_range is None:
        return EXIT_USAGE
    try:
        if args.compare:
            parse_duration_ns(args.compare)
    except ValueError as err:
        print(f"hlog: --compare: {err}", file=sys.stderr)
        return EXIT_USAGE
    async with connect(args.backend, args.store, args.token) as api:  # (the API ends an open range now)
        params = _range_params(time_range)
        found = await api.patterns(q=args.query, **params, compare=args.compare or None, top=args.top)
        if args.format == "jsonl":
            for pattern in found["patterns"]:
                print(json_safe(json.dumps(pattern, ensure_ascii=False)))
        else:
            _print_patterns(found, _range_words(args), args.compare)
        if api.partial:
            print(f"hlog: warning: {safe(api.partial)}", file=sys.stderr)
    return 0


def _print_patterns(found: dict[str, Any], range_words: str, compare: str | None) -> None:
    total, shown = found["total"], found["patterns"]
    ascii_only = "utf" not in (sys.stdout.encoding or "").lower()
    merged = f"{found['shapes']:,} shapes merged into {found['pattern_count']:,} patterns"
    print(f"{total:,} logs match {range_words}: {merged}, every match counted")
    if found["compare"]:
        print(f"compared with the {compare} before: {found['compare']['total']:,} logs")
    for p in shown:
        change = ""
        if found["compare"]:
            change = "new" if p["new"] else f"x{p['growth']:g}"
        spark = sparkline(p["buckets"], ascii_only)
        first, last = p["first"][5:19].replace("T", " "), p["last"][5:19].replace("T", " ")
        print(f"{p['count']:>12,}  {p['share']:6.1%}  {change:>7}  {spark}  {first} .. {last}  {safe(p['template'])}")
    more = found["pattern_count"] - len(shown)
    if more:
        logs = total - found["other"] - sum(p["count"] for p in shown)
        print(f"{logs:>12,}  {logs / total:6.1%}  in {more:,} more pattern{'s' if more > 1 else ''} (--top)")
    if found["other"]:
        rare = f"in rarer shapes than the {found['merged_shapes']:,} most common"
        print(f"{found['other']:>12,}  {found['other'] / total:6.1%}  {rare}")
    if not shown and sys.stdout.isatty():
        print(f"no logs match {range_words}", file=sys.stderr)


async def views(args: argparse.Namespace) -> int:
    """Run `hlog views save|list|show|rm`."""
    async with connect(args.backend, args.store, args.token) as api:
        if args.views_command == "list":
            found = await api.views()
            for view in found:
                when = (
                    view["since"]
                    and f"last {view['since']}"
                    or (
                        f"{format_ns(view['from_ns'], 0)} → {format_ns(view['to_ns'], 0) if view['to_ns'] else 'now'}"
                        if view["from_ns"]
                        else "default range"
                    )
                )
                print(f"{safe(view['name'])}\t{safe(view['query']) or '*'}\t{when}")
            if not found and sys.stdout.isatty():
                print("no saved views: hlog views save NAME --query Q", file=sys.stderr)
        elif args.views_command == "show":
            print(json_safe(json.dumps(await api.view(args.name), ensure_ascii=False)))
        elif args.views_command == "rm":
            await api.delete_view(args.name)
            print(f"deleted view {safe(args.name)}", file=sys.stderr)
        else:
            try:
                if args.to and not args.from_:
                    raise ValueError("--to needs --from")
                time_range = _time_range(args)
            except ValueError as err:
                print(f"hlog: {err}", file=sys.stderr)
                return EXIT_USAGE
            view = {
                "name": args.name,
                "query": args.query,
                "since": args.since or "",
                "from_ns": time_range.start_ns or 0 if args.from_ else 0,
                "to_ns": time_range.end_ns or 0 if args.from_ else 0,
                "columns": args.column or [],
                "by": args.by,
            }
            saved = await api.save_view(view)
            print(f"saved view {safe(saved['name'])}", file=sys.stderr)
    return 0


async def context(args: argparse.Namespace) -> int:
    """Run `hlog context`: the logs around one, oldest first; `>` marks the log, `*` the matches of --query."""
    for name in ("before", "after"):
        if not 0 <= getattr(args, name) <= MAX_CONTEXT_ROWS:
            print(f"hlog: --{name} must be between 0 and {MAX_CONTEXT_ROWS}", file=sys.stderr)
            return EXIT_USAGE
    try:
        Cursor.decode(args.log_id)
        if args.query:
            compile_query(args.query)
    except QueryError as err:
        print(f"hlog: invalid query: {safe_lines(err.describe())}", file=sys.stderr)
        return EXIT_USAGE
    except ValueError:
        print(f"hlog: {safe(args.log_id)!r} is not a log id (TIMESTAMP_NS-ROW_ID: log_id in jsonl)", file=sys.stderr)
        return EXIT_USAGE
    async with connect(args.backend, args.store, args.token) as api:
        whole = "1" if args.format == "jsonl" else None  # an export: each log whole
        found = await api.context(
            args.log_id, before=args.before, after=args.after, by=args.by, q=args.query, whole=whole
        )
        logs = found["logs"]
        for i, log in enumerate(logs):
            log["anchor"] = i == found["anchor"]
        scope = ", ".join(f"{k} {v}" for k, v in found["scope"].items()) or "all logs"
        if args.format == "table":
            after = len(logs) - found["anchor"] - 1
            where = f"around {safe(found['log_id'])} ({safe(scope)})"
            print(f"{where}: {found['anchor']} before, {after} after", file=sys.stderr)
        marks = [">" if log["anchor"] else "*" if log.get("matches") else " " for log in logs]
        Printer(args.format, sys.stdout).write(logs, marks if args.format == "table" else None)
        if api.partial:
            print(f"hlog: warning: {safe(api.partial)}", file=sys.stderr)
    return 0


async def _follow(api: ApiClient, base: dict[str, Any], limit: int, printer: Printer) -> int:
    """The newest `limit` matches in time order, then new ones as they arrive."""
    page = await api.logs(**base, limit=min(limit, PAGE_ROWS))
    logs = list(reversed(page["logs"]))
    printer.write(logs)
    params = {k: v for k, v in base.items() if k in ("q", "whole")}
    if logs:
        cursor = logs[-1]["cursor"]
    else:
        # a cursor before any log: pages oldest first (several logs may arrive between polls)
        cursor = Cursor(0, 0).encode()
        params["from"] = base["from"] or format_ns(time.time_ns() - 10**9, 9)
    while True:
        await asyncio.sleep(FOLLOW_POLL_SECONDS)
        while True:
            page = await api.logs(**params, limit=PAGE_ROWS, after=cursor)
            printer.write(page["logs"])
            if page["logs"]:
                cursor = page["logs"][-1]["cursor"]
            if len(page["logs"]) < PAGE_ROWS:
                break


class Progress:
    """A one-line progress report on stderr, only when stderr is a terminal."""

    def __init__(self, total_bytes: int | None) -> None:
        self.total = total_bytes
        self.enabled = sys.stderr.isatty()
        self.started = time.monotonic()
        self._last = 0.0

    def update(self, done_bytes: int, records: int, final: bool = False) -> None:
        """Redraw the line, at most every PROGRESS_INTERVAL_SECONDS."""
        now = time.monotonic()
        if not self.enabled or (not final and now - self._last < PROGRESS_INTERVAL_SECONDS):
            return
        self._last = now
        rate = records / max(now - self.started, 1e-6)
        part = f"{done_bytes / 1e6:,.1f} MB"
        if self.total:
            part += f" / {self.total / 1e6:,.1f} MB  {100 * done_bytes / self.total:3.0f}%"
        sys.stderr.write(f"\r  {part}  {records:,} logs  {rate:,.0f} logs/s \x1b[K")
        if final:
            sys.stderr.write("\n")
        sys.stderr.flush()


class _CountingReader:
    """Text lines from a binary stream, counting bytes for the progress bar."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.bytes = 0
        self.replaced_lines = 0

    def __iter__(self) -> Any:
        for raw in self.stream:
            self.bytes += len(raw)
            line = raw.decode("utf-8", errors="replace")
            if "\ufffd" in line and b"\xef\xbf\xbd" not in raw:
                self.replaced_lines += 1
            yield line


async def ingest(args: argparse.Namespace) -> int:
    """Run `hlog ingest`."""
    if args.file == "-":
        stream, total, default_service = sys.stdin.buffer, None, args.service or "stdin"
    else:
        path = Path(args.file)
        try:
            stream = path.open("rb")
        except OSError as err:
            print(f"hlog: cannot read {args.file}: {err.strerror}", file=sys.stderr)
            return EXIT_USAGE
        total, default_service = os.path.getsize(path), args.service or path.stem
    reader = _CountingReader(stream)
    progress = Progress(total)
    sent = rejected = 0
    messages: list[str] = []
    async with connect(args.backend, args.store, args.token, ingest=True) as api:
        batch = []
        for record in parse_lines(reader, default_service):
            batch.append(record)
            if len(batch) >= BATCH_RECORDS:
                result = await api.export_logs(to_request(batch).SerializeToString())
                sent, rejected = sent + len(batch), rejected + result["rejected"]
                if result["message"]:
                    messages.append(result["message"].partition(": ")[2])
                batch = []
                progress.update(reader.bytes, sent)
        if batch:
            result = await api.export_logs(to_request(batch).SerializeToString())
            sent, rejected = sent + len(batch), rejected + result["rejected"]
            if result["message"]:
                messages.append(result["message"].partition(": ")[2])
        progress.update(reader.bytes, sent, final=True)
        where = api.where
    stored = sent - rejected
    print(f"hlog: ingested {stored:,} logs from {args.file} into the {where}", file=sys.stderr)
    if reader.replaced_lines:
        print(f"hlog: {reader.replaced_lines:,} lines were not valid UTF-8; bad bytes became U+FFFD", file=sys.stderr)
    if rejected:
        print(f"hlog: {rejected:,} logs rejected: {'; '.join(dict.fromkeys(messages))}", file=sys.stderr)
        return 1
    return 0
