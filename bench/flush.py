"""Parts made per minute by `hlog serve` while people read: does --flush-interval hold?

Usage: python bench/flush.py [--seconds 60] [--intervals 5s,60s]
For each flush interval, starts a real `hlog serve --flush-interval X` on a temporary store and,
for --seconds, at once:
  - sends 1,000 logs/s (ten 100-record OTLP/protobuf requests a second),
  - evaluates 20 alert rules every second (frequency_seconds 1, each its own query),
  - runs the real hlog-tui on it in a pseudo-terminal, in live tail (`L`) on the bench's logs,
  - and follows the newest logs itself as that live tail does (every second a page of what is
    newer than the newest row seen, and the histogram), to check that every log is seen.
It prints the inserts into the logs table (each makes at least one part), the parts the store
made per minute (block numbers taken, from the store's own system.parts, read once the server
has stopped; the flush at stop not counted) and the active parts at the end, and checks that
the live tail saw every log sent.
Target (issue 12): the inserts follow --flush-interval (about 60/interval per minute), not the reads.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ingest_attack import start_server  # noqa: E402
from hlog.backend.access import read_token  # noqa: E402
from hlog.backend.store import Store  # noqa: E402
from hlog.backend.timeutil import format_ns  # noqa: E402
from tests.conftest import logs_request  # noqa: E402
from tests.tui.pty_terminal import PtyProgram  # noqa: E402

PB = {"Content-Type": "application/x-protobuf"}
RULES = 20
REQUESTS_PER_SECOND = 10
RECORDS_PER_REQUEST = 100


async def send(http: httpx.AsyncClient, url: str, stop: float) -> int:
    sent, tick = 0, time.monotonic()
    while tick < stop:
        body = logs_request([{"body": f"flush bench {sent + i}"} for i in range(RECORDS_PER_REQUEST)])
        r = await http.post(url + "/v1/logs", content=body.SerializeToString(), headers=PB)
        r.raise_for_status()
        sent += RECORDS_PER_REQUEST
        tick += 1 / REQUESTS_PER_SECOND
        await asyncio.sleep(max(0.0, tick - time.monotonic()))
    return sent


async def live_tail(http: httpx.AsyncClient, url: str, stop: float, sent: asyncio.Future[int]) -> int:
    """What hlog-tui does in live tail, every second; returns the logs it saw."""
    seen, newest, started = 0, "0-0", time.time_ns()
    while True:
        now = time.time_ns()
        frm, to = format_ns(started - 60 * 10**9, 9), format_ns(now + 10**9, 9)
        while True:  # drain everything newer than the newest row seen
            page = (await http.get(url + "/api/logs", params={"q": "flush bench", "from": frm, "to": to,
                                                              "after": newest, "limit": 500})).json()  # fmt: skip
            if page["logs"]:
                seen += len(page["logs"])
                newest = page["logs"][-1]["cursor"]
            if page["next_cursor"] is None or not page["logs"]:
                break
        await http.get(url + "/api/logs/histogram", params={"q": "flush bench", "from": frm, "to": to})
        if time.monotonic() >= stop and sent.done() and seen >= sent.result():
            return seen
        if time.monotonic() >= stop + 30:
            return seen
        await asyncio.sleep(1.0)


def start_tui(url: str) -> PtyProgram:
    """The real hlog-tui on this backend, in a pseudo-terminal, following the bench's logs live."""
    tui = PtyProgram([sys.executable, "-m", "hlog.tui.app", "--backend", url, "-q", '"flush bench"'], dict(os.environ))
    tui.wait_for("matches")
    tui.send("L")
    tui.wait_for("LIVE")
    return tui


async def scenario(url: str, seconds: float) -> tuple[int, int, int]:
    headers = {"Authorization": f"Bearer {read_token()}"}
    async with httpx.AsyncClient(headers=headers, timeout=30) as http:
        for i in range(RULES):
            rule = {"name": f"rule {i}", "query": f'"flush bench {i}"', "threshold": 10**9, "frequency_seconds": 1,
                    "window_seconds": 60}  # fmt: skip
            (await http.post(url + "/api/alerts", json=rule)).raise_for_status()
        before = (await http.get(url + "/healthz")).json()["ingest"]["commits"]
        stop = time.monotonic() + seconds
        sender = asyncio.ensure_future(send(http, url, stop))
        seen = await live_tail(http, url, stop, sender)
        after = (await http.get(url + "/healthz")).json()["ingest"]["commits"]
        return await sender, seen, after - before


def parts(store: Path) -> tuple[int, int]:
    """(parts ever made in the logs table, active parts) from the store's system.parts."""
    s = Store(f"chdb://{store}")
    try:
        where = f"database = '{s.db}' AND table = 'logs'"
        taken = s.query(f"SELECT max(max_block_number) FROM system.parts WHERE {where}")[0][0]
        # the schema's mutations take block numbers too
        mutations = s.query(f"SELECT count() FROM system.mutations WHERE {where}")[0][0]
        active = s.query(f"SELECT count() FROM system.parts WHERE {where} AND active")[0][0]
        return int(taken) - int(mutations), int(active)
    finally:
        s.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--intervals", default="5s,60s")
    args = parser.parse_args()
    os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="hlog-bench-")
    print(f"{RULES} rules every 1 s, live tail every 1 s, {REQUESTS_PER_SECOND * RECORDS_PER_REQUEST} logs/s, "
          f"{args.seconds:.0f} s")  # fmt: skip
    header = ("flush interval", "sent", "tail saw", "inserts", "/min", "parts/min", "active")
    print(" ".join(f"{h:>{w}}" for h, w in zip(header, (14, 8, 8, 8, 6, 9, 6), strict=True)))
    for interval in args.intervals.split(","):
        store = Path(tempfile.mkdtemp(prefix="hlog-flush-bench-"))
        proc, url = start_server(store, "--flush-interval", interval)
        tui = None
        try:
            tui = start_tui(url)
            sent, seen, inserts = asyncio.run(scenario(url, args.seconds))
        finally:
            if tui is not None:
                tui.stop()
            proc.terminate()
            proc.wait(60)
        made, active = parts(store)
        made -= 1  # the insert at stop is not part of the run
        per_min = 60 / args.seconds
        print(f"{interval:>14} {sent:>8} {seen:>8} {inserts:>8} {inserts * per_min:>6.1f} {made * per_min:>9.1f} "
              f"{active:>6}  {'every log seen' if seen == sent else 'MISSED LOGS'}")  # fmt: skip


if __name__ == "__main__":
    main()
