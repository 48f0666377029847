"""Patterns: how long grouping every match takes (1 and 10 million logs of bench/search.py's
store), and how well they are grouped on the Loghub 2k samples, beside Drain's published figures.

Usage: python bench/patterns.py [--runs 5] [--loghub DIR]
DIR is a checkout of https://github.com/logpai/loghub (its samples are free for research, not
ours to ship: they stay out of this repository). Grouping accuracy is Loghub's measure: a log
counts as right when the logs grouped with it are exactly those of its ground-truth template.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.explore import p50_p95  # noqa: E402
from bench.search import open_store  # noqa: E402
from hlog.backend.patterns import SIMILARITY, clusters, patterns, shape_sql  # noqa: E402
from hlog.backend.search import LogSearch, TimeRange  # noqa: E402
from hlog.backend.store import Store  # noqa: E402

TARGETS_MS = {1_000_000: 1000.0, 10_000_000: 3000.0}
# Drain's grouping accuracy on the 2k samples, tuned per log type (Zhu et al., "Tools and
# Benchmarks for Automated Log Parsing", ICSE-SEIP 2019, table of the loghub benchmark)
DRAIN_PUBLISHED = {
    "HDFS": 0.998,
    "Hadoop": 0.948,
    "Spark": 0.920,
    "Zookeeper": 0.967,
    "BGL": 0.963,
    "HPC": 0.887,
    "Thunderbird": 0.955,
    "Windows": 0.997,
    "Linux": 0.690,
    "Mac": 0.787,
    "Android": 0.911,
    "HealthApp": 0.780,
    "Apache": 1.000,
    "OpenSSH": 0.788,
    "OpenStack": 0.733,
    "Proxifier": 0.527,
}


def timings(store: Store, runs: int) -> None:
    search = LogSearch(store)
    end = int(store.query(f"SELECT toUnixTimestamp64Nano(max(Timestamp)) FROM {store.db}.logs")[0][0]) + 1
    first = int(store.query(f"SELECT toUnixTimestamp64Nano(min(Timestamp)) FROM {store.db}.logs")[0][0])
    per_log = (end - first) / store.query(f"SELECT count() FROM {store.db}.logs")[0][0]
    print(f"{'matches':>12} {'compare':>8} {'p50 ms':>8} {'p95 ms':>8} {'target':>7}  patterns")
    for rows, target in TARGETS_MS.items():
        time_range = TimeRange(end - int(rows * per_log), end)
        for compare in (None, 86400 * 10**9):
            found = patterns(search, "", time_range, compare)
            p50, p95 = p50_p95(lambda c=compare, r=time_range: patterns(search, "", r, c), runs)
            verdict = "ok" if p50 <= target else "SLOW"
            label = "24h" if compare else "-"
            print(
                f"{found['total']:>12,} {label:>8} {p50:8.1f} {p95:8.1f} {target:7.0f} {verdict}"
                f"  {found['pattern_count']} from {found['shapes']} shapes"
            )


def accuracy(store: Store, loghub: Path) -> None:
    expr, params = shape_sql("c")
    setting = f"one setting for every kind: similarity {SIMILARITY}"
    print(f"\n{'Loghub 2k':<12} {'ours':>6} {'Drain':>6}  patterns/truth  ({setting})")
    ours_all, theirs_all = [], []
    for name, published in DRAIN_PUBLISHED.items():
        path = loghub / name / f"{name}_2k.log_structured.csv"
        if not path.exists():
            print(f"{name:<12} missing: {path}")
            continue
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        messages, truth = [r["Content"] for r in rows], [r["EventId"] for r in rows]
        shapes = [
            r[0]
            for r in store.query(
                f"SELECT {expr} FROM (SELECT arrayJoin({{m:Array(String)}}) AS c)", {**params, "m": messages}
            )
        ]
        by_count = sorted(set(shapes), key=lambda s: -shapes.count(s))  # most common first, as the query feeds them
        cluster_of = {s: c.cluster_id for s, c in zip(by_count, clusters(by_count), strict=True)}
        predicted = [cluster_of[s] for s in shapes]
        score = grouping_accuracy(truth, predicted)
        ours_all.append(score)
        theirs_all.append(published)
        print(f"{name:<12} {score:6.3f} {published:6.3f}  {len(set(predicted))}/{len(set(truth))}")
    if ours_all:
        print(f"{'average':<12} {sum(ours_all) / len(ours_all):6.3f} {sum(theirs_all) / len(theirs_all):6.3f}")


def grouping_accuracy(truth: list[str], predicted: list[int]) -> float:
    """The share of logs whose predicted group holds exactly the logs of their true group."""
    true_groups: dict[str, set[int]] = defaultdict(set)
    groups: dict[int, set[int]] = defaultdict(set)
    for i, (t, p) in enumerate(zip(truth, predicted, strict=True)):
        true_groups[t].add(i)
        groups[p].add(i)
    right = sum(len(g) for g in groups.values() if g == true_groups[truth[next(iter(g))]])
    return right / len(truth)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--loghub", type=Path, metavar="DIR", help="a checkout of logpai/loghub")
    parser.add_argument(
        "--embedded",
        default=str(Path(__file__).resolve().parent / "data" / "search-store"),
        metavar="DIR",
        help="the embedded store's directory (made by bench/search.py when missing)",
    )
    args = parser.parse_args()
    store = open_store(f"chdb://{args.embedded}", args.rows)
    try:
        timings(store, args.runs)
        if args.loghub:
            accuracy(store, args.loghub)
    finally:
        store.close()


if __name__ == "__main__":
    main()
