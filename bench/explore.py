"""What comes after finding, over the 10-million-log store of bench/search.py: the context
around a log in each scope (target p50 <= 50 ms), facets over 24 h (target p50 <= 300 ms), the
histogram broken down by a key over 24 h (target p50 <= 300 ms).

Usage: python bench/explore.py [--rows 10000000] [--runs 20] [--embedded DIR]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.search import open_store  # noqa: E402
from hlog.backend.facets import facets  # noqa: E402
from hlog.backend.search import CONTEXT_SCOPES, Cursor, LogSearch, TimeRange  # noqa: E402

CONTEXT_TARGET_MS = 50.0
FACETS_TARGET_MS = 300.0
BREAKDOWN_TARGET_MS = 300.0
HOUR_NS = 3600 * 10**9


def p50_p95(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    fn()  # warm up
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples), statistics.quantiles(samples, n=20)[-1]


def facets_figures(search: LogSearch, runs: int) -> None:
    """Facets of a few searches over the newest 24 h (and 1 h) of the store."""
    end = search.store.query(f"SELECT toUnixTimestamp64Nano(max(Timestamp)) FROM {search.store.db}.logs")[0][0]
    print("\nfacets: 4 reserved fields and the 8 most common attribute keys, top 10 values (ms)")
    print(f"{'search':36}{'matches':>10}{'how':>10}{'p50':>8}{'p95':>8}{'target':>8}")
    for hours in (24, 1):
        window = TimeRange(end - hours * HOUR_NS, end + 1)
        for query in ("", "level:error", "service_name:checkout", "level>=warn host.name:web-3"):
            found = facets(search, query, window)
            p50, p95 = p50_p95(lambda q=query, w=window: facets(search, q, w), runs)
            how = "exact" if found["exact"] else f"1 in {found['sample_rate']}"
            verdict = "ok" if p50 <= FACETS_TARGET_MS else "SLOW"
            label = f"{query or '(every log)'}, {hours} h"
            print(f"{label:36}{found['total']:>10,}{how:>10}{p50:8.1f}{p95:8.1f}{FACETS_TARGET_MS:8.0f} {verdict}")


def context_figures(search: LogSearch, runs: int) -> None:
    """p50 and p95 of 20 before and 20 after around `runs` logs picked over the whole range."""
    store = search.store
    picked = store.query(
        f"SELECT toUnixTimestamp64Nano(Timestamp), Id FROM {store.db}.logs "
        "WHERE cityHash64(Id) % 1000 = 7 ORDER BY cityHash64(Id) LIMIT {n:UInt32}",
        {"n": runs},
    )
    ids = [Cursor(ts, row_id).encode() for ts, row_id in picked]
    search.context(ids[0])  # warm up
    print(f"context: 20 before and 20 after, around {len(ids)} logs spread over the range (ms)")
    print(f"{'scope':28}{'p50':>8}{'p95':>8}{'target':>8}")
    for by in CONTEXT_SCOPES:
        for query in ("", "level:error"):
            samples = []
            for log_id in ids:
                t0 = time.perf_counter()
                found = search.context(log_id, 20, 20, by, query)
                samples.append((time.perf_counter() - t0) * 1000)
                assert found["logs"][found["anchor"]]["log_id"] == log_id
            p50, p95 = statistics.median(samples), statistics.quantiles(samples, n=20)[-1]
            verdict = "ok" if p50 <= CONTEXT_TARGET_MS else "SLOW"
            label = by + (f", marks {query}" if query else "")
            print(f"{label:28}{p50:8.1f}{p95:8.1f}{CONTEXT_TARGET_MS:8.0f} {verdict}")


def breakdown_figures(search: LogSearch, runs: int) -> None:
    """The 24 h histogram (120 buckets) broken down by a key: a reserved one and an attribute."""
    end = search.store.query(f"SELECT toUnixTimestamp64Nano(max(Timestamp)) FROM {search.store.db}.logs")[0][0]
    window = TimeRange(end - 24 * HOUR_NS, end + 1)
    print("\nbreakdown: 24 h, 120 buckets, the 5 biggest values and the rest (ms)")
    print(f"{'search':36}{'by':>16}{'p50':>8}{'p95':>8}{'target':>8}")
    for query, key in (("", "service_name"), ("", "http.route"), ("level:error", "host.name"), ("", "level")):
        p50, p95 = p50_p95(lambda q=query, k=key: search.breakdown(q, window, k, 120), runs)
        verdict = "ok" if p50 <= BREAKDOWN_TARGET_MS else "SLOW"
        print(f"{query or '(every log)':36}{key:>16}{p50:8.1f}{p95:8.1f}{BREAKDOWN_TARGET_MS:8.0f} {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument(
        "--embedded",
        default=str(Path(__file__).resolve().parent / "data" / "search-store"),
        metavar="DIR",
        help="the embedded store's directory (made by bench/search.py when missing)",
    )
    args = parser.parse_args()
    store = open_store(f"chdb://{args.embedded}", args.rows)
    try:
        search = LogSearch(store)
        context_figures(search, args.runs)
        facets_figures(search, args.runs)
        breakdown_figures(search, args.runs)
    finally:
        store.close()


if __name__ == "__main__":
    main()
