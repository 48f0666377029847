"""hlog ingest's reading of log lines, and `hlog search --sql` on a named store."""

from __future__ import annotations

import json
from typing import Any

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


def test_json_lines_keep_their_values_types_and_every_key(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """hlog ingest sends a JSON line's values with their types, as OTLP carries them: numbers stay
    numbers, objects maps and arrays arrays (they were flattened to text, and two keys that
    flatten alike kept one); a line nested past what the JSON reader takes is kept as text."""
    store = f"chdb://{tmp_path / 'store'}"
    nested: list[Any] = ["bottom"]
    for _ in range(40):
        nested.append({"d": nested[-1]})
    deep, deeper = nested[20], nested[40]
    lines = [
        {
            "msg": "typed",
            "disk": {"pct": 91, "mount": "/"},
            "disk.mount": "flat",
            "ok": True,
            "ratio": 0.5,
            "tags": ["a", "b"],
            "big": 2**70,
            "none": None,
        },
        {"msg": {"order": 7, "items": ["x"]}, "level": "info"},
        {"msg": "deep", "deep": deep, "deeper": deeper},
    ]
    text = "\n".join(json.dumps(line) for line in lines) + '\n{"msg": ' + "[" * 5000 + "]" * 5000 + "}\n"
    done = hlog("ingest", "-", "--store", store, "--service", "files", stdin=text)
    assert done.returncode == 0 and "ingested 4 logs" in done.stderr, done.stderr
    found = hlog("search", "", "--format", "jsonl", "--store", store)
    assert found.returncode == 0, found.stderr
    logs = {log["body"][:20]: log for log in map(json.loads, found.stdout.splitlines())}
    typed = logs["typed"]
    assert typed["attributes"] == {
        "disk": {"pct": 91, "mount": "/"},
        "disk.mount": "flat",
        "ok": True,
        "ratio": 0.5,
        "tags": ["a", "b"],
        "big": str(2**70),
    }
    assert logs['{"order":7,"items":[']["body"] == '{"order":7,"items":["x"]}'  # a map body: compact JSON
    inner = logs["deep"]["attributes"]["deep"]
    for _ in range(16):  # what the backend keeps as maps by default; deeper is JSON text
        inner = inner["d"]
    assert inner.startswith('{"d":{"d":{"d":{"d":"bottom"}}}}')
    assert logs["deep"]["attributes"]["deeper"] == json.dumps(deeper, separators=(",", ":"))  # past protobuf's
    assert any(body.startswith('{"msg": [[[') for body in logs)  # too deep for the reader: a text line
    for query, expected in (
        ("disk.pct>90", 1),
        ("disk.mount:flat", 1),
        ("disk.mount:/", 1),
        ("tags:b", 1),
        ("ok:true", 1),
    ):
        count = hlog("search", query, "--count", "--store", store)
        assert count.stdout.strip() == str(expected), (query, count.stdout, count.stderr)
