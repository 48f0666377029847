"""Histogram: matches over the time range, one column per bucket, stacked by level."""

from __future__ import annotations

from typing import Any

from rich.segment import Segment
from rich.style import Style
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from hlog.tui.format import clock, level_style, needs_date, on_grey, one_line, plural

# bottom to top: the levels people look for first sit at the base of each bar
STACK_ORDER = ("FATAL", "ERROR", "WARN", "INFO", "DEBUG", "TRACE")
BAR = "█"
SELECTED_MARK = Style(color="black", bgcolor="cyan")
AXIS = Style(color="bright_black")
CELL = 2  # columns a bucket takes: its bar and a gap
MIN_BUCKETS, MAX_BUCKETS = 10, 200
# broken down by a key (`b`): its values, biggest at the base, in these colours; the rest in grey
GROUP_COLOURS = ("cyan", "magenta", "yellow", "green", "blue", "red", "bright_cyan", "bright_magenta")
OTHER = "\x00other"  # the bucket's other values (a key no value from the API is drawn with)
OTHER_STYLE = Style(color="bright_black")


def stacked_level(
    counts: dict[str, int],
    peak: int,
    rows: int,
    row: int,
    order: tuple[str, ...] = STACK_ORDER,
    pinned: tuple[str, ...] = ("FATAL", "ERROR"),
) -> str | None:
    """The level (or group) drawn at `row` (0 = bottom) of a bar of `rows` cells, or None above the bar.

    Levels stack in `order` from the bottom; a non-empty bucket shows at least one cell, and
    a bucket with any of `pinned` (errors) shows it in its bottom cell, however small its share.
    """
    total = sum(counts.values())
    if not total or not peak:
        return None
    if row == 0:
        for level in pinned:
            if counts.get(level):
                return level
    middle = (row + 0.5) * peak / rows
    if middle > total and row > 0:
        return None
    running = 0
    ordered = [lv for lv in order if lv in counts] + [lv for lv in counts if lv not in order]
    for level in ordered:
        running += counts[level]
        if middle <= running:
            return level
    return ordered[-1]


class Histogram(Widget):
    """Draws the API's histogram; `selected` marks the bucket that `z` zooms into."""

    DEFAULT_CSS = """
    Histogram { height: 6; }
    """

    selected: reactive[int] = reactive(-1)
    """Index of the highlighted bucket, -1 for none."""

    @staticmethod
    def buckets_for(width: int) -> int:
        """How many buckets fill `width` columns: a bar and a gap each."""
        return max(MIN_BUCKETS, min(MAX_BUCKETS, width // CELL))

    class Resized(Message):
        """The widget now fits another number of buckets than it shows."""

    def on_resize(self) -> None:
        if self.data is not None and self.size.width and len(self.data["buckets"]) != self.buckets_for(self.size.width):
            self.post_message(self.Resized())

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.data: dict[str, Any] | None = None
        self.order: tuple[str, ...] = STACK_ORDER  # what stacks from the base of a bar
        self.pinned: tuple[str, ...] = ("FATAL", "ERROR")  # shown in a bar's base cell when present
        self.group_styles: dict[str, Style] = {}  # the colour of each group of a breakdown

    def show(self, data: dict[str, Any] | None) -> None:
        """Draw a new histogram (None clears it): by level, or by the `groups` of a breakdown."""
        self.order, self.pinned, self.group_styles = STACK_ORDER, ("FATAL", "ERROR"), {}
        if data is not None and "groups" in data:
            self.order, self.pinned = (*data["groups"], OTHER), ()
            self.group_styles = {
                g: Style(color=GROUP_COLOURS[i % len(GROUP_COLOURS)]) for i, g in enumerate(data["groups"])
            }
            self.group_styles[OTHER] = OTHER_STYLE
            for bucket in data["buckets"]:
                if bucket.get("other"):
                    bucket["counts"][OTHER] = bucket["other"]
        self.data = data
        if data is None or not (0 <= self.selected < len(data["buckets"])):
            self.selected = -1
        self.refresh()
        self.on_resize()  # asked for before the widget had its size: ask again for as many as fit

    def bucket_range(self, index: int) -> tuple[int, int] | None:
        """[start, end) of a bucket in ns."""
        if self.data is None or not 0 <= index < len(self.data["buckets"]):
            return None
        start = self.data["buckets"][index]["start_ns"]
        return start, min(start + self.data["step_ns"], self.data["end_ns"])

    def render_line(self, y: int) -> Strip:
        width, height = self.size.width, self.size.height
        data = self.data
        if data is None or not data["buckets"]:
            return Strip.blank(width)
        if y == height - 1:
            return self._axis(width)
        buckets = data["buckets"]
        bar_rows = height - 1
        peak = max((sum(b["counts"].values()) for b in buckets), default=0)
        row = bar_rows - 1 - y  # counted from the bottom
        cell = max(1, width // len(buckets))  # CELL when the buckets were sized to this width
        segments = []
        for i, bucket in enumerate(buckets):
            level = stacked_level(bucket["counts"], peak, bar_rows, row, self.order, self.pinned)
            style = Style() if level is None else self.group_styles.get(level) or level_style(level)
            if level is not None and style.color is None:  # levels without a colour of their own
                style += Style(color="blue")
            if i == self.selected:
                style = on_grey(style) + Style(bgcolor="grey30")
            glyph = BAR if level is not None else " "
            segments.append(Segment(glyph * max(1, cell - 1) + (" " if cell > 1 else ""), style))
        return Strip(segments).adjust_cell_length(width)

    def _axis(self, full: int) -> Strip:
        data = self.data
        assert data is not None
        width = min(full, max(1, full // len(data["buckets"])) * len(data["buckets"]))  # under the bars
        with_date = needs_date(data["start_ns"], data["end_ns"], self.app.now_ns())  # type: ignore[attr-defined]
        left = clock(data["start_ns"], with_date)
        right = clock(data["end_ns"], with_date)
        total = plural(data["total"], "log")
        middle = total
        selected = self.bucket_range(self.selected)
        if selected is not None:
            count = sum(data["buckets"][self.selected]["counts"].values())
            middle = f"▲ {clock(selected[0], with_date)} – {clock(selected[1], with_date)}: {count:,}  (z zoom)"
        legend = self._legend() if selected is None and "groups" in data else []
        if legend:
            middle = "".join(segment.text for segment in legend)
        if len(left) + len(middle) + len(right) + 2 > width:  # too narrow for all three: the middle only
            left = right = ""
        gap = max(1, width - len(left) - len(right) - len(middle))
        inner = legend or [Segment(middle, AXIS)]
        segments = [Segment(left + " " * (gap // 2), AXIS), *inner, Segment(" " * (gap - gap // 2) + right, AXIS)]
        return Strip(segments).crop(0, width).adjust_cell_length(full)

    def _legend(self) -> list[Segment]:
        """`by KEY: ■ a ■ b ■ other`, each mark in its group's colour."""
        data = self.data
        assert data is not None
        segments = [Segment(f"by {one_line(data['by'])}:", AXIS)]
        for group in (*data["groups"], OTHER):
            if group == OTHER and not any(b.get("other") for b in data["buckets"]):
                continue
            name = "other" if group == OTHER else one_line(group)[:16] or '""'
            segments += [Segment(" ■", self.group_styles[group]), Segment(f" {name}", AXIS)]
        return segments
