"""TUI fixtures: an HlogApp on a real chDB store seeded with known logs, and a frozen clock."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from hlog.alerts.netpolicy import WebhookPolicy
from hlog.alerts.service import AlertService
from hlog.backend.app import Backend
from hlog.backend.otlp import Batch, add_logs, add_spans
from hlog.backend.store import LOG_COLUMNS, SPAN_COLUMNS, Store
from hlog.tui.app import HlogApp
from hlog.tui.link import embed
from hlog.tui.timerange import Range
from tests.conftest import logs_request

# a fixed "now" (2026-11-20T12:00:00Z) so snapshots do not move
NOW_NS = 1_795_176_000_000_000_000
SECOND = 10**9
TRACE_CHECKOUT = "c0ffee" + "0" * 26
ROOT_SPAN, CHILD_SPAN = "1" * 16, "2" * 16


def ingest(store: Store, request: ExportLogsServiceRequest) -> None:
    """Store a logs request through the ingest code path (flatten + insert). The row ids are
    given, not generated, so that the log ids the screens show stay the same in snapshots."""
    batch = Batch(LOG_COLUMNS)
    add_logs(request, batch)
    ts, body = batch.data[LOG_COLUMNS.index("Timestamp")], batch.data[LOG_COLUMNS.index("Body")]
    keys = (f"{t} {b}".encode() for t, b in zip(ts, body, strict=True))
    ids = [int.from_bytes(hashlib.blake2b(key, digest_size=8).digest()) for key in keys]
    store.insert_columns("logs", (*LOG_COLUMNS, "Id"), [*batch.data, ids])


def seed_shop(store: Store) -> None:
    """A few sessions across services, a failed checkout with its trace, and noise."""
    checkout = [
        {
            "body": "POST /checkout 502 in 840ms",
            "level": "ERROR",
            "ts": NOW_NS - 300 * SECOND,
            "trace_id": TRACE_CHECKOUT,
            "span_id": ROOT_SPAN,
            "attrs": {"session.id": "sess-alice", "user.id": "alice", "http.route": "/checkout"},
        },
        {
            "body": "GET /cart 200 in 12ms",
            "level": "INFO",
            "ts": NOW_NS - 600 * SECOND,
            "attrs": {"session.id": "sess-alice", "user.id": "alice"},
        },
    ]
    ingest(store, logs_request(checkout, {"service.name": "gateway", "deployment.environment.name": "prod"}))
    payments = [
        {
            "body": "payment declined: card expired",
            "level": "ERROR",
            "ts": NOW_NS - 301 * SECOND,
            "trace_id": TRACE_CHECKOUT,
            "span_id": CHILD_SPAN,
            "attrs": {"session.id": "sess-alice", "card": "visa", "order.id": "42"},
        },
        {
            "body": "charge authorised",
            "level": "INFO",
            "ts": NOW_NS - 900 * SECOND,
            "attrs": {"session.id": "sess-bob", "order.id": "41"},
        },
    ]
    ingest(store, logs_request(payments, {"service.name": "payments"}))
    noise = [
        {
            "body": f"heartbeat {i}",
            "level": "DEBUG",
            "ts": NOW_NS - (1000 + i * 60) * SECOND,
            "attrs": {"session.id": "sess-bob" if i % 2 else ""},
        }
        for i in range(40)
    ]
    noise.append(
        {
            "body": 'evil \x1b[2J\x1b]0;pwned\x07 "quotes" \u202eabc',
            "level": "WARN",
            "ts": NOW_NS - 1200 * SECOND + 1,
            "attrs": {"evil\x1b[31m": "red\x1b[0m"},
        }
    )
    ingest(store, logs_request(noise, {"service.name": "worker"}))
    spans = ExportTraceServiceRequest()
    rs = spans.resource_spans.add()
    rs.resource.attributes.append(KeyValue(key="service.name", value=AnyValue(string_value="gateway")))
    scope = rs.scope_spans.add()
    for span_id, parent, name, start, dur, code in (
        (ROOT_SPAN, "", "POST /checkout", NOW_NS - 301 * SECOND, 840_000_000, 2),
        (CHILD_SPAN, ROOT_SPAN, "POST /charge", NOW_NS - 301 * SECOND + 5_000_000, 700_000_000, 2),
    ):
        s = scope.spans.add()
        s.trace_id, s.span_id = bytes.fromhex(TRACE_CHECKOUT), bytes.fromhex(span_id)
        s.parent_span_id = bytes.fromhex(parent)
        s.name, s.start_time_unix_nano, s.end_time_unix_nano = name, start, start + dur
        s.status.code = code
        s.kind = 2 if not parent else 3
        s.attributes.append(KeyValue(key="session.id", value=AnyValue(string_value="sess-alice")))
        if parent:  # the decline, recorded on the charge span as OpenTelemetry does with exceptions
            event = s.events.add()
            event.time_unix_nano, event.name = start + 600_000_000, "exception"
            for key, value in (("exception.type", "CardDeclined"), ("exception.message", "card expired")):
                event.attributes.append(KeyValue(key=key, value=AnyValue(string_value=value)))
    batch = Batch(SPAN_COLUMNS)
    add_spans(spans, batch)
    store.insert_columns("spans", SPAN_COLUMNS, batch.data)


@pytest.fixture
def shop_store(store: Store) -> Store:
    seed_shop(store)
    return store


@pytest.fixture
def make_app(tmp_path: Path) -> Callable[..., HlogApp]:
    """Build an HlogApp over a store (in-process backend, frozen clock, private history)."""

    def build(store: Store, query: str = "", time_range: Range | None = None, **kwargs: Any) -> HlogApp:
        async def factory() -> Any:
            # alert rules are served, but not evaluated in the background during UI tests; the
            # webhook receivers of these tests listen on loopback, which the operator must allow
            service = AlertService(store, evaluate=False, policy=WebhookPolicy.allowing("127.0.0.0/8"))
            link = await embed(Backend(store, extensions=[service]))
            link.where = "test store"  # not the temporary path, so snapshots are stable
            return link

        return HlogApp(
            factory,
            query,
            time_range or Range("24h"),
            clock=lambda: NOW_NS,
            history_path=tmp_path / "history.json",
            **kwargs,
        )

    return build


async def settle(pilot: Any, rounds: int = 3) -> None:
    """Let workers finish and the screen refresh."""
    for _ in range(rounds):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


def option_lines(options: Any) -> list[str]:
    """The text of each row of an OptionList (the facets panel, the patterns and groups screens)."""
    return [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]


async def until(pilot: Any, condition: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    """Settle until condition() is true (and return it), or fail saying what did not happen."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, f"not within {timeout:g} s: {what}"
        await settle(pilot, rounds=1)
        await pilot.pause(0.05)
    return result
