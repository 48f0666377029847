"""The compiler: bound parameters only, and property tests over random input."""

from __future__ import annotations

import string

from hypothesis import given, settings
from hypothesis import strategies as st

from hlog.query import QueryError, compile_query
from hlog.query.severity import SEVERITY_LEVEL_SQL

SENTINEL = "zqxj"


def test_values_are_bound_not_inlined() -> None:
    compiled = compile_query('level:error service_name:checkout "card declined" user.id:42 duration_ms>250ms')
    assert "checkout" not in compiled.sql and "card declined" not in compiled.sql and "42" not in compiled.sql
    assert compiled.params == {
        "p0": "checkout",
        "p1": "card declined",
        "p2": "user.id=42",
        "p3": "duration_ms",
        "p4": 250.0,
    }
    assert "{p0:String}" in compiled.sql and "{p4:Float64}" in compiled.sql
    assert "SeverityLevel BETWEEN 17 AND 20" in compiled.sql  # a level becomes our own range, not the text


def test_durations_become_milliseconds() -> None:
    for text, ms in (("250ms", 250.0), ("1.5s", 1500.0), ("2m", 120000.0), ("1h", 3600000.0), ("7", 7.0)):
        assert compile_query(f"latency>{text}").params["p1"] == ms


def test_levels_use_otel_severity_ranges_and_the_text_only_without_a_number() -> None:
    assert compile_query("level>=warn").sql == "SeverityLevel BETWEEN 13 AND 24"
    assert compile_query("level>warn").sql == "SeverityLevel BETWEEN 17 AND 24"
    assert compile_query("level<error").sql == "SeverityLevel BETWEEN 1 AND 16"
    assert compile_query("level<trace").sql == "0"
    assert compile_query("level:warning").sql == compile_query("level:WARN").sql == "SeverityLevel BETWEEN 13 AND 16"
    assert compile_query("level:Custom7").params == {"p0": "custom7"}  # a text that names no level
    # SeverityLevel is what ClickHouse computes on insert: the number when it is one, else the text's level
    assert SEVERITY_LEVEL_SQL.startswith("if(SeverityNumber BETWEEN 1 AND 24, SeverityNumber, multiIf(")
    assert (
        "'INFORMATION', 'INFORMATIONAL'" in SEVERITY_LEVEL_SQL
        and "'ERROR2', 'ERROR3', 'ERROR4'), 17" in SEVERITY_LEVEL_SQL
    )


def test_semantic_errors() -> None:
    for query, message in (
        ("service_name>3", "cannot be compared"),
        ("latency>fast", "needs a number"),
        ("level>=loud", "unknown level"),
        ("timestamp:now", "timestamp takes a comparison"),
        ("timestamp>yesterday", "expected a timestamp"),
        ("k:/a(/", "invalid regular expression"),
        ("k>(1 OR 2)", "takes one value"),
        ("bad*key:1", "invalid key"),
    ):
        try:
            compile_query(query)
        except QueryError as err:
            assert message in err.message, (query, err.message)
        else:
            raise AssertionError(f"{query!r} compiled")


# -- property tests ------------------------------------------------------------
@settings(max_examples=400, deadline=None)
@given(st.text(max_size=80))
def test_random_text_raises_only_query_error(text: str) -> None:
    try:
        compile_query(text)
    except QueryError:
        pass


_value_chars = string.ascii_letters + string.digits + " '\"\\%_*.:-/()=<>!;`$\x1b\u00e9\u4e2d"
values = st.text(alphabet=_value_chars, max_size=20).map(lambda s: SENTINEL + s)


def _quote(v: str) -> str:
    return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'


keys = st.sampled_from(["level", "service", "message", "env", "trace_id", "session_id", "user.id", "http.route"])
ops = st.sampled_from([":", "=", "!="])
terms = st.one_of(
    values.map(_quote),
    st.builds(lambda k, o, v: f"{k}{o}{_quote(v)}", keys, ops, values),
    st.builds(lambda k, v: f"{k}:({_quote(v)} OR {_quote(v[::-1])})", keys, values),
    st.builds(lambda v: f"-{_quote(v)}", values),
)
queries = st.lists(terms, min_size=1, max_size=6).flatmap(
    lambda ts: st.lists(st.sampled_from([" ", " AND ", " OR "]), min_size=len(ts) - 1, max_size=len(ts) - 1).map(
        lambda joins: ts[0] + "".join(j + t for j, t in zip(joins, ts[1:], strict=True))
    )
)


@settings(max_examples=300, deadline=None)
@given(queries)
def test_well_formed_queries_never_inline_user_values(query: str) -> None:
    compiled = compile_query(query)
    assert SENTINEL not in compiled.sql.lower()
    # values may be case-folded (levels, ids) but always reach the store as parameters
    assert any(SENTINEL in str(v).lower() for v in compiled.params.values())
