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


def _unescape(quoted: str) -> str:
    """Strip the quotes of a STRING token and resolve backslash escapes."""
    body = quoted[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            out.append({"n": "\n", "t": "\t", "r": "\r"}.get(nxt, nxt))
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


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

    def not_(self, items: list[Any]) -> Node:
        return Not(items[-1])

    def group(self, items: list[Any]) -> Node:
        return items[1]

    def key(self, items: list[Token]) -> Token:
        return items[0]

    def field(self, items: list[Any]) -> Node:
        key, op, value = items
        values = tuple(value) if isinstance(value, list) else (value,)
        return Field(str(key), str(op), values, key.start_pos)  # type: ignore[arg-type]

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
        return Text(_unescape(str(items[0])), True, items[0].start_pos or 0)

    def v_word(self, items: list[Token]) -> Value:
        return Value(str(items[0]), "word", items[0].start_pos or 0)

    def v_string(self, items: list[Token]) -> Value:
        return Value(_unescape(str(items[0])), "string", items[0].start_pos or 0)

    def v_regex(self, items: list[Token]) -> Value:
        text = str(items[0])[1:-1].replace("\\/", "/")
        return Value(text, "regex", items[0].start_pos or 0)

    def value(self, items: list[Any]) -> list[Value]:
        # `( value_list )`: keep only the list between the parentheses
        values: list[Value] = items[1]
        return values

    def value_list(self, items: list[Value]) -> list[Value]:
        return list(items)


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
