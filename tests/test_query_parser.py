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


def test_precedence_not_and_or_then_space() -> None:
    """Highlight's (and Google's) precedence: NOT, AND, OR, and the space between terms last."""
    a, b, c = Text("a", False, 0), Text("b", False, 5), Text("c", False, 7)
    assert parse("a OR b c") == And((Or((a, b)), c))
    assert parse("service:x level:error OR level:warn") == And(
        (
            Field("service", ":", (Value("x", "word", 8),), 0),
            Or(
                (
                    Field("level", ":", (Value("error", "word", 16),), 10),
                    Field("level", ":", (Value("warn", "word", 31),), 25),
                )
            ),
        )
    )
    # explicit AND still binds tighter than OR
    assert parse("a OR b AND c") == Or((a, And((Text("b", False, 5), Text("c", False, 11)))))
    assert parse("NOT a b") == And((Not(Text("a", False, 4)), Text("b", False, 6)))
    assert parse("-a b OR c") == And((Not(Text("a", False, 1)), Or((Text("b", False, 3), Text("c", False, 8)))))


def test_value_groups_take_not_and_and() -> None:
    def field(key: str, text: str, pos: int, at: int = 0) -> Field:
        return Field(key, ":", (Value(text, "word", pos),), at)

    assert parse("service_name=(NOT private-graph)") == Not(
        Field("service_name", "=", (Value("private-graph", "word", 18),), 0)
    )
    assert parse("span_name:(gorm.* AND *.Query)") == And(
        (field("span_name", "gorm.*", 11), field("span_name", "*.Query", 22))
    )
    assert parse("k:(a b OR c)") == And((field("k", "a", 3), Or((field("k", "b", 5), field("k", "c", 10)))))
    assert parse("k!=(a AND b)") == Not(And((field("k", "a", 4), field("k", "b", 10))))
    with pytest.raises(QueryError, match="takes one value"):
        parse("duration_ms>(5 AND 6)")


def test_quoted_values_as_highlight_reads_them() -> None:
    def value(query: str) -> Value:
        node = parse(query)
        assert isinstance(node, Field)
        return node.values[0]

    # `*` is a wildcard inside quotes too; `\*` is a star
    assert value('tag="*query error*"') == Value("*query error*", "string", 4, ("", "query error", ""))
    assert value('tag="a\\*b"') == Value("a*b", "string", 4)
    # a quoted /regex/ (how a regex with spaces is written)
    assert value('tag="/\\w \\w/"') == Value("\\w \\w", "regex", 5)
    assert value('tag="\\/api/"') == Value("/api/", "string", 4)
    # backslashes stay unless they escape the quote, a backslash, * or /
    assert value('pattern:"\\w\\w"').text == "\\w\\w"
    assert value('win.path:"C:\\temp\\app.log"').text == "C:\\temp\\app.log"
    assert value('k:"say \\"hi\\" \\\\ done"').text == 'say "hi" \\ done'
    # backticks quote like double quotes
    assert parse("`hello world`") == Text("hello world", True, 0)
    assert value("k:`a b`") == Value("a b", "string", 2)


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


def test_message_terms_are_what_a_search_looks_for_in_the_message() -> None:
    from hlog.query import message_terms

    assert message_terms(parse('level:error "Payment declined" card -env:staging')) == ["payment declined", "card"]
    assert message_terms(parse('timeout OR message:"conn* reset"')) == ["timeout", "conn", "reset"]
    assert message_terms(parse("-heartbeat foo message:/x+/ NOT (bar baz) foo")) == ["foo"]  # not excluded, not regex
    assert message_terms(parse("service:checkout")) == [] and message_terms(parse("")) == []
