"""LogTable: a line-API view over a window of log rows, paged in by the screen as the cursor moves.

It never holds the whole result: when the window grows past MAX_WINDOW_ROWS, rows at the
far end are dropped (and fetched again by cursor if the user goes back).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from hlog.tui.format import ERROR_LEVELS, attribute_text, clock, level_style, on_grey, one_line, service_label

MAX_WINDOW_ROWS = 2_000
EDGE_ROWS = 40  # ask for more when the cursor comes this close to an edge of the window
SELECTED = Style(bgcolor="grey23", bold=True)
ERROR_ROW = Style(bgcolor="rgb(60,0,0)")
MARKED_ROW = Style(bgcolor="rgb(0,40,90)")  # rows marked with m
FOUND = Style(bgcolor="yellow", color="black")  # what ctrl+f looks for, in the message
TERM = Style(bold=True, underline=True)  # what the search looks for, in the message
HEADER = Style(bold=True, underline=True)
DIM = Style(color="bright_black")


@dataclass
class Column:
    """A column: `key` is a log field or `attr:<name>` for an attribute."""

    key: str
    title: str
    width: int

    def value(self, log: dict[str, Any], with_date: bool) -> str:
        """The cell text for a log, made safe for the terminal."""
        if self.key == "time":
            return clock(log["timestamp_ns"], with_date)
        if self.key.startswith("attr:"):
            name = self.key[5:]
            value = log["attributes"].get(name, log["resource_attributes"].get(name, ""))
            return one_line(attribute_text(value))
        if self.key == "service_name":
            return service_label(log.get("service_name", ""))
        return one_line(str(log.get(self.key, "")))


DEFAULT_COLUMNS = [
    Column("time", "time", 12),
    Column("level", "level", 5),
    Column("service_name", "service", 14),
    Column("session_id", "session", 12),
]
MESSAGE = Column("body", "message", 0)


class LogTable(ScrollView, can_focus=True):
    """The log list. The screen owns loading; this widget owns the cursor and drawing."""

    BINDINGS = [
        Binding("j,down", "cursor(1)", "Down", show=False, id="log.down"),
        Binding("k,up", "cursor(-1)", "Up", show=False, id="log.up"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="log.pagedown"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="log.pageup"),
        Binding("g,home", "top", "Top", show=False, tooltip="Go to the first row", id="log.top"),
        Binding("G,end", "bottom", "Bottom", show=False, tooltip="Go to the last row", id="log.bottom"),
        Binding("e", "next_error(1)", "Next error", tooltip="Next ERROR or FATAL log", id="log.next_error"),
        Binding("E", "next_error(-1)", "Prev error", show=False, tooltip="Previous ERROR/FATAL", id="log.prev_error"),
    ]

    cursor: reactive[int] = reactive(0, always_update=True)
    """Index of the selected row in the loaded window."""

    class CursorMoved(Message):
        """The selected log changed (None when the table is empty)."""

        def __init__(self, table: LogTable, log: dict[str, Any] | None) -> None:
            super().__init__()
            self.table = table
            self.row = log

    class NeedRows(Message):
        """The cursor is near an edge that has more rows behind it: `direction` 1 is the end."""

        def __init__(self, table: LogTable, direction: int) -> None:
            super().__init__()
            self.table = table
            self.direction = direction

    class Activated(Message):
        """A row was double-clicked."""

        def __init__(self, table: LogTable, row: dict[str, Any]) -> None:
            super().__init__()
            self.table = table
            self.row = row

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.rows: list[dict[str, Any]] = []
        self.columns: list[Column] = list(DEFAULT_COLUMNS)
        self.more_before = False
        self.more_after = False
        self.with_date = False
        self.dropped_before = 0
        self.marked: dict[str, dict[str, Any]] = {}  # cursor -> log: the rows marked with m, in order
        self.find = ""  # the text ctrl+f looks for: highlighted in the messages
        self.terms: list[str] = []  # the search's words and phrases: marked in the messages
        self._line_cache: dict[tuple[str, bool, int], Strip] = {}

    # -- data --------------------------------------------------------------
    def set_rows(self, rows: list[dict[str, Any]], more_after: bool, more_before: bool = False) -> None:
        """Replace the window; the cursor goes to the first row."""
        self.rows = list(rows)
        self.more_after, self.more_before = more_after, more_before
        self.dropped_before = 0
        self._line_cache.clear()
        self._resize()
        self.scroll_to(y=0, animate=False)
        self.cursor = 0

    def extend(self, rows: list[dict[str, Any]], more_after: bool) -> None:
        """Append rows at the end; drop rows from the start beyond MAX_WINDOW_ROWS."""
        self.rows.extend(rows)
        self.more_after = more_after
        excess = len(self.rows) - MAX_WINDOW_ROWS
        if excess > 0:
            del self.rows[:excess]
            self.more_before = True
            self.dropped_before += excess
            self.scroll_to(y=max(0, self.scroll_offset.y - excess), animate=False)
            self._set_cursor(max(0, self.cursor - excess))
        self._resize()
        self.refresh()

    def prepend(self, rows: list[dict[str, Any]], more_before: bool, follow: bool = False) -> None:
        """Insert rows at the start (newer logs); keeps the same log selected unless following."""
        if not rows:
            self.more_before = more_before
            return
        self.rows[:0] = rows
        self.more_before = more_before
        excess = len(self.rows) - MAX_WINDOW_ROWS
        if excess > 0:
            del self.rows[-excess:]
            self.more_after = True
        self._resize()
        if follow:
            self.scroll_to(y=0, animate=False)
            self._set_cursor(0)
        else:
            self.scroll_to(y=self.scroll_offset.y + len(rows), animate=False)
            self._set_cursor(self.cursor + len(rows))
        self.refresh()

    def clear_lines(self) -> None:
        """Draw every row anew (what a row shows changed: the time zone)."""
        self._line_cache.clear()
        self.refresh()

    def set_columns(self, columns: list[Column]) -> None:
        """Change the columns shown (the message always comes last)."""
        self.columns = list(columns)
        self._line_cache.clear()
        self.refresh()

    @property
    def selected(self) -> dict[str, Any] | None:
        """The log under the cursor."""
        return self.rows[self.cursor] if 0 <= self.cursor < len(self.rows) else None

    def _resize(self) -> None:
        self.virtual_size = Size(self.size.width, len(self.rows) + 1)

    # -- cursor --------------------------------------------------------------
    def _set_cursor(self, index: int) -> None:
        self.set_reactive(LogTable.cursor, max(0, min(index, len(self.rows) - 1)) if self.rows else 0)
        self._scroll_cursor_into_view()
        self.refresh()

    def watch_cursor(self, old: int, new: int) -> None:
        clamped = max(0, min(new, len(self.rows) - 1)) if self.rows else 0
        if clamped != new:
            self.set_reactive(LogTable.cursor, clamped)
        self._scroll_cursor_into_view()
        self.refresh()
        self.post_message(self.CursorMoved(self, self.selected))
        if self.rows and self.cursor >= len(self.rows) - EDGE_ROWS and self.more_after:
            self.post_message(self.NeedRows(self, 1))
        if self.rows and self.cursor < EDGE_ROWS and self.more_before:
            self.post_message(self.NeedRows(self, -1))

    def _scroll_cursor_into_view(self) -> None:
        row = self.cursor + 1  # line 0 is the header
        height = max(1, self.size.height - 1)
        top = self.scroll_offset.y
        if row - 1 < top:
            self.scroll_to(y=row - 1, animate=False)
        elif row >= top + height + 1:
            self.scroll_to(y=row - height, animate=False)

    def move(self, delta: int) -> None:
        """Move the cursor by `delta` rows (the cursor's watcher asks for more rows near the edges)."""
        self.cursor = self.cursor + delta

    def action_cursor(self, delta: int) -> None:
        self.move(delta)

    def action_page(self, direction: int) -> None:
        self.move(direction * max(1, self.size.height - 2))

    def action_top(self) -> None:
        if self.more_before:
            self.post_message(self.NeedRows(self, -2))  # -2: reload from the very start
        else:
            self.cursor = 0

    def action_bottom(self) -> None:
        if self.more_after:
            self.post_message(self.NeedRows(self, 2))  # 2: load the very end
        else:
            self.cursor = len(self.rows) - 1

    def action_next_error(self, direction: int) -> None:
        index = self.cursor + direction
        while 0 <= index < len(self.rows):
            if self.rows[index]["level"] in ERROR_LEVELS:
                self.cursor = index
                return
            index += direction
        self.notify(
            "No more errors in the loaded logs" + (" (more are loading)" if self.more_after else ""),
            severity="warning",
            timeout=3,
        )
        if direction > 0 and self.more_after:
            self.post_message(self.NeedRows(self, 1))

    def on_click(self, event: events.Click) -> None:
        """A click selects the row under the pointer; a second click on it opens the detail."""
        index = self.scroll_offset.y + event.y - 1
        if 0 <= index < len(self.rows):
            if index == self.cursor and event.chain >= 2:
                self.post_message(self.Activated(self, self.rows[index]))
            self.cursor = index

    # -- drawing ---------------------------------------------------------------
    def on_resize(self) -> None:
        self._line_cache.clear()
        self._resize()
        self._scroll_cursor_into_view()

    def _visible_columns(self, width: int) -> list[Column]:
        columns = []
        used = 0
        for column in self.columns:
            w = column.width + (6 if column.key == "time" and self.with_date else 0)
            # keep at least 30 cells for the message
            if used + w + 1 > width - 30 and column.key not in ("time", "level"):
                continue
            columns.append(column)
            used += w + 1
        return columns

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if y == 0:
            return self._header(width)
        index = self.scroll_offset.y + y - 1
        if index >= len(self.rows):
            if index == len(self.rows) and self.more_after:
                return Strip([Segment(" loading more…".ljust(width), DIM)])
            return Strip.blank(width)
        log = self.rows[index]
        selected = index == self.cursor
        key = (log["cursor"], selected, width)
        strip = self._line_cache.get(key)
        if strip is None:
            strip = self._render_row(log, selected, width)
            if len(self._line_cache) > 4 * MAX_WINDOW_ROWS:
                self._line_cache.clear()
            self._line_cache[key] = strip
        return strip.crop(self.scroll_offset.x, self.scroll_offset.x + width)

    def _header(self, width: int) -> Strip:
        segments = []
        for column in self._visible_columns(width):
            w = column.width + (6 if column.key == "time" and self.with_date else 0)
            segments.append(Segment(column.title[:w].ljust(w) + " ", HEADER))
        used = sum(len(s.text) for s in segments)
        segments.append(Segment(MESSAGE.title.ljust(max(0, width - used)), HEADER))
        return Strip(segments).crop(0, width)

    def find_next(self, direction: int) -> bool:
        """Move to the next (1) or previous (-1) loaded row whose message holds `find`, in any case."""
        needle = self.find.lower()
        index = self.cursor + direction
        while needle and 0 <= index < len(self.rows):
            if needle in self.rows[index]["body"].lower():
                self.cursor = index
                return True
            index += direction
        return False

    def toggle_mark(self) -> None:
        """Mark the selected row, or unmark it."""
        log = self.selected
        if log is not None:
            if self.marked.pop(log["cursor"], None) is None:
                self.marked[log["cursor"]] = log
            self.clear_lines()

    def _render_row(self, log: dict[str, Any], selected: bool, width: int) -> Strip:
        base = SELECTED if selected else (ERROR_ROW if log["level"] in ERROR_LEVELS else Style())
        if log["cursor"] in self.marked and not selected:
            base = MARKED_ROW
        segments = []
        used = 0
        for column in self._visible_columns(width):
            w = column.width + (6 if column.key == "time" and self.with_date else 0)
            text = column.value(log, self.with_date)
            text = (text[: w - 1] + "…") if len(text) > w else text.ljust(w)
            style = base + level_style(log["level"]) if column.key == "level" else base
            if column.key == "time":
                style = base + DIM
            if selected:
                style = on_grey(style)
            segments.append(Segment(text + " ", style))
            used += w + 1
        message = one_line(log["body"])
        room = max(0, width - used)
        if len(message) > room:
            message = message[: max(0, room - 1)] + "…"
        segments += _found(message.ljust(room), base, [(t, TERM) for t in self.terms] + [(self.find, FOUND)])
        return Strip(segments).adjust_cell_length(width, base)


def _found(text: str, base: Style, needles: list[tuple[str, Style]]) -> list[Segment]:
    """`text` with each place that holds a needle (in any case) in its style (a later needle's
    over an earlier one's)."""
    lower = text.lower()
    if len(lower) != len(text) or not any(n and n.lower() in lower for n, _ in needles):
        return [Segment(text, base)]  # (a few characters change length in lower case)
    styles: list[Style | None] = [None] * len(text)
    for needle, style in needles:
        needle = needle.lower()
        at = lower.find(needle) if needle else -1
        while at >= 0:
            styles[at : at + len(needle)] = [style] * len(needle)
            at = lower.find(needle, at + len(needle))
    segments, start = [], 0
    for i in range(1, len(text) + 1):
        if i == len(text) or styles[i] is not styles[start]:
            mark = styles[start]
            segments.append(Segment(text[start:i], base if mark is None else base + mark))
            start = i
    return segments
