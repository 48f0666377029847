"""Versioned, idempotent schema migrations for the hlog store."""

from __future__ import annotations

from dataclasses import dataclass

from hlog.query.fields import ATTRIBUTE_TOKENS, FLAT_ATTRIBUTE_TOKENS
from hlog.query.severity import SEVERITY_LEVEL_SQL

# {db} is our own validated database identifier; {ttl_seconds} an integer we parsed.
_LOGS = """
CREATE TABLE IF NOT EXISTS {db}.logs (
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    Id UInt64 DEFAULT generateSnowflakeID(),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    TraceFlags UInt8,
    SeverityText LowCardinality(String),
    SeverityNumber UInt8,
    ServiceName LowCardinality(String),
    ServiceVersion LowCardinality(String),
    Environment LowCardinality(String),
    SessionId String CODEC(ZSTD(1)),
    Body String CODEC(ZSTD(1)),
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeName LowCardinality(String),
    ScopeVersion LowCardinality(String),
    LogAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    INDEX idx_trace_id TraceId TYPE {exact_index} GRANULARITY {text_index_granularity},
    INDEX idx_session_id SessionId TYPE {exact_index} GRANULARITY {text_index_granularity},
    INDEX idx_log_attr_keys mapKeys(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_log_attr_values mapValues(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_keys mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_values mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_body lower(Body) TYPE {body_index} GRANULARITY {text_index_granularity}
)
ENGINE = MergeTree
PARTITION BY toDate(Timestamp)
ORDER BY (Timestamp, Id)
TTL toDateTime(Timestamp) + toIntervalSecond({ttl_seconds})
SETTINGS ttl_only_drop_parts = 1, {storage_settings}
"""

_SPANS = """
CREATE TABLE IF NOT EXISTS {db}.spans (
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    Id UInt64 DEFAULT generateSnowflakeID(),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    ParentSpanId String CODEC(ZSTD(1)),
    TraceState String CODEC(ZSTD(1)),
    SpanName LowCardinality(String),
    SpanKind LowCardinality(String),
    ServiceName LowCardinality(String),
    ServiceVersion LowCardinality(String),
    Environment LowCardinality(String),
    SessionId String CODEC(ZSTD(1)),
    Duration UInt64,
    StatusCode LowCardinality(String),
    StatusMessage String CODEC(ZSTD(1)),
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeName LowCardinality(String),
    ScopeVersion LowCardinality(String),
    SpanAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    INDEX idx_trace_id TraceId TYPE {exact_index} GRANULARITY {text_index_granularity},
    INDEX idx_session_id SessionId TYPE {exact_index} GRANULARITY {text_index_granularity}
)
ENGINE = MergeTree
PARTITION BY toDate(Timestamp)
ORDER BY (Timestamp, Id)
TTL toDateTime(Timestamp) + toIntervalSecond({ttl_seconds})
SETTINGS ttl_only_drop_parts = 1, {storage_settings}
"""

# The message index, chosen by bench/body_index.py: the text index answers rare and
# common words in a few ms where tokenbf_v1 prunes little (see docs/store.md).
BODY_INDEX = "text(tokenizer = splitByNonAlpha)"
# Session and trace ids are looked up whole: a text index over the whole value finds
# them in ~2 ms where a bloom filter spends ~25 ms checking every granule.
EXACT_INDEX = "text(tokenizer = 'array')"
TEXT_INDEX_GRANULARITY = 100_000_000  # a text index covers whole parts
# Small granules and compression blocks: a log found by an index costs reading its
# granule of every column, so 512 rows in 4-32 KiB blocks make sparse lookups
# (a session, a rare word, an attribute) 2-5x faster for ~30% more disk.
# inserts whose token the store remembers (each flush of the write-ahead log is one or a few)
DEDUPLICATION_WINDOW = 1000
STORAGE_SETTINGS = "index_granularity = 512, min_compress_block_size = 4096, max_compress_block_size = 32768"


# the index expressions, braces escaped for the statements' str.format
_TOKENS = ATTRIBUTE_TOKENS.replace("{", "{{").replace("}", "}}")
_FLAT_TOKENS = FLAT_ATTRIBUTE_TOKENS.replace("{", "{{").replace("}", "}}")


@dataclass(frozen=True)
class Migration:
    """One schema step; applied once, in version order, and recorded in hlog_migrations."""

    version: int
    name: str
    statements: tuple[str, ...]


# Alert rules are JSON documents, versioned: the newest version of an id wins.
_ALERT_RULES = """
CREATE TABLE IF NOT EXISTS {db}.alert_rules (
    id String,
    version UInt64,
    deleted UInt8,
    body String
) ENGINE = ReplacingMergeTree(version) ORDER BY id
"""

_ALERT_STATE = """
CREATE TABLE IF NOT EXISTS {db}.alert_state (
    rule_id String,
    group_value String,
    state LowCardinality(String),
    since_ms Int64,
    last_fired_ms Int64,
    last_count UInt64,
    updated_ms Int64
) ENGINE = ReplacingMergeTree(updated_ms) ORDER BY (rule_id, group_value)
"""

_ALERT_HISTORY = """
CREATE TABLE IF NOT EXISTS {db}.alert_history (
    time DateTime64(3),
    rule_id String,
    rule_name String,
    group_value String,
    state LowCardinality(String),
    count UInt64,
    threshold Float64,
    window_seconds UInt32,
    destination String,
    delivered UInt8,
    error String
) ENGINE = MergeTree ORDER BY (rule_id, time)
TTL toDateTime(time) + INTERVAL 180 DAY
"""

_LEASES = """
CREATE TABLE IF NOT EXISTS {db}.hlog_leases (
    name LowCardinality(String),
    term UInt64,
    holder String,
    expires_ms Int64,
    at DateTime64(3) DEFAULT now64(3)
) ENGINE = MergeTree ORDER BY (name, term, at)
TTL toDateTime(at) + INTERVAL 1 DAY
"""

_SAVED_VIEWS = """
CREATE TABLE IF NOT EXISTS {db}.saved_views (
    name String,
    version UInt64,
    deleted UInt8,
    body String
) ENGINE = ReplacingMergeTree(version) ORDER BY name
"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "create logs table", (_LOGS,)),
    Migration(2, "create spans table", (_SPANS,)),
    Migration(3, "create alert tables", (_ALERT_RULES, _ALERT_STATE, _ALERT_HISTORY)),
    Migration(
        4,
        "keep span events and links",
        (
            "ALTER TABLE {db}.spans ADD COLUMN IF NOT EXISTS Events String CODEC(ZSTD(1))",
            "ALTER TABLE {db}.spans ADD COLUMN IF NOT EXISTS Links String CODEC(ZSTD(1))",
        ),
    ),
    Migration(
        5,
        "one text index of attribute tokens instead of four bloom filters",
        (
            f"ALTER TABLE {{db}}.logs ADD INDEX IF NOT EXISTS idx_attrs {_FLAT_TOKENS} TYPE {{exact_index}} "
            "GRANULARITY {text_index_granularity}",
            "ALTER TABLE {db}.logs MATERIALIZE INDEX idx_attrs",
            *(
                f"ALTER TABLE {{db}}.logs DROP INDEX IF EXISTS {name}"
                for name in ("idx_log_attr_keys", "idx_log_attr_values", "idx_res_attr_keys", "idx_res_attr_values")
            ),
        ),
    ),
    Migration(
        6,
        "LZ4 for the logs' columns: a log found by an index reads its granule of every column",
        tuple(
            f"ALTER TABLE {{db}}.logs MODIFY COLUMN {column} CODEC({codec})"
            for column, codec in (
                ("Timestamp", "Delta(8), LZ4"),
                ("TraceId", "LZ4"),
                ("SpanId", "LZ4"),
                ("SessionId", "LZ4"),
                ("Body", "LZ4"),
                ("ResourceAttributes", "LZ4"),
                ("LogAttributes", "LZ4"),
            )
        ),
    ),
    Migration(
        7,
        "remember recent insert tokens: a replayed write-ahead log segment is not stored twice",
        tuple(
            f"ALTER TABLE {{db}}.{table} MODIFY SETTING non_replicated_deduplication_window = {DEDUPLICATION_WINDOW}"
            for table in ("logs", "spans")
        ),
    ),
    Migration(8, "leases: one backend evaluates the alert rules", (_LEASES,)),
    Migration(
        9,
        "every field of OTLP log records and spans, named as the Collector's ClickHouse exporter names them",
        tuple(
            f"ALTER TABLE {{db}}.{table} ADD COLUMN IF NOT EXISTS {column}"
            for table, column in (
                ("logs", "EventName LowCardinality(String)"),
                ("logs", "ObservedTimestamp DateTime64(9) CODEC(Delta(8), LZ4)"),
                ("logs", "ResourceSchemaUrl LowCardinality(String)"),
                ("logs", "ScopeSchemaUrl LowCardinality(String)"),
                ("logs", "ScopeAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1))"),
                ("logs", "DroppedAttributesCount UInt32"),
                ("spans", "TraceFlags UInt8"),
                ("spans", "ResourceSchemaUrl LowCardinality(String)"),
                ("spans", "ScopeSchemaUrl LowCardinality(String)"),
                ("spans", "ScopeAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1))"),
                ("spans", "DroppedAttributesCount UInt32"),
                ("spans", "DroppedEventsCount UInt32"),
                ("spans", "DroppedLinksCount UInt32"),
            )
        ),
    ),
    Migration(
        10,
        "span kinds, status codes and a missing service name as the Collector's exporter stores them",
        (
            "ALTER TABLE {db}.spans UPDATE SpanKind = concat('SPAN_KIND_', SpanKind) "
            "WHERE SpanKind IN ('UNSPECIFIED', 'INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER') "
            "SETTINGS mutations_sync = 2",
            "ALTER TABLE {db}.spans UPDATE StatusCode = concat('STATUS_CODE_', StatusCode) "
            "WHERE StatusCode IN ('UNSET', 'OK', 'ERROR') SETTINGS mutations_sync = 2",
            *(
                f"ALTER TABLE {{db}}.{table} UPDATE ServiceName = '' WHERE ServiceName = 'unknown_service' "
                "SETTINGS mutations_sync = 2"
                for table in ("logs", "spans")
            ),
        ),
    ),
    Migration(
        11,
        "the severity number a log counts as, computed on insert: level searches read one small number",
        (
            f"ALTER TABLE {{db}}.logs ADD COLUMN IF NOT EXISTS SeverityLevel UInt8 MATERIALIZED {SEVERITY_LEVEL_SQL}",
            "ALTER TABLE {db}.logs MATERIALIZE COLUMN SeverityLevel",
        ),
    ),
    Migration(
        12,
        "attribute values keep their type; what arrays and maps hold is indexed by element and by path",
        (
            *(
                f"ALTER TABLE {{db}}.{table} ADD COLUMN IF NOT EXISTS AttributeTypes LowCardinality(String) DEFAULT ''"
                for table in ("logs", "spans")
            ),
            "ALTER TABLE {db}.logs ADD COLUMN IF NOT EXISTS AttributeLeaves Array(String) DEFAULT [] CODEC(ZSTD(1))",
            # written into every part: an index over a column a part lacks cannot answer alone
            # (ClickHouse reads the maps instead: user.id:4242 over 10 M logs 50 ms -> 4 s)
            "ALTER TABLE {db}.logs MATERIALIZE COLUMN AttributeLeaves",
            "ALTER TABLE {db}.logs DROP INDEX IF EXISTS idx_attrs",
            f"ALTER TABLE {{db}}.logs ADD INDEX IF NOT EXISTS idx_attrs {_TOKENS} TYPE {{exact_index}} "
            "GRANULARITY {text_index_granularity}",
            "ALTER TABLE {db}.logs MATERIALIZE INDEX idx_attrs",
        ),
    ),
    Migration(13, "saved views: a search, its range, columns and breakdown under a name", (_SAVED_VIEWS,)),
    Migration(
        14,
        "the types of attribute values written into every part",
        # a part made before 12 lacks the column, and every read of it makes its default for each
        # row the search reads (a rare word over 10 M logs: +35 % of the CPU time)
        tuple(f"ALTER TABLE {{db}}.{table} MATERIALIZE COLUMN AttributeTypes" for table in ("logs", "spans")),
    ),
)


MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS {db}.hlog_migrations (
    version UInt32,
    name String,
    applied_at DateTime DEFAULT now()
) ENGINE = MergeTree ORDER BY version
"""

SETTINGS_TABLE = """
CREATE TABLE IF NOT EXISTS {db}.hlog_settings (
    key String,
    value String,
    updated_at DateTime64(3) DEFAULT now64(3)
) ENGINE = ReplacingMergeTree(updated_at) ORDER BY key
"""

# Tables whose TTL follows --retention.
RETENTION_TABLES = ("logs", "spans")

# Rows acknowledged but not yet flushed into logs/spans are staged in an in-memory table that
# reads see through a Merge table (docs/store.md: "What a read sees"). Each ingesting backend has
# its own pair, named after its write-ahead log (several replicas share one database), made anew
# when it starts: they hold nothing a restart needs (the log does), and a Merge table's columns
# are fixed when it is created.
STAGED_TABLES = ("logs", "spans")


def unflushed(table: str, instance: str) -> str:
    """The in-memory table of `table`'s rows acknowledged by ingest `instance` and not flushed yet."""
    return f"{table}_unflushed_{instance}"


def visible(table: str, instance: str) -> str:
    """The Merge table that reads `table` together with the unflushed rows of `instance`."""
    return f"{table}_all_{instance}"


def staging_statements(table: str, instance: str) -> tuple[str, ...]:
    """(Re)create the staging and Merge tables of `table` for ingest `instance`."""
    staged = unflushed(table, instance)
    return (
        f"DROP TABLE IF EXISTS {{db}}.{visible(table, instance)}",
        f"DROP TABLE IF EXISTS {{db}}.{staged}",
        f"CREATE TABLE {{db}}.{staged} AS {{db}}.{table} ENGINE = Memory",
        f"CREATE TABLE {{db}}.{visible(table, instance)} AS {{db}}.{table} "
        f"ENGINE = Merge({{db}}, '^({table}|{staged})$')",
    )
