"""sdk.init: OpenTelemetry logger and tracer providers exporting OTLP/HTTP to hlog."""

from __future__ import annotations

import atexit
import collections
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from hlog_sdk.context import REQUEST_KEY, SESSION_KEY, current

DEFAULT_ENDPOINT = "http://127.0.0.1:4318"
MAX_QUEUE_RECORDS = 20_000
EXPORT_TIMEOUT_SECONDS = 5


@dataclass
class Stats:
    """What was exported and what could not be (never silently): records refused by a full
    queue and records whose export failed are both counted as dropped."""

    exported_logs: int = 0
    dropped_logs: int = 0
    exported_spans: int = 0
    dropped_spans: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    queued: dict[str, int] = field(default_factory=lambda: {"logs": 0, "spans": 0}, repr=False)

    def enqueue(self, kind: str, limit: int) -> None:
        """One record enters the export queue of `kind`, which drops its oldest when full (counted
        here only when the processor's queue cannot count it: see _count_overflows)."""
        with self.lock:
            if self.queued[kind] >= limit:
                self._add_dropped(kind, 1)
            else:
                self.queued[kind] += 1

    def dropped(self, kind: str) -> None:
        """A full queue of `kind` pushed out its oldest record."""
        with self.lock:
            self._add_dropped(kind, 1)

    def dequeued(self, kind: str, count: int) -> None:
        """`count` records left the queue for an export."""
        with self.lock:
            self.queued[kind] = max(0, self.queued[kind] - count)

    def exported(self, kind: str, count: int, ok: bool) -> None:
        """An export of `count` records succeeded or failed."""
        with self.lock:
            if ok:
                setattr(self, f"exported_{kind}", getattr(self, f"exported_{kind}") + count)
            else:
                self._add_dropped(kind, count)

    def _add_dropped(self, kind: str, count: int) -> None:
        setattr(self, f"dropped_{kind}", getattr(self, f"dropped_{kind}") + count)


# set while this thread exports: what the exporter's HTTP stack logs then (urllib3's retries, a
# warning at shutdown, which runs in the caller's thread) must not feed the export queue again
_exporting = threading.local()


class _CountingLogExporter(LogRecordExporter):
    def __init__(self, inner: LogRecordExporter, stats: Stats) -> None:
        self.inner, self.stats = inner, stats

    def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
        self.stats.dequeued("logs", len(batch))
        _exporting.active = True
        try:
            result = self.inner.export(batch)
        finally:
            _exporting.active = False
        self.stats.exported("logs", len(batch), result == LogRecordExportResult.SUCCESS)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


class _CountingSpanExporter(SpanExporter):
    def __init__(self, inner: SpanExporter, stats: Stats) -> None:
        self.inner, self.stats = inner, stats

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.stats.dequeued("spans", len(spans))
        _exporting.active = True
        try:
            result = self.inner.export(spans)
        finally:
            _exporting.active = False
        self.stats.exported("spans", len(spans), result == SpanExportResult.SUCCESS)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


class _CountingLogProcessor(BatchLogRecordProcessor):
    """A batch processor whose queue overflows are counted in `stats`."""

    def __init__(self, exporter: LogRecordExporter, stats: Stats, max_queue_size: int, **options: Any) -> None:
        super().__init__(
            exporter, max_queue_size=max_queue_size, max_export_batch_size=min(512, max_queue_size), **options
        )
        self.stats, self.limit = stats, max_queue_size
        self.exact = _count_overflows(self, stats, "logs")

    def on_emit(self, log_record: Any) -> None:
        if not self.exact:
            self.stats.enqueue("logs", self.limit)
        super().on_emit(log_record)


class _CountingSpanProcessor(BatchSpanProcessor):
    """A batch processor whose queue overflows are counted in `stats`."""

    def __init__(self, exporter: SpanExporter, stats: Stats, max_queue_size: int, **options: Any) -> None:
        super().__init__(
            exporter, max_queue_size=max_queue_size, max_export_batch_size=min(512, max_queue_size), **options
        )
        self.stats, self.limit = stats, max_queue_size
        self.exact = _count_overflows(self, stats, "spans")

    def on_end(self, span: ReadableSpan) -> None:
        if not self.exact and span.context is not None and span.context.trace_flags.sampled:
            self.stats.enqueue("spans", self.limit)  # (the only spans the queue takes)
        super().on_end(span)


class _OverflowCountingQueue(collections.deque):  # type: ignore[type-arg]
    """An OpenTelemetry batch processor's queue that counts the records it pushes out when full.
    Whether it is full and the push are one step against the exporter's thread taking a batch: a
    look at the queue before the processor's emit() could see it full, then find room (counted
    dropped, then exported too)."""

    def __init__(self, queue: collections.deque, on_drop: Callable[[], None]) -> None:  # type: ignore[type-arg]
        super().__init__(queue, queue.maxlen)
        self._lock, self._on_drop = threading.Lock(), on_drop

    def appendleft(self, item: Any) -> None:
        with self._lock:
            full = len(self) == self.maxlen
            super().appendleft(item)
        if full:
            self._on_drop()

    def pop(self) -> Any:  # type: ignore[override]  # (a deque's pop takes no index)
        with self._lock:
            return super().pop()


def _count_overflows(processor: Any, stats: Stats, kind: str) -> bool:
    """Have an OpenTelemetry batch processor's queue count its overflows in `stats`; False when
    this SDK version keeps its queue elsewhere (then they are counted as records enter, a count
    that can lag while the exporter takes a batch)."""
    inner: Any = getattr(processor, "_batch_processor", None)
    queue = getattr(inner, "_queue", None)
    if not isinstance(queue, collections.deque) or queue.maxlen is None:
        return False
    inner._queue = _OverflowCountingQueue(queue, lambda: stats.dropped(kind))
    return True


class _SessionSpanProcessor(SpanProcessor):
    """Puts the current session and request on every span started while handling a request."""

    def on_start(self, span: Span, parent_context: Any = None) -> None:
        request = current()
        if request is not None:
            if request.session_id:
                span.set_attribute(SESSION_KEY, request.session_id)
            span.set_attribute(REQUEST_KEY, request.request_id)


class _SessionFilter(logging.Filter):
    """Adds the current session, request and the logger's name to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if (
            record.name.startswith("opentelemetry")
            or threading.current_thread().name.startswith("OtelBatch")
            or getattr(_exporting, "active", False)
        ):
            # what the exporters log while exporting (their HTTP requests, "backend down") must not
            # feed the export queue again
            return False
        request = current()
        if request is not None:
            if request.session_id:
                setattr(record, SESSION_KEY, request.session_id)
            setattr(record, REQUEST_KEY, request.request_id)
        setattr(record, "logger.name", record.name)
        return True


@dataclass
class Handle:
    """What init() set up; shutdown() flushes and stops it (also done at exit)."""

    logger_provider: LoggerProvider
    tracer_provider: TracerProvider
    handler: logging.Handler
    stats: Stats

    def flush(self, timeout_seconds: float = EXPORT_TIMEOUT_SECONDS) -> bool:
        """Export what is queued now."""
        millis = int(timeout_seconds * 1000)
        return bool(self.logger_provider.force_flush(millis)) and bool(self.tracer_provider.force_flush(millis))

    def shutdown(self) -> None:
        """Flush and stop exporting; detach the logging handler."""
        logging.getLogger().removeHandler(self.handler)
        self.logger_provider.shutdown()
        self.tracer_provider.shutdown()


_handle: Handle | None = None


def init(
    service_name: str,
    endpoint: str = DEFAULT_ENDPOINT,
    environment: str | None = None,
    service_version: str | None = None,
    level: int = logging.INFO,
    schedule_delay_millis: int = 1000,
    export_timeout_seconds: float = EXPORT_TIMEOUT_SECONDS,
    max_queue_records: int = MAX_QUEUE_RECORDS,
) -> Handle:
    """Send this process's logs (Python `logging`) and spans to hlog over OTLP/HTTP.

    Never raises into the application when the backend is down: the exporters retry,
    the queues are bounded, and what is dropped is counted in `handle.stats`.
    """
    global _handle
    if _handle is not None:
        _handle.shutdown()
    attributes: dict[str, Any] = {"service.name": service_name}
    if environment:
        attributes["deployment.environment.name"] = environment
    if service_version:
        attributes["service.version"] = service_version
    resource = Resource.create(attributes)
    stats = Stats()
    base = endpoint.rstrip("/")
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(
        _CountingLogProcessor(
            _CountingLogExporter(OTLPLogExporter(endpoint=f"{base}/v1/logs", timeout=export_timeout_seconds), stats),
            stats,
            max_queue_size=max_queue_records,
            schedule_delay_millis=schedule_delay_millis,
        )
    )
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(_SessionSpanProcessor())
    tracer_provider.add_span_processor(
        _CountingSpanProcessor(
            _CountingSpanExporter(
                OTLPSpanExporter(endpoint=f"{base}/v1/traces", timeout=export_timeout_seconds), stats
            ),
            stats,
            max_queue_size=max_queue_records,
            schedule_delay_millis=schedule_delay_millis,
        )
    )
    trace.set_tracer_provider(tracer_provider)
    handler = LoggingHandler(level=level, logger_provider=logger_provider)
    handler.addFilter(_SessionFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level > level or root.level == logging.NOTSET:
        root.setLevel(level)
    _handle = Handle(logger_provider, tracer_provider, handler, stats)
    atexit.register(_handle.shutdown)
    return _handle


def tracer() -> trace.Tracer:
    """The tracer the middleware and propagation use."""
    provider = _handle.tracer_provider if _handle is not None else trace.get_tracer_provider()
    return provider.get_tracer("hlog.sdk")
