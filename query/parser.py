"""Parse a search string into the AST; lark never leaks out of this module."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from lark import Lark, Token, Transformer, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput
from lark.exceptions import LarkError, UnexpectedToken, VisitError

from hlog.query.ast import And, Exists, Field, MatchAll, Node, Not, Or, Text, Value
from hlog.query.errors import QueryError

MAX_QUERY_CHARS = 10_000
_KEYWORDS = frozenset({"AND", "OR", "NOT"})
_GRAMMAR_PATH = Path(__file__).with_name("grammar.lark")

# Names of grammar terminals as a person would call them, for error messages.
_TERMINAL_NAMES = {
    "WORD": "a word",
    "STRING": "a quoted string",
    "REGEX": "a /regex/",
    "TIME": "a timestamp",
    "OP": "an operator (: = != > >= < <=)",
    "LPAR": "'('",
    "RPAR": "')'",
    "NEG": "'-'",
    "_OR": "OR",
    "_AND": "AND",
    "_NOT": "NOT",
    "_EXISTS": "EXISTS",
    "_NOT_EXISTS": "NOT EXISTS",
    "$END": "the end of the query",
}


@functools.cache
def _parser() -> Lark:
    return Lark(
        _GRAMMAR_PATH.read_text(),
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=False,
    )


def _unquote(quoted: str) -> tuple[list[str], bool]:
    """The text of a STRING token, split at its wildcard stars; and whether it is a /regex/.

    A backslash escapes the quote character, a backslash, `*` and `/`, and is kept before
    anything else (`"C:\\temp"`, `"\\w+"` keep theirs, as in Highlight). An unescaped `*` is a
    wildcard; a value that starts and ends with an unescaped `/` is a regex."""
    body = quoted[1:-1]
    segments, current = [], []
    starts_with_slash = body.startswith("/")
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body) and body[i + 1] in (quoted[0], "\\", "*", "/"):
            current.append(body[i + 1])
            i += 2
            continue
        if ch == "*":
            segments.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    segments.append("".join(current))
    is_regex = len(segments) == 1 and starts_with_slash and len(body) > 2 and body.endswith("/") and body[-2] != "\\"
    return segments, is_regex


class _ToAst(Transformer[Token, Node]):
    """Turns the lark tree into frozen AST nodes. Builds no SQL."""

    def __init__(self, query: str) -> None:
        super().__init__()
        self._query = query

    def start(self, items: list[Any]) -> Node:
        return items[0] if items else MatchAll()

    def or_expr(self, items: list[Node]) -> Node:
        return Or(tuple(items))

    def and_expr(self, items: list[Node]) -> Node:
        return And(tuple(items))

    def spaced(self, items: list[Node]) -> Node:  # (lark keeps an aliased rule of one child)
        return items[0] if len(items) == 1 else And(tuple(items))

    def not_(self, items: list[Any]) -> Node:
        return Not(items[-1])

    def group(self, items: list[Any]) -> Node:
        return items[1]

    def key(self, items: list[Token]) -> Token:
        return items[0]

    def field(self, items: list[Any]) -> Node:
        key, op, value = items
        pos = key.start_pos or 0
        if isinstance(value, Value):
            return Field(str(key), str(op), (value,), pos)  # type: ignore[arg-type]
        kind, parts = value
        if kind == "or" and all(isinstance(p, Value) for p in parts):  # key:(a OR b): one field
            return Field(str(key), str(op), tuple(parts), pos)  # type: ignore[arg-type]
        if op not in (":", "=", "!="):
            raise QueryError(f"'{op}' takes one value, not a group", self._query, pos)
        node = _field_tree(str(key), ":" if op == "!=" else str(op), value, pos)
        return Not(node) if op == "!=" else node

    def exists(self, items: list[Token]) -> Node:
        return Exists(str(items[0]), False, items[0].start_pos or 0)

    def not_exists(self, items: list[Token]) -> Node:
        return Exists(str(items[0]), True, items[0].start_pos or 0)

    def word(self, items: list[Token]) -> Node:
        text, pos = str(items[0]), items[0].start_pos or 0
        if text.upper() in _KEYWORDS:
            raise QueryError(
                f"{text.upper()} needs a term on both sides (quote it to search for the word)", self._query, pos
            )
        return Text(text, False, pos)

    def phrase(self, items: list[Token]) -> Node:
        segments, _ = _unquote(str(items[0]))
        return Text("*".join(segments), True, items[0].start_pos or 0, tuple(segments) if len(segments) > 1 else ())

    def v_word(self, items: list[Token]) -> Value:
        return Value(str(items[0]), "word", items[0].start_pos or 0)

    def v_string(self, items: list[Token]) -> Value:
        token, pos = str(items[0]), items[0].start_pos or 0
        segments, is_regex = _unquote(token)
        if is_regex:  # `key:"/a b/"`: Highlight's way to write a regex with spaces
            return Value(token[2:-2].replace("\\" + token[0], token[0]).replace("\\/", "/"), "regex", pos + 1)
        if len(segments) > 1:  # `key:"*query error*"`
            return Value("*".join(segments), "string", pos, tuple(segments))
        return Value(segments[0], "string", pos)

    def v_regex(self, items: list[Token]) -> Value:
        text = str(items[0])[1:-1].replace("\\/", "/")
        return Value(text, "regex", items[0].start_pos or 0)

    # a value group `key:( ... )` is ("or" | "and", [parts]) or ("not", [part]) until field() sees it
    def v_group(self, items: list[Any]) -> Any:
        group = items[1]
        return group if not isinstance(group, Value) else ("or", [group])

    def v_spaced(self, items: list[Any]) -> Any:
        return items[0] if len(items) == 1 else ("and", items)

    def v_or(self, items: list[Any]) -> Any:
        return items[0] if len(items) == 1 else ("or", items)

    def v_and(self, items: list[Any]) -> Any:
        return items[0] if len(items) == 1 else ("and", items)

    def v_not(self, items: list[Any]) -> Any:
        return ("not", [items[-1]])


def _field_tree(key: str, op: str, value: Any, pos: int) -> Node:
    """`key:(a AND NOT b)` as the tree of `key:a`, `key:b` it means."""
    if isinstance(value, Value):
        return Field(key, op, (value,), pos)  # type: ignore[arg-type]
    kind, parts = value
    nodes = tuple(_field_tree(key, op, part, pos) for part in parts)
    if kind == "not":
        return Not(nodes[0])
    return Or(nodes) if kind == "or" else And(nodes)


def _expected(names: set[str]) -> str:
    labels = sorted({_TERMINAL_NAMES.get(n, n) for n in names if n in _TERMINAL_NAMES})
    if not labels:
        return ""
    if len(labels) > 4:
        labels = labels[:4] + ["..."]
    return "; expected " + ", ".join(labels)


def _error_from_lark(err: UnexpectedInput, query: str) -> QueryError:
    pos = err.pos_in_stream if err.pos_in_stream is not None else len(query)
    if isinstance(err, UnexpectedCharacters):
        ch = query[pos] if pos < len(query) else ""
        if ch in "\"'":
            return QueryError(f"unclosed quote {ch}", query, pos)
        if ch == "!":
            return QueryError("'!' must be part of '!=' (use NOT or - to negate a term)", query, pos)
        if ch in ":=<>":
            return QueryError(f"operator '{ch}' needs a key before it", query, pos)
        return QueryError(f"unexpected character {ch!r}", query, pos)
    if isinstance(err, UnexpectedToken):
        token = err.token
        expected = set(err.expected)
        if token.type == "$END":
            prev = query.rstrip()
            if prev and prev[-1] in ":=<>":
                return QueryError(f"missing value after '{prev[-1]}'", query, len(query))
            if prev.upper().endswith((" AND", " OR", " NOT")) or prev.upper() in ("AND", "OR", "NOT"):
                return QueryError("dangling operator: a term must follow", query, len(prev))
            if "RPAR" in expected:
                return QueryError("missing ')'", query, len(query))
            return QueryError("unexpected end of query" + _expected(expected), query, len(query))
        tpos = token.start_pos if token.start_pos is not None else pos
        if token.type == "RPAR":
            return QueryError("')' without a matching '('" + _expected(expected), query, tpos)
        if token.type == "OP":
            return QueryError(f"operator '{token.value}' needs a key before it", query, tpos)
        if token.type in ("_AND", "_OR"):
            return QueryError(f"{token.value.upper()} needs a term on both sides", query, tpos)
        return QueryError(f"unexpected {token.value!r}" + _expected(expected), query, tpos)
    if isinstance(err, UnexpectedEOF):
        return QueryError("unexpected end of query", query, len(query))
    return QueryError(str(err).splitlines()[0], query, pos)


def parse(query: str) -> Node:
    """Parse a search string into an AST node; raises only QueryError."""
    if len(query) > MAX_QUERY_CHARS:
        raise QueryError(f"query is longer than {MAX_QUERY_CHARS} characters", query, MAX_QUERY_CHARS)
    if "\x00" in query:
        raise QueryError("query contains a NUL character", query, query.index("\x00"))
    try:
        tree = _parser().parse(query)
        return _ToAst(query).transform(tree)
    except UnexpectedInput as err:
        raise _error_from_lark(err, query) from None
    except VisitError as err:
        if isinstance(err.orig_exc, QueryError):
            raise err.orig_exc from None
        raise QueryError(f"invalid query: {err.orig_exc}", query, 0) from None
    except LarkError as err:
        raise QueryError(f"invalid query: {err}", query, 0) from None
    except RecursionError:
        raise QueryError("query is nested too deeply", query, 0) from None
