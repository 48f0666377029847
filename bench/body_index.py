"""Compare the message index: tokenbf_v1 (bloom filter) against ClickHouse's text index.

Prints insert time, index size and query latencies for both, on the same generated logs.
Usage: python bench/body_index.py [--rows 5000000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.gen import RARE_WORD, generate  # noqa: E402
from hlog.backend import schema  # noqa: E402
from hlog.backend.store import Store  # noqa: E402

VARIANTS = {
    "tokenbf_v1": ("tokenbf_v1(32768, 3, 0)", 8),
    "text": (schema.BODY_INDEX, schema.TEXT_INDEX_GRANULARITY),
}
QUERIES = {
    "rare word, count": f"SELECT count() FROM {{t}} WHERE hasToken(lower(Body), '{RARE_WORD}')",
    "common word, count": "SELECT count() FROM {t} WHERE hasToken(lower(Body), 'declined')",
    "rare word, newest 100": f"SELECT Body FROM {{t}} WHERE hasToken(lower(Body), '{RARE_WORD}') "
    "ORDER BY Timestamp DESC, Id DESC LIMIT 100",
    "absent word, count": "SELECT count() FROM {t} WHERE hasToken(lower(Body), 'zebra')",
}
RUNS = 15


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=5_000_000)
    args = parser.parse_args()
    path = tempfile.mkdtemp(prefix="hlog-bench-index-")
    store = Store(f"chdb://{path}")
    client = store._writer
    now = time.time_ns()
    print(f"{args.rows:,} generated logs over 7 days, store at {path}\n")
    results = {}
    for name, (index, granularity) in VARIANTS.items():
        table = f"{store.db}.logs_{name}"
        ddl = schema._LOGS.replace("{db}.logs", table).replace(
            "{body_index} GRANULARITY {text_index_granularity}", f"{index} GRANULARITY {granularity}"
        )
        ddl = ddl.format(
            db=store.db,
            ttl_seconds=365 * 86400,
            exact_index=schema.EXACT_INDEX,
            text_index_granularity=schema.TEXT_INDEX_GRANULARITY,
            storage_settings=schema.STORAGE_SETTINGS,
        )
        client.command(ddl)
        started = time.perf_counter()
        generate(client, table, args.rows, now, 7 * 86400 * 10**9)
        insert_s = time.perf_counter() - started
        client.command(f"OPTIMIZE TABLE {table} FINAL")
        size = client.query(
            "SELECT sum(data_compressed_bytes) FROM system.data_skipping_indices "
            "WHERE database = {d:String} AND table = {t:String} AND name = 'idx_body'",
            parameters={"d": store.db, "t": f"logs_{name}"},
        ).result_rows[0][0]
        data = client.query(
            "SELECT sum(data_compressed_bytes) FROM system.parts WHERE database = {d:String} AND table = {t:String} "
            "AND active",
            parameters={"d": store.db, "t": f"logs_{name}"},
        ).result_rows[0][0]
        timings = {}
        for label, sql in QUERIES.items():
            q = sql.format(t=table)
            client.query(q)
            samples = []
            for _ in range(RUNS):
                t0 = time.perf_counter()
                client.query(q)
                samples.append((time.perf_counter() - t0) * 1000)
            timings[label] = statistics.median(samples)
        results[name] = (insert_s, size, data, timings)
    print(f"{'':28}" + "".join(f"{n:>16}" for n in VARIANTS) + f"{'ratio':>10}")
    a, b = (results[n] for n in VARIANTS)
    print(f"{'insert (s)':28}{a[0]:16.1f}{b[0]:16.1f}{b[0] / a[0]:10.2f}")
    print(f"{'insert (rows/s)':28}{args.rows / a[0]:16,.0f}{args.rows / b[0]:16,.0f}")
    print(f"{'index size (MiB)':28}{a[1] / 2**20:16.1f}{b[1] / 2**20:16.1f}{b[1] / max(a[1], 1):10.2f}")
    print(f"{'table size (MiB)':28}{a[2] / 2**20:16.1f}{b[2] / 2**20:16.1f}")
    for label in QUERIES:
        x, y = a[3][label], b[3][label]
        print(f"{label + ' (ms p50)':28}{x:16.1f}{y:16.1f}{y / x:10.2f}")
    store.close()


if __name__ == "__main__":
    main()
