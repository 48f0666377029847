"""Generate realistic logs inside ClickHouse (INSERT ... SELECT FROM numbers), for the benches."""

from __future__ import annotations

SERVICES = ["gateway", "checkout", "payments", "inventory", "search", "auth", "email", "recommendations"]
RARE_WORD = "kraken"  # appears in about 1 log in 100,000
SESSIONS = 200_000
USERS = 50_000

# Deterministic per row: h is a hash of the row number, everything else derives from it.
GENERATE_SQL = """
INSERT INTO {table} (Timestamp, TraceId, SpanId, TraceFlags, SeverityText, SeverityNumber, ServiceName,
    ServiceVersion, Environment, SessionId, Body, ResourceAttributes, ScopeName, ScopeVersion, LogAttributes)
SELECT
    fromUnixTimestamp64Nano(toInt64({{end_ns:Int64}} - number * intDiv({{span_ns:Int64}}, {{rows:UInt64}}) - h % 1000))
        AS ts,
    lower(hex(MD5(toString(intDiv(number, 8))))) AS trace,
    lower(hex(substring(MD5(toString(number)), 1, 8))) AS span,
    1,
    multiIf(r < 2, 'FATAL', r < 25, 'ERROR', r < 85, 'WARN', r < 300, 'DEBUG', 'INFO') AS level,
    multiIf(r < 2, 21, r < 25, 17, r < 85, 13, r < 300, 5, 9) AS sev,
    arrayElement({services}, (h % {n_services}) + 1) AS service,
    concat('1.', toString(h % 7), '.0'),
    if(h % 10 = 0, 'staging', 'prod') AS env,
    concat('sess-', toString(bitShiftRight(h, 20) % {sessions})) AS session,
    multiIf(
        h % 100000 = 7, concat('unexpected {rare} in queue worker ', toString(number)),
        t = 0, concat('GET ', route, ' ', toString(status), ' in ', toString(ms), 'ms'),
        t = 1, concat('user ', toString(uid), ' added item sku-', toString(h % 5000), ' to cart'),
        t = 2, concat('payment declined for order ', toString(number % 1000000), ': card expired'),
        t = 3, concat('Timeout after ', toString(ms), 'ms calling inventory'),
        t = 4, 'connection reset by peer',
        t = 5, concat('cache miss for key product:', toString(h % 5000)),
        t = 6, concat('{{"event":"login","user":', toString(uid), ',"ok":', if(h % 9 = 0, 'false', 'true'), '}}'),
        t = 7, concat('retrying request to ', service, ' (attempt ', toString(1 + h % 3), ')'),
        concat('processed batch of ', toString(h % 500), ' messages from queue orders')
    ) AS body,
    map('service.name', service, 'host.name', concat('web-', toString(h % 20)),
        'deployment.environment.name', env),
    'app', '',
    map('user.id', toString(uid), 'http.route', route, 'duration_ms', toString(ms),
        'http.status_code', toString(status))
FROM (
    SELECT number, cityHash64(number) AS h, bitShiftRight(h, 8) % 1000 AS r, bitShiftRight(h, 12) % 9 AS t,
           bitShiftRight(h, 24) % {users} AS uid, bitShiftRight(h, 30) % 2000 AS ms,
           arrayElement(['/api/cart', '/api/checkout', '/api/search', '/api/login', '/api/items'],
                        (bitShiftRight(h, 36) % 5) + 1) AS route,
           arrayElement([200, 200, 200, 201, 404, 500], (bitShiftRight(h, 40) % 6) + 1) AS status
    FROM numbers({{rows:UInt64}})
)
""".format(
    table="{table}",
    services=str(SERVICES).replace('"', "'"),
    n_services=len(SERVICES),
    sessions=SESSIONS,
    rare=RARE_WORD,
    users=USERS,
)


def generate(client, table: str, rows: int, end_ns: int, span_ns: int) -> None:  # type: ignore[no-untyped-def]
    """Insert `rows` logs into `table`, newest at `end_ns`, spread evenly over `span_ns`."""
    client.command(
        GENERATE_SQL.replace("{table}", table),
        parameters={"end_ns": end_ns, "span_ns": span_ns, "rows": rows},
        settings={"max_insert_threads": 2, "max_threads": 2},
    )
