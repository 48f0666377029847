"""The session screen: who, when, which services, and every log of the session in time order."""

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
from hlog.tui.format import LEVEL_STYLES, duration, one_line, plural, service_label, stamp
from hlog.tui.screens import left
from hlog.tui.widgets.detail import DetailPane
from hlog.tui.widgets.footer import HlogFooter
from hlog.tui.widgets.log_table import Column, LogTable

if TYPE_CHECKING:
    from hlog.tui.app import HlogApp

PAGE_ROWS = 500
SESSION_COLUMNS = [Column("time", "time", 12), Column("level", "level", 5), Column("service_name", "service", 12)]


class SessionScreen(Screen[None]):
    """Everything one session did, across services, oldest first."""

    BINDINGS = [
        Binding("escape", "back", "Back", tooltip="Back to where you were", id="session.back"),
        # the list's own `e`/`E` are in the footer; n and p do the same here
        Binding("n", "error(1)", "Next error", show=False, tooltip="Next ERROR or FATAL log", id="session.next_error"),
        Binding(
            "p", "error(-1)", "Prev error", show=False, tooltip="Previous ERROR or FATAL log", id="session.prev_error"
        ),
        Binding("t", "open_trace", "Trace", tooltip="The trace of the selected log or request", id="session.trace"),
        Binding("enter", "toggle_detail", "Detail", tooltip="Open or close the selected log", id="session.detail"),
        Binding("tab", "switch_pane", "Requests/logs", show=False, id="session.switch"),
    ]

    def __init__(self, session_id: str, focus_cursor: str | None = None) -> None:
        super().__init__()
        self.session_id = session_id
        self.focus_cursor = focus_cursor
        self.summary: dict[str, Any] | None = None

    @property
    def hlog(self) -> HlogApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Static(Text(f"session {one_line(self.session_id)}  loading…", style="bold"), id="session-summary")
        yield OptionList(id="requests")
        table = LogTable(id="session-logs")
        table.columns = list(SESSION_COLUMNS)
        table.with_date = True
        yield table
        yield DetailPane(id="detail")
        yield HlogFooter()

    @property
    def table(self) -> LogTable:
        return self.query_one("#session-logs", LogTable)

    def on_mount(self) -> None:
        self.table.focus()
        self._load_summary()
        self._load_logs(None)

    @work(exclusive=True, group="summary")
    async def _load_summary(self) -> None:
        try:
            summary = await self.hlog.api.session(self.session_id)
            if left(self):  # the user left this screen while the backend answered
                return
        except Exception as err:
            self.notify(f"cannot load the session: {err}", severity="error")
            return
        self.summary = summary
        self.query_one("#session-summary", Static).update(self._summary_text(summary))
        requests = self.query_one("#requests", OptionList)
        requests.clear_options()
        requests.add_options([Option(self._request_text(r), id=r["trace_id"]) for r in summary["requests"]])
        requests.border_title = f"requests ({len(summary['requests'])})"

    @staticmethod
    def _summary_text(s: dict[str, Any]) -> Text:
        text = Text()
        text.append(f"session {one_line(s['session_id'])}", style="bold")
        if s["user_id"]:
            text.append(f"   user {one_line(s['user_id'])}", style="bold cyan")
        text.append(f"\n{stamp(s['first_ns'])} → {stamp(s['last_ns'])}  ({duration(s['duration_ns'])})", style="dim")
        text.append(f"\n{plural(s['log_count'], 'log')}   ")
        for level, n in sorted(s["levels"].items()):  # the errors among them once, in red
            text.append(f"{one_line(level)} {n:,}  ", style=LEVEL_STYLES.get(level, ""))
        if not s["errors"]:
            text.append("  no errors", style="green")
        text.append("\nservices: " + ", ".join(service_label(x) for x in s["services"]), style="dim")
        return text

    @staticmethod
    def _request_text(r: dict[str, Any]) -> Text:
        text = Text()
        text.append(stamp(r["start_ns"])[11:23] + "  ", style="dim")
        status = r["status"] or ("ERROR" if r["errors"] else "")
        text.append(f"{one_line(status) or '-':<5} ", style="bold red" if status == "ERROR" else "green")
        text.append(one_line(r["name"] or r["trace_id"][:16]))
        if r["duration_ns"]:
            text.append(f"  {duration(r['duration_ns'])}", style="cyan")
        text.append(f"  {plural(r['logs'], 'log')}", style="dim")
        return text

    @work(exclusive=True, group="logs")
    async def _load_logs(self, after: str | None) -> None:
        try:
            # the id is data: quoted (or an inert regex) by the language's own formatter
            query = format_term("session_id", self.session_id)
            page = await self.hlog.api.logs(q=query, after=after or "0-0", limit=PAGE_ROWS)
            if left(self):  # the user left this screen while the backend answered
                return
        except Exception as err:
            self.notify(f"cannot load the session's logs: {err}", severity="error")
            return
        more = len(page["logs"]) == PAGE_ROWS
        if after is None:
            self.table.set_rows(page["logs"], more_after=more)
            self._select(self.focus_cursor)
        else:
            self.table.extend(page["logs"], more_after=more)
        # a log to select may be further on: keep loading until it is there
        if self.focus_cursor and more and not any(r["cursor"] == self.focus_cursor for r in self.table.rows):
            self._load_logs(page["logs"][-1]["cursor"])

    def _select(self, cursor: str | None) -> None:
        for index, row in enumerate(self.table.rows):
            if row["cursor"] == cursor:
                self.table.cursor = index
                self.focus_cursor = None
                return

    @on(LogTable.NeedRows)
    def _need_rows(self, event: LogTable.NeedRows) -> None:
        if event.direction > 0 and self.table.rows:
            self._load_logs(self.table.rows[-1]["cursor"])

    @on(LogTable.CursorMoved)
    def _moved(self, event: LogTable.CursorMoved) -> None:
        if self.focus_cursor is not None and any(r["cursor"] == self.focus_cursor for r in self.table.rows):
            self._select(self.focus_cursor)
        if self.has_class("-detail"):
            self.query_one(DetailPane).show(event.row)

    def action_error(self, direction: int) -> None:
        self.table.action_next_error(direction)

    def action_back(self) -> None:
        if self.has_class("-detail"):
            self.remove_class("-detail")
            self.table.focus()
            return
        self.app.pop_screen()

    def action_toggle_detail(self) -> None:
        if self.query_one("#requests", OptionList).has_focus:
            self.action_open_trace()
            return
        if self.has_class("-detail"):
            self.remove_class("-detail")
            self.table.focus()
        else:
            self.add_class("-detail")
            self.query_one(DetailPane).show(self.table.selected)

    def action_switch_pane(self) -> None:
        requests = self.query_one("#requests", OptionList)
        if requests.has_focus:
            self.table.focus()
        else:
            requests.focus()

    def action_open_trace(self) -> None:
        from hlog.tui.screens.trace import TraceScreen

        requests = self.query_one("#requests", OptionList)
        trace_id, span_id = "", ""
        if requests.has_focus and requests.highlighted is not None:
            trace_id = requests.get_option_at_index(requests.highlighted).id or ""
        elif self.table.selected is not None:
            trace_id, span_id = self.table.selected["trace_id"], self.table.selected["span_id"]
        if not trace_id:
            self.notify("No trace for this log", severity="warning", timeout=3)
            return
        self.app.push_screen(TraceScreen(trace_id, focus_span=span_id))
