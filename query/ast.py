"""Frozen AST nodes produced by the parser and consumed by the compiler."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ValueKind = Literal["word", "string", "regex"]
Op = Literal[":", "=", "!=", ">", ">=", "<", "<="]


@dataclass(frozen=True)
class Value:
    """A value after an operator: an unquoted word, a quoted string or a /regex/."""

    text: str
    kind: ValueKind
    pos: int
    wildcards: tuple[str, ...] = ()
    """For a quoted value with wildcards: the literal pieces between its `*`s (text joins them)."""


@dataclass(frozen=True)
class Text:
    """A term without a key, searched in the message: a word or a quoted phrase."""

    text: str
    quoted: bool
    pos: int
    wildcards: tuple[str, ...] = ()
    """For a quoted phrase with wildcards: the literal pieces between its `*`s."""


@dataclass(frozen=True)
class Field:
    """`key <op> value`, or `key:(a OR b)` when `values` has several entries."""

    key: str
    op: Op
    values: tuple[Value, ...]
    pos: int


@dataclass(frozen=True)
class Exists:
    """`key EXISTS` (negated=False) or `key NOT EXISTS` (negated=True)."""

    key: str
    negated: bool
    pos: int


@dataclass(frozen=True)
class Not:
    """Negation of a sub-expression."""

    item: Node


@dataclass(frozen=True)
class And:
    """All items must hold."""

    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    """Any item must hold."""

    items: tuple[Node, ...]


@dataclass(frozen=True)
class MatchAll:
    """The empty query."""


Node = Text | Field | Exists | Not | And | Or | MatchAll
