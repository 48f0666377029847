"""OTLP/HTTP ingest throughput: 4 concurrent senders, 1,000 records a request, into `hlog serve`.

Prints records/s, checks every record is stored, and compares with the ceiling: the same
rows inserted directly with clickhouse-connect in one process. Side by side (--server,
--cluster N): the same into a ClickHouse server and a sharded cluster started here.
Usage: python bench/ingest.py [--records 2000000] [--senders 4] [--batch 1000] [--server] [--cluster 3] [--store URL]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pyarrow as pa  # noqa: E402
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest  # noqa: E402
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue  # noqa: E402

from bench.stores import add_store_options, store_label  # noqa: E402
from hlog.backend import wal  # noqa: E402
from hlog.backend.access import read_token  # noqa: E402
from hlog.backend.ingest import prepare  # noqa: E402
from hlog.backend.otlp import Batch, add_logs  # noqa: E402
from hlog.backend.store import LOG_COLUMNS, Store  # noqa: E402
from tests.clickhouse import running, start_cluster  # noqa: E402

DISTINCT_PAYLOADS = 16
# the stores live beside the bench, like a user's data directory (not /tmp, which may be a slower filesystem)
DATA = Path(__file__).resolve().parent / "data"
MESSAGES = [
    "GET /api/cart 200 in {n}ms",
    "user {n} added item sku-{m} to cart",
    "payment declined for order {n}: card expired",
    "Timeout after {n}ms calling inventory service at inventory.internal:8080",
    "cache miss for key product:{n}, loading from database shard {m}",
]


def payload(records: int, seed: int) -> bytes:
    """One realistic OTLP logs request (~290 bytes a record)."""
    rng = random.Random(seed)
    request = ExportLogsServiceRequest()
    rl = request.resource_logs.add()
    for key, value in (
        ("service.name", f"svc-{seed % 4}"),
        ("host.name", f"web-{seed}"),
        ("deployment.environment.name", "prod"),
    ):
        rl.resource.attributes.append(KeyValue(key=key, value=AnyValue(string_value=value)))
    scope = rl.scope_logs.add()
    scope.scope.name = "bench"
    now = time.time_ns()
    for i in range(records):
        lr = scope.log_records.add()
        lr.time_unix_nano = now - rng.randrange(3600 * 10**9)
        lr.severity_number = rng.choice((9, 9, 9, 13, 17))
        lr.severity_text = {9: "INFO", 13: "WARN", 17: "ERROR"}[lr.severity_number]
        lr.body.string_value = rng.choice(MESSAGES).format(n=rng.randrange(10**6), m=rng.randrange(100))
        lr.trace_id = rng.randbytes(16)
        lr.span_id = rng.randbytes(8)
        for key, value in (
            ("session.id", AnyValue(string_value=f"sess-{rng.randrange(10**5)}")),
            ("user.id", AnyValue(string_value=str(rng.randrange(10**4)))),
            ("http.route", AnyValue(string_value="/api/cart")),
            ("duration_ms", AnyValue(int_value=rng.randrange(2000))),  # what SDKs send for numbers
            ("request.n", AnyValue(int_value=i)),
        ):
            lr.attributes.append(KeyValue(key=key, value=value))
    return request.SerializeToString()


def unique_part() -> bytes:
    """Bytes that, appended to a request, make it unique: protobuf merges the repeated field."""
    extra = ExportLogsServiceRequest()
    extra.resource_logs.add().resource.attributes.append(
        KeyValue(key="bench.request", value=AnyValue(string_value=uuid.uuid4().hex))
    )
    return extra.SerializeToString()


def sender(url: str, bodies: list[bytes], count: int, stats: dict[str, int], lock: threading.Lock) -> None:
    try:
        _send(url, bodies, count, stats, lock)
    except Exception as err:
        with lock:
            stats["errors"] = stats.get("errors", 0) + 1
        print(f"sender failed: {err!r}", file=sys.stderr)


def _send(url: str, bodies: list[bytes], count: int, stats: dict[str, int], lock: threading.Lock) -> None:
    parsed = urlparse(url)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
    retries = 0
    for i in range(count):
        # every request differs (the backend answers a repeated request without storing it again)
        body = bodies[i % len(bodies)] + unique_part()
        while True:
            conn.request("POST", "/v1/logs", body, {"Content-Type": "application/x-protobuf"})
            response = conn.getresponse()
            response.read()
            if response.status == 200:
                break
            if response.status in (429, 503):
                retries += 1
                time.sleep(float(response.getheader("Retry-After", "1")))
                continue
            raise RuntimeError(f"unexpected status {response.status}")
    with lock:
        stats["retries"] += retries


def serve(store: str, *extra: str) -> tuple[subprocess.Popen[str], str]:
    """`hlog serve` on `store`; the process and its URL."""
    server = subprocess.Popen(
        [sys.executable, "-m", "hlog.backend.cli", "serve", "--store", store, "--listen", "127.0.0.1:0"]
        + ["--log-level", "warning", *extra],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert server.stderr is not None
    while True:
        line = server.stderr.readline()
        m = re.search(r"listening on (http://\S+)", line)
        if m:
            threading.Thread(target=server.stderr.read, daemon=True).start()
            return server, m.group(1)
        if not line:
            raise SystemExit("hlog serve did not start")


def run(store: str, direct: str, bodies: list[bytes], args: argparse.Namespace, *extra: str) -> dict[str, float]:
    """Send every request to `hlog serve` on `store`, count what it stored, then the ceiling: the
    same rows, already flattened, inserted directly into `direct` from this process."""
    requests = args.records // args.batch
    server, url = serve(store, *extra)
    stats, lock = {"retries": 0}, threading.Lock()
    per_sender = [requests // args.senders + (1 if i < requests % args.senders else 0) for i in range(args.senders)]
    threads = [
        threading.Thread(target=sender, args=(url, bodies[i :: args.senders] or bodies, n, stats, lock))
        for i, n in enumerate(per_sender)
    ]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if stats.get("errors"):
        raise SystemExit(f"a sender failed: {stats['errors']}")
    elapsed = time.perf_counter() - started
    conn = http.client.HTTPConnection(urlparse(url).hostname, urlparse(url).port)
    conn.request("GET", "/api/logs/count", headers={"Authorization": f"Bearer {read_token()}"})
    stored = json.loads(conn.getresponse().read())["count"]
    server.terminate()
    server.wait()
    with contextlib.closing(Store(store)) as served:  # bytes a log takes on disk, merged
        served.command(f"OPTIMIZE TABLE {served.db}.logs FINAL")
        on_disk, rows = served.query(
            "SELECT sum(bytes_on_disk), sum(rows) FROM system.parts "
            "WHERE active AND database = {d:String} AND table = 'logs'",
            {"d": served.db},
        )[0]

    target = Store(direct)
    per_insert = 100
    batch = Batch(LOG_COLUMNS)
    for i in range(per_insert):
        add_logs(ExportLogsServiceRequest.FromString(bodies[i % len(bodies)]), batch)
    inserts = max(1, requests // per_insert)
    t0 = time.perf_counter()
    for _ in range(inserts):
        target.insert_columns("logs", LOG_COLUMNS, batch.data)
    ceiling = inserts * per_insert * args.batch / (time.perf_counter() - t0)
    target.close()
    sent = requests * args.batch
    return {
        "OTLP/HTTP ingest, records/s": sent / elapsed,
        "direct insert ceiling, rows/s": ceiling,
        "ratio to ceiling": sent / elapsed / ceiling,
        "503 retries": stats["retries"],
        "stored / sent": stored / sent,
        "bytes a log on disk": on_disk / max(rows, 1),
    }


def per_core(bodies: list[bytes], batch: int, store_dsn: str) -> dict[str, float]:
    """Records/s of each step on one core: decode into a log frame (a worker process's work),
    append it to the write-ahead log (with its fdatasync), insert into the embedded store, merge."""
    oldest = time.time_ns() - 30 * 86400 * 10**9
    t0 = time.perf_counter()
    frames = [prepare("logs", bodies[i % len(bodies)], "application/x-protobuf", oldest)[0] for i in range(100)]
    decode = 100 * batch / (time.perf_counter() - t0)
    with tempfile.TemporaryDirectory(dir=DATA) as directory:
        log = wal.WriteAheadLog(Path(directory) / "wal")
        t0 = time.perf_counter()
        for i in range(0, len(frames), 4):  # a write of the log carries the requests that arrived together
            log.append(frames[i : i + 4])
        append = len(frames) * batch / (time.perf_counter() - t0)
        log.close()
        store = Store(store_dsn)
        rows = pa.concat_tables([wal.decode_frame(f)[1] for f in frames[:20]])
        t0 = time.perf_counter()
        for _ in range(10):
            store.insert_arrow("logs", rows)
        insert = 10 * rows.num_rows / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        store.command(f"OPTIMIZE TABLE {store.db}.logs FINAL")
        merge = 10 * rows.num_rows / (time.perf_counter() - t0)
        store.close()
    return {
        "decode OTLP protobuf into a write-ahead log frame": decode,
        "append to the write-ahead log (4 requests a write, fdatasync)": append,
        "insert into ClickHouse (embedded, 20,000-row inserts)": insert,
        "merge the inserted parts into one (OPTIMIZE FINAL)": merge,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=2_000_000)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--batch", type=int, default=1000)
    add_store_options(parser)
    args = parser.parse_args()
    bodies = [payload(args.batch, seed) for seed in range(DISTINCT_PAYLOADS)]
    print(
        f"{args.records // args.batch:,} requests of {args.batch:,} records "
        f"({len(bodies[0]) / args.batch:.0f} B/record), {args.senders} senders"
    )
    DATA.mkdir(exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="ingest-", dir=DATA))
    figures: list[tuple[str, dict[str, float]]] = []
    try:
        wal_dir = ("--wal-dir", str(workdir / "wal"))
        served = f"chdb://{workdir / 'served'}"
        figures.append(("embedded", run(served, f"chdb://{workdir / 'direct'}", bodies, args)))
        if args.server:
            with running(workdir / "server") as server:
                figures.append(("server", run(server.dsn("served"), server.dsn("direct"), bodies, args, *wal_dir)))
        if args.cluster:
            nodes = start_cluster(workdir / "cluster", "bench", args.cluster)
            try:
                for database in ("served", "direct"):
                    Store(nodes[0].dsn(database), cluster="bench").close()
                name = f"{args.cluster} nodes"
                figures.append((name, run(nodes[0].dsn("served"), nodes[0].dsn("direct"), bodies, args, *wal_dir)))
            finally:
                for node in nodes:
                    node.stop()
        for dsn in args.store:
            figures.append((store_label(dsn), run(dsn, dsn.rstrip("/") + "_direct", bodies, args, *wal_dir)))
        cores = per_core(bodies, args.batch, f"chdb://{workdir / 'direct'}?database=per_core")
    finally:
        shutil.rmtree(workdir)

    names = [name for name, _ in figures]
    print(f"\n{'':32}" + "".join(f"{n:>14}" for n in names) + "".join(f"{n + '/1':>12}" for n in names[1:]))
    for label in figures[0][1]:
        first = figures[0][1][label]
        line = f"{label:32}" + "".join(
            f"{f[label]:14,.2f}" if f[label] < 10 else f"{f[label]:14,.0f}" for _, f in figures
        )
        line += "".join(f"{f[label] / first:12.2f}" if first else f"{'':12}" for _, f in figures[1:])
        print(line)
    print("\nper core (the figures docs/scale.md sizes a cluster from):")
    for label, rate in cores.items():
        print(f"  {label:58}{rate:12,.0f} records/s")
    print("targets: >= 100,000 records/s into the embedded store, ratio to ceiling >= 0.5, stored / sent = 1.00")


if __name__ == "__main__":
    main()
