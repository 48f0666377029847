"""Group commit through a write-ahead log.

Worker processes decode each request and turn it into rows (Arrow: the CPU-heavy
part of ingest, kept off this process's GIL). A request is answered once its rows are
in the write-ahead log (appended and fdatasync'ed with whatever other requests arrived
meanwhile); the rows are then moved into the store in large inserts: when enough
are buffered, after at most the flush interval, and at stop. Until then a read sees them
in the store's small in-memory table of unflushed rows, which a read fills with what was
acknowledged since the last one (docs/store.md: "What a read sees"). A request is refused
with Overloaded when too many records wait.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import hashlib
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import numpy as np
import pyarrow as pa

from hlog.backend import attributes, schema, wal
from hlog.backend.limits import DEFAULT_LIMITS, Limits
from hlog.backend.otlp import Batch, Rejections, add_request, decode, record_count
from hlog.backend.store import LOG_COLUMNS, SPAN_COLUMNS, StoreError, to_arrow

if TYPE_CHECKING:
    from hlog.backend.store import Store

log = logging.getLogger(__name__)

MAX_PENDING_RECORDS = 800_000
FLUSH_RECORDS = 300_000
FLUSH_INTERVAL_SECONDS = 5.0
RETRY_FLUSH_SECONDS = 5.0
RETENTION_MARGIN_SECONDS = 60
PREPARE_PROCESSES = 2
IDEMPOTENCY_WINDOW_SECONDS = 600
MAX_REMEMBERED_REQUESTS = 100_000
HASH_IN_THREAD_BYTES = 1024 * 1024

_pool: concurrent.futures.ProcessPoolExecutor | None = None
_pool_lock = threading.Lock()


def _preparers() -> concurrent.futures.ProcessPoolExecutor:
    """The processes that decode requests and turn them into rows: shared by every backend in
    this process, started on first use, spawned (not forked: this process runs the embedded
    engine's threads), shut down at exit."""
    global _pool
    with _pool_lock:
        if _pool is None:
            context = multiprocessing.get_context("spawn")
            _pool = concurrent.futures.ProcessPoolExecutor(
                PREPARE_PROCESSES, mp_context=context, initializer=_worker_start, initargs=(os.getpid(),)
            )
        return _pool


def _stop_pool() -> None:
    """At exit, while the modules the executor's shutdown uses are still loaded."""
    global _pool
    with _pool_lock:
        if _pool is not None:
            _pool.shutdown()
            _pool = None


atexit.register(_stop_pool)


def _worker_start(parent: int) -> None:
    # Ctrl-C in a terminal reaches the whole process group: the backend stops its workers itself
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # ...unless it is killed: then a worker would wait for work forever. The parent's pid comes
    # from the parent, so a parent killed before this worker started is noticed too (asking
    # os.getppid() here would already give 1). (Not prctl's parent-death signal: it follows the
    # thread that started the worker, not the process.)

    def exit_with_parent() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=exit_with_parent, name="hlog-parent-watch", daemon=True).start()


def _digest(kind: str, body: bytes) -> bytes:
    """What makes two requests the same one."""
    return hashlib.blake2b(body, digest_size=16, person=kind.encode()).digest()


def _pool_broke() -> None:
    global _pool
    with _pool_lock:
        _pool = None


def prepare(
    kind: str, body: bytes, content_type: str, oldest_ns: int, limits: Limits = DEFAULT_LIMITS
) -> tuple[bytes, int, Rejections]:
    """In a worker process: decode an OTLP request ("logs" or "traces"; raises DecodeFailure)
    into one encoded write-ahead log frame (b"" when no record can be stored); returns it
    with the request's record count and what was rejected."""
    attributes.apply(limits)
    message, warnings = decode(kind, body, content_type, limits)
    columns, table = (LOG_COLUMNS, "logs") if kind == "logs" else (SPAN_COLUMNS, "spans")
    batch = Batch(columns)
    rejections = add_request(kind, message, batch, oldest_ns)
    rejections.warnings += warnings
    frame = wal.encode(table, to_arrow(columns, batch.data)) if batch.rows else b""
    return frame, record_count(kind, message), rejections


class Overloaded(RuntimeError):
    """The commit queue is full; the client should retry later."""


@dataclass
class _Pending:
    frame: wal.Frame
    encoded: bytes
    future: asyncio.Future[None]


@dataclass
class IngestStats:
    """Counters since start, shown by /healthz."""

    requests: int = 0
    records: int = 0
    rejected: int = 0
    refused_requests: int = 0
    commits: int = 0
    failed_commits: int = 0
    replayed: int = 0
    repeated_requests: int = 0  # retries of acknowledged requests, answered without storing twice
    damaged: int = 0  # acknowledged records a damaged write-ahead log segment lost


class _Gate:
    """Reads share it; the flush takes it alone while rows move from the unflushed table into
    the store, so that no read sees them twice or not at all. A waiting flush goes first."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer_waiting = 0
        self._writing = False

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._writing and not self._writer_waiting)
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            self._writer_waiting += 1
            self._cond.wait_for(lambda: not self._writing and not self._readers)
            self._writer_waiting -= 1
            self._writing = True
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()


class Committer:
    """Owns the write-ahead log, the rows acknowledged but not yet in the store, and the
    tasks that write the log and flush it to the store."""

    def __init__(
        self,
        store: Store,
        max_pending_records: int = MAX_PENDING_RECORDS,
        flush_interval: float = FLUSH_INTERVAL_SECONDS,
        flush_records: int = FLUSH_RECORDS,
        limits: Limits = DEFAULT_LIMITS,
        wal_dir: Path | None = None,
    ) -> None:
        self.store = store
        self.wal_dir = wal_dir or store.target.wal_dir()
        self.max_pending_records = max_pending_records
        self.flush_interval = flush_interval
        self.flush_records = flush_records
        self.stats = IngestStats()
        self._queue: list[_Pending] = []
        self._writing = 0  # records of requests waiting for their log write (event loop only)
        self._wal: wal.WriteAheadLog | None = None
        self._wal_lock = threading.Lock()  # the log's active segment and the buffer
        self._flush_lock = threading.Lock()  # one flush or staging at a time
        self._buffer: list[wal.Frame] = []
        self._buffered = 0
        self._staged = 0  # frames at the start of _buffer copied into the unflushed tables
        self._gate = _Gate()
        self._next_id = 0  # row ids are given here, so a row keeps its id when it is flushed
        self._sealed: list[tuple[Path, list[wal.Frame]]] = []  # flushed segments whose insert failed
        self._unflushed = 0  # records in _sealed
        self._wake: asyncio.Event | None = None
        self._flush_due: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self._refusal = ""  # why this process takes no ingest, if it does not
        self.limits = limits
        # memory: request bodies being read, decompressed, decoded or written, together
        self.max_inflight_bytes = limits.inflight_bytes
        # latency: requests being handled at once (see Limits.active_requests)
        self.max_active_requests = limits.active_requests
        self._inflight_bytes = 0  # reserved by requests being read, decoded or written (event loop only)
        self._active = 0  # requests being handled (event loop only)
        self._acknowledged: OrderedDict[bytes, tuple[float, Rejections]] = OrderedDict()  # digest -> when, answer
        self._storing: dict[bytes, asyncio.Future[Rejections]] = {}
        self._commit_problem = ""  # why the last move into the store failed, until one succeeds
        self._log_problem = ""  # why the last write of the log failed, until one succeeds

    @property
    def problem(self) -> str:
        """What keeps ingest from working now ("" when nothing does): /healthz reports it."""
        return self._log_problem or self._commit_problem

    @property
    def pending_records(self) -> int:
        """Records accepted and not yet in the store."""
        return self._writing + self._buffered + self._unflushed

    def refuse(self, reason: str) -> None:
        """Take no ingest in this process (before start()): requests get 503 with `reason`."""
        self._refusal = reason

    def open(self) -> None:
        """Open the write-ahead log and store what a previous run left in it (blocking; start()
        does it when not done). When another backend on this machine holds the log (two on one
        ClickHouse server database), this one serves reads and refuses ingest."""
        if self._wal is not None or self._refusal:
            return
        try:
            self._wal = wal.WriteAheadLog(self.wal_dir)
        except wal.LogBusy as err:
            log.warning("ingest: off in this process: %s", err)
            self._refusal = str(err)
            return
        try:
            # this backend's unflushed tables, made anew: what a dead run staged is in its log
            self.store.stage(self._wal.id)
            self._replay()
        except BaseException:
            self._wal.close()
            self._wal = None
            raise

    async def start(self) -> None:
        """Open the log (see open()), then start the tasks that write and flush it."""
        await asyncio.to_thread(self.open)
        if self._wal is None:
            return
        self._wake, self._flush_due = asyncio.Event(), asyncio.Event()
        self._closing = False
        self.store.read_guard = self._read_guard
        self._tasks = [
            asyncio.create_task(self._write_loop(), name="hlog-wal-writer"),
            asyncio.create_task(self._flush_loop(), name="hlog-flusher"),
        ]

    async def stop(self) -> None:
        """Write what is queued, move everything to the store, close the log."""
        self._closing = True
        self._refusal = ""
        if self._wake is None or self._flush_due is None or self._wal is None:
            return
        self._wake.set()
        self._flush_due.set()
        await asyncio.gather(*self._tasks)
        self._tasks = []
        try:
            await asyncio.to_thread(self.flush)
        except StoreError as err:
            log.error("ingest: %d records stay in the write-ahead log until the next start: %s", self._unflushed, err)
        self.store.read_guard = contextlib.nullcontext
        await asyncio.to_thread(self.store.unstage)
        self._wal.close()
        self._wal = None
        self._sealed, self._unflushed = [], 0  # on disk: the next start stores them

    def admit(self) -> bool:
        """Count a request being handled (until dismiss()); False when max_active_requests are: it
        should be answered 503 at once, to wait in the client (Retry-After) and not here."""
        if self._active >= self.max_active_requests:
            self.stats.refused_requests += 1
            return False
        self._active += 1
        return True

    def dismiss(self) -> None:
        """The request admit() counted has been answered."""
        self._active -= 1

    def reserve(self, size: int) -> bool:
        """Take `size` bytes of the in-flight budget (request bodies being read, decompressed,
        decoded or written); False when it has not that much left (answer 503 at once)."""
        if size > 0 and self._inflight_bytes + size > self.max_inflight_bytes:
            self.stats.refused_requests += 1
            return False
        self._inflight_bytes += size
        return True

    @property
    def available_bytes(self) -> int:
        """What is left of the in-flight budget."""
        return max(0, self.max_inflight_bytes - self._inflight_bytes)

    def release(self, size: int) -> None:
        """Give back what reserve() took."""
        self._inflight_bytes -= size

    async def submit(self, kind: str, body: bytes, content_type: str) -> Rejections:
        """Store a request (see _submit) once: a body equal to one acknowledged in the last
        IDEMPOTENCY_WINDOW_SECONDS (a client's retry of a request whose answer it did not get)
        is acknowledged again without storing it twice, and one equal to a request still being
        stored gets that request's answer."""
        if len(body) > HASH_IN_THREAD_BYTES:
            digest = await asyncio.to_thread(_digest, kind, body)
        else:
            digest = _digest(kind, body)
        self._forget_old_requests()
        if digest in self._acknowledged:
            self.stats.repeated_requests += 1
            return self._acknowledged[digest][1]
        if digest in self._storing:
            self.stats.repeated_requests += 1
            return await asyncio.shield(self._storing[digest])
        outcome: asyncio.Future[Rejections] = asyncio.get_running_loop().create_future()
        self._storing[digest] = outcome
        try:
            rejections = await self._submit(kind, body, content_type)
        except BaseException as err:  # the same failure for the copies waiting (cancelled: they retry)
            outcome.set_exception(err if isinstance(err, Exception) else Overloaded("an equal request was abandoned"))
            outcome.exception()  # retrieved: nobody else may be waiting for it
            raise
        finally:
            del self._storing[digest]
        outcome.set_result(rejections)
        self._acknowledged[digest] = (time.monotonic(), rejections)
        return rejections

    def _forget_old_requests(self) -> None:
        oldest = time.monotonic() - IDEMPOTENCY_WINDOW_SECONDS
        while self._acknowledged and (
            len(self._acknowledged) > MAX_REMEMBERED_REQUESTS or next(iter(self._acknowledged.values()))[0] < oldest
        ):
            self._acknowledged.popitem(last=False)

    async def _submit(self, kind: str, body: bytes, content_type: str) -> Rejections:
        """Decode a request and turn it into rows in a worker process (raises DecodeFailure or
        RequestTooLarge), write them to the log with the other requests that arrive meanwhile,
        and return once they are durable."""
        if self._refusal:
            raise StoreError(self._refusal)
        if self._closing or self._wake is None:
            raise Overloaded("the server is shutting down")
        if self.pending_records >= self.max_pending_records:
            self._refuse()
        # rows the retention TTL would drop in the next merge are refused, not stored
        oldest_ns = time.time_ns() - (self.store.retention_seconds - RETENTION_MARGIN_SECONDS) * 10**9
        loop = asyncio.get_running_loop()
        try:
            encoded, records, rejections = await loop.run_in_executor(
                _preparers(), prepare, kind, body, content_type, oldest_ns, self.limits
            )
        except concurrent.futures.BrokenExecutor:
            _pool_broke()
            raise StoreError("an ingest worker process stopped; retry") from None
        pending = self.pending_records
        if pending and pending + records > self.max_pending_records:
            self._refuse()
        if encoded:
            if self._closing:  # stop() began while the rows were being made
                raise Overloaded("the server is shutting down")
            self._writing += records
            try:
                future: asyncio.Future[None] = loop.create_future()
                self._queue.append(_Pending(wal.decode_frame(encoded), encoded, future))
                self._wake.set()
                await future
            finally:
                self._writing -= records
        self.stats.requests += 1
        self.stats.rejected += rejections.count
        return rejections

    def _refuse(self) -> NoReturn:
        self.stats.refused_requests += 1
        raise Overloaded(f"{self.pending_records} records are waiting for the store")

    async def _write_loop(self) -> None:
        assert self._wake is not None and self._flush_due is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                items, self._queue = self._queue, []
                try:
                    await asyncio.to_thread(self._append, items)
                except OSError as err:
                    error = StoreError(f"cannot write the write-ahead log: {err.strerror or err}")
                    log.error("ingest: %s", error)
                    self._log_problem = str(error)
                    for item in items:
                        item.future.set_exception(error)
                else:
                    self._log_problem = ""
                    for item in items:
                        item.future.set_result(None)
                    if self._buffered >= self.flush_records:
                        self._flush_due.set()
            if self._closing:
                return

    def _append(self, items: list[_Pending]) -> None:
        """Runs in a worker thread: one write and one fdatasync for every queued request."""
        assert self._wal is not None
        with self._wal_lock:
            self._wal.append([item.encoded for item in items])
            for kind, rows in (item.frame for item in items):
                self._buffer.append((kind, rows.append_column("Id", self._ids(rows.num_rows))))
                self._buffered += rows.num_rows

    def _ids(self, count: int) -> pa.Array:
        """Unique, increasing row ids (nanoseconds since the epoch, or past the last given)."""
        first = max(self._next_id, time.time_ns())
        self._next_id = first + count
        return pa.array(np.arange(first, first + count, dtype=np.uint64))

    async def _flush_loop(self) -> None:
        assert self._flush_due is not None
        while not self._closing:
            try:
                await asyncio.wait_for(self._flush_due.wait(), self.flush_interval)
            except TimeoutError:
                pass
            self._flush_due.clear()
            if self._closing:
                return
            failing = bool(self._commit_problem)
            try:
                await asyncio.to_thread(self.flush)
            except StoreError as err:
                if not failing and not err.unreachable:  # (the store itself says when it is unreachable)
                    log.error("ingest: %d records wait in the write-ahead log, retrying: %s", self._unflushed, err)
                await asyncio.sleep(RETRY_FLUSH_SECONDS)
            else:
                if failing:
                    log.info("ingest: the records that waited in the write-ahead log are stored")

    def flush(self) -> None:
        """Move every acknowledged row into the store (any thread). Raises StoreError when the
        store refuses; the rows stay in the log (and visible in the unflushed tables) and are retried."""
        with self._flush_lock:
            if self._wal is None:  # raced stop(): everything is flushed
                return
            with self._wal_lock:
                if self._buffer:
                    segment = self._wal.seal()
                    assert segment is not None
                    self._sealed.append((segment, self._buffer))
                    self._unflushed += self._buffered
                    self._buffer, self._buffered, self._staged = [], 0, 0
            if not self._sealed:
                return
            with self._gate.exclusive():
                try:
                    while self._sealed:
                        segment, frames = self._sealed[0]
                        try:
                            rows = self._insert(segment, frames)
                        except StoreError as err:
                            self.stats.failed_commits += 1
                            self._commit_problem = f"acknowledged records cannot be moved into the store: {err}"
                            raise
                        self._commit_problem = ""
                        self._sealed.pop(0)
                        self._unflushed -= rows
                        segment.unlink()
                finally:
                    # what is stored leaves the unflushed tables; what is not stays visible there
                    with contextlib.suppress(StoreError):
                        self._clear_staged()
                        self._stage_frames([frame for _, frames in self._sealed for frame in frames])

    @contextlib.contextmanager
    def _read_guard(self) -> Iterator[None]:
        """Around every read of logs or spans: copy what was acknowledged since the last read
        into the unflushed tables, then read while no flush moves rows."""
        with self._flush_lock:
            with self._wal_lock:
                frames, self._staged = self._buffer[self._staged :], len(self._buffer)
            try:
                self._stage_frames(frames)
            except StoreError as err:
                if not err.unreachable:
                    log.warning(
                        "ingest: a read does not see %d acknowledged records yet: %s", self.pending_records, err
                    )
        with self._gate.shared():
            yield

    def _stage_frames(self, frames: list[wal.Frame]) -> None:
        for table in wal.KINDS:
            parts = [rows for kind, rows in frames if kind == table]
            if parts:
                staged = schema.unflushed(table, self.store.tables.instance)
                self.store.insert_arrow(staged, pa.concat_tables(parts, promote_options="default"))

    def _clear_staged(self) -> None:
        for table in wal.KINDS:
            self.store.command(f"TRUNCATE TABLE {self.store.db}.{schema.unflushed(table, self.store.tables.instance)}")

    def _insert(self, segment: Path, frames: list[wal.Frame]) -> int:
        """Insert a segment's rows, one insert per table named after the segment: inserting a
        segment again (a replay after a crash between insert and unlink) stores nothing twice."""
        assert self._wal is not None
        total = 0
        for table in wal.KINDS:
            parts = [rows for kind, rows in frames if kind == table]
            if parts:
                rows = pa.concat_tables(parts, promote_options="default").combine_chunks()
                self.store.insert_arrow(table, rows, token=f"hlog-wal-{self._wal.id}-{segment.stem}-{table}")
                total += rows.num_rows
        self.stats.records += total
        self.stats.commits += 1
        return total

    def _replay(self) -> None:
        """At start: store the segments a previous run left."""
        assert self._wal is not None
        segments = self._wal.segments()
        if segments:
            log.warning("ingest: the last run left %d write-ahead log segments; storing them", len(segments))
        for segment in segments:
            content = wal.read_segment(segment)
            if content.torn_bytes:
                log.warning(
                    "ingest: %s ends with %d bytes of an unacknowledged write; ignored", segment, content.torn_bytes
                )
            rows = self._insert(segment, content.frames)
            self.stats.replayed += rows
            log.info("ingest: replayed %d records from the write-ahead log %s", rows, segment.name)
            if content.damaged_bytes:
                kept = segment.with_suffix(wal.DAMAGED_SUFFIX)
                segment.rename(kept)
                records = (
                    f"{content.damaged_records} acknowledged records"
                    if content.damaged_records
                    else ("acknowledged records (how many, the damage hides)")
                )
                self.stats.damaged += content.damaged_records
                log.error(
                    "ingest: %d damaged bytes of %s could not be read: %s are lost; the %d records around them "
                    "are stored, and the segment is kept as %s",
                    content.damaged_bytes, segment.name, records, rows, kept,
                )  # fmt: skip
            else:
                segment.unlink()
