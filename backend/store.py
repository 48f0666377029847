"""The ClickHouse store: connection (embedded chDB or a server), migrations, inserts, queries."""

from __future__ import annotations

import contextlib
import contextvars
import fcntl
import itertools
import logging
import os
import queue
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlparse, urlunparse

import clickhouse_connect
import pyarrow as pa
from clickhouse_connect.driver.exceptions import OperationalError
from urllib3.exceptions import HTTPError as TransportError

from hlog.backend import schema
from hlog.backend.otelsource import (
    DEFAULT_LOGS_TABLE,
    DEFAULT_STATE_DATABASE,
    DEFAULT_TRACES_TABLE,
    SOURCES,
    OtelSource,
    SourceError,
    view_statements,
)

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

log = logging.getLogger(__name__)
# the client warns of every failed request with its URL, which holds the search's values: our
# errors say what failed, once (_friendly)
for _client_logger in ("clickhouse_connect", "urllib3"):
    logging.getLogger(_client_logger).setLevel(logging.ERROR)

DEFAULT_RETENTION_SECONDS = 30 * 86400
DEFAULT_DATABASE = "hlog"
READER_POOL_SIZE = 4
ABANDONED_KEPT_SECONDS = 600.0  # an abandoned request's later reads are refused this long
CANCEL_POLL_SECONDS = 0.1  # how often cancel() kills again while a read of the request still runs
CANCEL_TRIES_SECONDS = 10.0  # ... and for how long at most
# The tag of the reads a request runs (set by the API for each request): each read carries it
# in a comment, by which Store.cancel() finds and stops them when the request is abandoned.
QUERY_TAG: contextvars.ContextVar[str | None] = contextvars.ContextVar("hlog_query_tag", default=None)
_TAG = re.compile(r"^[0-9a-f]{32}$")


def _tag_comment(tag: str) -> str:
    """The log_comment setting of the reads tagged `tag` (system.processes shows it)."""
    return f"hlog-query:{tag}"


_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")

LOG_COLUMNS: tuple[str, ...] = (
    "Timestamp",
    "TraceId",
    "SpanId",
    "TraceFlags",
    "SeverityText",
    "SeverityNumber",
    "ServiceName",
    "ServiceVersion",
    "Environment",
    "SessionId",
    "Body",
    "ResourceAttributes",
    "ScopeName",
    "ScopeVersion",
    "LogAttributes",
    # the rest of the OTLP log record (migration 9), named as the Collector's exporter names them
    "EventName",
    "ObservedTimestamp",
    "ResourceSchemaUrl",
    "ScopeSchemaUrl",
    "ScopeAttributes",
    "DroppedAttributesCount",
    # the type of each attribute value that is not a string, as `log:key`, and the index tokens
    # of what arrays and maps hold (migration 12)
    "AttributeTypes",
    "AttributeLeaves",
)
SPAN_COLUMNS: tuple[str, ...] = (
    "Timestamp",
    "TraceId",
    "SpanId",
    "ParentSpanId",
    "TraceState",
    "SpanName",
    "SpanKind",
    "ServiceName",
    "ServiceVersion",
    "Environment",
    "SessionId",
    "Duration",
    "StatusCode",
    "StatusMessage",
    "ResourceAttributes",
    "ScopeName",
    "ScopeVersion",
    "SpanAttributes",
    "Events",
    "Links",
    # the rest of the OTLP span (migration 9)
    "TraceFlags",
    "ResourceSchemaUrl",
    "ScopeSchemaUrl",
    "ScopeAttributes",
    "DroppedAttributesCount",
    "DroppedEventsCount",
    "DroppedLinksCount",
    "AttributeTypes",  # as `span:key`
)


_MAP_COLUMNS = frozenset({"ResourceAttributes", "LogAttributes", "SpanAttributes", "ScopeAttributes"})
_LIST_COLUMNS = frozenset({"AttributeLeaves"})
_DICTIONARY_COLUMNS = frozenset({"AttributeTypes"})
_SHARED_COLUMNS = frozenset({"ResourceAttributes", "ScopeAttributes"})
_SCALAR_TYPES = {
    **dict.fromkeys(("Timestamp", "ObservedTimestamp"), pa.timestamp("ns")),
    **dict.fromkeys(("TraceFlags", "SeverityNumber"), pa.uint8()),
    **dict.fromkeys(("DroppedAttributesCount", "DroppedEventsCount", "DroppedLinksCount"), pa.uint32()),
    **dict.fromkeys(("Duration", "Id"), pa.uint64()),  # Id when given (it has a default)
}


def to_arrow(columns: Sequence[str], data: Sequence[Sequence[Any]]) -> pa.Table:
    """An Arrow table from column lists: Timestamp in ns, maps from dicts, strings."""
    arrays: list[pa.Array] = []
    for name, values in zip(columns, data, strict=True):
        if name in _SHARED_COLUMNS:
            arrays.append(_shared(name, values))
        elif name not in _MAP_COLUMNS and len(values) > 1 and values.count(values[0]) == len(values):
            # one value in every row (most columns a request's resource and scope give): made once
            # (not tried on a record's own attributes: comparing dicts costs more than it saves)
            arrays.append(_arrow(name, values[:1]).take(pa.repeat(pa.scalar(0, pa.int32()), len(values))))
        else:
            arrays.append(_arrow(name, values))
    return pa.Table.from_arrays(arrays, names=list(columns))


def _shared(name: str, values: Sequence[Any]) -> pa.Array:
    """A column of a few objects each shared by many rows (a resource's or scope's attributes,
    one dict for all of its records): each made once, then taken for every row."""
    distinct = dict(zip(map(id, values), values, strict=True))
    if len(distinct) * 4 > len(values):
        return _arrow(name, values)
    where = {key: i for i, key in enumerate(distinct)}
    index = pa.array(map(where.__getitem__, map(id, values)), pa.int32())
    return _arrow(name, list(distinct.values())).take(index)


def _arrow(name: str, values: Sequence[Any]) -> pa.Array:
    if name in _MAP_COLUMNS:
        # one C-level pass over the dicts for each of offsets, keys and values
        offsets = pa.array(itertools.accumulate(map(len, values), initial=0), pa.int32())
        keys = pa.array(itertools.chain.from_iterable(values), pa.string())
        items = pa.array(itertools.chain.from_iterable(map(dict.values, values)), pa.string())
        return pa.MapArray.from_arrays(offsets, keys, items)
    if name in _LIST_COLUMNS:  # as the maps: offsets and items in one C-level pass each
        offsets = pa.array(itertools.accumulate(map(len, values), initial=0), pa.int32())
        return pa.ListArray.from_arrays(offsets, pa.array(itertools.chain.from_iterable(values), pa.string()))
    if name in _DICTIONARY_COLUMNS:  # few distinct values: each once in the frame
        return pa.array(values, pa.string()).dictionary_encode()
    return pa.array(values, _SCALAR_TYPES.get(name, pa.string()))


def _unique_insert() -> dict[str, str]:
    """Settings for an insert that must never be taken for a repeat of an earlier one.
    (The logs and spans tables remember recent inserts for the write-ahead log's replays;
    a fresh token is how every ClickHouse version since 21 is told "this one is new".)"""
    return {"insert_deduplication_token": uuid.uuid4().hex}


class StoreError(RuntimeError):
    """The store cannot be opened or a statement failed; the message is for people. `public` is
    the same without where the store lives, for answers to the network."""

    def __init__(self, message: str, public: str | None = None, unreachable: bool = False) -> None:
        super().__init__(message)
        self.public = public if public is not None else message
        self.unreachable = unreachable  # the server is down or cannot be reached: worth retrying


def data_dir() -> Path:
    """`$XDG_DATA_HOME/hlog`, else `~/.local/share/hlog`."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "hlog"


def private_dir(path: Path) -> Path:
    """Create `path` (and its parents) readable by its owner only; tighten it if it exists."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.stat().st_uid == os.getuid():
        path.chmod(0o700)
    return path


def default_store_path() -> Path:
    """`$XDG_DATA_HOME/hlog/store`, else `~/.local/share/hlog/store`."""
    return data_dir() / "store"


def default_store_dsn() -> str:
    """The embedded store in the user's data directory."""
    return f"chdb://{default_store_path()}"


@dataclass(frozen=True)
class Tables:
    """The qualified names reads use: the stored tables, plus the unflushed rows of this process's
    ingest `instance` when it has one (docs/store.md: "What a read sees")."""

    db: str
    instance: str = ""

    def all(self, table: str) -> str:
        """Every row of `table` that a read should see, as one table."""
        return f"{self.db}.{schema.visible(table, self.instance) if self.instance else table}"

    def parts(self, table: str) -> tuple[str, ...]:
        """The same as separate tables, for reads that must read each in order (pages)."""
        if not self.instance:
            return (f"{self.db}.{table}",)
        return f"{self.db}.{table}", f"{self.db}.{schema.unflushed(table, self.instance)}"


@dataclass(frozen=True)
class StoreTarget:
    """Where the store lives, parsed from a DSN."""

    kind: str  # "chdb" or "http"
    location: str  # a directory for chdb, a base URL (no database) for http
    database: str  # hlog's database (with `otel`, its state database: rules, settings, the views)
    otel: OtelSource | None = None  # read the Collector's tables there (--source otel)

    def describe(self) -> str:
        """A human-readable location without credentials."""
        if self.kind == "chdb":
            where = f"embedded store at {self.location}"
        else:
            parsed = urlparse(self.location)
            server = f"{parsed.scheme}://{parsed.hostname}:{parsed.port or ''}"
            where = f"ClickHouse server {server} database {self.database}"
        if self.otel is not None:
            where += f" (the Collector's {self.otel.database}.{self.otel.logs_table}, read-only)"
        return where

    def wal_dir(self) -> Path:
        """Where ingest keeps its write-ahead log, one per database: inside an embedded
        store's directory, else in the user's data directory, by server."""
        if self.kind == "chdb":
            return Path(self.location) / "hlog-wal" / self.database
        parsed = urlparse(self.location)
        return data_dir() / "wal" / f"{parsed.hostname}-{parsed.port or parsed.scheme}" / self.database


def parse_dsn(dsn: str) -> StoreTarget:
    """Parse `chdb:///path[?database=db]` or `http(s)://user:pass@host:8123/db`."""
    parsed = urlparse(dsn)
    query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
    if parsed.scheme == "chdb":
        path = parsed.path if not parsed.netloc else parsed.netloc + parsed.path
        if not path:
            raise StoreError(f"store {dsn!r}: chdb:// needs a directory, e.g. chdb:///var/lib/hlog")
        database = query.get("database", DEFAULT_DATABASE)
        target = StoreTarget("chdb", str(Path(path).expanduser().resolve()), database)
    elif parsed.scheme in ("http", "https"):
        if not parsed.hostname:
            raise StoreError(f"store {dsn!r}: missing host")
        database = parsed.path.strip("/") or query.get("database", DEFAULT_DATABASE)
        base = urlunparse((parsed.scheme, parsed.netloc, "", "", "", ""))
        target = StoreTarget("http", base, database)
    else:
        raise StoreError(f"store {dsn!r}: use chdb:///path or http(s)://user:pass@host:8123/db")
    if not _IDENTIFIER.match(target.database):
        raise StoreError(f"store {dsn!r}: database name {target.database!r} must be a plain identifier")
    source = query.get("source", "hlog")
    if source not in SOURCES:
        raise StoreError(f"store {dsn!r}: source must be one of {', '.join(SOURCES)}, not {source!r}")
    if source == "otel":
        try:  # the DSN's database holds the Collector's tables; hlog keeps its own state beside them
            otel = OtelSource(
                target.database,
                query.get("logs_table", DEFAULT_LOGS_TABLE),
                query.get("traces_table", DEFAULT_TRACES_TABLE),
            )
        except SourceError as err:
            raise StoreError(f"store {dsn!r}: {err}") from None
        state = query.get("state_database", DEFAULT_STATE_DATABASE)
        if not _IDENTIFIER.match(state) or state == target.database:
            raise StoreError(f"store {dsn!r}: the state database must be a plain name other than the Collector's")
        target = StoreTarget(target.kind, target.location, state, otel)
    return target


def with_source(dsn: str, source: str, logs_table: str | None, traces_table: str | None, state: str | None) -> str:
    """`dsn` with the --source options (`source=otel&logs_table=…`) in its query."""
    if source == "hlog":
        return dsn
    extra = {"source": source, "logs_table": logs_table, "traces_table": traces_table, "state_database": state}
    return dsn + ("&" if urlparse(dsn).query else "?") + urlencode({k: v for k, v in extra.items() if v})


UNKNOWN_TABLE, UNKNOWN_DATABASE, ACCESS_DENIED = 60, 81, 497
SCAN_ROWS_LIMIT = 5_000_000_000  # rows a count, histogram, facets or patterns may read (--max-rows-to-read)
TOO_MANY_ROWS, TIMEOUT_EXCEEDED, QUERY_WAS_CANCELLED = 158, 159, 394
# a Distributed read that could not reach a shard: NETWORK_ERROR, SOCKET_TIMEOUT, ALL_CONNECTION_TRIES_FAILED
SHARD_UNAVAILABLE = frozenset({209, 210, 279})
_CODE = re.compile(r"\bCode: (\d+)\.")
_ERRNO = re.compile(r"\[Errno -?\d+\] ([^)\"'\]]+)")


def _error_code(err: BaseException) -> int | None:
    """ClickHouse's error code in an exception from either client, if it carries one."""
    match = _CODE.search(str(err))
    return int(match.group(1)) if match else None


def _unreachable(err: BaseException) -> str | None:
    """Why a server could not be reached or stopped answering, if that is what `err` is (the
    HTTP client's own text holds the request's URL, with the search's values: never shown)."""
    chain: list[BaseException] = []
    cause: BaseException | None = err
    while cause is not None and cause not in chain:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    if not any(isinstance(e, (OperationalError, TransportError, OSError)) for e in chain):
        return None
    names = {type(e).__name__ for e in chain}
    text = " ".join(str(e) for e in chain)
    if "Timeout" in text or any("Timeout" in name for name in names):
        return "no answer in time"
    match = _ERRNO.search(text)
    if match:
        return match.group(1).strip().lower()
    if "RemoteDisconnected" in text or "Connection aborted" in text or "ProtocolError" in names:
        return "the connection was closed"
    if "OperationalError" in names and "executing HTTP request" in text:
        return "the connection failed"
    return None


def _friendly(err: Exception, target: StoreTarget) -> StoreError:
    text = str(err)
    if "EmbeddedServer already initialized" in text:
        return StoreError(f"this process already has another embedded store open; cannot also open {target.location}")
    reason = _unreachable(err) if target.kind == "http" else None
    if reason is not None:
        return StoreError(
            f"{target.describe()} is unreachable ({reason})", f"the store is unreachable ({reason})", unreachable=True
        )
    if _error_code(err) == TIMEOUT_EXCEEDED:
        text = "the search took longer than the store's time limit and was stopped: narrow the range or the search"
        return StoreError(text, text)
    if _error_code(err) == TOO_MANY_ROWS:
        text = (
            "the search would read more logs than the store's limit (hlog serve --max-rows-to-read) "
            "and was stopped: narrow the range or the search"
        )
        return StoreError(text, text)
    if _error_code(err) == QUERY_WAS_CANCELLED:
        return StoreError("the search was cancelled", "the search was cancelled")
    if _error_code(err) == ACCESS_DENIED:
        detail = text.split("DB::Exception: ", 1)[-1].split(". (ACCESS_DENIED)")[0].split(" In scope ")[0]
        return StoreError(f"{target.describe()}: not allowed: {detail}", "the store refused: not allowed")
    first = text.strip().splitlines()[0] if text.strip() else type(err).__name__
    first = first.split(" In scope ")[0].split(": In scope ")[0]  # the statement, with the user's values
    return StoreError(f"{target.describe()}: {first}", first)


def format_statement(statement: str, db: str, ttl_seconds: int) -> str:
    """A schema statement for database `db` (our own validated identifier)."""
    return statement.format(
        db=db,
        ttl_seconds=int(ttl_seconds),
        body_index=schema.BODY_INDEX,
        exact_index=schema.EXACT_INDEX,
        text_index_granularity=schema.TEXT_INDEX_GRANULARITY,
        storage_settings=schema.STORAGE_SETTINGS,
    )


def migrate_database(
    client: Client, db: str, retention_seconds: int | None, replicated: bool = False, state_only: bool = False
) -> tuple[list[schema.Migration], int]:
    """Create database `db` or bring it to the latest schema through `client`; the migrations
    applied and the retention in force. (`replicated`: a cluster node's tables, replicated;
    `state_only`: hlog's own tables only, no logs or spans: they are views over the Collector's.)"""
    from hlog.backend.cluster import replicated_statement

    def made(statement: str, ttl: int) -> str:
        text = format_statement(statement, db, ttl)
        return replicated_statement(text) if replicated else text

    client.command(f"CREATE DATABASE IF NOT EXISTS {db}")
    client.command(made(schema.MIGRATIONS_TABLE, 0))
    client.command(made(schema.SETTINGS_TABLE, 0))
    rows = client.query(
        f"SELECT argMax(value, updated_at) FROM {db}.hlog_settings WHERE key = 'retention_seconds' GROUP BY key"
    ).result_rows
    stored = int(rows[0][0]) if rows else None
    ttl = retention_seconds or stored or DEFAULT_RETENTION_SECONDS
    done = {row[0] for row in client.query(f"SELECT version FROM {db}.hlog_migrations").result_rows}
    applied = []
    for migration in schema.MIGRATIONS:
        if migration.version in done:
            continue
        applied.append(migration)
        log.info("store: applying migration %d (%s)", migration.version, migration.name)
        for statement in migration.statements:
            if not (state_only and _LOGS_OR_SPANS.search(statement)):
                client.command(made(statement, ttl))
        client.insert(f"{db}.hlog_migrations", [[migration.version, migration.name]], column_names=["version", "name"])
    if stored != ttl:
        if stored is not None and not state_only:
            for table in schema.RETENTION_TABLES:
                client.command(
                    f"ALTER TABLE {db}.{table} MODIFY TTL toDateTime(Timestamp) + toIntervalSecond({int(ttl)})",
                    settings={"materialize_ttl_after_modify": 0},
                )
        client.insert(f"{db}.hlog_settings", [["retention_seconds", str(ttl)]], column_names=["key", "value"])
    return applied, ttl


_LOGS_OR_SPANS = re.compile(r"\{db\}\.(logs|spans)\b")

# Embedded engine paths this process has opened: chDB keeps its lock on them until exit.
_ENGINE_PATHS: set[str] = set()


def _check_not_locked(target: StoreTarget) -> None:
    """Fail with a clear message when another process holds the embedded store.

    chDB only says "Error initializing EmbeddedServer" (and prints the cause on stderr),
    so probe the engine's own lock on `status` first.
    """
    if target.location in _ENGINE_PATHS:
        return
    status = Path(target.location) / "status"
    if status.exists():
        with status.open("rb") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                raise StoreError(
                    f"the {target.describe()} is in use by another process (is `hlog serve` or `hlog-tui` "
                    "running?). Only one process can open an embedded store: reach it with --backend, "
                    "or use another --store."
                ) from None
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    _ENGINE_PATHS.add(target.location)


class Store:
    """One hlog store. Thread-safe: writes go through one client, reads through a small pool.

    The same SQL runs on embedded chDB and on a ClickHouse server; only the client
    construction differs.
    """

    def __init__(
        self,
        dsn: str | None = None,
        retention_seconds: int | None = None,
        migrate: bool = True,
        cluster: str | None = None,
        replicated: bool = False,
    ) -> None:
        """Open the store. With `migrate` (hlog serve, hlog migrate), create the database and bring
        its schema up to date; without (searches), only read what is there: a user with nothing but
        SELECT can search, and a missing or older schema is a clear error. With `cluster` (a
        ClickHouse cluster the server knows), the schema is made on every node of it, under tables
        that spread writes and gather reads (docs/scale.md)."""
        self.dsn = dsn or default_store_dsn()
        self.target = parse_dsn(self.dsn)
        self.db = self.target.database
        self.tables = Tables(self.db)
        self._readers: queue.SimpleQueue[Client] = queue.SimpleQueue()
        self._clients: list[Client] = []
        self._closed = False
        self._down = False  # the last statement found the server unreachable
        self.partial = ""  # why reads of a sharded store leave some rows out now, if they do
        self.read_timeout: float | None = None  # seconds a read of logs or spans may take (max_execution_time)
        self.scan_rows_limit = 0  # rows a read of every match (a count, a histogram) may read; 0: no limit
        self.applied: list[schema.Migration] = []  # the migrations this open applied
        self._write_lock = threading.Lock()
        # the reads of each tagged request now running, and the requests abandoned (tag -> when):
        # a request's later reads are refused, and cancel() kills until none of its reads runs
        self._tagged: dict[str, int] = {}
        self._abandoned: dict[str, float] = {}
        self._tags_lock = threading.Lock()
        self._control_lock = threading.Lock()
        # every read of logs or spans runs inside it: ingest sets it so that the read sees every
        # acknowledged row, and none twice while they move (docs/store.md: "What a read sees")
        self.read_guard: Callable[[], contextlib.AbstractContextManager[None]] = contextlib.nullcontext
        try:
            self._writer = self._connect()
            if self.target.otel is not None:
                if cluster:
                    raise StoreError("--source otel reads one server's tables: --cluster does not apply")
                self.applied, self.retention_seconds = migrate_database(
                    self._writer, self.db, retention_seconds, state_only=True
                )
                for statement in view_statements(self._writer, self.target.otel, self.db):
                    self._writer.command(statement)
            elif migrate and cluster:
                from hlog.backend.cluster import migrate_cluster

                self.applied, self.retention_seconds = migrate_cluster(self, cluster, retention_seconds, replicated)
            elif migrate:
                self.applied, self.retention_seconds = migrate_database(self._writer, self.db, retention_seconds)
            else:
                self._check_schema()
            for _ in range(READER_POOL_SIZE):
                self._readers.put(self._connect())
            self._control = self._connect()  # cancel()'s: the readers may all be busy with what it stops
        except StoreError:
            self.close()
            raise
        except Exception as err:  # clickhouse-connect and chdb raise several families
            self.close()
            raise _friendly(err, self.target) from err

    def _connect(self) -> Client:
        if self.target.kind == "chdb":
            private_dir(Path(self.target.location))
            _check_not_locked(self.target)
            client = clickhouse_connect.get_client(dsn=f"chdb://{self.target.location}")
        else:
            client = self.connection(self.target.location)
        self._clients.append(client)
        return client

    def connection(self, url: str | None = None) -> Client:
        """The writer's client; with `url` (a server), a new client of it, for the caller to close."""
        if url is None:
            return self._writer
        # an insert into a Distributed table (a cluster) returns once every shard has its rows
        return clickhouse_connect.get_client(
            dsn=url,
            autogenerate_session_id=False,
            connect_timeout=5,
            settings={"distributed_foreground_insert": 1},
        )

    # -- schema --------------------------------------------------------------
    def _check_schema(self) -> None:
        """For a store opened without migrating: the schema must be there and not older than this code."""
        latest = schema.MIGRATIONS[-1].version
        try:
            rows = self._select(self._writer, f"SELECT max(version) FROM {self.db}.hlog_migrations", {})
        except Exception as err:
            if _error_code(err) in (UNKNOWN_TABLE, UNKNOWN_DATABASE):
                raise StoreError(
                    f"{self.target.describe()} has no hlog schema: start `hlog serve` on it or run "
                    "`hlog migrate --store DSN` (with a user allowed to create tables)",
                    "the store has no hlog schema",
                ) from None
            raise
        version = int(rows[0][0]) if rows else 0
        if version < latest:
            raise StoreError(
                f"{self.target.describe()} has schema version {version}, older than this hlog's {latest}: "
                "run `hlog migrate --store DSN` (or restart `hlog serve` on it) with this version",
                "the store's schema is older than this hlog",
            )
        stored = self.get_setting("retention_seconds")
        self.retention_seconds = int(stored) if stored else DEFAULT_RETENTION_SECONDS

    # -- the rows a read sees ---------------------------------------------------
    def stage(self, instance: str) -> None:
        """(Re)create the unflushed tables of the ingest `instance` (its write-ahead log's id),
        and read through them from now on."""
        for table in schema.STAGED_TABLES:
            for statement in schema.staging_statements(table, instance):
                self.command(format_statement(statement, self.db, self.retention_seconds))
        self.tables = Tables(self.db, instance)

    def unstage(self) -> None:
        """Read the stored tables only, and drop this instance's (empty) unflushed tables."""
        instance, self.tables = self.tables.instance, Tables(self.db)
        if instance:
            for table in schema.STAGED_TABLES:
                for name in (schema.visible(table, instance), schema.unflushed(table, instance)):
                    with contextlib.suppress(StoreError):
                        self.command(f"DROP TABLE IF EXISTS {self.db}.{name}")

    def schema_version(self) -> int:
        """The highest applied migration."""
        rows = self.query(f"SELECT max(version) FROM {self.db}.hlog_migrations", reads_ingest=False)
        return int(rows[0][0])

    def get_setting(self, key: str) -> str | None:
        """A value from the store's settings table, or None."""
        with self._calling():
            rows = self._select(
                self._writer,
                f"SELECT argMax(value, updated_at) FROM {self.db}.hlog_settings WHERE key = {{k:String}} GROUP BY key",
                {"k": key},
            )
        return str(rows[0][0]) if rows else None

    # -- reads and writes ------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"{self.target.describe()} is closed", "the store is closed")

    @contextlib.contextmanager
    def _reader(self) -> Iterator[Client]:
        client = self._readers.get()
        try:
            yield client
        finally:
            self._readers.put(client)

    @contextlib.contextmanager
    def _calling(self) -> Iterator[None]:
        """Around every statement: errors become StoreErrors for people, and the store going down
        and coming back are logged once each (not once per statement)."""
        self._check_open()
        try:
            yield
        except StoreError as err:
            self._note(err)
            raise
        except Exception as err:
            friendly = _friendly(err, self.target)
            self._note(friendly)
            raise friendly from err
        if self._down:
            self._down = False
            log.warning("store: %s is back", self.target.describe())

    def _note(self, err: StoreError) -> None:
        if err.unreachable and not self._down:
            self._down = True
            log.error("store: %s; retrying (acknowledged logs wait in the write-ahead log)", err)

    def query(
        self, sql: str, params: dict[str, Any] | None = None, reads_ingest: bool = True, scan: bool = False
    ) -> Sequence[Sequence[Any]]:
        """Run a SELECT with bound parameters and return its rows. A read of the logs or spans
        (`reads_ingest`: through self.tables) runs in read_guard; one of hlog's own tables (rules,
        settings) does not need to. A `scan` reads every match (a count, a histogram, facets,
        patterns): it may read at most scan_rows_limit rows. (Not a page: read in order, it
        reads little, but ClickHouse counts the ranges it might read against the limit.)"""
        settings: dict[str, Any] = {}
        if self.read_timeout and reads_ingest:
            settings["max_execution_time"] = self.read_timeout
        if self.scan_rows_limit and scan:
            settings["max_rows_to_read"] = self.scan_rows_limit
        tag = QUERY_TAG.get()
        if tag is not None:
            settings["log_comment"] = _tag_comment(tag)
        with (
            self._calling(),
            self.read_guard() if reads_ingest else contextlib.nullcontext(),
            self._reader() as client,
            self._request_read(tag),  # (once it has a connection: abandoned while waiting, it does not run)
        ):
            return self._select(client, sql, params or {}, reads_ingest, settings)

    @contextlib.contextmanager
    def _request_read(self, tag: str | None) -> Iterator[None]:
        """Around a read of request `tag` (None: of no request): counted while it runs, for
        cancel(); refused when the request was abandoned."""
        if tag is None:
            yield
            return
        with self._tags_lock:
            if tag in self._abandoned:
                raise StoreError("the search was cancelled")
            self._tagged[tag] = self._tagged.get(tag, 0) + 1
        try:
            yield
        finally:
            with self._tags_lock:
                self._tagged[tag] -= 1
                if not self._tagged[tag]:
                    del self._tagged[tag]

    def cancel(self, tag: str) -> None:
        """Stop the reads tagged `tag` (QUERY_TAG) that are still running, and refuse its later
        ones; no error if none is running. (Killed until none runs: a read may start between a
        kill and the next.)"""
        if not _TAG.match(tag):
            raise ValueError(f"not a query tag: {tag!r}")
        now = time.monotonic()
        with self._tags_lock:
            for old in [t for t, at in self._abandoned.items() if now - at > ABANDONED_KEPT_SECONDS]:
                del self._abandoned[old]
            self._abandoned[tag] = now
        while True:
            with self._control_lock:
                try:
                    self._control.command(f"KILL QUERY WHERE Settings['log_comment'] = '{_tag_comment(tag)}' ASYNC")
                except Exception as err:  # the search may have ended meanwhile; the store may be down
                    log.debug("store: cancelling %s: %s", tag, err)
            with self._tags_lock:
                if tag not in self._tagged or time.monotonic() - now > CANCEL_TRIES_SECONDS:
                    return  # (past that, the reads' own time limit stops them)
            time.sleep(CANCEL_POLL_SECONDS)

    def _select(
        self,
        client: Client,
        sql: str,
        params: dict[str, Any],
        reads_ingest: bool = False,
        settings: dict[str, Any] | None = None,
    ) -> Any:
        try:
            rows = client.query(sql, parameters=params, settings=settings).result_rows
        except Exception as err:
            if _error_code(err) not in SHARD_UNAVAILABLE:
                raise
            # a shard of a cluster does not answer: read the others, and say the rows are partial
            more = {**(settings or {}), "skip_unavailable_shards": 1}
            rows = client.query(sql, parameters=params, settings=more).result_rows
            if not self.partial:
                log.warning("store: a shard of the cluster does not answer: reads leave it out")
            self.partial = "a ClickHouse shard does not answer: these results leave its logs out"
            return rows
        if self.partial and reads_ingest:
            log.warning("store: every shard answers again")
            self.partial = ""
        return rows

    def regex_error(self, pattern: str) -> str | None:
        """Why the engine (RE2) refuses `pattern`, or None when it compiles."""
        try:
            self.query("SELECT match('', {p:String})", {"p": pattern}, reads_ingest=False)
        except StoreError as err:
            if "cannot compile re2: " not in err.public:
                raise
            reason = err.public.split("cannot compile re2: ", 1)[-1]
            return reason.split(". Look at ")[0].replace(f"{pattern}, error: ", "", 1)
        return None

    def command(self, sql: str, params: dict[str, Any] | None = None) -> None:
        """Run a statement that returns no rows (DDL, INSERT ... SELECT) on the writer;
        like every insert but the write-ahead log's, never deduplicated."""
        with self._calling(), self._write_lock:
            self._writer.command(sql, parameters=params or {}, settings=_unique_insert())

    def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Insert a few rows (bookkeeping tables; logs and spans go through insert_arrow)."""
        with self._calling(), self._write_lock:
            self._writer.insert(f"{self.db}.{table}", rows, column_names=list(columns))

    def insert_columns(self, table: str, columns: Sequence[str], data: Sequence[Sequence[Any]]) -> None:
        """Insert column-oriented data (one list per column, as a Batch holds) in one statement, as Arrow."""
        if data and data[0]:
            self.insert_arrow(table, to_arrow(columns, data))

    def insert_arrow(self, table: str, rows: pa.Table, token: str | None = None) -> None:
        """Insert an Arrow table. Inserts are never deduplicated by content (two equal batches
        of logs are two batches); with a `token`, an insert repeating an earlier one's token
        is skipped, which is what makes replaying the write-ahead log safe."""
        settings = {"insert_deduplication_token": token} if token else _unique_insert()
        rows = rows.unify_dictionaries()  # frames each bring their own (an insert takes one a column)
        with self._calling(), self._write_lock:
            self._writer.insert_arrow(f"{self.db}.{table}", rows, settings=settings)

    def close(self) -> None:
        """Close every client; the store can be opened again afterwards (as another Store)."""
        self._closed = True
        for client in self._clients:
            with contextlib.suppress(Exception):
                client.close()
        self._clients.clear()
