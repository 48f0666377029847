"""Compile the AST to a parameterised ClickHouse boolean expression over the logs table.

Every user value becomes a bound parameter (`{p0:String}`); identifiers come only
from the reserved field table. Attribute keys are bound values too.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hlog.query.ast import And, Exists, Field, MatchAll, Node, Not, Or, Text, Value
from hlog.query.errors import QueryError
from hlog.query.fields import ATTRIBUTE_TOKENS, attribute_token, reserved, valid_attribute_key
from hlog.query.parser import parse
from hlog.query.severity import LEVEL_RANGES, level_condition, level_from_text

# Separators as ClickHouse's hasToken and the splitByNonAlpha tokenizer see them:
# ASCII characters that are not letters or digits. Non-ASCII bytes belong to tokens.
_SEPARATORS = r"\x00-\x2f\x3a-\x40\x5b-\x60\x7b-\x7f"
_SPLIT = re.compile(f"[{_SEPARATORS}]+")
_BOUNDARY_LEFT = f"(?:^|[{_SEPARATORS}])"
_BOUNDARY_RIGHT = f"(?:[{_SEPARATORS}]|$)"
_DURATION = re.compile(r"^([-+]?(?:\d+(?:\.\d*)?|\.\d+))(ns|us|µs|ms|s|m|h|d)?$")
_DURATION_MS = {"ns": 1e-6, "us": 1e-3, "µs": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3, "d": 86400e3}
_COMPARE_OPS = (">", ">=", "<", "<=")
_FRACTION = re.compile(r"(?<=\d\d:\d\d)[.,](\d+)")


@dataclass(frozen=True)
class CompiledQuery:
    """A WHERE-clause fragment and the values bound to its `{pN:Type}` placeholders."""

    sql: str
    params: dict[str, Any] = field(default_factory=dict)
    regexes: tuple[tuple[str, int], ...] = ()
    """The user's /regex/ values with their positions: the store's engine (RE2) has the last word on them."""


def ascii_lower(text: str) -> str:
    """Lower-case ASCII letters only, as ClickHouse's lower() does."""
    return text.translate(_ASCII_LOWER)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def like_pattern(pieces: Sequence[str]) -> str:
    """A LIKE pattern matching the literal `pieces` with anything between them."""
    return "%".join(p.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") for p in pieces)


def _wildcard_pieces(value: Value) -> tuple[str, ...] | None:
    """The literal pieces between the wildcards of a value (a word's `*`s, a quoted value's
    unescaped ones), or None when it has no wildcard."""
    if value.kind == "word" and "*" in value.text:
        return tuple(value.text.split("*"))
    return value.wildcards or None


def parse_number(text: str) -> float | None:
    """A number, or a duration converted to milliseconds (`250ms`, `1.5s`, `2m`)."""
    m = _DURATION.match(text.strip())
    if not m:
        return None
    value = float(m.group(1)) * _DURATION_MS.get(m.group(2) or "ms", 1.0)
    return value if math.isfinite(value) else None


def parse_timestamp_ns(text: str) -> int | None:
    """Nanoseconds since the epoch from ISO 8601 (UTC when no offset; up to 9 fractional
    digits kept) or from epoch seconds."""
    text = text.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return int(float(text) * 1e9)
    fraction = _FRACTION.search(text)
    nanos = 0
    if fraction:
        nanos = int(fraction.group(1)[:9].ljust(9, "0"))
        text = text[: fraction.start()] + text[fraction.end() :]
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp()) * 1_000_000_000 + nanos


class _Compiler:
    def __init__(self, query: str, indexed: bool = True) -> None:
        self.query = query
        self.indexed = indexed  # the table has hlog's attribute index (not the Collector's tables)
        self.params: dict[str, Any] = {}
        self.regexes: list[tuple[str, int]] = []

    def bind(self, value: Any, type_: str = "String") -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f"{{{name}:{type_}}}"

    def error(self, message: str, pos: int) -> QueryError:
        return QueryError(message, self.query, pos)

    # -- boolean structure -------------------------------------------------
    def node(self, node: Node) -> str:
        if isinstance(node, MatchAll):
            return "1"
        if isinstance(node, And):
            return "(" + " AND ".join(self.node(n) for n in node.items) + ")"
        if isinstance(node, Or):
            return "(" + " OR ".join(self.node(n) for n in node.items) + ")"
        if isinstance(node, Not):
            return f"NOT ({self.node(node.item)})"
        if isinstance(node, Text):
            if node.wildcards:
                return self.message_like(node.wildcards)
            return self.phrase(node.text) if node.quoted else self.word(node.text)
        if isinstance(node, Exists):
            sql = self.exists(node.key, node.pos)
            return f"NOT ({sql})" if node.negated else sql
        if isinstance(node, Field):
            return self.field(node)
        raise self.error(f"unsupported term {node!r}", 0)  # pragma: no cover

    # -- message search ----------------------------------------------------
    def has_token(self, token: str) -> str:
        return f"hasToken(lower(Body), {self.bind(ascii_lower(token))})"

    def word(self, word: str) -> str:
        """A whole word of the message; `*` is a wildcard inside it."""
        segments = word.split("*")
        if not any(segments):
            return "1"
        conditions = []
        last_segment = len(segments) - 1
        for i, segment in enumerate(segments):
            tokens = _SPLIT.split(segment)
            for j, token in enumerate(tokens):
                # a token is whole when nothing wild touches it on either side
                if token and (j > 0 or i == 0) and (j < len(tokens) - 1 or i == last_segment):
                    conditions.append(self.has_token(token))
        is_single_token = len(segments) == 1 and not _SPLIT.search(word)
        if not is_single_token:
            regex = "(?i)"
            regex += "" if word.startswith("*") else _BOUNDARY_LEFT
            regex += r"\S*".join(re.escape(s) for s in segments)
            regex += "" if word.endswith("*") else _BOUNDARY_RIGHT
            conditions.append(f"match(Body, {self.bind(regex)})")
        return conditions[0] if len(conditions) == 1 else "(" + " AND ".join(conditions) + ")"

    def phrase(self, text: str) -> str:
        """A phrase anywhere in the message, case-insensitively."""
        if not text:
            return "1"
        tokens = _SPLIT.split(text)
        # only interior tokens are sure to be whole words of a matching message
        conditions = [self.has_token(t) for t in tokens[1:-1] if t]
        conditions.append(f"positionCaseInsensitiveUTF8(Body, {self.bind(text)}) > 0")
        return conditions[0] if len(conditions) == 1 else "(" + " AND ".join(conditions) + ")"

    def message_like(self, pieces: Sequence[str]) -> str:
        """The whole message against a quoted value with wildcards: `"*card declined*"`."""
        tokens = [t for piece in pieces for t in _SPLIT.split(piece)[1:-1] if t]  # whole words for sure
        conditions = [self.has_token(t) for t in tokens]
        conditions.append(f"Body ILIKE {self.bind(like_pattern(pieces))}")
        return conditions[0] if len(conditions) == 1 else "(" + " AND ".join(conditions) + ")"

    # -- keys --------------------------------------------------------------
    def attribute_key(self, key: str, pos: int) -> str:
        """A valid attribute key, or a QueryError."""
        if not valid_attribute_key(key):
            raise self.error(f"invalid key {key!r}: use letters, digits and _ @ $ . - /", pos)
        return key

    def attribute_expr(self, key: str, pos: int) -> str:
        """The text of an attribute: the log's own, else its resource's; for `a.b.c` with no such
        key, the value at path b.c (or c) of a map stored under `a` (or `a.b`); else ''."""
        k = self.bind(self.attribute_key(key, pos))
        cases = [f"mapContains(LogAttributes, {k}), LogAttributes[{k}], mapContains(ResourceAttributes, {k})"]
        value = f"ResourceAttributes[{k}]"
        parts = key.split(".")
        for i in range(1, len(parts)):
            stored, path = self.json_path(parts[:i], parts[i:])
            cases += [value, f"JSONHas({stored}, {path})"]
            value = self.json_text(stored, path)
        return f"multiIf({', '.join(cases)}, {value}, '')"

    def json_path(self, head: list[str], rest: list[str]) -> tuple[str, str]:
        """The attribute stored under the key `head` joined by dots, and `rest` as JSON path arguments."""
        h = self.bind(".".join(head))
        stored = f"if(mapContains(LogAttributes, {h}), LogAttributes[{h}], ResourceAttributes[{h}])"
        return stored, ", ".join(self.bind(p) for p in rest)

    @staticmethod
    def json_text(stored: str, path: str) -> str:
        """The text of the JSON value at `path`: a string without its quotes, anything else as written."""
        raw = f"JSONExtractRaw({stored}, {path})"
        return f"if(startsWith({raw}, '\"'), JSONExtractString({stored}, {path}), {raw})"

    def present(self, key: str) -> str:
        """`key` is set, read from the maps: a key of the log or its resource, or a path inside a map."""
        k = self.bind(key)
        found = [f"mapContains(LogAttributes, {k})", f"mapContains(ResourceAttributes, {k})"]
        parts = key.split(".")
        for i in range(1, len(parts)):
            stored, path = self.json_path(parts[:i], parts[i:])
            found.append(f"JSONHas({stored}, {path})")
        return _any(found)

    def equals(self, key: str, text: str, pos: int) -> str:
        """`key:text` read from the maps (what the index answers on hlog's own tables): the value,
        or an element of an array stored as JSON."""
        expr = self.attribute_expr(key, pos)
        v = self.bind(text)
        unquoted = "if(startsWith(e, '\"'), JSONExtractString(e), e)"
        element = f"arrayExists(e -> {unquoted} = {v}, JSONExtractArrayRaw({expr}))"
        return f"({expr} = {v} OR (startsWith({expr}, '[') AND {element}))"

    def has_attribute_token(self, token: str) -> str:
        """Whether the log's attribute tokens (see query.fields) include `token`; answered by the index."""
        return f"has({ATTRIBUTE_TOKENS}, {self.bind(token)})"

    def exists(self, key: str, pos: int) -> str:
        column = reserved(key)
        if column is None:
            token = attribute_token(self.attribute_key(key, pos))
            assert token is not None  # keys are at most MAX_KEY_CHARS ASCII characters
            if not self.indexed:
                return self.present(key)
            return self.has_attribute_token(token)
        if column.kind == "time":
            return "1"
        return f"{column.column} != ''"

    def field(self, node: Field) -> str:
        if node.op in _COMPARE_OPS:
            if len(node.values) != 1:
                raise self.error(f"'{node.op}' takes one value, not a list", node.values[1].pos)
            return self.compare(node.key, node.op, node.values[0], node.pos)
        matches = [self.match(node.key, value, node.pos) for value in node.values]
        sql = matches[0] if len(matches) == 1 else "(" + " OR ".join(matches) + ")"
        return f"NOT ({sql})" if node.op == "!=" else sql

    def match(self, key: str, value: Value, pos: int) -> str:
        """`key:value` for one value: equality, wildcard, regex or exists."""
        column = reserved(key)
        if value.kind == "word" and value.text == "*":
            return self.exists(key, pos)
        pieces = _wildcard_pieces(value)
        if column is not None and column.kind == "message":
            if value.kind == "regex":
                return f"match(Body, {self.regex(value)})"
            if value.kind == "string":
                return self.message_like(pieces) if pieces else self.phrase(value.text)
            return self.word(value.text)
        if column is not None and column.kind == "time":
            raise self.error("timestamp takes a comparison: > >= < <=", value.pos)
        if column is None and value.kind != "regex" and not pieces and value.text:
            token = attribute_token(self.attribute_key(key, pos), value.text)
            if not self.indexed:
                return self.equals(key, value.text, pos)
            if token is not None:  # the same as `value of key = text`, without reading the maps
                return self.has_attribute_token(token)
        expr = self.attribute_expr(key, pos) if column is None else column.column
        if value.kind == "regex":
            return f"match({expr}, {self.regex(value)})"
        if pieces:
            return f"{expr} ILIKE {self.bind(like_pattern(pieces))}"
        text = value.text
        if column is not None and column.kind == "level":
            name = level_from_text(text)
            if name is not None:  # by SeverityNumber's OTel range; by the text when there is no number
                return level_condition([name])
            return f"lowerUTF8(SeverityText) = {self.bind(text.lower())}"
        if column is not None and column.kind == "id":
            text = text.lower()
        return f"{expr} = {self.bind(text)}"

    def regex(self, value: Value) -> str:
        try:  # RE2 writes a code point as \x{202e}; Python as \U0000202e
            re.compile(_PYTHON_HEX_ESCAPE.sub(lambda m: m.group(1) + f"\\U{int(m.group(2), 16):08x}", value.text))
        except re.error as err:
            raise self.error(f"invalid regular expression: {err}", value.pos) from None
        self.regexes.append((value.text, value.pos))
        return self.bind(value.text)

    def compare(self, key: str, op: str, value: Value, pos: int) -> str:
        column = reserved(key)
        if column is None:
            expr = self.attribute_expr(key, pos)
            number = parse_number(value.text)
            if number is None or value.kind == "regex":
                raise self.error(f"'{op}' needs a number or a duration like 250ms, not {value.text!r}", value.pos)
            bound, type_ = _number_literal(value.text, number)
            if type_ == "Float64":  # exact for every stored integer too: the bound is a double exactly
                return f"toFloat64OrNull({expr}) {op} {self.bind(bound, type_)}"
            # past 2^53 doubles skip integers: integers compare as 64-bit integers there
            b = self.bind(bound, type_)
            return f"ifNull(toInt64OrNull({expr}) {op} {b}, toFloat64OrNull({expr}) {op} {b})"
        if column.kind == "level":
            return self.compare_level(op, value)
        if column.kind == "time":
            ns = parse_timestamp_ns(value.text)
            if ns is None:
                raise self.error(f"expected a timestamp like 2024-05-01T12:00:00Z, not {value.text!r}", value.pos)
            if not -(2**63) <= ns < 2**63:
                raise self.error(f"timestamp {value.text!r} is out of range (years 1900 to 2262)", value.pos)
            return f"Timestamp {op} fromUnixTimestamp64Nano({self.bind(ns, 'Int64')})"
        raise self.error(f"{column.name} cannot be compared with '{op}'; use ':' or '!='", value.pos)

    def compare_level(self, op: str, value: Value) -> str:
        name = level_from_text(value.text)
        if name is None:
            levels = ", ".join(LEVEL_RANGES).lower()
            raise self.error(f"unknown level {value.text!r}; levels are {levels}", value.pos)
        order = list(LEVEL_RANGES)
        at = order.index(name)
        chosen = {">=": order[at:], ">": order[at + 1 :], "<": order[:at], "<=": order[: at + 1]}[op]
        return level_condition(chosen) if chosen else "0"


def _any(conditions: list[str]) -> str:
    return conditions[0] if len(conditions) == 1 else "(" + " OR ".join(conditions) + ")"


def _number_literal(text: str, number: float) -> tuple[int | float, str]:
    """A comparison's bound with its ClickHouse type: an integer a double cannot hold exactly
    (2^53 and past) stays an Int64."""
    if _INTEGER.match(text.strip()) and 2**53 <= abs(int(text)) < 2**63:
        return int(text), "Int64"
    return number, "Float64"


_INTEGER = re.compile(r"^[-+]?\d+$")
_PLAIN_VALUE = re.compile(r"^[^\s()\"'`:=<>!/][^\s()\"`:=<>!]*$")
_REGEX_SPECIAL = frozenset("\\^$.|?*+()[]{}/")
_PYTHON_HEX_ESCAPE = re.compile(r"(?<!\\)((?:\\\\)*)\\x\{([0-9a-fA-F]{1,6})\}")


def literal_regex(value: str) -> str:
    """A `/regex/` term value matching exactly `value`, written in printable characters only:
    a character a terminal could act on (a control, a bidi override) becomes `\\x1b` or
    `\\x{202e}`, so the query shows it inertly and still finds the real value."""
    out = []
    for ch in value:
        if not ch.isprintable():
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\x{{{code:x}}}")
        elif ch in _REGEX_SPECIAL:
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "/^" + "".join(out) + "$/"


def format_value(value: str) -> str:
    """A value in the search language that matches exactly `value`: bare when it can be, else
    quoted, else (for text with control or bidi characters) an anchored regex."""
    if not value.isprintable():
        return literal_regex(value)
    if _PLAIN_VALUE.match(value) and value.upper() not in ("AND", "OR", "NOT") and "*" not in value:
        return value
    return _quoted((value,))


def format_term(key: str, value: str, exclude: bool = False) -> str:
    """`key:value` in the search language, quoting the value when it needs it."""
    return ("-" if exclude else "") + f"{key}:{format_value(value)}"


def compile_node(node: Node, query: str = "", indexed: bool = True) -> CompiledQuery:
    """Compile a parsed query; `query` is the source text, for error positions. Without
    `indexed` (the Collector's tables), attribute terms read the maps instead of hlog's index."""
    compiler = _Compiler(query, indexed)
    sql = compiler.node(node)
    return CompiledQuery(sql, compiler.params, tuple(compiler.regexes))


def compile_query(query: str, indexed: bool = True) -> CompiledQuery:
    """Parse and compile a search string; raises only QueryError."""
    return compile_node(parse(query), query, indexed)


def _quoted(pieces: Sequence[str]) -> str:
    """A quoted value whose `pieces` are literal and joined by wildcards."""
    text = "*".join(p.replace("\\", "\\\\").replace('"', '\\"').replace("*", "\\*") for p in pieces)
    return '"' + ("\\" + text if text.startswith("/") else text) + '"'  # a leading / would make a /regex/


def _describe_value(value: Value) -> str:
    if value.kind == "regex":
        return "/" + value.text.replace("/", "\\/") + "/"
    if value.kind == "string":
        return _quoted(value.wildcards or (value.text,))
    return value.text


def describe(node: Node, top: bool = True) -> str:
    """A parsed query written back with every AND, OR and NOT explicit and every group in
    parentheses: how the query was read (`a b OR c` -> `a AND (b OR c)`)."""
    if isinstance(node, MatchAll):
        return ""
    if isinstance(node, Text):
        return _quoted(node.wildcards or (node.text,)) if node.quoted else node.text
    if isinstance(node, Field):
        values = [_describe_value(v) for v in node.values]
        return f"{node.key}{node.op}" + (values[0] if len(values) == 1 else "(" + " OR ".join(values) + ")")
    if isinstance(node, Exists):
        return f"{node.key} {'NOT EXISTS' if node.negated else 'EXISTS'}"
    if isinstance(node, Not):
        return "NOT " + describe(node.item, False)
    joined = (" AND " if isinstance(node, And) else " OR ").join(describe(item, False) for item in node.items)
    return joined if top else f"({joined})"


def mixes_or_and_and(node: Node) -> bool:
    """Whether a query has an OR and an AND (or spaces) in it: then how it was grouped matters."""
    kinds: set[type] = set()

    def walk(n: Node) -> None:
        if isinstance(n, And | Or):
            kinds.add(type(n))
            for item in n.items:
                walk(item)
        elif isinstance(n, Not):
            walk(n.item)

    walk(node)
    return kinds == {And, Or}
