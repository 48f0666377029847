"""The trace screen: the spans of one request as an indented timeline, and their logs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from hlog.query import format_term
from hlog.tui.format import attribute_text, clock, duration, one_line, plural, service_label, span_status
from hlog.tui.screens import left
from hlog.tui.widgets.footer import HlogFooter
from hlog.tui.widgets.log_table import Column, LogTable

if TYPE_CHECKING:
    from hlog.tui.app import HlogApp

BAR_CELLS = 24
MAX_EVENT_LINES = 5
TRACE_COLUMNS = [Column("time", "time", 12), Column("level", "level", 5), Column("service_name", "service", 12)]
WHOLE_TRACE = "__whole__"


def span_tree(spans: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """Spans in tree order with their depth; orphans (parent not received) are roots."""
    ids = {s["span_id"] for s in spans}
    children: dict[str, list[dict[str, Any]]] = {}
    roots = []
    for span in spans:
        if span["parent_span_id"] and span["parent_span_id"] in ids:
            children.setdefault(span["parent_span_id"], []).append(span)
        else:
            roots.append(span)
    ordered: list[tuple[int, dict[str, Any]]] = []

    def walk(span: dict[str, Any], depth: int) -> None:
        ordered.append((depth, span))
        for child in sorted(children.get(span["span_id"], []), key=lambda s: s["timestamp_ns"]):
            walk(child, depth + 1)

    for root in sorted(roots, key=lambda s: s["timestamp_ns"]):
        walk(root, 0)
    return ordered


class TraceScreen(Screen[None]):
    """One request across services."""

    BINDINGS = [
        Binding("escape", "back", "Back", tooltip="Back to where you were", id="trace.back"),
        Binding("tab", "switch_pane", "Spans/logs", tooltip="Move between spans and logs", id="trace.switch"),
    ]

    def __init__(self, trace_id: str, focus_span: str = "") -> None:
        super().__init__()
        self.trace_id = trace_id
        self.focus_span = focus_span
        self.spans: dict[str, dict[str, Any]] = {}

    @property
    def hlog(self) -> HlogApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Static(Text(f"trace {one_line(self.trace_id)}", style="bold"), id="trace-summary")
        yield OptionList(id="spans")
        yield Static(id="span-events")
        table = LogTable(id="trace-logs")
        table.columns = list(TRACE_COLUMNS)
        yield table
        yield HlogFooter()

    def on_mount(self) -> None:
        self.query_one("#span-events", Static).display = False
        self.query_one("#spans", OptionList).focus()
        self._load_spans()
        self._load_logs("")

    @work(exclusive=True, group="spans")
    async def _load_spans(self) -> None:
        try:
            spans = await self.hlog.api.trace(self.trace_id)
            if left(self):  # the user left this screen while the backend answered
                return
        except Exception as err:
            self.notify(f"cannot load the trace: {err}", severity="error")
            return
        options = self.query_one("#spans", OptionList)
        options.clear_options()
        self.spans = {s["span_id"]: s for s in spans}
        if not spans:
            self.query_one("#trace-summary", Static).update(
                Text(f"trace {one_line(self.trace_id)}: no spans received; showing its logs", style="bold")
            )
            self.query_one(LogTable).focus()
            return
        start = min(s["timestamp_ns"] for s in spans)
        end = max(s["timestamp_ns"] + s["duration_ns"] for s in spans)
        total = max(1, end - start)
        errors = sum(1 for s in spans if span_status(s["status_code"]) == "ERROR")
        services = sorted({service_label(s["service_name"]) for s in spans})
        summary = Text(f"trace {one_line(self.trace_id)}", style="bold")
        summary.append(f"   {duration(total)}   {plural(len(spans), 'span')}   ", style="cyan")
        summary.append(plural(errors, "error") if errors else "no errors", style="bold red" if errors else "green")
        summary.append("\nservices: " + ", ".join(services), style="dim")
        self.query_one("#trace-summary", Static).update(summary)
        items = [Option(Text("(whole trace)", style="dim"), id=WHOLE_TRACE)]
        # name, service (13), bar, duration (9), status (7): the name gets what is left
        bar = BAR_CELLS if self.size.width >= 100 else BAR_CELLS // 2
        name_cells = max(12, min(40, self.size.width - 6 - 13 - bar - 9 - 7))
        for depth, span in span_tree(spans):
            items.append(Option(self._span_text(depth, span, start, total, name_cells, bar), id=span["span_id"]))
        options.add_options(items)
        for index, option in enumerate(items):
            if option.id == self.focus_span:
                options.highlighted = index
                break
        else:
            options.highlighted = 0

    @staticmethod
    def _span_text(depth: int, span: dict[str, Any], start: int, total: int, name_cells: int, bar: int) -> Text:
        text = Text()
        name = ("  " * depth + one_line(span["name"]))[:name_cells]
        text.append(f"{name:<{name_cells}} ")
        text.append(f"{service_label(span['service_name'])[:12]:<12} ", style="dim")
        offset = min(bar - 1, int((span["timestamp_ns"] - start) / total * bar))
        length = max(1, round(span["duration_ns"] / total * bar))
        error = span_status(span["status_code"]) == "ERROR"
        text.append(" " * offset)
        text.append("━" * min(length, bar - offset), style="red" if error else "cyan")
        text.append(" " * max(0, bar - offset - length))
        text.append(f" {duration(span['duration_ns']):>8}", style="cyan")
        text.append(f"  {span_status(span['status_code'])}", style="bold red" if error else "green")
        return text

    @work(exclusive=True, group="logs")
    async def _load_logs(self, span_id: str) -> None:
        query = format_term("trace_id", self.trace_id) + (" " + format_term("span_id", span_id) if span_id else "")
        try:
            page = await self.hlog.api.logs(q=query, after="0-0", limit=1000)
            if left(self):  # the user left this screen while the backend answered
                return
        except Exception as err:
            self.notify(f"cannot load the trace's logs: {err}", severity="error")
            return
        table = self.query_one(LogTable)
        table.set_rows(page["logs"], more_after=False)
        table.border_title = f"logs of {'the span' if span_id else 'the trace'} ({len(page['logs'])})"

    @on(OptionList.OptionHighlighted, "#spans")
    def _span_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        span_id = "" if event.option.id == WHOLE_TRACE else event.option.id or ""
        self._show_events(self.spans.get(span_id, {}).get("events", []))
        self._load_logs(span_id)

    def _show_events(self, events: list[dict[str, Any]]) -> None:
        """The highlighted span's events (an exception recorded on it, say), one line each."""
        panel = self.query_one("#span-events", Static)
        panel.display = bool(events)
        text = Text()
        for event in events[:MAX_EVENT_LINES]:
            attrs = event.get("attributes", {})
            detail = " ".join(f"{k}={attribute_text(v)}" for k, v in attrs.items() if k != "exception.stacktrace")
            if text:
                text.append("\n")
            text.append(clock(int(event.get("timestamp_ns", 0))) + " ", style="dim")
            name = event.get("name", "")
            text.append(one_line(name), style="bold red" if name == "exception" else "bold")
            text.append(" " + one_line(detail))
        if len(events) > MAX_EVENT_LINES:
            text.append(f"\n… {len(events) - MAX_EVENT_LINES} more events", style="dim")
        panel.update(text)

    def action_switch_pane(self) -> None:
        spans = self.query_one("#spans", OptionList)
        if spans.has_focus:
            self.query_one(LogTable).focus()
        else:
            spans.focus()

    def action_back(self) -> None:
        self.app.pop_screen()
