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
# (backend/schema.py), with AttributeLeaves: the tokens of what arrays and maps hold, made at
# ingest (backend/attributes.py leaves(): `tags=prod` for ["prod","eu"], `http.request.method`
# and `http.request.method=GET` for http: {"request": {"method": "GET"}}, at any depth). `=` in a
# stored key is escaped as `\=`, so a token reads back one way only; tokens longer than
# MAX_ATTRIBUTE_TOKEN_BYTES are not indexed. The compiler uses `has(ATTRIBUTE_TOKENS, token)`,
# which ClickHouse answers from the index alone. (The leaves are a column, not more of this
# expression: ClickHouse plans the expression for every search that uses it, and computing them
# here took 6 ms more of planning per search.)
MAX_ATTRIBUTE_TOKEN_BYTES = 512
_EFFECTIVE = "mapUpdate(ResourceAttributes, LogAttributes)"
_ESCAPED_KEY = "replaceAll(k, '=', '\\\\=')"
_FLAT_TOKENS = (
    f"arrayMap(k -> {_ESCAPED_KEY}, mapKeys({_EFFECTIVE})), "
    f"arrayMap((k, v) -> concat({_ESCAPED_KEY}, '=', v), mapKeys({_EFFECTIVE}), mapValues({_EFFECTIVE}))"
)
# the index of schema versions 5 to 11, for migration 5 (AttributeLeaves came with 12)
FLAT_ATTRIBUTE_TOKENS = f"arrayFilter(t -> length(t) <= {MAX_ATTRIBUTE_TOKEN_BYTES}, arrayConcat({_FLAT_TOKENS}))"
ATTRIBUTE_TOKENS = (
    f"arrayFilter(t -> length(t) <= {MAX_ATTRIBUTE_TOKEN_BYTES}, arrayConcat({_FLAT_TOKENS}, AttributeLeaves))"
)


def attribute_token(key: str, value: str | None = None) -> str | None:
    """The index token for a valid key (no `=` to escape), or for key=value; None if too long to be indexed."""
    token = key if value is None else f"{key}={value}"
    return token if len(token.encode()) <= MAX_ATTRIBUTE_TOKEN_BYTES else None
