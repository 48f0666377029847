"""DetailPane: one log in full - message (JSON pretty-printed), ids, attributes and resource attributes.

The pane draws only the lines on screen (Textual's line API): a log with 10,000 attributes or a
100 KB message costs the same to move onto as a small one. Long lines wrap at the cell.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Any, NamedTuple

import httpx
from rich.cells import chop_cells
from rich.segment import Segment
from rich.text import Text
from textual import events, work
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from hlog.backend.client import ApiError
from hlog.backend.textsafe import is_safe
from hlog.tui.format import attribute_rows, level_style, one_line, pretty_body, service_label, stamp
from hlog.tui.widgets.log_table import TERM

RESOURCE_NOTE = "  (resource)"


class Row(NamedTuple):
    """One logical line of the pane: `kind` is text (prebuilt), body, field, resource or record."""

    kind: str
    plain: str  # what is drawn, already safe for the terminal
    text: Text | None = None  # the styled line, for the few rows built ahead
    key_cells: int = 0  # the length of the key, coloured, at the start of a field row
    field: int = -1  # the index in DetailPane.fields, for the rows f and x act on


class DetailPane(ScrollView, can_focus=True):
    """Shows the selected log. Its fields drive `f` (filter), `x` (exclude); the arrows (or j/k)
    move between them once the pane has the focus (tab)."""

    BINDINGS = [
        Binding("f", "filter(False)", "Filter", tooltip="Add key:value of the highlighted field", id="detail.filter"),
        Binding("x", "filter(True)", "Exclude", tooltip="Add -key:value of the highlighted field", id="detail.exclude"),
        Binding("down,j", "move(1)", "Next field", show=False, id="detail.next"),
        Binding("up,k", "move(-1)", "Previous field", show=False, id="detail.previous"),
        Binding("home", "move(-1_000_000_000)", "First field", show=False, id="detail.first"),
        Binding("end", "move(1_000_000_000)", "Last field", show=False, id="detail.last"),
    ]
    COMPONENT_CLASSES = {"detail--key", "detail--resource-key", "detail--dim", "detail--cursor"}
    DEFAULT_CSS = """
    DetailPane > .detail--key { color: $text-primary; }
    DetailPane > .detail--resource-key { color: $text-secondary; }
    DetailPane > .detail--dim { color: $text-muted; }
    DetailPane > .detail--cursor { background: $block-cursor-blurred-background; }
    DetailPane:focus > .detail--cursor { background: $block-cursor-background; color: $block-cursor-foreground; }
    """

    class FilterRequested(Message):
        """Add `key:value` (or `-key:value`) to the query."""

        def __init__(self, key: str, value: str, exclude: bool) -> None:
            super().__init__()
            self.key, self.value, self.exclude = key, value, exclude

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.current: dict[str, Any] | None = None
        self.fields: list[tuple[str, str]] = []  # (key, value) of the rows f and x act on, as stored
        self.highlighted: int | None = None  # index in fields
        self.terms: list[str] = []  # the search's words and phrases: marked in the message
        self.rows: list[Row] = []
        self._field_rows: list[int] = []  # the row of each field
        self._starts: list[int] = [0]  # the first screen line of each row, and the total at the end
        self._width = 0
        self._chops: dict[int, list[str]] = {}  # wrapped pieces of rows that are not plain ASCII

    # -- content -----------------------------------------------------------------
    def show(self, log: dict[str, Any] | None) -> None:
        """Display a log (None clears the pane). A log from a list (without the rest of its
        OpenTelemetry record: event name, observed time, ...) shows at once and is completed in
        place when its own read answers."""
        self._draw(log)
        self.scroll_to(0, 0, animate=False)
        if log is not None and "event_name" not in log and log.get("log_id"):
            self._complete(log)

    @work(exclusive=True, group="detail-whole", exit_on_error=False)
    async def _complete(self, log: dict[str, Any]) -> None:
        """Read the log whole and show it in place, if it is still the one shown."""
        link = getattr(self.app, "link", None)
        if link is None:
            return
        try:
            whole = await link.api.log(log["log_id"])
        except (ApiError, httpx.HTTPError):  # gone (retention), or no answer: the list's fields stay
            return
        if self.current is log:
            highlighted, y = self.highlighted, self.scroll_y
            self._draw({**log, **whole})
            self.highlighted = highlighted
            self.scroll_to(0, y, animate=False)

    def _draw(self, log: dict[str, Any] | None) -> None:
        self.current, self.highlighted = log, None
        self.fields, rows = [], []
        if log is None:
            rows.append(Row("text", "no log selected", Text("no log selected", style="dim")))
        else:
            header = _header(log)
            rows += [Row("text", header.plain, header), Row("text", "")]
            rows += [Row("body", line) for line in pretty_body(log["body"]).plain.split("\n")]
            rows.append(Row("text", ""))
            ids = ("level", "service_name", "session_id", "trace_id", "span_id", "environment", "service_version")
            own = [(key, log[key]) for key in ids if log[key]] + attribute_rows(log["attributes"])
            resource = {k: v for k, v in log["resource_attributes"].items() if k not in log["attributes"]}
            groups = (("field", own), ("resource", attribute_rows(resource)))
            # one check for all (10,000 attributes: escaping each would cost more than drawing)
            clean = is_safe(" ".join(text for _, pairs in groups for pair in pairs for text in pair))
            for kind, pairs in groups:
                note = RESOURCE_NOTE if kind == "resource" else ""
                for key, value in pairs:
                    shown_key, shown_value = (key, value) if clean else (one_line(key), one_line(value))
                    plain = f"{shown_key} = {shown_value}{note}"
                    rows.append(Row(kind, plain, key_cells=len(shown_key), field=len(self.fields)))
                    self.fields.append((key, value))
            # the rest of the OpenTelemetry record: shown, not filterable (the search has no key for them)
            rows += [Row("record", f"{one_line(k)} = {one_line(v)}") for k, v in _record_fields(log)]
        self.rows = rows
        self._field_rows = [i for i, row in enumerate(rows) if row.field >= 0]
        self._layout(force=True)
        self.refresh()

    def plain_rows(self) -> list[str]:
        """Every row's text as drawn, unwrapped (for whoever reads the pane as text)."""
        return [row.plain for row in self.rows]

    def highlighted_field(self) -> tuple[str, str] | None:
        """The field under the highlight (the first one when nothing is highlighted)."""
        index = self.highlighted if self.highlighted is not None else 0
        return self.fields[index] if 0 <= index < len(self.fields) else None

    def focus_fields(self) -> None:
        """Move the focus to the fields, highlighting the first one."""
        if self.fields and self.highlighted is None:
            self.highlight(0)
        self.focus()

    def highlight(self, index: int) -> None:
        """Highlight field `index` and scroll it into view."""
        if not self.fields:
            return
        self.highlighted = max(0, min(index, len(self.fields) - 1))
        row = self._field_rows[self.highlighted]
        if row + 1 < len(self._starts):  # laid out (not hidden): bring it into view
            top, bottom = self._starts[row], self._starts[row + 1]
            self.scroll_to_region(Region(0, top, self._width, bottom - top), animate=False, immediate=True)
        self.refresh()

    # -- actions -----------------------------------------------------------------
    def action_filter(self, exclude: bool) -> None:
        field = self.highlighted_field()
        if field is not None:
            self.post_message(self.FilterRequested(field[0], field[1], exclude))

    def action_move(self, by: int) -> None:
        self.highlight((self.highlighted if self.highlighted is not None else -1 if by > 0 else 0) + by)

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        row = bisect_right(self._starts, offset.y + self.scroll_offset.y) - 1
        if 0 <= row < len(self.rows) and self.rows[row].field >= 0:
            self.highlight(self.rows[row].field)

    # -- drawing -----------------------------------------------------------------
    def on_resize(self) -> None:
        self._layout()
        if self.highlighted is not None:
            self.highlight(self.highlighted)

    def _layout(self, force: bool = False) -> None:
        """Count the screen lines of every row at the current width (wrapping at the cell)."""
        width = self.size.width
        if width == 0:  # hidden (the first Enter shows it): laid out on the resize that follows
            self._width, self._starts = 0, [0]
            return
        if width == self._width and not force:
            return
        self._width, self._chops = width, {}
        starts, line = [0], 0
        for index, row in enumerate(self.rows):
            plain = row.plain
            if plain.isascii():  # one cell a character (safe() left no control characters)
                line += max(1, -(-len(plain) // width))
            else:
                line += len(self._chop(index, width))
            starts.append(line)
        self._starts = starts
        self.virtual_size = Size(width, line)

    def _chop(self, index: int, width: int) -> list[str]:
        if index not in self._chops:
            self._chops[index] = chop_cells(self.rows[index].plain, width) or [""]
        return self._chops[index]

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self.rich_style
        line = y + self.scroll_offset.y
        if line >= self._starts[-1] or width != self._width:
            return Strip.blank(width, base)
        index = bisect_right(self._starts, line) - 1
        row, piece = self.rows[index], line - self._starts[index]
        if row.plain.isascii():
            start = piece * width
            end = start + width
        else:
            pieces = self._chop(index, width)
            start = sum(len(p) for p in pieces[:piece])
            end = start + len(pieces[piece])
        segments = list(self._styled(row)[start:end].render(self.app.console))
        cursor = None
        if row.field >= 0 and row.field == self.highlighted:
            cursor = self.get_component_rich_style("detail--cursor")
        return Strip(Segment.apply_style(segments, base, cursor)).crop_extend(0, width, base + cursor)

    def _styled(self, row: Row) -> Text:
        if row.text is not None:
            return row.text
        if row.kind == "body":
            text = Text(row.plain)
            text.highlight_words(self.terms, TERM, case_sensitive=False)
            return text
        if row.kind == "record":
            return Text(row.plain, style=self.get_component_rich_style("detail--dim"))
        text = Text(row.plain)
        key = "detail--key" if row.kind == "field" else "detail--resource-key"
        text.stylize(self.get_component_rich_style(key), 0, row.key_cells)
        if row.kind == "resource":
            text.stylize(self.get_component_rich_style("detail--dim"), len(row.plain) - len(RESOURCE_NOTE))
        return text


def _header(log: dict[str, Any]) -> Text:
    title = Text()
    title.append(stamp(log["timestamp_ns"]) + "  ", style="dim")
    title.append(f"{one_line(log['level']) or '-':<5}", style=level_style(log["level"]))
    sent = log.get("severity_text", log["level"])
    if sent != log["level"]:  # the severity as the sender gave it, when it reads otherwise
        number = log.get("severity_number", 0)
        said = ", ".join(x for x in (one_line(sent), str(number) if number else "") if x)
        title.append(f" ({said})", style="dim")
    title.append("  " + service_label(log["service_name"]), style="bold")
    if log.get("event_name"):
        title.append("  " + one_line(log["event_name"]), style="italic")
    return title


def _record_fields(log: dict[str, Any]) -> list[tuple[str, str]]:
    """What else OpenTelemetry sent with a log (absent from a list's records until read whole,
    and from an older backend's answers)."""
    found = [
        ("scope", " ".join(x for x in (log.get("scope_name", ""), log.get("scope_version", "")) if x)),
        *((f"scope: {k}", v) for k, v in attribute_rows(log.get("scope_attributes", {}))),
        ("event name", log.get("event_name", "")),
        ("observed", stamp(log["observed_timestamp_ns"]) if log.get("observed_timestamp_ns") else ""),
        ("resource schema", log.get("resource_schema_url", "")),
        ("scope schema", log.get("scope_schema_url", "")),
        ("flags", str(log["trace_flags"]) if log.get("trace_flags") else ""),
        ("dropped attributes", str(log["dropped_attributes_count"]) if log.get("dropped_attributes_count") else ""),
        ("log id", log.get("log_id", "")),  # for `hlog context LOG_ID`
    ]
    return [(k, v) for k, v in found if v]
