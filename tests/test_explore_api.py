"""The API behind the TUI's panes: sessions, traces, keys and values."""

from __future__ import annotations

import time

import pytest
from starlette.testclient import TestClient

from hlog.backend.app import Backend
from hlog.backend.client import ApiClient, ApiError, in_process_http
from tests.conftest import logs_request, post_logs

NOW = time.time_ns()
TRACE_A, TRACE_B = "aa" * 16, "bb" * 16


def seed(client: TestClient) -> None:
    post_logs(
        client,
        [
            {
                "body": "GET /cart",
                "level": "info",
                "ts": NOW - 5_000,
                "trace_id": TRACE_A,
                "attrs": {"session.id": "s-1", "user.id": "u-7"},
            },
            {
                "body": "card declined",
                "level": "error",
                "ts": NOW - 3_000,
                "trace_id": TRACE_B,
                "attrs": {"session.id": "s-1"},
            },
        ],
        resource={"service.name": "gateway"},
    )
    post_logs(
        client,
        [
            {
                "body": "charge failed",
                "level": "error",
                "ts": NOW - 2_000,
                "trace_id": TRACE_B,
                "attrs": {"session.id": "s-1", "region": "eu"},
            },
            {
                "body": "other session",
                "level": "warn",
                "ts": NOW - 1_000,
                "attrs": {"session.id": "s-2", "region": "us"},
            },
        ],
        resource={"service.name": "payments"},
    )


def test_session_summary(client: TestClient) -> None:
    seed(client)
    summary = client.get("/api/sessions/s-1").json()
    assert summary["log_count"] == 3 and summary["errors"] == 2
    assert summary["services"] == ["gateway", "payments"]
    assert summary["levels"] == {"INFO": 1, "ERROR": 2}
    assert summary["user_id"] == "u-7"
    assert summary["duration_ns"] == 3_000
    assert [r["trace_id"] for r in summary["requests"]] == [TRACE_A, TRACE_B]
    assert summary["requests"][1]["errors"] == 2
    assert client.get("/api/sessions/nope").status_code == 404
    # the session's logs in time order, through the search API
    logs = client.get("/api/logs", params={"q": "session_id:s-1", "after": "0-0"}).json()["logs"]
    assert [x["body"] for x in logs] == ["GET /cart", "card declined", "charge failed"]


def test_keys_and_values(client: TestClient) -> None:
    seed(client)
    keys = client.get("/api/keys").json()["keys"]
    names = [k["key"] for k in keys]
    assert "level" in names and "region" in names and "service.name" in names
    assert client.get("/api/keys/region/values").json()["values"] == [
        {"value": "eu", "count": 1},
        {"value": "us", "count": 1},
    ]
    assert client.get("/api/keys/region/values", params={"prefix": "e"}).json()["values"] == [
        {"value": "eu", "count": 1}
    ]
    assert [v["value"] for v in client.get("/api/keys/level/values").json()["values"]] == ["ERROR", "INFO", "WARN"]
    assert client.get("/api/keys/session_id/values").json()["values"] == []


def test_trace_unknown_is_empty(client: TestClient) -> None:
    assert client.get(f"/api/traces/{TRACE_A}").json() == {"trace_id": TRACE_A, "spans": []}


async def test_ids_and_keys_with_slashes_reach_their_route(backend: Backend) -> None:
    """A session id or attribute key is data: `/`, `?`, `#` and `%` in it name the same session
    through the client the TUI uses (a slash used to end in a redirect, read as an empty answer)."""
    odd = "s-:a/b?c#d%2F"
    async with backend.running(), in_process_http(backend) as http:
        api = ApiClient(http, "test")
        assert (await http.post("/v1/logs", content=logs_request(
            [{"body": "odd one", "attrs": {"session.id": odd, "a/b": "v/1"}}]
        ).SerializeToString(), headers={"Content-Type": "application/x-protobuf"})).status_code == 200  # fmt: skip
        summary = await api.session(odd)
        assert summary["session_id"] == odd and summary["log_count"] == 1
        assert await api.values("a/b") == [{"value": "v/1", "count": 1}]
        with pytest.raises(ApiError) as missing:
            await api.session("s-/nope/")
        assert missing.value.status == 404
