"""hlog serve under hostile and overwhelming ingest: peak memory, latency, refusals, duplicates.

Usage: python bench/ingest_attack.py [--seconds 30] [--senders 256]
Starts a real `hlog serve` on a temporary store and measures the peak RSS of it and its
worker processes (sampled every 20 ms) while it receives:
  1. an 8 KiB gzip body of 4 million empty records (x 8 at once),
  2. a 34 KiB body of 1,000 resource attributes x 10,000 records (x 8 at once),
  3. 64 concurrent 64 MiB requests,
  4. 256 closed-loop senders of 1,000-record requests that honour Retry-After and retry a
     request whose answer did not come within the SDKs' 10 s timeout: p50/p99 response
     time, 503s, and duplicates (rows stored minus records sent).
Target (issue 12): peak RSS under 1.5 GiB in every case; p99 under 5 s; no duplicate.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest  # noqa: E402

from hlog.backend.access import read_token  # noqa: E402
from tests.conftest import logs_request  # noqa: E402

PB = {"Content-Type": "application/x-protobuf"}
SDK_TIMEOUT_SECONDS = 10.0


def rss_mib(pid: int) -> float:
    """RSS of a process and its children, MiB."""
    total = 0
    pids = [pid]
    try:
        pids += [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


class Peak:
    """Samples the server's memory in a thread while a scenario runs."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mib(self.pid))
            time.sleep(0.02)

    def __enter__(self) -> Peak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def start_server(store: Path, *options: str) -> tuple[subprocess.Popen[str], str]:
    """`hlog serve` on `store` and a free port, with `options`; (the process, its URL)."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hlog.backend.cli",
            "serve",
            "--store",
            f"chdb://{store}",
            "--listen",
            "127.0.0.1:0",
            *options,
        ],  # fmt: skip
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        m = re.search(r"listening on (http://\S+)", line)
        if m:
            threading.Thread(target=proc.stderr.read, daemon=True).start()
            return proc, m.group(1)
    raise SystemExit("hlog serve did not start")


def empty_records_bomb() -> bytes:
    request = ExportLogsServiceRequest()
    scope = request.resource_logs.add().scope_logs.add()
    for _ in range(4_000_000):
        scope.log_records.add()
    return gzip.compress(request.SerializeToString(), 9)


def resource_attributes_bomb() -> bytes:
    resource = {f"r{i}": "v" for i in range(1000)}
    resource["service.name"] = "bomb"
    return gzip.compress(logs_request([{"body": ""} for _ in range(10_000)], resource).SerializeToString(), 9)


def big_body(size: int) -> bytes:
    record = {"body": "x" * 4000}
    request = logs_request([record] * (size // 4100))
    return request.SerializeToString()[:size]


async def blast(url: str, body: bytes, copies: int, encoding: str | None) -> dict[int, int]:
    headers = {**PB, **({"Content-Encoding": encoding} if encoding else {})}
    async with httpx.AsyncClient(timeout=120) as http:
        answers = await asyncio.gather(
            *(http.post(url + "/v1/logs", content=body, headers=headers) for _ in range(copies)),
            return_exceptions=True,
        )
    codes: dict[int, int] = {}
    for a in answers:
        code = a.status_code if isinstance(a, httpx.Response) else 0
        codes[code] = codes.get(code, 0) + 1
    return codes


async def _post(url: str, body: bytes, conn: list[asyncio.StreamReader | asyncio.StreamWriter]) -> tuple[int, float]:
    """POST /v1/logs on a kept-alive connection of its own (opened into `conn` when empty), with
    the SDKs' timeout; (status, Retry-After). A lean client: httpx's pool spent more CPU than the
    server under 256 senders on the same two cores, and its waits were counted as the server's."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    if not conn:
        conn[:] = await asyncio.open_connection(host, int(port))
    reader, writer = conn
    assert isinstance(reader, asyncio.StreamReader) and isinstance(writer, asyncio.StreamWriter)
    head = f"POST /v1/logs HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-protobuf\r\n"
    writer.write(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)

    async def answer() -> tuple[int, float]:
        lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        headers = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
        await reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection") == "close":
            writer.close()
            conn.clear()
        return int(lines[0].split()[1]), float(headers.get("retry-after", "1"))

    try:
        return await asyncio.wait_for(answer(), SDK_TIMEOUT_SECONDS)
    except BaseException:
        writer.close()
        conn.clear()
        raise


async def senders(url: str, count: int, seconds: float) -> tuple[list[float], int, int, int, int]:
    """Closed-loop senders; (response times, 503s, timeouts, broken connections, records sent)."""
    times: list[float] = []
    refused = timeouts = broken = sent = 0
    stop = time.monotonic() + seconds

    # one body per sender, made unique per request by an unknown field (ignored by the decoder): the
    # senders must not spend the CPU the backend needs building bodies
    templates = [
        logs_request([{"body": f"sender-load {n} {j}"} for j in range(1000)]).SerializeToString() for n in range(count)
    ]

    async def sender(n: int) -> None:
        nonlocal refused, timeouts, broken, sent
        conn: list[asyncio.StreamReader | asyncio.StreamWriter] = []
        i = 0
        while time.monotonic() < stop:
            body = templates[n] + b"\x98\x06" + _varint(i)
            i += 1
            while True:  # this request until it is acknowledged, as an SDK retries it
                t0 = time.monotonic()
                try:
                    status, retry_after = await _post(url, body, conn)
                except TimeoutError:
                    timeouts += 1
                    continue
                except (OSError, asyncio.IncompleteReadError, ValueError):  # broken: an SDK retries that too
                    broken += 1
                    continue
                finally:
                    times.append(time.monotonic() - t0)
                if status == 200:
                    sent += 1000
                    break
                refused += 1
                await asyncio.sleep(retry_after)

    await asyncio.gather(*(sender(n) for n in range(count)))
    return times, refused, timeouts, broken, sent


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        out.append((value & 0x7F) | (0x80 if value > 0x7F else 0))
        value >>= 7
        if not value:
            return bytes(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--senders", type=int, default=256)
    parser.add_argument("--only-senders", action="store_true", help="skip the memory attacks")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("XDG_DATA_HOME", tmp)
        proc, url = start_server(Path(tmp) / "store")
        try:
            print(f"idle: {rss_mib(proc.pid):.0f} MiB")
            attacks = (
                ("8 KiB gzip of 4 M empty records x 8", empty_records_bomb, 8, "gzip"),
                ("1,000 resource attributes x 10,000 records x 8", resource_attributes_bomb, 8, "gzip"),
                ("64 concurrent 64 MiB requests", lambda: big_body(64 * 1024 * 1024 - 1), 64, None),
            )
            for name, make, copies, encoding in () if args.only_senders else attacks:
                body = make()
                with Peak(proc.pid) as peak:
                    codes = asyncio.run(blast(url, body, copies, encoding))
                print(f"{name} ({len(body) / 1024:,.0f} KiB each): answers {codes}, peak RSS {peak.peak:,.0f} MiB")
            with Peak(proc.pid) as peak:
                times, refused, timeouts, broken, sent = asyncio.run(senders(url, args.senders, args.seconds))
            headers = {"Authorization": f"Bearer {read_token()}"}
            query = {"q": '"sender-load"'}
            stored = httpx.get(url + "/api/logs/count", params=query, headers=headers, timeout=120).json()["count"]
            times.sort()
            print(
                f"{args.senders} senders for {args.seconds:g} s: {sent:,} records acknowledged "
                f"({sent / args.seconds:,.0f}/s), p50 {statistics.median(times):.2f} s, "
                f"p99 {times[int(len(times) * 0.99)]:.2f} s, max {times[-1]:.2f} s, {refused} answered 503, "
                f"{timeouts} timed out, {broken} broken connections; stored {stored:,}: duplicates {stored - sent:,}; "
                f"peak RSS {peak.peak:,.0f} MiB"
            )
        finally:
            proc.terminate()
            proc.wait(timeout=60)


if __name__ == "__main__":
    main()
