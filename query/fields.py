"""Which keys the search language knows: reserved keys and their columns, attribute keys."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

FieldKind = Literal["string", "level", "message", "time", "id"]


@dataclass(frozen=True)
class Column:
    """A reserved key backed by a column of the logs table."""

    name: str
    column: str
    kind: FieldKind


_COLUMNS = (
    Column("level", "SeverityText", "level"),
    Column("message", "Body", "message"),
    Column("service_name", "ServiceName", "string"),
    Column("service_version", "ServiceVersion", "string"),
    Column("environment", "Environment", "string"),
    Column("trace_id", "TraceId", "id"),
    Column("span_id", "SpanId", "id"),
    Column("session_id", "SessionId", "string"),
    Column("timestamp", "Timestamp", "time"),
)
_ALIASES = {
    "body": "message",
    "msg": "message",
    "service": "service_name",
    "env": "environment",
    "secure_session_id": "session_id",
    "severity": "level",
}

RESERVED: dict[str, Column] = {c.name: c for c in _COLUMNS}
RESERVED.update({alias: RESERVED[name] for alias, name in _ALIASES.items()})

MAX_KEY_CHARS = 256
_ATTRIBUTE_KEY = re.compile(r"^[A-Za-z0-9_@$][A-Za-z0-9_@$.\-/]*$")


def reserved(key: str) -> Column | None:
    """The column for a reserved key (case-insensitive), or None for an attribute key."""
    return RESERVED.get(key.lower())


def valid_attribute_key(key: str) -> bool:
    """Attribute keys are letters, digits and `_ @ $ . - /`; they reach SQL only as bound values."""
    return len(key) <= MAX_KEY_CHARS and bool(_ATTRIBUTE_KEY.match(key))


# The effective attributes of a log (its own, then its resource's for keys it does not
# have) as tokens `key` and `key=value`, for the text index `idx_attrs` of the logs table
# (backend/schema.py). In a log with an array or a map value (AttributeTypes), an array adds
# `key=element` for each element and a map `key.name` and `key.name=value` for each entry,
# MAX_NESTED_TOKENS maps deep (so `tags:prod` finds ["prod","eu"] and `http.method:GET` finds
# http: {"method": "GET"}; the compiler reads deeper paths from the maps). `=` in a stored key is
# escaped as `\=`, so a token reads back one way only; tokens longer than
# MAX_ATTRIBUTE_TOKEN_BYTES are not indexed. The compiler uses `has(ATTRIBUTE_TOKENS, token)`,
# which ClickHouse answers from the index alone. Each level of depth costs every query that uses
# the index ~2.5 ms of analysis (3 ms without): one level covers the maps of structured loggers
# (`user: {id, name}`).
MAX_ATTRIBUTE_TOKEN_BYTES = 512
MAX_NESTED_TOKENS = 1
_EFFECTIVE = "mapUpdate(ResourceAttributes, LogAttributes)"


def _escaped(key: str) -> str:
    return f"replaceAll({key}, '=', '\\\\=')"


def _unquoted(raw: str) -> str:
    """A JSON value's text: strings without their quotes, numbers and the rest as written."""
    return f"if(startsWith({raw}, '\"'), JSONExtractString({raw}), {raw})"


def _inside(path: str, raw: str, depth: int) -> str:
    """Tokens for what the JSON value `raw` at `path` holds: `path=element` for each element of
    an array, `path.key` and `path.key=leaf` for each entry of a map, MAX_NESTED_TOKENS maps deep.
    (Each level binds its path to a name once, so the expression grows linearly with depth.)"""
    q, here = f"q{depth}", f"path{depth}"
    element = f"e{depth}"
    elements = f"arrayMap({element} -> concat({_escaped(path)}, '=', {_unquoted(element)}), JSONExtractArrayRaw({raw}))"
    entry = f"[{_escaped(here)}, concat({_escaped(here)}, '=', {_unquoted(f'{q}.2')})]"
    if depth < MAX_NESTED_TOKENS:
        entry = f"arrayConcat({entry}, {_inside(here, f'{q}.2', depth + 1)})"
    entries = (
        f"arrayFlatten(arrayMap({q} -> arrayFlatten(arrayMap({here} -> {entry}, [concat({path}, '.', {q}.1)])), "
        f"JSONExtractKeysAndValuesRaw({raw})))"
    )
    return f"multiIf(startsWith({raw}, '['), {elements}, startsWith({raw}, '{{'), {entries}, [])"


_FLAT_TOKENS = (
    f"arrayMap(k -> {_escaped('k')}, mapKeys({_EFFECTIVE})), "
    f"arrayMap((k, v) -> concat({_escaped('k')}, '=', v), mapKeys({_EFFECTIVE}), mapValues({_EFFECTIVE}))"
)
# the index of schema versions 5 to 11, for migration 5 (AttributeTypes came with 12)
FLAT_ATTRIBUTE_TOKENS = f"arrayFilter(t -> length(t) <= {MAX_ATTRIBUTE_TOKEN_BYTES}, arrayConcat({_FLAT_TOKENS}))"
ATTRIBUTE_TOKENS = (
    f"arrayFilter(t -> length(t) <= {MAX_ATTRIBUTE_TOKEN_BYTES}, arrayConcat({_FLAT_TOKENS}, "
    # only logs with an array or map value (by AttributeTypes) pay for looking inside them
    f"if(hasAny(mapValues(AttributeTypes), ['array', 'map']), "
    f"arrayFlatten(arrayMap((k, v) -> {_inside('k', 'v', 1)}, mapKeys({_EFFECTIVE}), mapValues({_EFFECTIVE}))), [])))"
)


def attribute_token(key: str, value: str | None = None) -> str | None:
    """The index token for a valid key (no `=` to escape), or for key=value; None if too long to be indexed."""
    token = key if value is None else f"{key}={value}"
    return token if len(token.encode()) <= MAX_ATTRIBUTE_TOKEN_BYTES else None
