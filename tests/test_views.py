"""Saved views: kept in the store, validated as untrusted input, and `hlog views`."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from starlette.testclient import TestClient

from hlog.backend.cli import main
from hlog.backend.store import Store

VIEW = {
    "query": "level:error service_name:checkout",
    "since": "4h",
    "columns": ["time", "level", "attr:user.id"],
    "by": "http.route",
}


def test_views_are_saved_replaced_listed_and_deleted(client: TestClient) -> None:
    assert client.get("/api/views").json() == {"views": []}
    saved = client.put("/api/views/checkout errors", json=VIEW)
    assert saved.status_code == 200, saved.text
    assert {k: saved.json()[k] for k in VIEW} == VIEW and saved.json()["name"] == "checkout errors"
    client.put("/api/views/All 5xx", json={"query": "http.status_code>=500", "from_ns": 10**18, "to_ns": 2 * 10**18})
    assert [v["name"] for v in client.get("/api/views").json()["views"]] == ["All 5xx", "checkout errors"]
    client.put("/api/views/checkout errors", json={**VIEW, "since": "1h"})  # replaced
    assert client.get("/api/views/checkout errors").json()["since"] == "1h"
    assert client.delete("/api/views/All 5xx").json() == {"deleted": "All 5xx"}
    assert [v["name"] for v in client.get("/api/views").json()["views"]] == ["checkout errors"]
    missing = client.get("/api/views/All 5xx")
    assert missing.status_code == 404 and missing.json()["error"]["message"] == "no saved view 'All 5xx'"
    assert client.delete("/api/views/All 5xx").status_code == 404


@pytest.mark.parametrize(
    ("name", "body", "says"),
    [
        ("x", {"query": "level:"}, "query: "),
        ("x", {"since": "forever"}, "since: "),
        ("x", {"since": "1h", "from_ns": 5}, "since, or from and to: not both"),
        ("x", {"from_ns": 10, "to_ns": 5}, "from must be before to"),
        ("x", {"columns": ["time", "body; DROP TABLE logs"]}, "columns: "),
        ("x", {"columns": "time"}, "columns must be a list"),
        ("x", {"evil": 1}, "unknown field 'evil'"),
        ("x", {"from_ns": True}, "from_ns must be a int"),
        ("\x1b[2Jname", {}, "name: "),
        ("a" * 65, {}, "name: "),
    ],
)
def test_a_view_that_cannot_be_used_is_refused(client: TestClient, name: str, body: dict, says: str) -> None:  # type: ignore[type-arg]
    response = client.put(f"/api/views/{quote(name, safe='')}", json=body)
    assert response.status_code == 400 and says in response.json()["error"]["message"], response.text
    assert client.get("/api/views").json() == {"views": []}
    assert client.put("/api/views/x", content=b"[1, 2]").status_code == 400


def test_hlog_views_commands(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--store", store.dsn]
    assert (
        main(["views", "save", "errors", "--query", "level:error", "--since", "2h", "--by", "service_name", *args]) == 0
    )
    assert capsys.readouterr().err == "saved view errors\n"
    assert (
        main(["views", "save", "night", "--from", "2026-11-30T22:00:00Z", "--to", "2026-11-30T23:00:00Z", *args]) == 0
    )
    capsys.readouterr()
    assert main(["views", "list", *args]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "errors\tlevel:error\tlast 2h",
        "night\t*\t2026-11-30T22:00:00Z → 2026-11-30T23:00:00Z",
    ]
    assert main(["views", "show", "errors", *args]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["query"], shown["since"], shown["by"]) == ("level:error", "2h", "service_name")
    assert main(["views", "save", "bad", "--query", "level:", *args]) == 1
    assert "query: " in capsys.readouterr().err
    assert main(["views", "rm", "errors", *args]) == 0
    assert main(["views", "rm", "errors", *args]) == 1
    assert capsys.readouterr().err.endswith("no saved view 'errors'\n")
