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
    kind: str
    message: Any
    records: int
    future: asyncio.Future[Rejections]


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
        """Queue a decoded request and wait until its rows are committed."""
        if self._closing or self._wake is None:
            raise Overloaded("the server is shutting down")
        if self._in_flight_records and self._in_flight_records + records > self.max_pending_records:
            self.stats.refused_requests += 1
            raise Overloaded(f"{self._in_flight_records} records are waiting for the store")
        future: asyncio.Future[Rejections] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(kind, message, records, future))
        self._in_flight_records += records
        self._wake.set()
        return await future

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
                    results = await asyncio.to_thread(self._commit, items)
                except Exception as err:
                    self.stats.failed_commits += 1
                    log.error("ingest: commit of %d records failed: %s", size, err)
                    for item in items:
                        if not item.future.done():
                            item.future.set_exception(err)
                else:
                    for item, result in zip(items, results, strict=True):
                        if not item.future.done():
                            item.future.set_result(result)
                finally:
                    self._in_flight_records -= size
            if self._closing:
                return

    def _commit(self, items: list[_Pending]) -> list[Rejections]:
        """Runs in a worker thread: flatten every request, then one insert per table."""
        logs, spans = Batch(LOG_COLUMNS), Batch(SPAN_COLUMNS)
        # a margin keeps rows the TTL would drop in the next merge from being stored at all
        oldest_ns = time.time_ns() - (self.store.retention_seconds - RETENTION_MARGIN_SECONDS) * 10**9
        results = [add_request(item.kind, item.message, logs, spans, oldest_ns) for item in items]
        if logs.rows:
            self.store.insert_columns("logs", logs.columns, logs.data)
        if spans.rows:
            self.store.insert_columns("spans", spans.columns, spans.data)
        self.stats.commits += 1
        self.stats.requests += len(items)
        self.stats.records += logs.rows + spans.rows
        self.stats.rejected += sum(r.count for r in results)
        return results
