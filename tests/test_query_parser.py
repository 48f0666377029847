"""The search language parser: structure, precedence and error messages."""

from __future__ import annotations

import pytest

from hlog.query import QueryError, parse
from hlog.query.ast import And, Exists, Field, MatchAll, Not, Or, Text, Value


def test_empty_query_matches_all() -> None:
    assert parse("") == MatchAll()
    assert parse("   ") == MatchAll()


def test_implicit_and_and_negation() -> None:
    node = parse('level:error "payment declined" -env:staging')
    assert isinstance(node, And)
    assert node.items[0] == Field("level", ":", (Value("error", "word", 6),), 0)
    assert node.items[1] == Text("payment declined", True, 12)
    assert node.items[2] == Not(Field("env", ":", (Value("staging", "word", 36),), 32))


def test_precedence_not_over_and_over_or() -> None:
    node = parse("a OR b c")
    assert isinstance(node, Or)
    assert node.items[0] == Text("a", False, 0)
    assert node.items[1] == And((Text("b", False, 5), Text("c", False, 7)))
    node = parse("NOT a b")
    assert node == And((Not(Text("a", False, 4)), Text("b", False, 6)))


def test_keywords_any_case_and_parentheses() -> None:
    node = parse("(a or b) and not c")
    assert node == And((Or((Text("a", False, 1), Text("b", False, 6))), Not(Text("c", False, 17))))


def test_operators() -> None:
    for op in (":", "=", "!=", ">", ">=", "<", "<="):
        node = parse(f"duration_ms{op}5")
        assert isinstance(node, Field) and node.op == op and node.values[0].text == "5"


def test_value_forms() -> None:
    assert parse('k:"a b"').values[0] == Value("a b", "string", 2)  # type: ignore[union-attr]
    assert parse("k:'it\\'s'").values[0].text == "it's"  # type: ignore[union-attr]
    assert parse("k:/a+b/").values[0] == Value("a+b", "regex", 2)  # type: ignore[union-attr]
    assert parse("k:(a OR b OR 'c d')").values == (  # type: ignore[union-attr]
        Value("a", "word", 3),
        Value("b", "word", 8),
        Value("c d", "string", 13),
    )
    assert parse("timestamp>2024-05-01T10:00:00Z").values[0].text == "2024-05-01T10:00:00Z"  # type: ignore[union-attr]


def test_exists() -> None:
    assert parse("user.id EXISTS") == Exists("user.id", False, 0)
    assert parse("user.id not exists") == Exists("user.id", True, 0)


def test_bare_words_keep_punctuation() -> None:
    assert parse("/api/cart") == Text("/api/cart", False, 0)
    assert parse("foo-bar") == Text("foo-bar", False, 0)
    assert parse("android") == Text("android", False, 0)


@pytest.mark.parametrize(
    ("query", "message", "column"),
    [
        ('"unclosed', "unclosed quote", 1),
        ("level:error 'x", "unclosed quote", 13),
        ("a AND", "dangling operator", 6),
        ("AND b", "AND needs a term on both sides", 1),
        ("a OR OR b", "OR needs a term on both sides", 6),
        ("level:", "missing value after ':'", 7),
        ("a)", "')' without a matching '('", 2),
        ("(a", "missing ')'", 3),
        ("x!y", "'!' must be part of '!='", 2),
        (":x", "needs a key before it", 1),
    ],
)
def test_errors_say_what_and_where(query: str, message: str, column: int) -> None:
    with pytest.raises(QueryError) as info:
        parse(query)
    err = info.value
    assert message in err.message
    assert err.column == column
    line, caret = err.context.split("\n")
    assert line == query
    assert caret == " " * (column - 1) + "^"
