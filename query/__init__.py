"""hlog's search language: grammar -> AST -> parameterised ClickHouse SQL."""

from __future__ import annotations

from query.compiler import CompiledQuery, compile_query, format_term, parse_number, parse_timestamp_ns
from query.errors import QueryError
from query.parser import parse

__all__ = [
    "CompiledQuery",
    "QueryError",
    "compile_query",
    "format_term",
    "parse",
    "parse_number",
    "parse_timestamp_ns",
]
