"""OTLP/HTTP ingest throughput: 4 concurrent senders, 1,000 records a request, into `hlog serve`.

Prints records/s, checks every record is stored, and compares with the ceiling: the same
rows inserted directly with clickhouse-connect in one process.
Usage: python bench/ingest.py [--records 2000000] [--senders 4] [--batch 1000]
"""

from __future__ import annotations

import argparse
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
from pathlib import Path
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest  # noqa: E402
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue  # noqa: E402

from hlog.backend.otlp import Batch, add_logs  # noqa: E402
from hlog.backend.store import LOG_COLUMNS, Store  # noqa: E402

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
            ("session.id", f"sess-{rng.randrange(10**5)}"),
            ("user.id", str(rng.randrange(10**4))),
            ("http.route", "/api/cart"),
            ("duration_ms", str(rng.randrange(2000))),
            ("request.n", str(i)),
        ):
            lr.attributes.append(KeyValue(key=key, value=AnyValue(string_value=value)))
    return request.SerializeToString()


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
        body = bodies[i % len(bodies)]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=2_000_000)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    requests = args.records // args.batch
    bodies = [payload(args.batch, seed) for seed in range(DISTINCT_PAYLOADS)]
    print(
        f"{requests:,} requests of {args.batch:,} records ({len(bodies[0]) / args.batch:.0f} B/record), "
        f"{args.senders} senders"
    )

    DATA.mkdir(exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="ingest-", dir=DATA))
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hlog.backend.cli",
            "serve",
            "--store",
            f"chdb://{workdir / 'served'}",
            "--listen",
            "127.0.0.1:0",
            "--log-level",
            "warning",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert server.stderr is not None
    url = ""
    while not url:
        line = server.stderr.readline()
        m = re.search(r"listening on (http://\S+)", line)
        if m:
            url = m.group(1)
        elif not line:
            raise SystemExit("hlog serve did not start")
    threading.Thread(target=server.stderr.read, daemon=True).start()

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
    ours = requests * args.batch / elapsed
    conn = http.client.HTTPConnection(urlparse(url).hostname, urlparse(url).port)
    conn.request("GET", "/api/logs/count")
    stored = json.loads(conn.getresponse().read())["count"]
    conn.request("GET", "/healthz")
    health = json.loads(conn.getresponse().read())
    server.terminate()
    server.wait()

    # the ceiling: the same rows, already flattened, inserted directly in this process
    store = Store(f"chdb://{workdir / 'direct'}")
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest as Req

    per_insert = 100
    batch = Batch(LOG_COLUMNS)
    for i in range(per_insert):
        add_logs(Req.FromString(bodies[i % len(bodies)]), batch)
    inserts = requests // per_insert
    t0 = time.perf_counter()
    for _ in range(inserts):
        store.insert_columns("logs", LOG_COLUMNS, batch.data)
    ceiling = inserts * per_insert * args.batch / (time.perf_counter() - t0)
    # decode + flatten alone, for the record
    t0 = time.perf_counter()
    for i in range(200):
        add_logs(Req.FromString(bodies[i % len(bodies)]), Batch(LOG_COLUMNS))
    flatten = 200 * args.batch / (time.perf_counter() - t0)
    store.close()
    shutil.rmtree(workdir)

    print(
        f"\nOTLP/HTTP ingest      {ours:12,.0f} records/s  ({elapsed:.1f} s, {stats['retries']} 503 retries, "
        f"{health['ingest']['commits']:,} commits)"
    )
    print(f"direct insert ceiling {ceiling:12,.0f} rows/s")
    print(f"decode + flatten      {flatten:12,.0f} records/s (one core)")
    print(f"ratio to ceiling      {ours / ceiling:12.2f}   (target >= 0.5; target rate >= 100,000/s)")
    sent = requests * args.batch
    print(f"stored {stored:,} of {sent:,}: {'all found' if stored == sent else 'MISSING'}")


if __name__ == "__main__":
    main()
