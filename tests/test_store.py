"""Store targets, migrations and retention."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.store import Store, StoreError, parse_dsn


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


def test_migrations_are_recorded_and_idempotent(store: Store, engine_dir: Path) -> None:
    assert store.schema_version() == 4
    versions = store.query(f"SELECT version FROM {store.db}.hlog_migrations ORDER BY version")
    again = Store(f"chdb://{engine_dir}?database={store.db}")
    assert again.schema_version() == 4
    assert store.query(f"SELECT version FROM {store.db}.hlog_migrations ORDER BY version") == versions
    again.close()


def test_retention_is_applied_and_kept(store: Store, engine_dir: Path) -> None:
    assert store.retention_seconds == 30 * 86400
    changed = Store(f"chdb://{engine_dir}?database={store.db}", retention_seconds=7 * 86400)
    ddl = changed.query(
        "SELECT engine_full FROM system.tables WHERE database = {d:String} AND name = 'logs'", {"d": store.db}
    )[0][0]
    assert "toIntervalSecond(604800)" in ddl
    changed.close()
    reopened = Store(f"chdb://{engine_dir}?database={store.db}")
    assert reopened.retention_seconds == 7 * 86400  # what the store has, when not told
    reopened.close()


def test_unreachable_server_is_a_clear_error() -> None:
    with pytest.raises(StoreError) as info:
        Store("http://127.0.0.1:9/hlog")
    assert "ClickHouse server" in str(info.value)
