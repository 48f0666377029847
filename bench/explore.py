"""What comes after finding, over the 10-million-log store of bench/search.py: the context
around a log in each scope (target p50 <= 50 ms).

Usage: python bench/explore.py [--rows 10000000] [--runs 20] [--embedded DIR]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.search import open_store  # noqa: E402
from hlog.backend.search import CONTEXT_SCOPES, Cursor, LogSearch  # noqa: E402

CONTEXT_TARGET_MS = 50.0


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
        context_figures(LogSearch(store), args.runs)
    finally:
        store.close()


if __name__ == "__main__":
    main()
