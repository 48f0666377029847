"""Attribute values keep their type, nothing collides, and the search finds nested values,
array elements and numbers by their type (on both stores)."""

from __future__ import annotations

import json
import time
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from starlette.testclient import TestClient

from hlog.query import format_term
from tests.conftest import kv, post_logs

EVERY_TYPE: dict[str, Any] = {
    "s": "text",
    "i": 9007199254740993,  # past what a double holds exactly
    "d": 2.5,
    "whole": 3.0,
    "yes": True,
    "raw": b"\x00\x01\xfe\xff",
    "tags": ["prod", "eu", 404, False],
    "empty_list": [],
    "empty_map": {},
    "http": {"request": {"method": "GET", "size": 512}, "route": "/cart/{id}"},
    "http.route": "/flat/dotted",  # a dotted key beside the map it reads like
    "list": ["zero"],
    "list.0": "flat",
}


def logs(client: TestClient, query: str) -> list[dict[str, Any]]:
    response = client.get("/api/logs", params={"q": query, "limit": 100})
    assert response.status_code == 200, response.text
    return response.json()["logs"]


def bodies(client: TestClient, query: str) -> list[str]:
    return sorted(log["body"] for log in logs(client, query))


def test_every_type_comes_back_with_its_type_and_nothing_collides(client: TestClient) -> None:
    post_logs(
        client,
        [{"body": "typed", "attrs": EVERY_TYPE}, {"body": {"order": {"id": 7, "items": ["a", "b"]}, "ok": True}}],
        resource={"service.name": "types", "process.pid": 4242, "host.cores": ["a", "b"]},
    )
    (log,) = logs(client, '"typed"')
    expected = dict(EVERY_TYPE, raw="AAH+/w==")  # bytes as base64, as the Collector's exporter stores them
    assert log["attributes"] == expected
    assert [type(log["attributes"][k]) for k in ("i", "d", "whole", "yes")] == [int, float, float, bool]
    assert log["attribute_types"] == {
        "attributes": {
            "i": "int",
            "d": "double",
            "whole": "double",
            "yes": "bool",
            "raw": "bytes",
            "tags": "array",
            "empty_list": "array",
            "empty_map": "map",
            "http": "map",
            "list": "array",
        },
        "resource_attributes": {"process.pid": "int", "host.cores": "array"},
    }
    assert log["resource_attributes"]["process.pid"] == 4242
    # a map body is compact JSON, as the exporter writes it
    (structured,) = logs(client, "ok")
    assert structured["body"] == '{"order":{"id":7,"items":["a","b"]},"ok":true}'


def test_search_by_path_element_and_type(client: TestClient) -> None:
    post_logs(
        client,
        [
            {"body": "one", "attrs": EVERY_TYPE},
            {"body": "two", "attrs": {"i": 9007199254740992, "tags": ["staging"], "http": {"request": {"size": 10}}}},
            {"body": "three", "attrs": {"i": "9007199254740994", "count": "12", "tags": "prod"}},
        ],
    )
    # both keys that read as http.route are kept and found
    assert bodies(client, "http.route:/flat/dotted") == ["one"]
    assert bodies(client, 'http.route:"/cart/{id}"') == ["one"]
    assert bodies(client, "list.0:flat") == ["one"] and bodies(client, "list:zero") == ["one"]
    # a value nested in a map, by its path
    assert bodies(client, "http.request.method:GET") == ["one"]
    assert bodies(client, "http.request.size:512") == ["one"]
    assert bodies(client, "http.request.method:*") == ["one"]
    assert bodies(client, "http.request.method:G*") == ["one"]  # wildcards read the nested value too
    assert bodies(client, "http.request.method:/^GE.$/") == ["one"]
    assert bodies(client, "http.request.size>100") == ["one"] and bodies(client, "http.request.size<100") == ["two"]
    # arrays by element (and a string equal to the element)
    assert bodies(client, "tags:prod") == ["one", "three"]
    assert bodies(client, "tags:404") == ["one"] and bodies(client, "tags:false") == ["one"]
    assert bodies(client, "tags:staging") == ["two"]
    assert bodies(client, format_term("tags", '["staging"]')) == ["two"]  # the whole value still matches
    # integers compare as integers: exact where a double is not
    assert bodies(client, "i>9007199254740992") == ["one", "three"]
    assert bodies(client, "i=9007199254740993") == ["one"] and bodies(client, "i:9007199254740993") == ["one"]
    assert bodies(client, "i<=9007199254740992") == ["two"]
    assert bodies(client, "d>2.4 d<2.6") == ["one"] and bodies(client, "whole:3") == ["one"]
    assert bodies(client, "count>=12") == ["three"]  # text that reads as a number compares as one
    assert bodies(client, "yes:true") == ["one"] and bodies(client, format_term("empty_list", "[]")) == ["one"]
    assert bodies(client, "empty_map:*") == ["one"] and bodies(client, 'raw:"AAH+/w=="') == ["one"]


def test_span_attributes_keep_their_types(client: TestClient) -> None:
    request = ExportTraceServiceRequest()
    spans = request.resource_spans.add()
    spans.resource.attributes.append(kv("service.name", "typed-spans"))
    span = spans.scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.name = bytes(range(1, 17)), bytes(range(1, 9)), "op"
    span.start_time_unix_nano = time.time_ns()
    span.end_time_unix_nano = span.start_time_unix_nano + 1000
    for key, value in EVERY_TYPE.items():
        span.attributes.append(kv(key, value))
    event = span.events.add()
    event.name, event.time_unix_nano = "retry", span.start_time_unix_nano
    event.attributes.extend([kv("attempt", 2), kv("codes", [1, 2]), kv("ok", False)])
    headers = {"Content-Type": "application/x-protobuf"}
    r = client.post("/v1/traces", content=request.SerializeToString(), headers=headers)
    assert r.status_code == 200, r.text
    (stored,) = client.get(f"/api/traces/{bytes(range(1, 17)).hex()}").json()["spans"]
    assert stored["attributes"] == dict(EVERY_TYPE, raw="AAH+/w==")
    assert stored["attribute_types"]["attributes"]["i"] == "int"
    assert stored["events"][0]["attributes"] == {"attempt": 2, "codes": [1, 2], "ok": False}
    assert json.dumps(stored)  # every value is plain JSON
