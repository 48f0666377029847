"""Saved views: a search, its range, columns and breakdown under a name, kept in the store so
that every user, `hlog serve` and `hlog-tui --view NAME` see them."""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from hlog.backend.timeutil import parse_duration_ns
from hlog.query import QueryError, compile_query

if TYPE_CHECKING:
    from hlog.backend.store import Store

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$")
COLUMN = re.compile(
    r"^(time|level|service_name|service_version|environment|session_id|trace_id|span_id|attr:[^\s=]{1,256})$"
)
MAX_COLUMNS = 20
MAX_QUERY_CHARS = 10_000


class ViewError(ValueError):
    """A view that cannot be saved; the message says which field and why."""


@dataclass
class View:
    """A saved search: `since` (a relative range) or `from_ns` and `to_ns` (absolute; `to_ns` 0 is now)."""

    name: str
    query: str = ""
    since: str = ""
    from_ns: int = 0
    to_ns: int = 0
    columns: list[str] = field(default_factory=list)  # column keys: `service_name`, `attr:user.id`…
    by: str = ""  # the key the histogram is broken down by
    updated_ns: int = 0

    def to_json(self) -> dict[str, Any]:
        """The view as the API answers it."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> View:
        """A view from untrusted JSON, checked field by field; raises ViewError."""
        if not isinstance(data, dict):
            raise ViewError("a view is a JSON object")
        known = {f for f in cls.__dataclass_fields__ if f != "updated_ns"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ViewError(f"unknown field {unknown[0]!r}")
        kinds = {"name": str, "query": str, "since": str, "from_ns": int, "to_ns": int, "columns": list, "by": str}
        for key, value in data.items():
            if not isinstance(value, kinds[key]) or isinstance(value, bool):
                raise ViewError(f"{key} must be a {kinds[key].__name__}")
        return validate(cls(**{k: v for k, v in data.items() if k in known}))


def validate(view: View) -> View:
    """`view` if every field can be used; raises ViewError naming the field."""
    if not NAME.match(view.name):
        raise ViewError(
            "name: 1 to 64 letters, digits, spaces, dots, dashes or underscores, starting with a letter or digit"
        )
    if len(view.query) > MAX_QUERY_CHARS:
        raise ViewError(f"query: at most {MAX_QUERY_CHARS:,} characters")
    try:
        compile_query(view.query)
    except QueryError as err:
        raise ViewError(f"query: {err}") from None
    if view.since and (view.from_ns or view.to_ns):
        raise ViewError("since, or from and to: not both")
    if view.since:
        try:
            parse_duration_ns(view.since)
        except ValueError as err:
            raise ViewError(f"since: {err}") from None
    if view.from_ns < 0 or view.to_ns < 0 or (view.to_ns and view.to_ns <= view.from_ns):
        raise ViewError("from and to: from must be before to")
    if view.to_ns and not view.from_ns:
        raise ViewError("to needs from")
    if len(view.columns) > MAX_COLUMNS or not all(isinstance(c, str) and COLUMN.match(c) for c in view.columns):
        raise ViewError(f"columns: at most {MAX_COLUMNS} of time, level, service_name, … or attr:KEY")
    if len(view.by) > 256:
        raise ViewError("by: a key of at most 256 characters")
    return view


class ViewStore:
    """Saved views in the store's `saved_views` table (the latest version of each name wins)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def save(self, view: View) -> View:
        """Create or replace the view of this name (validated first)."""
        validate(view)
        view.updated_ns = time.time_ns()
        body = json.dumps(view.to_json())
        self.store.insert_rows(
            "saved_views", ("name", "version", "deleted", "body"), [[view.name, view.updated_ns, 0, body]]
        )
        return view

    def delete(self, name: str) -> bool:
        """Delete a view; False when there was none."""
        if self.get(name) is None:
            return False
        self.store.insert_rows("saved_views", ("name", "version", "deleted", "body"), [[name, time.time_ns(), 1, ""]])
        return True

    def all(self) -> list[View]:
        """Every view, by name."""
        rows = self.store.query(
            f"SELECT argMax(body, version), argMax(deleted, version) FROM {self.store.db}.saved_views GROUP BY name",
            reads_ingest=False,
        )
        views = [_stored(body) for body, deleted in rows if not deleted]
        return sorted((v for v in views if v is not None), key=lambda v: v.name.lower())

    def get(self, name: str) -> View | None:
        """One view, or None."""
        rows = self.store.query(
            f"SELECT argMax(body, version), argMax(deleted, version) FROM {self.store.db}.saved_views "
            "WHERE name = {name:String} GROUP BY name",
            {"name": name},
            reads_ingest=False,
        )
        if not rows or rows[0][1]:
            return None
        return _stored(rows[0][0])


def _stored(body: str) -> View | None:
    """A stored view (None for one this version cannot read)."""
    try:
        data = json.loads(body)
        updated = int(data.pop("updated_ns", 0))
        view = View.from_json(data)
    except (ValueError, TypeError):
        return None
    view.updated_ns = updated
    return view
