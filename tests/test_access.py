"""Who may use the backend: the API token on every address, Host and Origin checks, CORS for ingest only."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from google.rpc import status_pb2
from starlette.testclient import TestClient

from hlog.backend.access import TokenError, check_token, load_or_create_token, read_token
from hlog.backend.app import Backend
from hlog.backend.store import Store
from tests.conftest import logs_request

TOKEN = "a-token-long-enough-123"
PB = {"Content-Type": "application/x-protobuf"}


def client(backend: Backend, host: str = "127.0.0.1:4318", **headers: str) -> TestClient:
    return TestClient(backend.app, base_url=f"http://{host}", headers=headers)


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_the_api_needs_the_token_even_on_loopback(store: Store) -> None:
    with client(Backend(store, token=TOKEN)) as c:
        assert c.get("/healthz").status_code == 200
        refused = c.get("/api/logs")
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
        assert c.get("/api/logs", headers=bearer("wrong-token-of-some-length")).status_code == 401
        assert c.post("/api/alerts", json={"name": "x", "query": "", "threshold": 1}).status_code == 401
        assert c.get("/api/logs", headers=bearer()).status_code == 200
        # applications on this machine send logs without configuration
        assert (
            c.post("/v1/logs", content=logs_request([{"body": "x"}]).SerializeToString(), headers=PB).status_code == 200
        )


def test_a_backend_without_a_token_makes_one_of_its_own(store: Store) -> None:
    backend = Backend(store)
    assert len(backend.token) >= 32
    with client(backend) as c:
        assert c.get("/api/logs").status_code == 401
        assert c.get("/api/logs", headers=bearer(backend.token)).status_code == 200


def test_ingest_off_loopback_needs_the_token_and_answers_an_otlp_status(store: Store) -> None:
    body = logs_request([{"body": "x"}]).SerializeToString()
    with client(Backend(store, token=TOKEN, ingest_needs_token=True)) as c:
        refused = c.post("/v1/logs", content=body, headers=PB)
        assert refused.status_code == 401 and refused.headers["content-type"] == "application/x-protobuf"
        status = status_pb2.Status.FromString(refused.content)
        assert status.code == 16 and "token" in status.message  # google.rpc.Code UNAUTHENTICATED
        as_json = c.post("/v1/traces", content=b"{}", headers={"Content-Type": "application/json"})
        assert as_json.status_code == 401 and json.loads(as_json.content)["message"]
        assert c.post("/v1/logs", content=body, headers={**PB, **bearer()}).status_code == 200


@pytest.mark.parametrize("host", ["evil.example", "evil.example:4318", "127.0.0.1.nip.io:4318", "[fe80::1]:80"])
def test_a_foreign_host_header_is_refused_against_dns_rebinding(store: Store, host: str) -> None:
    with client(Backend(store, token=TOKEN), host=host, **bearer()) as c:
        refused = c.get("/api/logs")
        assert refused.status_code == 421 and "--allowed-host" in refused.json()["error"]["message"]


@pytest.mark.parametrize("host", ["127.0.0.1:4318", "localhost:4318", "[::1]:4318", "localhost", "logs.internal:80"])
def test_loopback_and_allowed_hosts_are_served(store: Store, host: str) -> None:
    with client(Backend(store, token=TOKEN, allowed_hosts=["logs.internal"]), host=host, **bearer()) as c:
        assert c.get("/api/logs").status_code == 200


def test_the_api_refuses_other_origins_and_sends_no_cors_headers(store: Store) -> None:
    with client(Backend(store, token=TOKEN), **bearer()) as c:
        cross = c.get("/api/logs", headers={"Origin": "https://evil.example"})
        assert cross.status_code == 403 and "access-control-allow-origin" not in cross.headers
        created = c.post(
            "/api/alerts", json={"name": "x", "query": "", "threshold": 1}, headers={"Origin": "http://localhost:8000"}
        )
        assert created.status_code == 403
        preflight = c.options(
            "/api/logs", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
        )
        assert preflight.status_code == 403 and "access-control-allow-origin" not in preflight.headers
        same = c.get("/api/logs", headers={"Origin": "http://127.0.0.1:4318"})
        assert same.status_code == 200 and "access-control-allow-origin" not in same.headers


def test_ingest_keeps_cors_for_browser_sdks_without_credentials(store: Store) -> None:
    with client(Backend(store, token=TOKEN)) as c:
        preflight = c.options(
            "/v1/logs",
            headers={
                "Origin": "https://shop.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type,x-hlog-request",
            },
        )
        assert preflight.status_code == 200 and preflight.headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in preflight.headers
        body = logs_request([{"body": "from a browser"}]).SerializeToString()
        sent = c.post("/v1/logs", content=body, headers={**PB, "Origin": "https://shop.example"})
        assert sent.status_code == 200 and sent.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize("token", ["short", " " * 20, "has a space in it 12345", "tab\there-and-more-chars", "é" * 20])
def test_weak_tokens_are_refused(token: str) -> None:
    with pytest.raises(TokenError):
        check_token(token)


def test_hlog_serve_refuses_a_weak_token() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hlog.backend.cli", "serve", "--token", "   ", "--listen", "127.0.0.1:0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "token" in result.stderr and "Traceback" not in result.stderr


def test_the_token_file_is_private_and_shared(tmp_path: Path) -> None:
    path = tmp_path / "hlog" / "token"
    first = load_or_create_token(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    assert load_or_create_token(path) == first == read_token(path)
    assert len(first) >= 32
