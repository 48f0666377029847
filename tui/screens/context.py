"""The context screen: the logs just before and after one, whatever the search, in time order."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Static

from hlog.backend.client import ApiError
from hlog.tui.format import copy_log_link, one_line, plural
from hlog.tui.screens import left
from hlog.tui.widgets.detail import DetailPane
from hlog.tui.widgets.footer import HlogFooter
from hlog.tui.widgets.log_table import Column, LogTable

if TYPE_CHECKING:
    from hlog.tui.app import HlogApp

AROUND_ROWS = 20  # before and after the log, at first
MORE_ROWS = 50  # each time the cursor nears an end
ANCHOR_MARK, MATCH_MARK = "▶", "•"
CONTEXT_COLUMNS = [
    Column("mark", "", 1),
    Column("time", "time", 12),
    Column("level", "level", 5),
    Column("service_name", "service", 12),
]
SCOPE_WORDS = {
    "service": "the same service",
    "host": "the same host",
    "session": "the same session",
    "trace": "the same trace",
    "all": "every service",
}


class ContextScreen(Screen[None]):
    """The logs around one log: the same service (and host) by default; keys change the scope."""

    BINDINGS = [
        Binding("escape", "back", "Back", tooltip="Back to where you were", id="context.back"),
        Binding("enter", "toggle_detail", "Detail", tooltip="Open or close the selected log", id="context.detail"),
        Binding("v", "scope('service')", "Service", tooltip="The same service (and host)", id="context.service"),
        Binding("h", "scope('host')", "Host", tooltip="Every service of the same host", id="context.host"),
        Binding("s", "scope('session')", "Session", tooltip="The same user session", id="context.session"),
        Binding("t", "scope('trace')", "Trace", tooltip="The same trace (request)", id="context.trace"),
        Binding("a", "scope('all')", "All", tooltip="Every log, from every service", id="context.all"),
        Binding(
            "Y", "copy_link", "Link", show=False, tooltip="Copy a link to this log (hlog-tui open)", id="context.link"
        ),
    ]

    def __init__(self, log_id: str, query: str = "") -> None:
        super().__init__()
        self.log_id = log_id  # the log the context is around
        self.query_text = query  # its matches are marked
        self.by = "service"
        self.scope: dict[str, str] = {}
        self._loading: set[int] = set()  # the ends (-1 older, 1 newer) being loaded

    @property
    def hlog(self) -> HlogApp:
        return self.app  # type: ignore[return-value]

    @property
    def table(self) -> LogTable:
        return self.query_one("#context-logs", LogTable)

    def compose(self) -> ComposeResult:
        yield Static(Text("context  loading…", style="bold"), id="context-summary")
        table = LogTable(id="context-logs")
        table.columns = list(CONTEXT_COLUMNS)
        table.with_date = True
        yield table
        yield DetailPane(id="detail")
        yield HlogFooter()

    def on_mount(self) -> None:
        self.table.focus()
        self._load(self.by)

    def _marked(self, logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for log in logs:
            log["mark"] = ANCHOR_MARK if log["log_id"] == self.log_id else MATCH_MARK if log.get("matches") else ""
        return logs

    @work(exclusive=True, group="context")
    async def _load(self, by: str) -> None:
        try:
            found = await self.hlog.api.context(
                self.log_id, before=AROUND_ROWS, after=AROUND_ROWS, by=by, q=self.query_text
            )
            if left(self):
                return
        except ApiError as err:
            if left(self):
                return
            if err.status == 400 and self.table.rows:  # a scope this log lacks: keep what is shown
                self.notify(str(err), severity="warning", timeout=4)
            else:
                self.query_one("#context-summary", Static).update(Text(f"✗ {one_line(str(err))}", style="bold red"))
            return
        self.by, self.scope = by, found["scope"]
        logs = self._marked(found["logs"])
        self.table.set_rows(logs, more_after=found["more_after"], more_before=found["more_before"])
        self.table.cursor = found["anchor"]
        self._show_summary()

    def _show_summary(self) -> None:
        text = Text()
        text.append("context ", style="bold")
        text.append(SCOPE_WORDS[self.by], style="bold cyan")
        for key, value in self.scope.items():
            text.append(f"  {key} ", style="dim")
            text.append(one_line(value) or '""')
        text.append(f"\n{plural(len(self.table.rows), 'log')} loaded, oldest first; ", style="dim")
        text.append(ANCHOR_MARK, style="bold")
        text.append(" the log", style="dim")
        if self.query_text:
            text.append(f"  {MATCH_MARK}", style="bold")
            text.append(f" matches {one_line(self.query_text)}", style="dim")
        self.query_one("#context-summary", Static).update(text)

    @on(LogTable.NeedRows)
    def _need_rows(self, event: LogTable.NeedRows) -> None:
        rows, direction = self.table.rows, 1 if event.direction > 0 else -1
        more = self.table.more_after if direction > 0 else self.table.more_before
        if rows and more and direction not in self._loading:
            self._loading.add(direction)
            self._more(rows[-1 if direction > 0 else 0]["log_id"], direction)

    @work(group="more")
    async def _more(self, edge: str, direction: int) -> None:
        """More logs past the first or last loaded one (the scope is the same from any log in it)."""
        by = self.by
        try:
            found = await self.hlog.api.context(
                edge,
                before=MORE_ROWS if direction < 0 else 0,
                after=MORE_ROWS if direction > 0 else 0,
                by=by,
                q=self.query_text,
            )
        except ApiError as err:
            if not left(self):
                self.notify(f"cannot load more: {err}", severity="error")
            return
        finally:
            self._loading.discard(direction)
        rows = self.table.rows
        if left(self) or by != self.by or not rows or edge != rows[0 if direction < 0 else -1]["log_id"]:
            return  # the scope changed or the same end was loaded meanwhile
        logs = self._marked(found["logs"])
        if direction > 0:
            self.table.extend(logs[found["anchor"] + 1 :], more_after=found["more_after"])
        else:
            self.table.prepend(logs[: found["anchor"]], more_before=found["more_before"])
        self._show_summary()

    @on(LogTable.CursorMoved)
    def _moved(self, event: LogTable.CursorMoved) -> None:
        if self.has_class("-detail"):
            self.query_one(DetailPane).show(event.row)

    def action_copy_link(self) -> None:
        copy_log_link(self, self.table.selected)

    def action_scope(self, by: str) -> None:
        self._load(by)

    def action_back(self) -> None:
        if self.has_class("-detail"):
            self.remove_class("-detail")
            self.table.focus()
            return
        self.app.pop_screen()

    def action_toggle_detail(self) -> None:
        if self.has_class("-detail"):
            self.remove_class("-detail")
            self.table.focus()
        else:
            self.add_class("-detail")
            self.query_one(DetailPane).show(self.table.selected)
