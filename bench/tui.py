"""hlog-tui over 10 million logs: time to first rows, selection and paging latency, memory while scrolling;
and moving the selection, with the detail open, over logs with 10,000 attributes or a 100 KB message.

Usage: python bench/tui.py [--store DIR] [--rows-to-scroll 1000000] [--big-logs-only]
Uses the store bench/search.py generates (run that first).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hlog.backend import attributes  # noqa: E402
from hlog.backend.app import Backend  # noqa: E402
from hlog.backend.limits import DEFAULT_LIMITS  # noqa: E402
from hlog.backend.otlp import Batch, add_logs  # noqa: E402
from hlog.backend.store import LOG_COLUMNS, Store  # noqa: E402
from hlog.tui.app import HlogApp  # noqa: E402
from hlog.tui.link import embed  # noqa: E402
from hlog.tui.timerange import Range  # noqa: E402
from hlog.tui.widgets.log_table import LogTable  # noqa: E402
from tests.conftest import logs_request  # noqa: E402

DEFAULT_STORE = Path(__file__).resolve().parent / "data" / "search-store"


def rss_mib() -> float:
    """Current resident memory of this process."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def start_to_first_rows(store: Path) -> float:
    """Launch the real hlog-tui in tmux and time until log rows are on screen."""
    tmux = shutil.which("tmux")
    if tmux is None:
        return float("nan")
    socket = "hlog-bench-" + uuid.uuid4().hex[:6]
    started = time.perf_counter()
    subprocess.run(
        [
            tmux,
            "-L",
            socket,
            "new-session",
            "-d",
            "-s",
            "b",
            "-x",
            "120",
            "-y",
            "36",
            f"{sys.executable} -m hlog.tui.app --store chdb://{store} --no-listen --since 7d",
        ],
        check=True,
    )
    try:
        while time.perf_counter() - started < 30:
            screen = subprocess.run(
                [tmux, "-L", socket, "capture-pane", "-p", "-t", "b"], capture_output=True, text=True
            ).stdout
            if "message" in screen and ("INFO" in screen or "ERROR" in screen or "WARN" in screen):
                return time.perf_counter() - started
            time.sleep(0.02)
        return float("nan")
    finally:
        subprocess.run([tmux, "-L", socket, "kill-server"], capture_output=True)
        wait_until_unlocked(store)


def wait_until_unlocked(store: Path, timeout: float = 20.0) -> None:
    """Wait for a killed hlog-tui to release the embedded store's lock."""
    import fcntl

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with (store / "status").open("rb") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                time.sleep(0.1)
                continue
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            return


async def press_times(pilot: Any, key: str, times: int = 100, cpu: list[float] | None = None) -> list[float]:
    """Milliseconds from each key press until the app is idle again (and the CPU time it took, in `cpu`)."""
    samples = []
    for _ in range(times):
        t0, c0 = time.perf_counter(), time.process_time()
        await pilot.press(key)
        await pilot.pause()
        samples.append((time.perf_counter() - t0) * 1000)
        if cpu is not None:
            cpu.append((time.process_time() - c0) * 1000)
    return samples


async def interactive(store_dir: Path, rows_to_scroll: int) -> None:
    store = Store(f"chdb://{store_dir}")

    async def factory():  # type: ignore[no-untyped-def]
        return await embed(Backend(store))

    app = HlogApp(factory, "", Range("7d"))
    async with app.run_test(size=(120, 36)) as pilot:
        while not app.screen.query(LogTable) or not app.screen.query_one(LogTable).rows:
            await asyncio.sleep(0.01)
        table = app.screen.query_one(LogTable)
        await app.workers.wait_for_complete()
        # selection: key press to repainted screen; an unbound key measures the harness itself
        moves = await press_times(pilot, "j")
        idle = await press_times(pilot, "f12")
        # paging: time from the request of more rows to the rows being in the table
        pages = []
        rss = [(0, rss_mib())]
        scrolled = 0
        peak = rss_mib()
        while scrolled < rows_to_scroll:
            before = len(table.rows) + table.dropped_before
            t0 = time.perf_counter()
            table.move(200)
            # wait for the page that the move asked for
            while len(table.rows) + table.dropped_before == before and table.more_after:
                await asyncio.sleep(0.001)
            await app.workers.wait_for_complete()
            pages.append((time.perf_counter() - t0) * 1000)
            scrolled += 200
            peak = max(peak, rss_mib())
            if scrolled % 100_000 == 0:
                rss.append((scrolled, rss_mib()))
            if not table.more_after:
                break
    store.close()
    harness = statistics.median(idle)
    print(f"moving the selection:  p50 {statistics.median(moves):6.1f} ms   p95 {sorted(moves)[94]:6.1f} ms")
    print(
        f"  the test harness alone (an unbound key): {harness:.1f} ms, so the app's own share: "
        f"{statistics.median(moves) - harness:.1f} ms   (target <= 50)"
    )
    print(
        f"next page while scrolling: p50 {statistics.median(pages):6.1f} ms   p95 "
        f"{sorted(pages)[int(len(pages) * 0.95)]:6.1f} ms   (target <= 150)"
    )
    print(
        f"scrolled {scrolled:,} rows; RSS MiB by rows scrolled: " + ", ".join(f"{n // 1000}k: {m:.0f}" for n, m in rss)
    )
    print(f"peak RSS {peak:.0f} MiB (ru_maxrss {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB)")


async def big_logs() -> None:
    """Selection moves with the detail open, over logs with 10,000 attributes and 100 KB messages."""
    with tempfile.TemporaryDirectory() as directory:
        store = Store(f"chdb://{directory}/store")
        now = time.time_ns()
        records = []
        for i in range(30):
            kind = i % 3
            attrs = {f"attr.{k:05d}": f"value {k} of log {i}" for k in range(10_000)} if kind == 0 else {"n": i}
            body = ("lorem ipsum dolor sit amet " * 3800)[:100_000] if kind == 1 else f"small log {i}"
            records.append({"body": body, "level": "INFO", "ts": now - (30 - i) * 10**9, "attrs": attrs})
        batch = Batch(LOG_COLUMNS)
        attributes.apply(DEFAULT_LIMITS.overridden(["attributes=10000"]))  # as hlog serve --limit allows
        add_logs(logs_request(records), batch)
        attributes.apply(DEFAULT_LIMITS)
        store.insert_columns("logs", LOG_COLUMNS, batch.data)

        async def factory():  # type: ignore[no-untyped-def]
            return await embed(Backend(store))

        app = HlogApp(factory, "", Range("1h"), history_path=Path(directory) / "history.json")
        async with app.run_test(size=(120, 36)) as pilot:
            while not app.screen.query(LogTable) or len(app.screen.query_one(LogTable).rows) < 30:
                await asyncio.sleep(0.01)
            await app.workers.wait_for_complete()
            await pilot.press("enter")  # the detail
            await pilot.pause()
            table = app.screen.query_one(LogTable)
            onto: dict[str, tuple[list[float], list[float]]] = {
                kind: ([], []) for kind in ("10,000 attributes", "a 100 KB message", "a small log")
            }
            for key in "j" * 28 + "k" * 28:
                cpu: list[float] = []
                (took,) = await press_times(pilot, key, 1, cpu)
                log = table.selected or {}
                kind = "10,000 attributes" if len(log.get("attributes", {})) > 1 else ""
                kind = kind or ("a 100 KB message" if len(log.get("body", "")) > 1000 else "a small log")
                onto[kind][0].append(took)
                onto[kind][1].append(cpu[0])
            idle_cpu: list[float] = []
            idle = await press_times(pilot, "f12", 20, idle_cpu)
        store.close()
    print(
        f"moving the selection with the detail open (target <= 50 ms); the harness alone (an unbound key) "
        f"{statistics.median(idle):.1f} ms, CPU {statistics.median(idle_cpu):.1f} ms:"
    )
    for kind, (samples, cpu_ms) in onto.items():
        print(
            f"  onto {kind:<18} p50 {statistics.median(samples):6.1f} ms   max {max(samples):6.1f} ms   "
            f"CPU p50 {statistics.median(cpu_ms):5.1f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--store", type=Path, default=DEFAULT_STORE)
    parser.add_argument("--rows-to-scroll", type=int, default=1_000_000)
    parser.add_argument("--big-logs-only", action="store_true", help="only the big-logs figures (no 10M store)")
    args = parser.parse_args()
    asyncio.run(big_logs())
    if args.big_logs_only:
        return
    if not (args.store / "status").exists() and not args.store.exists():
        raise SystemExit(f"no store at {args.store}: run bench/search.py first")
    times = [start_to_first_rows(args.store) for _ in range(3)]
    print(f"start to first rows (real terminal): {', '.join(f'{t:.2f}' for t in times)} s   (target <= 1.5)")
    asyncio.run(interactive(args.store, args.rows_to_scroll))


if __name__ == "__main__":
    main()
