"""QueryError: the one exception the search language raises, with a caret context."""

from __future__ import annotations


class QueryError(ValueError):
    """A query that cannot be parsed or compiled.

    `position` is the 0-based character offset of the problem in `query`;
    `column` is the same, 1-based, for people.
    """

    def __init__(self, message: str, query: str, position: int) -> None:
        self.message = message
        self.query = query
        self.position = max(0, min(position, len(query)))
        super().__init__(self.describe())

    @property
    def column(self) -> int:
        """1-based column of the problem."""
        return self.position + 1

    @property
    def context(self) -> str:
        """The query line and a caret under the problem."""
        line = self.query.replace("\n", " ").replace("\t", " ")
        return f"{line}\n{' ' * self.position}^"

    def describe(self) -> str:
        """Message, column and caret context, ready to print."""
        return f"{self.message} (column {self.column})\n{self.context}"

    def to_dict(self) -> dict[str, object]:
        """JSON-friendly form used by the HTTP API."""
        return {
            "type": "query",
            "message": self.message,
            "column": self.column,
            "position": self.position,
            "context": self.context,
        }
