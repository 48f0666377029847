"""The ingest write-ahead log: acknowledged means durable, reads see it, a restart replays it once."""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest

from hlog.backend import ingest, wal
from hlog.backend.app import Backend
from hlog.backend.otlp import Batch, add_logs
from hlog.backend.store import LOG_COLUMNS, Store, StoreError, parse_dsn, to_arrow
from tests.conftest import Server, api_client, api_get, logs_request, post_logs

PB = {"Content-Type": "application/x-protobuf"}
HOUR = 3600.0


def count(store: Store, marker: str = "") -> int:
    """Matching logs a read sees: stored and acknowledged."""
    sql = f"SELECT count() FROM {store.tables.all('logs')} WHERE Body LIKE {{m:String}}"
    return int(store.query(sql, {"m": f"%{marker}%"})[0][0])


def segments(store: Store) -> list[Path]:
    return sorted(store.target.wal_dir().glob("*.wal"))


def stored(store: Store) -> int:
    """Logs in the table itself (flushed), read without the committer."""
    return int(store._writer.query(f"SELECT count() FROM {store.db}.logs").result_rows[0][0])


def test_reads_see_acknowledged_logs_before_they_are_flushed(store: Store) -> None:
    backend = Backend(store, flush_interval=HOUR)
    with api_client(backend) as client:
        post_logs(client, [{"body": f"early {i}"} for i in range(3)])
        # acknowledged, in the log and not yet in the table
        [segment] = segments(store)
        assert segment.stat().st_size > 0
        assert stored(store) == 0
        page = client.get("/api/logs", params={"q": "early"}).json()["logs"]
        assert sorted(log["body"] for log in page) == ["early 0", "early 1", "early 2"]
        counted = client.get("/api/logs/count", params={"q": "early"}).json()
        post_logs(client, [{"body": "early 3"}])
        again = client.get("/api/logs", params={"q": "early"}).json()["logs"]
        # reading moved nothing into the store: --flush-interval is what decides when
        assert stored(store) == 0 and segments(store) == [segment]
        backend.committer.flush()
        assert stored(store) == 4 and segments(store) == []
        after = client.get("/api/logs", params={"q": "early"}).json()["logs"]
    assert counted["count"] == 3
    # every log once, before and after the flush, with the same cursor: a page does not move
    assert [log["cursor"] for log in after] == [log["cursor"] for log in again]
    assert len({log["cursor"] for log in again}) == 4


def test_reads_during_flushes_see_every_log_once(store: Store) -> None:
    """Rows move from the unflushed table into the store while searches run: none is missed or doubled."""
    backend = Backend(store, flush_interval=HOUR)
    with api_client(backend) as client:
        sent, seen = 0, []
        for round_ in range(8):
            post_logs(client, [{"body": f"mover {round_} {i}"} for i in range(25)])
            sent += 25
            flusher = threading.Thread(target=backend.committer.flush)
            flusher.start()
            while flusher.is_alive() or len(seen) < 2 * (round_ + 1):
                seen.append(client.get("/api/logs/count", params={"q": "mover"}).json()["count"])
                if not flusher.is_alive() and len(seen) >= 2 * (round_ + 1):
                    break
            flusher.join()
            assert seen[-1] == sent
    assert set(seen) <= {25 * n for n in range(1, 9)}


def test_a_replayed_segment_is_not_stored_twice(store: Store, tmp_path: Path) -> None:
    """A crash after the insert and before the segment's removal: the next start inserts it again."""
    with api_client(Backend(store, flush_interval=HOUR)) as client:
        post_logs(client, [{"body": f"once {i}"} for i in range(50)])
        post_logs(client, [{"body": f"once {i}"} for i in range(50, 80)])
        [segment] = segments(store)
        kept = tmp_path / segment.name
        shutil.copy(segment, kept)
        assert count(store, "once") == 80
    shutil.copy(kept, segment)
    backend = Backend(store)
    with api_client(backend):
        assert backend.committer.stats.replayed == 80
        assert segments(store) == []
        assert count(store, "once") == 80


def test_equal_batches_are_both_stored(store: Store) -> None:
    """The store's deduplication is only for replays: two requests with the same logs are two sets
    of logs. (The same request body twice is a retry: see test_ingest's idempotency test.)"""
    batch = Batch(LOG_COLUMNS)
    add_logs(logs_request([{"body": "same", "ts": 10**18 * 2}]), batch)
    store.insert_columns("logs", LOG_COLUMNS, batch.data)
    store.insert_columns("logs", LOG_COLUMNS, batch.data)
    with api_client(Backend(store)) as client:
        body = logs_request([{"body": "same", "ts": 10**18 * 2}]).SerializeToString()
        unknown_field = b"\x98\x06\x01"  # field 99 = 1: ignored by the decoder, so the rows are equal
        for sent in (body, body + unknown_field):
            assert client.post("/v1/logs", content=sent, headers=PB).status_code == 200
            assert count(store, "same") > 0  # a read between: two flushes, two segments
    assert count(store, "same") == 4


def test_a_torn_frame_at_the_end_is_ignored(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    """What a crash in the middle of a write leaves: the whole frames are stored, the rest was never acknowledged."""
    frames = []
    for text in ("whole one", "whole two"):
        batch = Batch(LOG_COLUMNS)
        add_logs(logs_request([{"body": text}]), batch)
        frames.append(wal.encode("logs", to_arrow(LOG_COLUMNS, batch.data)))
    directory = store.target.wal_dir()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{1:020d}.wal").write_bytes(frames[0] + frames[1] + frames[0][: len(frames[0]) // 2])
    caplog.set_level(logging.WARNING, logger="hlog.backend.ingest")
    with api_client(Backend(store)) as client:
        logs = client.get("/api/logs", params={"q": "whole"}).json()["logs"]
    assert sorted(log["body"] for log in logs) == ["whole one", "whole two"]
    assert "bytes of an unacknowledged write" in caplog.text
    assert segments(store) == []


def test_one_backend_per_log(store: Store) -> None:
    """A second backend on the same log (two on one ClickHouse server database) serves reads, refuses ingest."""
    post = logs_request([{"body": "second"}]).SerializeToString()
    first = wal.WriteAheadLog(store.target.wal_dir())
    try:
        with pytest.raises(StoreError, match="in use by another hlog backend"):
            wal.WriteAheadLog(store.target.wal_dir())
        with api_client(Backend(store)) as client:
            assert client.get("/api/logs").status_code == 200
            refused = client.post("/v1/logs", content=post, headers=PB)
            assert refused.status_code == 503 and "in use by another hlog backend" in refused.text
    finally:
        first.close()
    wal.WriteAheadLog(store.target.wal_dir()).close()
    with api_client(Backend(store)) as client:
        assert client.post("/v1/logs", content=post, headers=PB).status_code == 200


def _running(pid: str) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_acknowledged_logs_survive_a_kill(fresh_store: str) -> None:
    """SIGKILL right after the answers, before any flush: the next start stores every acknowledged
    log, and the killed backend's worker processes do not linger. (Nothing reads the logs meanwhile:
    the alert evaluator's reads of its rules move nothing into the store, so all 1,200 are replayed.)"""
    marker = uuid.uuid4().hex
    first = Server(fresh_store, "--flush-interval", "1h").start()
    try:
        for n in range(3):
            body = logs_request([{"body": f"{marker} {n}.{i}"} for i in range(400)]).SerializeToString()
            assert httpx.post(f"{first.url}/v1/logs", content=body, headers=PB).status_code == 200
        wal_dir = parse_dsn(fresh_store).wal_dir()
        assert sum(p.stat().st_size for p in wal_dir.glob("*.wal")) > 0
        assert first.proc is not None
        pid = first.proc.pid
        workers = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        assert workers  # the processes that made the rows
    finally:
        assert first.proc is not None
        os.kill(first.proc.pid, signal.SIGKILL)
        first.proc.wait()
    deadline = time.monotonic() + 30
    while any(_running(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_running(w) for w in workers), "worker processes outlived the killed backend"
    second = Server(fresh_store).start()
    try:
        health = httpx.get(f"{second.url}/healthz").json()
        assert health["ingest"]["replayed"] == 1200
        found = api_get(second.url, "/api/logs/count", q=f'"{marker}"')["count"]
        assert found == 1200
        assert list(wal_dir.glob("*.wal")) == []
    finally:
        second.stop()


def test_a_dead_worker_process_costs_one_retry(store: Store) -> None:
    """Rows are made in worker processes: when one dies, its request gets 503 and the next is served."""
    with api_client(Backend(store)) as client:
        post_logs(client, [{"body": "before"}])
        pool = ingest._preparers()
        for process in list(pool._processes.values()):  # type: ignore[attr-defined]
            process.kill()
            process.join()
        body = logs_request([{"body": "lost with the worker"}]).SerializeToString()
        refused = client.post("/v1/logs", content=body, headers=PB)
        assert refused.status_code == 503 and "worker process stopped" in refused.text
        assert refused.headers["Retry-After"]
        post_logs(client, [{"body": "after"}])
        assert ingest._preparers() is not pool
        logs = client.get("/api/logs").json()["logs"]
        assert sorted(log["body"] for log in logs) == ["after", "before"]


def test_a_worker_whose_backend_died_before_it_started_exits() -> None:
    """A worker learns its parent's pid from the parent: one started after the backend was killed (its
    parent is then already init) must not take that for its parent and wait for work forever."""
    program = (
        "import time; from hlog.backend.ingest import _worker_start; _worker_start(2**22 + 12345); time.sleep(120)"
    )
    worker = subprocess.Popen([sys.executable, "-c", program])
    try:
        assert worker.wait(timeout=60) == 0
    finally:
        worker.kill()


def test_healthz_is_degraded_while_commits_fail_and_ok_after(store: Store) -> None:
    backend = Backend(store, flush_interval=HOUR)
    with api_client(backend) as client:
        assert client.get("/healthz").json()["status"] == "ok"
        post_logs(client, [{"body": "before the outage"}])
        store.command(f"DETACH TABLE {store.db}.logs")  # the store refuses inserts into logs
        try:
            post_logs(client, [{"body": "during the outage"}])  # acknowledged: it is in the log
            with pytest.raises(StoreError):
                backend.committer.flush()  # what the flusher does on its interval
            health = client.get("/healthz")
            assert health.status_code == 503 and health.json()["status"] == "degraded"
            assert "cannot be moved into the store" in health.json()["reason"]
        finally:
            store.command(f"ATTACH TABLE {store.db}.logs")
        assert client.get("/api/logs/count").json()["count"] == 2  # still visible: nothing acknowledged was lost
        backend.committer.flush()  # the flusher's retry
        assert client.get("/api/logs/count").json()["count"] == 2 and stored(store) == 2
        health = client.get("/healthz")
        assert health.status_code == 200 and health.json()["status"] == "ok" and "reason" not in health.json()


def test_a_damaged_frame_in_the_middle_loses_only_itself(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    """A flipped byte inside a segment: the frames after it are stored, the segment is kept aside,
    and the log says how many acknowledged records could not be read."""
    frames = []
    for n in range(5):
        batch = Batch(LOG_COLUMNS)
        add_logs(logs_request([{"body": f"frame {n} row {i}"} for i in range(100)]), batch)
        frames.append(wal.encode("logs", to_arrow(LOG_COLUMNS, batch.data)))
    data = bytearray(b"".join(frames))
    middle = len(frames[0]) + len(frames[1]) + len(frames[2]) // 2
    data[middle] ^= 0xFF  # inside frame 2's rows
    torn_tail = frames[0][: len(frames[0]) // 3]  # and a write cut short at the end
    directory = store.target.wal_dir()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{1:020d}.wal").write_bytes(bytes(data) + torn_tail)
    caplog.set_level(logging.INFO, logger="hlog.backend.ingest")
    backend = Backend(store)
    with api_client(backend) as client:
        found = client.get("/api/logs/count", params={"q": '"row"'}).json()["count"]
    assert found == 400  # frames 0, 1, 3 and 4
    assert backend.committer.stats.damaged == 100 and backend.committer.stats.replayed == 400
    assert "100 acknowledged records are lost" in caplog.text and "unacknowledged write" in caplog.text
    assert segments(store) == []
    assert [p.suffix for p in directory.iterdir() if p.name not in ("lock", "id")] == [".damaged"]


def _processes_with(marker: str) -> list[int]:
    """Processes whose environment carries `marker` (a backend and everything it started)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


@pytest.mark.parametrize("moment", [0.2, 0.6, 1.0, 1.5, 2.5])
def test_a_backend_killed_during_start_up_leaves_no_process(tmp_path: Path, moment: float) -> None:
    """kill -9 at several moments of start-up while a client sends logs: its worker processes (started
    by the first request) and multiprocessing's resource tracker all end with it."""
    marker = f"HLOG_KILL_TEST={uuid.uuid4().hex}"
    name, value = marker.split("=")
    env = {**os.environ, name: value}
    proc = subprocess.Popen(
        [sys.executable, "-m", "hlog.backend.cli", "serve", "--store", f"chdb://{tmp_path}", "--listen", "127.0.0.1:0"],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    body = logs_request([{"body": "during start-up"}]).SerializeToString()
    started = time.monotonic()
    url = ""
    assert proc.stderr is not None
    os.set_blocking(proc.stderr.fileno(), False)
    while time.monotonic() - started < moment:
        line = proc.stderr.readline() or ""
        found = re.search(r"listening on (http://\S+)", line)
        url = found.group(1) if found else url
        if url:
            try:
                httpx.post(url + "/v1/logs", content=body, headers=PB, timeout=1)
            except httpx.HTTPError:
                pass
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 30
    while _processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_with(marker) == [], "processes outlived the killed backend"
