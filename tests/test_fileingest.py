"""hlog ingest's reading of log lines, and `hlog search --sql` on a named store."""

from __future__ import annotations

from hlog.backend.fileingest import parse_json_line
from tests.test_end_to_end import hlog


def test_empty_well_known_fields_are_not_attributes() -> None:
    record = parse_json_line(
        {"msg": "hello", "trace_id": "", "span_id": None, "level": "", "session_id": "", "user": "ann"}, "svc", 1
    )
    assert record.attributes == {"user": "ann"}
    assert (record.body, record.level, record.trace_id, record.span_id) == ("hello", "", b"", b"")


def test_search_sql_names_the_stores_database(tmp_path) -> None:  # type: ignore[no-untyped-def]
    shown = hlog("search", "level:error", "--sql", "--store", f"chdb://{tmp_path}?database=prod_logs")
    assert shown.returncode == 0, shown.stderr
    assert "prod_logs.logs" in shown.stdout and "hlog.logs" not in shown.stdout
    assert not any(tmp_path.iterdir())  # --sql opens nothing
