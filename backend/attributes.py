"""OTLP AnyValue handling: attributes as the Collector's exporter stores them (with their types beside), bodies."""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
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


_TYPES = {"int_value": "int", "double_value": "double", "bool_value": "bool", "bytes_value": "bytes"}
_TYPES.update({"array_value": "array", "kvlist_value": "map"})


def format_double(value: float) -> str:
    """A double as the Collector's exporter writes it (Go's FormatFloat 'f', -1): the shortest
    text that reads back as the same number, never in exponent form (1 for 1.0, 0.0001 for 1e-4)."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    text = repr(value)
    if "e" in text:
        text = format(Decimal(text), "f")
    return text[:-2] if text.endswith(".0") else text


def scalar(value: AnyValue) -> str | None:
    """The text of a scalar AnyValue as the exporter stores it (bytes as base64), or None for
    arrays, maps and empty values."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return str(value.int_value)
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind == "double_value":
        return format_double(value.double_value)
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return None


ESCAPED_EQUALS = "\\="  # `=` in a key, in an index token
MAX_LEAVES = 256  # index tokens for what arrays and maps hold, per record (the rest is not indexed)


def leaves(path: str, value: Any, out: list[str]) -> None:
    """Index tokens for what a map or array value holds (AttributeLeaves of the logs table): each
    map entry's path (`http.request`), each scalar as `path=text` (`http.request.method=GET`), an
    array's elements under the array's own path (`tags=prod`; `items.sku=42` for an array of maps).
    `=` in a key is escaped as in the attribute index (query/fields.py)."""
    if len(out) >= MAX_LEAVES:
        return
    if isinstance(value, dict):
        for name, item in value.items():
            inner = f"{path}.{name}"
            if len(out) < MAX_LEAVES:
                out.append(inner.replace("=", ESCAPED_EQUALS))
            leaves(inner, item, out)
    elif isinstance(value, list):
        for item in value:
            leaves(path, item, out)
    else:
        text = value if isinstance(value, str) else json.dumps(value)
        out.append(path.replace("=", ESCAPED_EQUALS) + "=" + text)


def flatten(
    pairs: Iterable[KeyValue],
    out: dict[str, str],
    types: list[str] | None = None,
    inside: dict[str, list[str]] | None = None,
) -> dict[str, str]:
    """OTLP key-values into `out` as the exporter stores them: one key each, scalars as text,
    arrays and maps as compact JSON (so `a.b` and `a: {b}` are two keys, never one). Every value
    that is not a string appends its key and type to `types` (when given: for types_text()); the
    index tokens of what an array or map holds go into `inside` (when given) under its key
    (leaves()). At most MAX_ATTRIBUTES keys of at most MAX_KEY_CHARS; what the limits cut is
    counted in CUTS."""
    for pair in pairs:
        if len(out) >= MAX_ATTRIBUTES:
            CUTS.attributes += 1
            continue
        value = pair.value
        key = pair.key
        if len(key) > MAX_KEY_CHARS:
            CUTS.keys += 1
            key = key[:MAX_KEY_CHARS]
        # the hot path: most attributes are short, non-empty strings (any other kind reads as "")
        text = value.string_value
        if text and len(text) <= MAX_VALUE_CHARS:
            out[key] = text
            continue
        which = value.WhichOneof("value")
        if which == "int_value":  # the next most common: numbers as SDKs send them
            out[key] = str(value.int_value)
            if types is not None:
                types += (key, "int")
            continue
        found = scalar(value)
        if found is None and which is not None:
            data = to_python(value)
            found = compact_json(data)
            if inside is not None:
                leaves(key, data, inside.setdefault(key, []))
        out[key] = truncate(found or "")
        if types is not None and which in _TYPES:
            types += (key, _TYPES[which])
    return out


def to_python(value: AnyValue, depth: int = 0) -> Any:
    """An AnyValue as plain Python data (bytes as base64 text). A map or array nested deeper than
    MAX_FLATTEN_DEPTH is kept as its JSON text followed by the nesting marker (counted in CUTS)."""
    kind = value.WhichOneof("value")
    if kind in ("kvlist_value", "array_value") and depth >= MAX_FLATTEN_DEPTH:
        CUTS.nested += 1
        return truncate(compact_json(to_python(value, -1))) + nesting_marker()
    below = depth + 1 if depth >= 0 else depth  # -1: no limit
    if kind == "kvlist_value":
        return {kv.key: to_python(kv.value, below) for kv in value.kvlist_value.values}
    if kind == "array_value":
        return [to_python(v, below) for v in value.array_value.values]
    if kind == "int_value":
        return value.int_value
    if kind == "double_value":
        return value.double_value
    if kind == "bool_value":
        return value.bool_value
    return scalar(value)


def plain(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    """OTLP key-values as a JSON object with typed values (a span event's or link's attributes)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        if len(out) >= MAX_ATTRIBUTES:
            CUTS.attributes += 1
            continue
        value = to_python(pair.value)
        out[pair.key[:MAX_KEY_CHARS]] = truncate(value) if isinstance(value, str) else value
    return out


def compact_json(value: Any) -> str:
    """JSON without spaces, as the exporter writes nested values."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def body_text(value: AnyValue) -> str:
    """The message of a log record: strings as they are, structures as compact JSON."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return truncate(value.string_value, MAX_BODY_CHARS)
    if kind in ("kvlist_value", "array_value"):
        return truncate(compact_json(to_python(value)), MAX_BODY_CHARS)
    return scalar(value) or ""


def _pairs(flat: Sequence[str]) -> Iterator[tuple[str, str]]:
    """(key, type) pairs from flatten()'s `types`: key, type, key, type ..."""
    return zip(flat[::2], flat[1::2], strict=True)


def typed_keys(kind: str, types: list[str]) -> tuple[str, ...]:
    """flatten()'s `types` of a resource or scope with their keys as `kind:key`, for types_text()."""
    return tuple(item for key, name in _pairs(types) for item in (f"{kind}:{key}", name))


_TYPES_TEXT: dict[tuple[tuple[str, ...], str, tuple[str, ...]], str] = {}


def types_text(shared: tuple[str, ...], kind: str, types: list[str]) -> str:
    """The AttributeTypes column's value: the types of a record's values that are not strings as
    a compact JSON object of `kind:key` (`log:`, `span:`, `resource:`, `scope:`) -> type; '' when
    there are none. `types` are the record's own (from flatten()), `shared` its resource's and
    scope's (from typed_keys()). (A LowCardinality(String): records of one shape share one entry.
    A Map(LowCardinality(String), LowCardinality(String)) cost 15-20 % of the insert rate.)"""
    if not types and not shared:
        return ""
    shape = (shared, kind, tuple(types))
    text = _TYPES_TEXT.get(shape)
    if text is None:
        named = dict(_pairs(shared))
        named.update((f"{kind}:{key}", name) for key, name in _pairs(types))
        text = compact_json(named)
        if len(_TYPES_TEXT) < 10_000:  # the shapes a process sees repeat; a bound all the same
            _TYPES_TEXT[shape] = text
    return text


# the fields of the API's records that hold each kind of AttributeTypes key
TYPED_FIELDS = {
    "log": "attributes",
    "span": "attributes",
    "resource": "resource_attributes",
    "scope": "scope_attributes",
}


def typed(record: dict[str, Any], stored: str) -> dict[str, Any]:
    """`record` (an API record with string attribute maps) with each value of a stored type
    other than string read back as that type (`stored`: the AttributeTypes column), and
    `attribute_types` (field -> key -> type) for them. A value that no longer reads as its type
    (cut by a limit) stays text."""
    if not stored:
        return record
    try:
        types = json.loads(stored)
    except ValueError:
        return record
    if not isinstance(types, dict):
        return record
    named: dict[str, dict[str, str]] = {}
    for typed_key, kind in types.items():
        prefix, _, key = typed_key.partition(":")
        field = TYPED_FIELDS.get(prefix)
        values = record.get(field) if field else None
        if values is None or key not in values:
            continue
        values[key] = _read(values[key], kind)
        named.setdefault(field, {})[key] = kind  # type: ignore[arg-type]
    if named:
        record["attribute_types"] = named
    return record


def _read(text: str, kind: str) -> Any:
    try:
        if kind == "int":
            return int(text)
        if kind == "double":
            value = float(text)
            return value if math.isfinite(value) else text  # JSON has no NaN or Infinity
        if kind == "bool":
            return text == "true"
        if kind in ("array", "map"):
            return json.loads(text)
    except ValueError:
        pass
    return text


def first(keys: tuple[str, ...], *sources: dict[str, str]) -> str:
    """The first non-empty value of any key, searching each source in turn."""
    for source in sources:
        for key in keys:
            value = source.get(key)
            if value:
                return value
    return ""
