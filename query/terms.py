"""The texts a search looks for in the message, for the TUI to highlight."""

from __future__ import annotations

from hlog.query.ast import And, Field, Node, Or, Text
from hlog.query.fields import reserved


def message_terms(node: Node) -> list[str]:
    """Its words and phrases (of a wildcard, the literal pieces), and the values of `message:`
    terms, in query order and once each; not what it excludes, and not regexes."""
    found: dict[str, None] = {}

    def walk(n: Node) -> None:
        if isinstance(n, Text):
            for piece in n.wildcards or (n.text,):
                found.setdefault(piece.strip().lower(), None)
        elif isinstance(n, Field):
            column = reserved(n.key)
            if column is not None and column.kind == "message" and n.op in (":", "="):
                for value in n.values:
                    if value.kind != "regex":
                        for piece in value.wildcards or (value.text.strip("*"),):
                            found.setdefault(piece.strip().lower(), None)
        elif isinstance(n, (And, Or)):
            for item in n.items:
                walk(item)
        # Not: what is excluded is not in the matches; Exists, MatchAll: no text

    walk(node)
    return [term for term in found if term]
