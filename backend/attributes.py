"""OTLP AnyValue handling: flatten attributes to dotted string keys, render bodies."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from hlog.backend.limits import DEFAULT_LIMITS, Limits

if TYPE_CHECKING:
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

# backend/limits.py has them all; a worker process sets them for its requests with apply()
MAX_VALUE_CHARS = DEFAULT_LIMITS.value_chars
MAX_BODY_CHARS = DEFAULT_LIMITS.body_chars
MAX_FLATTEN_DEPTH = DEFAULT_LIMITS.nesting
MAX_ATTRIBUTES = DEFAULT_LIMITS.attributes  # per record, resource, event or link
MAX_KEY_CHARS = DEFAULT_LIMITS.key_chars


def nesting_marker() -> str:
    """What ends a value kept as JSON text because it was nested too deeply."""
    return f"…[nested deeper than {MAX_FLATTEN_DEPTH}: kept as JSON]"


def apply(limits: Limits) -> None:
    """Use `limits` for the requests this process decodes from now on."""
    global MAX_VALUE_CHARS, MAX_BODY_CHARS, MAX_FLATTEN_DEPTH, MAX_ATTRIBUTES, MAX_KEY_CHARS
    MAX_VALUE_CHARS, MAX_BODY_CHARS = limits.value_chars, limits.body_chars
    MAX_FLATTEN_DEPTH, MAX_ATTRIBUTES, MAX_KEY_CHARS = limits.nesting, limits.attributes, limits.key_chars


class Cuts:
    """What the limits cut from one request, for its partial_success warning. (Ingest decodes
    one request at a time in each worker process: flatten() counts into CUTS, add_request()
    resets and reads it.)"""

    def __init__(self) -> None:
        self.attributes = 0  # past MAX_ATTRIBUTES
        self.keys = 0  # keys cut to MAX_KEY_CHARS
        self.values = 0  # values or bodies cut to their limit
        self.nested = 0  # values nested past MAX_FLATTEN_DEPTH, kept as JSON text

    def reset(self) -> None:
        """Start counting for a new request."""
        self.attributes = self.keys = self.values = self.nested = 0

    def warnings(self) -> list[str]:
        """What was changed, in words."""
        parts = [
            (self.attributes, f"attributes past the limit of {MAX_ATTRIBUTES} per record were dropped"),
            (self.keys, f"attribute keys were cut to {MAX_KEY_CHARS} characters"),
            (self.values, f"values were truncated ({MAX_VALUE_CHARS} characters, {MAX_BODY_CHARS} for bodies)"),
            (self.nested, f"values nested deeper than {MAX_FLATTEN_DEPTH} were kept as JSON text"),
        ]
        return [f"{n} {text}" for n, text in parts if n]


CUTS = Cuts()


def truncate(text: str, limit: int | None = None) -> str:
    """Cut `text` to `limit` characters (MAX_VALUE_CHARS by default), saying how much was cut."""
    limit = MAX_VALUE_CHARS if limit is None else limit
    if len(text) <= limit:
        return text
    CUTS.values += 1
    return text[:limit] + f"…[truncated {len(text) - limit} chars]"


def scalar(value: AnyValue) -> str | None:
    """The string form of a scalar AnyValue, or None for arrays, maps and empty values."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return str(value.int_value)
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind == "double_value":
        return repr(value.double_value)
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return None


def flatten(pairs: Iterable[KeyValue], out: dict[str, str], prefix: str = "", depth: int = 0) -> dict[str, str]:
    """Flatten OTLP key-values into `out`: maps and arrays become dotted keys (`a.b`, `a.0`).
    At most MAX_ATTRIBUTES keys of at most MAX_KEY_CHARS; what the limits cut is counted in CUTS."""
    for pair in pairs:
        if len(out) >= MAX_ATTRIBUTES:
            CUTS.attributes += 1
            continue
        value = pair.value
        key = prefix + pair.key
        if len(key) > MAX_KEY_CHARS:
            CUTS.keys += 1
            key = key[:MAX_KEY_CHARS]
        # the hot path: most attributes are short, non-empty strings (any other kind reads as "")
        text = value.string_value
        if text and len(text) <= MAX_VALUE_CHARS:
            out[key] = text
        else:
            _put(out, key, value, depth)
    return out


def _put(out: dict[str, str], key: str, value: AnyValue, depth: int) -> None:
    if len(out) >= MAX_ATTRIBUTES:
        CUTS.attributes += 1
        return
    text = scalar(value)
    if text is not None:
        out[key] = truncate(text)
        return
    kind = value.WhichOneof("value")
    if depth >= MAX_FLATTEN_DEPTH:
        CUTS.nested += 1
        out[key] = truncate(json.dumps(to_python(value), ensure_ascii=False, default=str)) + nesting_marker()
    elif kind == "kvlist_value":
        flatten(value.kvlist_value.values, out, key + ".", depth + 1)
    elif kind == "array_value":
        for i, item in enumerate(value.array_value.values):
            _put(out, f"{key}.{i}", item, depth + 1)


def to_python(value: AnyValue, depth: int = 0) -> Any:
    """An AnyValue as plain Python data (for JSON bodies)."""
    kind = value.WhichOneof("value")
    if depth > MAX_FLATTEN_DEPTH:
        return None
    if kind == "kvlist_value":
        return {kv.key: to_python(kv.value, depth + 1) for kv in value.kvlist_value.values}
    if kind == "array_value":
        return [to_python(v, depth + 1) for v in value.array_value.values]
    if kind == "int_value":
        return value.int_value
    if kind == "double_value":
        return value.double_value
    if kind == "bool_value":
        return value.bool_value
    return scalar(value)


def body_text(value: AnyValue) -> str:
    """The message of a log record: strings as they are, structures as JSON."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return truncate(value.string_value, MAX_BODY_CHARS)
    if kind in ("kvlist_value", "array_value"):
        return truncate(json.dumps(to_python(value), ensure_ascii=False, default=str), MAX_BODY_CHARS)
    return scalar(value) or ""


def first(keys: tuple[str, ...], *sources: dict[str, str]) -> str:
    """The first non-empty value of any key, searching each source in turn."""
    for source in sources:
        for key in keys:
            value = source.get(key)
            if value:
                return value
    return ""
