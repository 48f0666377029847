"""OTLP/HTTP receiver: POST /v1/logs and /v1/traces, protobuf or JSON, optionally gzipped."""

from __future__ import annotations

import json
import zlib
from typing import TYPE_CHECKING

from google.protobuf import json_format
from google.rpc import status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from starlette.requests import Request
from starlette.responses import Response

from backend.ingest import Overloaded
from backend.otlp import DecodeFailure
from backend.store import StoreError

if TYPE_CHECKING:
    from backend.app import Backend

MAX_REQUEST_BYTES = 64 * 1024 * 1024
RETRY_AFTER_OVERLOAD_SECONDS = 1
RETRY_AFTER_STORE_DOWN_SECONDS = 5
_PROTOBUF_TYPES = ("application/x-protobuf", "application/protobuf")
_JSON_TYPE = "application/json"


class _TooLarge(Exception):
    pass


def _respond(status: int, message: str, is_json: bool, headers: dict[str, str] | None = None) -> Response:
    """An OTLP error response: a google.rpc.Status in the request's encoding."""
    if is_json:
        return Response(json.dumps({"code": status, "message": message}), status, headers, _JSON_TYPE)
    body = status_pb2.Status(code=status, message=message).SerializeToString()
    return Response(body, status, headers, "application/x-protobuf")


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_REQUEST_BYTES:
        raise _TooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_REQUEST_BYTES:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _gunzip(body: bytes) -> bytes:
    """Decompress gzip without letting a small bomb become a huge buffer."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = inflater.decompress(body, MAX_REQUEST_BYTES + 1)
    if len(out) > MAX_REQUEST_BYTES or inflater.unconsumed_tail:
        raise _TooLarge
    if not inflater.eof:
        raise zlib.error("truncated gzip stream")
    return out


async def export(request: Request, kind: str) -> Response:
    """Handle one OTLP export request for `kind` ("logs" or "traces")."""
    backend: Backend = request.app.state.backend
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    is_json = content_type == _JSON_TYPE
    if content_type not in _PROTOBUF_TYPES and not is_json:
        return _respond(
            415, f"unsupported content type {content_type!r}: use application/x-protobuf or application/json", is_json
        )
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("identity", "gzip", ""):
        return _respond(415, f"unsupported content encoding {encoding!r}: use gzip or none", is_json)
    try:
        body = await _read_body(request)
        if encoding == "gzip":
            body = _gunzip(body)
    except _TooLarge:
        return _respond(413, f"request larger than {MAX_REQUEST_BYTES} bytes", is_json)
    except zlib.error as err:
        return _respond(400, f"invalid gzip body: {err}", is_json)
    try:
        rejections = await backend.committer.submit(kind, body, _JSON_TYPE if is_json else _PROTOBUF_TYPES[0])
    except DecodeFailure as err:
        return _respond(400, str(err), is_json)
    except Overloaded as err:
        retry = {"Retry-After": str(RETRY_AFTER_OVERLOAD_SECONDS)}
        return _respond(503, f"overloaded, retry later: {err}", is_json, retry)
    except StoreError as err:
        retry = {"Retry-After": str(RETRY_AFTER_STORE_DOWN_SECONDS)}
        return _respond(503, f"store unavailable: {err}", is_json, retry)
    rejected_count, reasons = rejections.count, rejections.reasons
    response = ExportLogsServiceResponse() if kind == "logs" else ExportTraceServiceResponse()
    if rejected_count:
        noun = "log records" if kind == "logs" else "spans"
        if kind == "logs":
            response.partial_success.rejected_log_records = rejected_count  # type: ignore[union-attr]
        else:
            response.partial_success.rejected_spans = rejected_count  # type: ignore[union-attr]
        response.partial_success.error_message = f"{rejected_count} {noun} rejected: " + "; ".join(reasons)
    if is_json:
        return Response(json_format.MessageToJson(response, indent=None), 200, media_type=_JSON_TYPE)
    return Response(response.SerializeToString(), 200, media_type="application/x-protobuf")
