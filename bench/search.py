"""Search latencies over 10 million generated logs, through our path and as raw SQL, on the
embedded store and, side by side, on a ClickHouse server and a sharded cluster started here.

Usage: python bench/search.py [--rows 10000000] [--runs 20] [--server] [--cluster 3] [--store URL]
Each store is generated once (inside ClickHouse) and reused on later runs (bench/data/).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.gen import RARE_WORD, SERVICES, generate  # noqa: E402
from bench.stores import add_store_options, store_label  # noqa: E402
from hlog.backend.cluster import nodes  # noqa: E402
from hlog.backend.search import Cursor, LogSearch, TimeRange, page_sql  # noqa: E402
from hlog.backend.store import Store  # noqa: E402
from hlog.query import compile_query  # noqa: E402
from tests import otel_tables  # noqa: E402
from tests.clickhouse import running, start_cluster  # noqa: E402

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


def open_store(dsn: str, rows: int, cluster: str | None = None) -> Store:
    """The store at `dsn`, holding `rows` generated logs (generated inside ClickHouse once)."""
    store = Store(dsn, retention_seconds=365 * 86400, cluster=cluster)
    have = store.query(f"SELECT count() FROM {store.db}.logs")[0][0]
    if have != rows:
        target = f"{store.db}_local.logs" if cluster else f"{store.db}.logs"
        if cluster:
            for node in nodes(store.connection(), cluster):
                with contextlib.closing(store.connection(node.url(store.target.location))) as client:
                    client.command(f"TRUNCATE TABLE {target}")
        else:
            store.connection().command(f"TRUNCATE TABLE {target}")
        print(f"generating {rows:,} logs over 7 days in {store.target.describe()} ...", flush=True)
        t0 = time.perf_counter()
        generate(store.connection(), f"{store.db}.logs", rows, time.time_ns(), 7 * 86400 * 10**9)
        if not cluster:
            store.connection().command(f"OPTIMIZE TABLE {target} FINAL")
        print(f"  {time.perf_counter() - t0:.1f} s", flush=True)
    wait_for_mutations(store)
    return store


def wait_for_mutations(store: Store) -> None:
    """Measure only once a migration's background work (an index rebuilt over old parts) is done."""
    t0, waited = time.perf_counter(), False
    sql = "SELECT count() FROM system.mutations WHERE database = {d:String} AND NOT is_done"
    while store.query(sql, {"d": store.db}, reads_ingest=False)[0][0]:
        if not waited:
            print("waiting for the store's migrations to finish in the background ...", flush=True)
        waited = True
        time.sleep(1)
    if waited:
        print(f"  {time.perf_counter() - t0:.1f} s", flush=True)


def open_otel(hlog_store: Store, directory: str, rows: int) -> Store:
    """The embedded store's logs copied once into `otel.otel_logs` (the exporter's newer DDL, in
    the same engine), opened as --source otel does."""
    have = hlog_store.query("SELECT count() FROM system.tables WHERE database = 'otel' AND name = 'otel_logs'")[0][0]
    if not have or hlog_store.query("SELECT count() FROM otel.otel_logs")[0][0] != rows:
        print(f"copying {rows:,} logs into otel.otel_logs (the exporter's DDL) ...", flush=True)
        t0 = time.perf_counter()
        hlog_store.command("DROP TABLE IF EXISTS otel.otel_logs")
        otel_tables.create(hlog_store.command, "otel", "newer")
        hlog_store.command(
            "INSERT INTO otel.otel_logs (Timestamp, TraceId, SpanId, TraceFlags, SeverityText, SeverityNumber, "
            "ServiceName, Body, ResourceAttributes, ScopeName, ScopeVersion, LogAttributes) "
            "SELECT Timestamp, TraceId, SpanId, TraceFlags, SeverityText, SeverityNumber, ServiceName, Body, "
            "mapUpdate(ResourceAttributes, map('session.id', SessionId)), ScopeName, ScopeVersion, LogAttributes "
            f"FROM {hlog_store.db}.logs"
        )
        hlog_store.command("OPTIMIZE TABLE otel.otel_logs FINAL")
        print(f"  {time.perf_counter() - t0:.1f} s", flush=True)
    return Store(f"chdb://{directory}?database=otel&source=otel&state_database=hlog_otel")


def measure(store: Store, runs: int) -> dict[str, tuple[float, float | None, float | None]]:
    """Label -> (ours in ms, raw SQL in ms or None, target or None)."""
    search = LogSearch(store)
    everything = TimeRange()
    newest = store.query(f"SELECT toUnixTimestamp64Nano(max(Timestamp)) FROM {store.db}.logs")[0][0]
    sample_session = store.query(f"SELECT SessionId FROM {store.db}.logs ORDER BY Timestamp DESC LIMIT 1")[0][0]
    results: dict[str, tuple[float, float | None, float | None]] = {}

    def row(label: str, query: str, target: float, before: Cursor | None = None) -> None:
        sql, params = page_sql(store.tables, search.compile(query), everything, PAGE_ROWS + 1, before)
        ours = p50(lambda: search.page(query, everything, PAGE_ROWS, before), runs)
        results[label] = (ours, p50(lambda: store.query(sql, params), runs), target)

    row("newest 200, no filter", "", TARGETS_MS["page"])
    row("level:error", "level:error", TARGETS_MS["page"])
    row(f"service_name:{SERVICES[2]} level:error", f"service_name:{SERVICES[2]} level:error", TARGETS_MS["page"])
    row("attribute equality user.id:4242", "user.id:4242", TARGETS_MS["page"])
    row("a session's logs", f"session_id:{sample_session}", TARGETS_MS["page"])
    row(f"rare bare word '{RARE_WORD}'", RARE_WORD, TARGETS_MS["rare word"])
    row('phrase "card expired" level:error', '"card expired" level:error', TARGETS_MS["page"])
    row("duration_ms>1900 http.route:/api/cart", "duration_ms>1900 http.route:/api/cart", TARGETS_MS["page"])
    row("keyset page 1 (level>=warn)", "level>=warn", TARGETS_MS["page"])
    warn = store.query(f"SELECT count() FROM {store.db}.logs WHERE SeverityNumber >= 13")[0][0]
    cursor_row = store.query(
        f"SELECT toUnixTimestamp64Nano(Timestamp), Id FROM {store.db}.logs WHERE SeverityNumber >= 13 "
        f"ORDER BY Timestamp DESC, Id DESC LIMIT 1 OFFSET {min(999 * PAGE_ROWS, warn - PAGE_ROWS) - 1}"
    )[0]
    row("keyset page 1000 (level>=warn)", "level>=warn", TARGETS_MS["page"], Cursor(cursor_row[0], cursor_row[1]))
    day = TimeRange(newest - 86400 * 10**9, newest + 1)
    results["histogram, 60 buckets over 24 h"] = (
        p50(lambda: search.histogram("", day, 60), runs),
        None,
        TARGETS_MS["histogram"],
    )
    results["histogram level:error, 60 buckets over 24 h"] = (
        p50(lambda: search.histogram("level:error", day, 60), runs),
        None,
        None,
    )
    results["count level:error, all time"] = (p50(lambda: search.count("level:error", everything), runs), None, None)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument(
        "--embedded",
        default=str(Path(__file__).resolve().parent / "data" / "search-store"),
        metavar="DIR",
        help="the embedded store's directory",
    )
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument(
        "--otel",
        action="store_true",
        help="also the same logs in an otel_logs made with the Collector's exporter DDL, read with --source otel",
    )
    add_store_options(parser)
    args = parser.parse_args()
    data = Path(__file__).resolve().parent / "data"
    with contextlib.ExitStack() as stack:
        stores = [("embedded", open_store(f"chdb://{args.embedded}", args.rows))]
        if args.otel:
            stores.append(("otel_logs", open_otel(stores[0][1], args.embedded, args.rows)))
        if args.server:
            server = stack.enter_context(running(data / "search-server"))
            stores.append(("server", open_store(server.dsn("hlog"), args.rows)))
        if args.cluster:
            nodes_ = start_cluster(data / "search-cluster", "bench", args.cluster)
            stack.callback(lambda: [node.stop() for node in nodes_])
            stores.append((f"{args.cluster} nodes", open_store(nodes_[0].dsn("hlog"), args.rows, "bench")))
        stores += [(store_label(dsn), open_store(dsn, args.rows)) for dsn in args.store]
        figures = [(name, measure(store, args.runs)) for name, store in stores]
        for _, store in stores:
            store.close()
    print(f"\n{args.rows:,} logs, p50 of {args.runs} runs, ms ('raw': the same SQL run directly)\n")
    names = [name for name, _ in figures]
    header = f"{'query':46}" + "".join(f"{n:>11}" for n in names) + f"{'raw':>9}"
    header += "".join(f"{n + '/1':>11}" for n in names[1:]) + f"{'target':>8}"
    print(header)
    for label in figures[0][1]:
        ours, raw, target = figures[0][1][label]
        line = f"{label:46}" + "".join(f"{f[label][0]:11.1f}" for _, f in figures)
        line += f"{raw:9.1f}" if raw else f"{'':9}"
        line += "".join(f"{f[label][0] / ours:11.2f}" for _, f in figures[1:])
        if target:  # judged on the embedded store (the cluster's nodes share these cores)
            line += f"{target:8.0f} {'ok' if ours <= target else 'SLOW'}"
        print(line)
    for name, f in figures:
        deep, first = f["keyset page 1000 (level>=warn)"][0], f["keyset page 1 (level>=warn)"][0]
        print(f"{name}: page 1000 / page 1: {deep / first:.2f}x (target <= 2x)")
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
