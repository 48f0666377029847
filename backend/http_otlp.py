"""OTLP/HTTP receiver: POST /v1/logs and /v1/traces, protobuf or JSON, optionally gzip, deflate or zstd."""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING, Any, Protocol

from backports.zstd import ZstdDecompressor, ZstdError
from google.protobuf import json_format
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from starlette.requests import Request
from starlette.responses import Response

from hlog.backend.ingest import Committer, Overloaded
from hlog.backend.otlp import DecodeFailure, RequestTooLarge
from hlog.backend.store import StoreError

if TYPE_CHECKING:
    from hlog.backend.app import Backend

RETRY_AFTER_OVERLOAD_SECONDS = 1
RETRY_AFTER_STORE_DOWN_SECONDS = 5
PROTOBUF_TYPES = ("application/x-protobuf", "application/protobuf")
_JSON_TYPE = "application/json"
ENCODINGS = ("gzip", "deflate", "zstd")


class _TooLarge(Exception):
    pass


def request_type(request_headers: Any) -> str:
    """A request's media type (lower case, without parameters)."""
    return str(request_headers.get("content-type", "")).split(";")[0].strip().lower()


def answer_type(content_type: str) -> str:
    """The media type of an answer to a request of `content_type`: the same one (the spec says to
    echo it); protobuf when the request's is neither protobuf nor JSON."""
    return content_type if content_type in (*PROTOBUF_TYPES, _JSON_TYPE) else PROTOBUF_TYPES[0]


def status_response(
    status: int, message: str, content_type: str, headers: dict[str, str] | None = None, field: str = ""
) -> Response:
    """An OTLP error response: a google.rpc.Status in the request's encoding; a 400 carries a
    google.rpc.BadRequest naming what was wrong (`field`, else the body)."""
    answer = status_pb2.Status(code=_RPC_CODES.get(status, 2), message=message)
    if status == 400:
        details = error_details_pb2.BadRequest()
        details.field_violations.add(field=field or "body", description=message)
        answer.details.add().Pack(details)
    return encoded(answer, content_type, status, headers)


def encoded(message: Any, content_type: str, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A protobuf message as an answer to a request of `content_type`, in its encoding."""
    media = answer_type(content_type)
    if media == _JSON_TYPE:
        return Response(json_format.MessageToJson(message, indent=None), status, headers, media)
    return Response(message.SerializeToString(), status, headers, media)


# google.rpc.Code for each HTTP status hlog answers (the spec lets Status.code be left out; it is filled)
_RPC_CODES = {400: 3, 401: 16, 404: 5, 405: 12, 413: 8, 415: 3, 429: 8, 503: 14}


class _OverBudget(Exception):
    pass


class _Reservation:
    """The share of the backend's in-flight byte budget one request holds, grown as it reads
    and decompresses its body, given back when it is answered."""

    def __init__(self, committer: Committer, request_bytes: int) -> None:
        self.committer = committer
        self.request_bytes = request_bytes  # the most one request may be, read or decompressed
        self.held = 0

    def hold(self, size: int) -> None:
        """Hold at least `size` bytes; _OverBudget when the budget has not that much left."""
        if size > self.held:
            if not self.committer.reserve(size - self.held):
                raise _OverBudget
            self.held = size

    def room(self) -> int:
        """The most this request may hold."""
        return min(self.request_bytes, self.held + self.committer.available_bytes)

    def close(self) -> None:
        self.committer.release(self.held)
        self.held = 0


async def _read_body(request: Request, reservation: _Reservation) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit():
        if int(declared) > reservation.request_bytes:
            raise _TooLarge
        reservation.hold(int(declared))  # before reading: a refusal costs no memory
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > reservation.request_bytes:
            raise _TooLarge
        reservation.hold(size)
        chunks.append(chunk)
    return b"".join(chunks)


class _Inflater(Protocol):
    @property
    def eof(self) -> bool: ...

    @property
    def unused_data(self) -> bytes: ...

    def decompress(self, data: bytes, max_length: int = ..., /) -> bytes: ...


def _is_zlib(body: bytes) -> bool:
    """Whether `body` starts with a zlib header (RFC 1950) rather than raw deflate (RFC 1951)."""
    return len(body) >= 2 and body[0] & 0x0F == 8 and (body[0] << 8 | body[1]) % 31 == 0


def _inflater(encoding: str, body: bytes) -> _Inflater:
    if encoding == "gzip":
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":  # zlib-wrapped, as HTTP says, or raw, as some clients send
        return zlib.decompressobj(zlib.MAX_WBITS if _is_zlib(body) else -zlib.MAX_WBITS)
    return ZstdDecompressor()


def _decompress(body: bytes, encoding: str, limit: int) -> bytes:
    """Decompress every member (gzip) or frame (zstd) of `body`, never into more than `limit`
    bytes: a small bomb cannot become a huge buffer. Raises _TooLarge, or ValueError for a
    body that is not in its encoding."""
    out = bytearray()
    rest = body
    while rest:
        inflater = _inflater(encoding, rest)
        try:
            out += inflater.decompress(rest, limit + 1 - len(out))
        except (zlib.error, ZstdError) as err:
            raise ValueError(f"invalid {encoding} body: {err}") from None
        cut_short: bytes = getattr(inflater, "unconsumed_tail", b"")  # zlib: input left for lack of room
        if len(out) > limit or cut_short:
            raise _TooLarge
        if not inflater.eof:
            raise ValueError(f"invalid {encoding} body: it ends before its end")
        rest = inflater.unused_data
        if encoding == "deflate" or not rest.strip(b"\0"):  # one stream; padding after the last member
            break
    return bytes(out)


async def export(request: Request, kind: str) -> Response:
    """Handle one OTLP export request for `kind` ("logs" or "traces")."""
    backend: Backend = request.app.state.backend
    content_type = request_type(request.headers)
    is_json = content_type == _JSON_TYPE
    if content_type not in PROTOBUF_TYPES and not is_json:
        return status_response(
            415,
            f"unsupported content type {content_type!r}: use application/x-protobuf or application/json",
            content_type,
        )
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("identity", "", *ENCODINGS):
        supported = ", ".join(ENCODINGS)
        message = f"unsupported content encoding {encoding!r}: use {supported} or none"
        return status_response(415, message, content_type)
    request_bytes = backend.limits.request_bytes
    overloaded = {"Retry-After": str(RETRY_AFTER_OVERLOAD_SECONDS)}
    if not backend.committer.admit():
        message = f"overloaded, retry later: {backend.committer.max_active_requests} requests are being handled"
        return status_response(503, message, content_type, overloaded)
    reservation = _Reservation(backend.committer, request_bytes)
    try:
        try:
            body = await _read_request(request, reservation, encoding)
        except _TooLarge:
            return status_response(413, f"request larger than {request_bytes} bytes", content_type)
        except ValueError as err:
            return status_response(400, str(err), content_type, field="Content-Encoding")
        rejections = await backend.committer.submit(kind, body, _JSON_TYPE if is_json else PROTOBUF_TYPES[0])
    except _OverBudget:
        message = "overloaded, retry later: too many bytes of requests are being handled"
        return status_response(503, message, content_type, overloaded)
    except RequestTooLarge as err:
        return status_response(413, str(err), content_type)
    except DecodeFailure as err:
        return status_response(400, str(err), content_type)
    except Overloaded as err:
        return status_response(503, f"overloaded, retry later: {err}", content_type, overloaded)
    except StoreError as err:
        retry = {"Retry-After": str(RETRY_AFTER_STORE_DOWN_SECONDS)}
        return status_response(503, f"store unavailable: {err.public}", content_type, retry)
    finally:
        reservation.close()
        backend.committer.dismiss()
    rejected_count, reasons = rejections.count, rejections.reasons
    response = ExportLogsServiceResponse() if kind == "logs" else ExportTraceServiceResponse()
    messages = list(rejections.warnings)  # stored, but changed: a warning with nothing rejected
    if rejected_count:
        noun = "log records" if kind == "logs" else "spans"
        if kind == "logs":
            response.partial_success.rejected_log_records = rejected_count  # type: ignore[union-attr]
        else:
            response.partial_success.rejected_spans = rejected_count  # type: ignore[union-attr]
        messages.insert(0, f"{rejected_count} {noun} rejected: " + "; ".join(reasons))
    if messages:
        response.partial_success.error_message = "; ".join(messages)
    return encoded(response, content_type)


async def metrics(request: Request) -> Response:
    """POST /v1/metrics: hlog stores no metrics. A 404 would be a permanent error to a Collector
    whose metrics pipeline points here, so the data points are answered as rejected (a partial
    success, which the spec allows), with why, and no retry."""
    content_type = request_type(request.headers)
    if content_type not in (*PROTOBUF_TYPES, _JSON_TYPE):
        return status_response(415, f"unsupported content type {content_type!r}", content_type)
    response = ExportMetricsServiceResponse()
    response.partial_success.rejected_data_points = await _count_data_points(request, content_type)
    response.partial_success.error_message = (
        "hlog stores logs and traces, not metrics: send metrics elsewhere (docs/api.md, Metrics)"
    )
    return encoded(response, content_type)


async def _read_request(request: Request, reservation: _Reservation, encoding: str) -> bytes:
    """A request's body, decompressed, within `reservation` (raises _TooLarge, _OverBudget, or
    ValueError for a body that is not in its encoding)."""
    body = await _read_body(request, reservation)
    if encoding in ENCODINGS:
        room = reservation.room()
        try:
            body = _decompress(body, encoding, room)
        except _TooLarge:
            if room < reservation.request_bytes:  # it may fit when less is in flight
                raise _OverBudget from None
            raise
        reservation.hold(len(body))
    return body


async def _count_data_points(request: Request, content_type: str) -> int:
    """How many data points a metrics request holds (0 when it cannot be read: it is refused anyway)."""
    backend: Backend = request.app.state.backend
    reservation = _Reservation(backend.committer, backend.limits.request_bytes)
    try:
        encoding = request.headers.get("content-encoding", "identity").strip().lower()
        body = await _read_request(request, reservation, encoding)
        message = ExportMetricsServiceRequest()
        if content_type == _JSON_TYPE:
            json_format.Parse(body, message, ignore_unknown_fields=True)
        else:
            message.ParseFromString(body)
    except Exception:  # too large, not in its encoding, not a metrics request: nothing to count
        return 0
    finally:
        reservation.close()
    points = 0
    for resource in message.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                kind = metric.WhichOneof("data")
                points += len(getattr(metric, kind).data_points) if kind else 0
    return points


async def not_found(request: Request) -> Response:
    """Any other path under /v1/: a Status in the request's encoding."""
    path = request.url.path
    return status_response(
        404, f"no OTLP endpoint at {path}: use /v1/logs or /v1/traces", request_type(request.headers)
    )


def only_post(handler: Any) -> Any:
    """`handler` for POST; any other method gets 405 as a Status in the request's encoding."""

    async def endpoint(request: Request) -> Response:
        if request.method != "POST":
            message = f"method {request.method} not allowed: OTLP/HTTP takes POST"
            return status_response(405, message, request_type(request.headers), {"Allow": "POST"})
        response: Response = await handler(request)
        return response

    return endpoint
