"""Search latencies over 10 million generated logs, through our path and as raw SQL.

Usage: python bench/search.py [--rows 10000000] [--store DIR] [--runs 20]
The store is generated once (inside ClickHouse) and reused on later runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.gen import RARE_WORD, SERVICES, generate  # noqa: E402
from hlog.backend.search import Cursor, LogSearch, TimeRange, page_sql  # noqa: E402
from hlog.backend.store import Store  # noqa: E402
from hlog.query import compile_query  # noqa: E402

PAGE_ROWS = 200
TARGETS_MS = {"page": 50.0, "rare word": 150.0, "histogram": 250.0}


def p50(fn: Callable[[], object], runs: int) -> float:
    fn()  # warm up
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--store", default=str(Path(__file__).resolve().parent / "data" / "search-store"))
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    store = Store(f"chdb://{args.store}", retention_seconds=365 * 86400)
    have = store.query(f"SELECT count() FROM {store.db}.logs")[0][0]
    if have != args.rows:
        store._writer.command(f"TRUNCATE TABLE {store.db}.logs")
        print(f"generating {args.rows:,} logs over 7 days ...", flush=True)
        t0 = time.perf_counter()
        generate(store._writer, f"{store.db}.logs", args.rows, time.time_ns(), 7 * 86400 * 10**9)
        store._writer.command(f"OPTIMIZE TABLE {store.db}.logs FINAL")
        print(f"  {time.perf_counter() - t0:.1f} s", flush=True)
    search = LogSearch(store)
    everything = TimeRange()
    newest = store.query(f"SELECT toUnixTimestamp64Nano(max(Timestamp)) FROM {store.db}.logs")[0][0]
    sample_session = store.query(f"SELECT SessionId FROM {store.db}.logs ORDER BY Timestamp DESC LIMIT 1")[0][0]
    print(f"\n{args.rows:,} logs, p50 of {args.runs} runs, ms\n")
    print(f"{'query':46}{'ours':>9}{'raw SQL':>9}{'ratio':>7}{'target':>8}")

    def row(
        label: str, query: str, target: float, time_range: TimeRange = everything, before: Cursor | None = None
    ) -> float:
        compiled = compile_query(query)
        sql, params = page_sql(store.tables, compiled, time_range, PAGE_ROWS + 1, before)
        ours = p50(lambda: search.page(query, time_range, PAGE_ROWS, before), args.runs)
        raw = p50(lambda: store.query(sql, params), args.runs)
        flag = "ok" if ours <= target else "SLOW"
        print(f"{label:46}{ours:9.1f}{raw:9.1f}{ours / raw:7.2f}{target:6.0f} {flag}")
        return ours

    row("newest 200, no filter", "", TARGETS_MS["page"])
    row("level:error", "level:error", TARGETS_MS["page"])
    row(f"service_name:{SERVICES[2]} level:error", f"service_name:{SERVICES[2]} level:error", TARGETS_MS["page"])
    row("attribute equality user.id:4242", "user.id:4242", TARGETS_MS["page"])
    row(f"session id {sample_session}", f"session_id:{sample_session}", TARGETS_MS["page"])
    row(f"rare bare word '{RARE_WORD}'", RARE_WORD, TARGETS_MS["rare word"])
    row('phrase "card expired" level:error', '"card expired" level:error', TARGETS_MS["page"])
    row("duration_ms>1900 http.route:/api/cart", "duration_ms>1900 http.route:/api/cart", TARGETS_MS["page"])
    first = row("keyset page 1 (level>=warn)", "level>=warn", TARGETS_MS["page"])
    cursor_row = store.query(
        f"SELECT toUnixTimestamp64Nano(Timestamp), Id FROM {store.db}.logs WHERE SeverityNumber >= 13 "
        f"ORDER BY Timestamp DESC, Id DESC LIMIT 1 OFFSET {999 * PAGE_ROWS - 1}"
    )[0]
    deep = row(
        "keyset page 1000 (level>=warn)", "level>=warn", TARGETS_MS["page"], before=Cursor(cursor_row[0], cursor_row[1])
    )
    day = TimeRange(newest - 86400 * 10**9, newest + 1)
    hist = p50(lambda: search.histogram("", day, 60), args.runs)
    hist_err = p50(lambda: search.histogram("level:error", day, 60), args.runs)
    count = p50(lambda: search.count("level:error", everything), args.runs)
    print(
        f"{'histogram, 60 buckets over 24 h':46}{hist:9.1f}{'':9}{'':7}{TARGETS_MS['histogram']:6.0f} "
        f"{'ok' if hist <= TARGETS_MS['histogram'] else 'SLOW'}"
    )
    print(f"{'histogram level:error, 60 buckets over 24 h':46}{hist_err:9.1f}")
    print(f"{'count level:error, all time':46}{count:9.1f}")
    print(f"\npage 1000 / page 1: {deep / first:.2f}x (target <= 2x)")
    store.close()
    parse_compile_20_terms()


# 20 terms of every kind: what the grammar costs before any SQL runs (issue 16: must not slow)
TWENTY_TERMS = (
    'service:checkout level:error OR level:warn "payment declined" -env:staging duration_ms>500 '
    'user.id:(42 OR 7) tag:"*query error*" http.route:/\\/api\\/.*/ span_name:(gorm.* AND NOT *.Exec) '
    "host.name:web-* timeout NOT debug `card expired` session_id EXISTS trace_id NOT EXISTS "
    'latency<250ms win.path:"C:\\temp\\app.log" level>=warn (a OR b) c'
)


def parse_compile_20_terms(runs: int = 2000) -> None:
    compile_query(TWENTY_TERMS)  # warm: the grammar is built once per process
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        compile_query(TWENTY_TERMS)
        samples.append((time.perf_counter() - t0) * 1e6)
    print(f"parse + compile of a 20-term query: p50 {statistics.median(samples):.0f} us")


if __name__ == "__main__":
    main()
