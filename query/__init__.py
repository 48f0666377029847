"""hlog's search language: grammar -> AST -> parameterised ClickHouse SQL."""

from __future__ import annotations

from hlog.query.compiler import (
    CompiledQuery,
    compile_query,
    describe,
    format_term,
    format_value,
    mixes_or_and_and,
    parse_number,
    parse_timestamp_ns,
)
from hlog.query.errors import QueryError
from hlog.query.parser import parse
from hlog.query.terms import message_terms

__all__ = [
    "CompiledQuery",
    "QueryError",
    "compile_query",
    "describe",
    "format_term",
    "format_value",
    "message_terms",
    "mixes_or_and_and",
    "parse",
    "parse_number",
    "parse_timestamp_ns",
]
