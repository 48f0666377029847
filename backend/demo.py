"""Seed a store with realistic demo traffic, generated inside ClickHouse in about a second.

A small shop: a gateway calling checkout, payments and inventory. Users have sessions;
each request is a trace with four spans and a log per span. Payments decline cards,
inventory calls time out, and 3 hours ago the gateway had a burst of 500s.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hlog.backend.store import Store

DEMO_TRACES = 30_000
DEMO_SESSIONS = 2_000
DEMO_SPAN_NS = 24 * 3600 * 10**9
DEMO_RESEED_SECONDS = 86400  # hlog-tui --demo keeps its store this long (--reseed: at once)
SEEDED_AT = "demo_seeded_at_ns"  # the setting that says when
KEPT_SHARE = 0.48  # of the candidate traces, what the daily rhythm keeps (about)
_SERVICES = "['gateway', 'checkout', 'payments', 'inventory']"

# One row per (trace, hop): hop 0 is the gateway's server span, 1..3 its downstream calls.
_BASE = f"""
SELECT
    t, h, i, start, session, user, route, trace,
    lower(hex(substring(MD5(concat(toString(t), '-', toString(i))), 1, 8))) AS span,
    if(i = 0, '', lower(hex(substring(MD5(concat(toString(t), '-0')), 1, 8)))) AS parent,
    arrayElement({_SERVICES}, i + 1) AS service,
    h % 13 = 0 AND route = 'POST /checkout' AS declined,
    h % 29 = 0 AS slow,
    burst,
    -- hop i starts i ms after the root and ends before it: checkout takes 60 % of the root's time,
    -- payments 30 %, inventory a few ms (over 2 s when slow)
    40 + h % 300 + if(slow, 2100, 0) AS root_ms,
    multiIf(i = 0, root_ms, i = 1, intDiv((root_ms - 4) * 60, 100), i = 2, intDiv((root_ms - 4) * 30, 100),
            if(slow, 2000 + h % 50, 5 + h % 30)) * 1000000 AS duration
FROM (
    SELECT number AS t, cityHash64(number) AS h, arrayJoin([0, 1, 2, 3]) AS i,
        toInt64({{now:Int64}} - intDiv(number * {{span:Int64}}, {{candidates:UInt64}})) AS start,
        concat('sess-', lower(hex(substring(MD5(toString(h % {{sessions:UInt64}})), 1, 6)))) AS session,
        concat('user-', toString(h % {{sessions:UInt64}} % 1500)) AS user,
        arrayElement(['GET /products', 'POST /cart', 'POST /checkout', 'GET /search'], (bitShiftRight(h, 8) % 4) + 1)
            AS route,
        lower(hex(MD5(toString(number)))) AS trace,
        start BETWEEN {{now:Int64}} - 3 * 3600000000000 AND {{now:Int64}} - 3 * 3600000000000 + 300000000000
            AND h % 3 = 0 AS burst
    FROM numbers({{candidates:UInt64}})
    -- traffic like a shop's: a daily rhythm (quiet at 03:00 UTC, busy at 15:00), a newsletter's
    -- rush 7 hours ago, and the burst of 500s 3 hours ago under heavier load
    WHERE cityHash64(number, 'keep') % 1000 < 1000 * if(
        start BETWEEN {{now:Int64}} - 7 * 3600000000000 AND {{now:Int64}} - 7 * 3600000000000 + 900000000000
            OR start BETWEEN {{now:Int64}} - 3 * 3600000000000 AND {{now:Int64}} - 3 * 3600000000000 + 300000000000,
        1,
        0.1 + 0.6 * pow((1 - cos(2 * pi() * ((intDiv(start, 1000000000) % 86400) / 86400 - 0.125))) / 2, 1.5)
            + 0.08 * (cityHash64(intDiv(start, 600000000000)) % 4))
)
"""

_LOGS = f"""
INSERT INTO {{db}}.logs (Timestamp, TraceId, SpanId, TraceFlags, SeverityText, SeverityNumber, ServiceName,
    ServiceVersion, Environment, SessionId, Body, ResourceAttributes, ScopeName, ScopeVersion, LogAttributes)
SELECT
    fromUnixTimestamp64Nano(start + i * 1000000 + duration), trace, span, 1,
    multiIf(burst AND i = 0, 'ERROR', declined AND i IN (0, 1, 2), 'ERROR', slow AND i IN (1, 3), 'WARN',
            i = 3 AND h % 5 = 0, 'DEBUG', 'INFO') AS level,
    multiIf(level = 'ERROR', 17, level = 'WARN', 13, level = 'DEBUG', 5, 9),
    service, concat('1.', toString(i + 2), '.0'), 'prod', session,
    multiIf(
        i = 0 AND burst, concat(route, ' 500 in ', toString(intDiv(duration, 1000000)), 'ms: upstream connect error'),
        i = 0, concat(route, ' ', if(declined, '502', '200'), ' in ', toString(intDiv(duration, 1000000)), 'ms'),
        i = 1 AND declined, concat('checkout failed for order ', toString(t), ': payment declined'),
        i = 1 AND slow, 'inventory call timed out after 2000ms, retrying',
        i = 1, concat('cart updated: ', toString(1 + h % 5), if(h % 5 = 0, ' item', ' items'),
            ', total ', toString(h % 40000 / 100), ' EUR'),
        i = 2 AND declined, concat('payment declined: card expired (order ', toString(t), ')'),
        i = 2, concat('charge authorised for order ', toString(t)),
        concat('{{"event":"stock_check","sku":"sku-', toString(h % 900), '","available":', toString(h % 37),
               ',"warehouse":"', arrayElement(['ams', 'fra', 'lon'], (h % 3) + 1), '"}}')
    ),
    map('service.name', service, 'host.name', concat(service, '-', toString(h % 3)),
        'deployment.environment.name', 'prod'),
    'demo', '',
    mapFilter((k, v) -> v != '', map(
        'session.id', session, 'user.id', user, 'http.route', if(i = 0, route, ''),
        'http.status_code', if(i = 0, multiIf(burst, '500', declined, '502', '200'), ''),
        'duration_ms', toString(intDiv(duration, 1000000)),
        'exception.type', if(declined AND i = 2, 'CardDeclined', ''),
        'exception.stacktrace', if(declined AND i = 2,
            concat('Traceback (most recent call last):\\n  File "payments/charge.py", line 88, in charge\\n',
                   '    raise CardDeclined(order_id, reason="expired")\\npayments.errors.CardDeclined: card expired'),
            '')))
FROM ({_BASE})
"""

_SPANS = f"""
INSERT INTO {{db}}.spans (Timestamp, TraceId, SpanId, ParentSpanId, SpanName, SpanKind, ServiceName,
    ServiceVersion, Environment, SessionId, Duration, StatusCode, StatusMessage, ResourceAttributes,
    ScopeName, SpanAttributes, Events)
SELECT
    fromUnixTimestamp64Nano(start + i * 1000000), trace, span, parent,
    multiIf(i = 0, route, i = 1, 'POST /internal/checkout', i = 2, 'POST /internal/charge', 'GET /internal/stock'),
    if(i = 0, 'SPAN_KIND_SERVER', 'SPAN_KIND_CLIENT'), service, '1.0.0', 'prod', session, duration,
    if((burst AND i = 0) OR (declined AND i IN (0, 1, 2)), 'STATUS_CODE_ERROR', 'STATUS_CODE_OK'),
    if(declined AND i = 2, 'card declined', ''),
    map('service.name', service), 'demo', map('session.id', session, 'user.id', user),
    if(declined AND i = 2,
       concat('[{{"timestamp_ns":', toString(start + i * 1000000 + intDiv(duration, 2)), ',"name":"exception",',
              '"attributes":{{"exception.type":"CardDeclined","exception.message":"card expired"}}}}]'),
       '')
FROM ({_BASE})
"""


def open_demo_store(
    dsn: str, reseed: bool = False, now_ns: int | None = None, traces: int = DEMO_TRACES
) -> tuple[Store, bool]:
    """The demo store at `dsn`, seeded when new, when its seed is older than DEMO_RESEED_SECONDS or
    when asked (`hlog-tui --demo --reseed`); what the live shop sent since stays otherwise.
    Returns the store and whether it was seeded now."""
    from hlog.backend.store import Store

    now_ns = time.time_ns() if now_ns is None else now_ns
    store = Store(dsn)
    seeded = store.get_setting(SEEDED_AT)
    fresh = seeded is not None and 0 <= now_ns - int(seeded) < DEMO_RESEED_SECONDS * 10**9
    if reseed or not fresh:
        seed_demo(store, now_ns, traces)
        store.command(
            f"INSERT INTO {store.db}.hlog_settings (key, value) VALUES ({{k:String}}, {{v:String}})",
            {"k": SEEDED_AT, "v": str(now_ns)},
        )
    return store, reseed or not fresh


def seed_demo(store: Store, now_ns: int | None = None, traces: int = DEMO_TRACES) -> int:
    """Replace the store's logs and spans with demo traffic ending at `now_ns`; returns the log count."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    # about KEPT_SHARE of the candidate traces are kept (the daily rhythm)
    params = {"now": now_ns, "span": DEMO_SPAN_NS, "candidates": round(traces / KEPT_SHARE), "sessions": DEMO_SESSIONS}
    for table, sql in (("logs", _LOGS), ("spans", _SPANS)):
        store.command(f"TRUNCATE TABLE {store.db}.{table}")
        store.command(sql.replace("{db}", store.db), params)
    return int(store.query(f"SELECT count() FROM {store.db}.logs")[0][0])
