"""Group commit: concurrent OTLP requests are coalesced into one insert per table.

A request is answered only once its rows are in the store (durability), and is
refused with Overloaded when the queue of records waiting for the store is full.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from backend.otlp import Batch, Rejections, add_request
from backend.store import LOG_COLUMNS, SPAN_COLUMNS

if TYPE_CHECKING:
    from backend.store import Store

log = logging.getLogger(__name__)

MAX_PENDING_RECORDS = 400_000
MAX_COMMIT_RECORDS = 100_000
RETENTION_MARGIN_SECONDS = 60


class Overloaded(RuntimeError):
    """The commit queue is full; the client should retry later."""


@dataclass
class _Pending:
    batch: Batch
    records: int
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


class Committer:
    """Owns the queue of decoded requests and the task that writes them to the store."""

    def __init__(self, store: Store, max_pending_records: int = MAX_PENDING_RECORDS) -> None:
        self.store = store
        self.max_pending_records = max_pending_records
        self.stats = IngestStats()
        self._queue: list[_Pending] = []
        self._in_flight_records = 0
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def pending_records(self) -> int:
        """Records accepted into the queue and not yet committed."""
        return self._in_flight_records

    async def start(self) -> None:
        """Start the writer task on the running loop."""
        self._wake = asyncio.Event()
        self._closing = False
        self._task = asyncio.create_task(self._run(), name="hlog-committer")

    async def stop(self) -> None:
        """Commit what is queued, then stop the writer task."""
        self._closing = True
        if self._task is None or self._wake is None:
            return
        self._wake.set()
        await self._task
        self._task = None

    async def submit(self, kind: str, message: Any, records: int) -> Rejections:
        """Flatten a decoded request (in a worker thread, so requests are flattened while
        the previous group is being inserted), queue its rows and wait until they are committed."""
        if self._closing or self._wake is None:
            raise Overloaded("the server is shutting down")
        if self._in_flight_records and self._in_flight_records + records > self.max_pending_records:
            self.stats.refused_requests += 1
            raise Overloaded(f"{self._in_flight_records} records are waiting for the store")
        self._in_flight_records += records
        try:
            batch, rejections = await asyncio.to_thread(self._flatten, kind, message)
        except BaseException:
            self._in_flight_records -= records
            raise
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(batch, records, future))
        self._wake.set()
        await future
        self.stats.requests += 1
        self.stats.rejected += rejections.count
        return rejections

    def _flatten(self, kind: str, message: Any) -> tuple[Batch, Rejections]:
        batch = Batch(LOG_COLUMNS if kind == "logs" else SPAN_COLUMNS)
        # rows the retention TTL would drop in the next merge are refused, not stored
        oldest_ns = time.time_ns() - (self.store.retention_seconds - RETENTION_MARGIN_SECONDS) * 10**9
        return batch, add_request(kind, message, batch, batch, oldest_ns)

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                take, size = 0, 0
                while take < len(self._queue) and (take == 0 or size + self._queue[take].records <= MAX_COMMIT_RECORDS):
                    size += self._queue[take].records
                    take += 1
                items, self._queue = self._queue[:take], self._queue[take:]
                try:
                    await asyncio.to_thread(self._commit, [item.batch for item in items])
                except Exception as err:
                    self.stats.failed_commits += 1
                    log.error("ingest: commit of %d records failed: %s", size, err)
                    for item in items:
                        if not item.future.done():
                            item.future.set_exception(err)
                else:
                    for item in items:
                        if not item.future.done():
                            item.future.set_result(None)
                finally:
                    self._in_flight_records -= size
            if self._closing:
                return

    def _commit(self, batches: list[Batch]) -> None:
        """Runs in a worker thread: one insert per table for every queued batch."""
        for columns, table in ((LOG_COLUMNS, "logs"), (SPAN_COLUMNS, "spans")):
            mine = [b for b in batches if b.columns == columns and b.rows]
            if not mine:
                continue
            merged = mine[0]
            if len(mine) > 1:
                merged = Batch(columns)
                for batch in mine:
                    for target, source in zip(merged.data, batch.data, strict=True):
                        target.extend(source)
            self.store.insert_columns(table, columns, merged.data)
            self.stats.records += merged.rows
        self.stats.commits += 1
