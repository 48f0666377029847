"""Every example query in docs/search.md compiles and runs against a real store."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.conftest import post_logs

DOC = Path(__file__).resolve().parent.parent / "docs" / "search.md"
EXAMPLES = [
    line.strip()
    for block in re.findall(r"```query\n(.*?)```", DOC.read_text(), re.S)
    for line in block.splitlines()
    if line.strip()
]


def test_the_doc_has_examples() -> None:
    assert len(EXAMPLES) > 30


@pytest.fixture
def seeded(client: TestClient) -> TestClient:
    post_logs(
        client,
        [
            {
                "body": "payment declined: card expired",
                "level": "error",
                "attrs": {"duration_ms": 730, "user.id": "42", "session.id": "s-42", "http.route": "/api/cart"},
            },
            {"body": "Timeout after 3s", "level": "warn", "attrs": {"latency": "120"}},
        ],
        resource={"service.name": "checkout", "host.name": "web-1", "deployment.environment.name": "prod"},
    )
    return client


@pytest.mark.parametrize("query", EXAMPLES)
def test_example_runs(seeded: TestClient, query: str) -> None:
    response = seeded.get("/api/logs", params={"q": query})
    assert response.status_code == 200, (query, response.text)


def test_examples_find_what_they_say(seeded: TestClient) -> None:
    def bodies(q: str) -> list[str]:
        return [x["body"] for x in seeded.get("/api/logs", params={"q": q}).json()["logs"]]

    assert bodies('level:error service_name:checkout "payment declined" -env:staging duration_ms>500') == [
        "payment declined: card expired"
    ]
    assert bodies("timeout") == ["Timeout after 3s"]
    assert bodies("host.name:web-1 latency<250ms") == ["Timeout after 3s"]
    assert bodies("level>=warn") == ["Timeout after 3s", "payment declined: card expired"]
