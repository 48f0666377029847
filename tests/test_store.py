"""Store targets, migrations and retention."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest

from hlog.backend import schema
from hlog.backend.search import LogSearch, TimeRange, page_sql
from hlog.backend.store import LOG_COLUMNS, Store, StoreError, parse_dsn, to_arrow
from hlog.query import compile_query
from tests.conftest import drop_database, store_dsn


def test_parse_dsn() -> None:
    t = parse_dsn("chdb:///var/lib/hlog?database=prod")
    assert (t.kind, t.location, t.database) == ("chdb", "/var/lib/hlog", "prod")
    t = parse_dsn("https://user:secret@ch.example:8443/logs")
    assert (t.kind, t.location, t.database) == ("http", "https://user:secret@ch.example:8443", "logs")
    assert "secret" not in t.describe()
    assert parse_dsn("http://localhost:8123").database == "hlog"
    for bad in ("mysql://x", "chdb://", "http://h:8123/bad-name;drop", "http:///db"):
        with pytest.raises(StoreError):
            parse_dsn(bad)


def test_write_ahead_log_directories(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """One log per database: beside an embedded store, else in the user's data directory by server."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert parse_dsn("chdb:///var/lib/hlog?database=prod").wal_dir() == Path("/var/lib/hlog/hlog-wal/prod")
    server = parse_dsn("https://user:secret@ch.example:8443/logs").wal_dir()
    assert server == tmp_path / "hlog" / "wal" / "ch.example-8443" / "logs"
    assert parse_dsn("http://ch.example/logs").wal_dir() != parse_dsn("http://ch.example/other").wal_dir()


LATEST = schema.MIGRATIONS[-1].version


def test_migrations_are_recorded_and_idempotent(store: Store) -> None:
    assert store.schema_version() == LATEST
    versions = store.query(f"SELECT version FROM {store.db}.hlog_migrations ORDER BY version")
    again = Store(store.dsn)
    assert again.schema_version() == LATEST and again.applied == []
    assert store.query(f"SELECT version FROM {store.db}.hlog_migrations ORDER BY version") == versions
    again.close()


def test_retention_is_applied_and_kept(store: Store) -> None:
    assert store.retention_seconds == 30 * 86400
    changed = Store(store.dsn, retention_seconds=7 * 86400)
    ddl = changed.query(
        "SELECT engine_full FROM system.tables WHERE database = {d:String} AND name = 'logs'", {"d": store.db}
    )[0][0]
    assert "toIntervalSecond(604800)" in ddl
    changed.close()
    reopened = Store(store.dsn)
    assert reopened.retention_seconds == 7 * 86400  # what the store has, when not told
    reopened.close()


def test_unreachable_server_is_a_clear_error() -> None:
    with pytest.raises(StoreError) as info:
        Store("http://user:secret@127.0.0.1:9/hlog")
    assert str(info.value) == "ClickHouse server http://127.0.0.1:9 database hlog is unreachable (connection refused)"
    assert info.value.public == "the store is unreachable (connection refused)" and info.value.unreachable


def _add_logs(store: Store, rows: int) -> None:
    """`rows` logs in one insert (one part): user.id is the row number, host.name a resource attribute."""
    store._writer.command(
        f"INSERT INTO {store.db}.logs (Timestamp, Body, LogAttributes, ResourceAttributes) "
        "SELECT now64(9) - number, concat('log ', toString(number)), map('user.id', toString(number)), "
        "map('host.name', 'web-1') FROM numbers({rows:UInt64})",
        parameters={"rows": rows},
    )


def test_an_older_store_is_upgraded_to_the_attribute_index(
    request: pytest.FixtureRequest, store_kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    dsn = store_dsn(request, store_kind, "t_upgrade_" + uuid.uuid4().hex[:12])  # a new database each run
    with monkeypatch.context() as m:
        m.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:4])
        old = Store(dsn)
        assert old.schema_version() == 4
        _add_logs(old, 100)
        old._writer.command(  # what the previous versions wrote for a span and a log without service.name
            f"INSERT INTO {old.db}.spans (Timestamp, SpanKind, StatusCode, ServiceName) "
            "VALUES (now64(9), 'SERVER', 'ERROR', 'unknown_service')"
        )
        old._writer.command(f"INSERT INTO {old.db}.logs (Timestamp, ServiceName) VALUES (now64(9), 'unknown_service')")
        old.close()
    with pytest.raises(StoreError, match="older than this hlog"):
        Store(dsn, migrate=False)  # a search does not upgrade it
    store = Store(dsn)
    assert store.schema_version() == LATEST
    converted = store.query(f"SELECT SpanKind, StatusCode, ServiceName FROM {store.db}.spans")
    assert [tuple(r) for r in converted] == [("SPAN_KIND_SERVER", "STATUS_CODE_ERROR", "")]
    assert store.query(f"SELECT count() FROM {store.db}.logs WHERE ServiceName = 'unknown_service'")[0][0] == 0
    rows = store.query("SELECT name FROM system.data_skipping_indices WHERE database = {d:String}", {"d": store.db})
    indexes = {r[0] for r in rows}
    assert "idx_attrs" in indexes and not any("attr_keys" in n or "attr_values" in n for n in indexes)
    codecs = store.query(
        "SELECT compression_codec FROM system.columns WHERE database = {d:String} AND table = 'logs' "
        "AND name IN ('Body', 'LogAttributes', 'Timestamp')",
        {"d": store.db},
    )
    assert sorted(c[0] for c in codecs) == ["CODEC(Delta(8), LZ4)", "CODEC(LZ4)", "CODEC(LZ4)"]
    search = LogSearch(store)
    assert [log["body"] for log in search.page("user.id:42", TimeRange()).logs] == ["log 42"]
    assert search.count("host.name:web-1 user.id EXISTS", TimeRange()) == 100
    assert search.count("", TimeRange()) == 101
    store.close()
    drop_database(dsn)


def test_attribute_search_reads_only_the_granules_the_index_names(store: Store) -> None:
    _add_logs(store, 4096)  # 8 granules of 512 rows
    sql, params = page_sql(store.tables, compile_query("user.id:4000"), TimeRange(), 10)
    plan = "\n".join(r[0] for r in store.query("EXPLAIN indexes = 1 " + sql, params))
    index = plan[plan.index("Name: idx_attrs") :]
    # one granule of the 8 (9 when a busy machine lands the rows as two parts): the one with the log
    assert re.search(r"Granules: 1/(8|9)\b", index), plan
    assert LogSearch(store).count("user.id:4000", TimeRange()) == 1


def test_arrow_columns_keep_every_row_whether_shared_constant_or_not() -> None:
    """to_arrow makes a value every row shares once, and a dict many rows share (a resource's
    attributes) once per distinct dict: the rows read back as they went in, in order."""
    first, second = {"service.name": "a", "host": "1"}, {"service.name": "b"}
    rows = 12
    columns = {name: [""] * rows for name in LOG_COLUMNS}
    columns.update(
        Timestamp=list(range(rows)),
        ObservedTimestamp=[7] * rows,
        SeverityNumber=[9] * rows,
        TraceFlags=[0, 1] * (rows // 2),
        DroppedAttributesCount=[0] * rows,
        Body=[f"m{i}" for i in range(rows)],
        ResourceAttributes=[first] * 8 + [second] * 4,  # two resources, shared by their records
        ScopeAttributes=[{}] * rows,
        LogAttributes=[{"i": str(i)} for i in range(rows)],
        AttributeTypes=['{"log:i":"int"}'] * rows,
        AttributeLeaves=[[]] * (rows - 1) + [["tags=x"]],
    )
    table = to_arrow(LOG_COLUMNS, [columns[name] for name in LOG_COLUMNS])
    read = table.to_pydict()
    assert read["ResourceAttributes"] == [list(first.items())] * 8 + [list(second.items())] * 4
    assert read["LogAttributes"] == [[("i", str(i))] for i in range(rows)]
    assert read["ScopeAttributes"] == [[]] * rows
    assert read["AttributeLeaves"] == [[]] * (rows - 1) + [["tags=x"]]
    assert read["AttributeTypes"] == ['{"log:i":"int"}'] * rows
    assert read["TraceFlags"] == [0, 1] * (rows // 2)
    assert read["SeverityNumber"] == [9] * rows
    assert read["Body"] == [f"m{i}" for i in range(rows)]
    assert [t.value for t in table.column("ObservedTimestamp")] == [7] * rows
    assert table.column("ServiceName").to_pylist() == [""] * rows
