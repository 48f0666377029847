"""The search screen: query bar, histogram, log table and the detail of the selected log."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Input, Static

from hlog.backend.client import ApiError
from hlog.backend.timeutil import format_ns
from hlog.query import QueryError, describe, format_term, message_terms, mixes_or_and_and, parse
from hlog.tui.format import copied_where, copy_log_link, needs_date, one_line, plural
from hlog.tui.timerange import Range
from hlog.tui.widgets.detail import DetailPane
from hlog.tui.widgets.facets import FacetPanel
from hlog.tui.widgets.footer import HlogFooter
from hlog.tui.widgets.histogram import Histogram
from hlog.tui.widgets.log_table import LogTable
from hlog.tui.widgets.search_bar import QuerySuggester, SearchBar

if TYPE_CHECKING:
    from hlog.tui.app import HlogApp

PAGE_ROWS = 200
LIVE_POLL_SECONDS = 1.0
LIVE_HISTOGRAM_SECONDS = 3.0  # during live tail, the histogram is redrawn at most this often
RETRY_SECONDS = 3.0
SHORT_SCREEN_ROWS = 30


class SearchScreen(Screen[None]):
    """Where hlog-tui opens: search, browse, and jump to sessions and traces."""

    BINDINGS = [
        Binding("slash", "focus_search", "Search", tooltip="Edit the query", id="search.focus"),
        Binding(
            "escape", "leave", "Back", show=False, tooltip="Leave the search bar or close the detail", id="search.leave"
        ),
        Binding("enter", "toggle_detail", "Detail", tooltip="Open or close the selected log", id="search.detail"),
        Binding("s", "open_session", "Session", tooltip="Every log of this log's session", id="search.session"),
        Binding("t", "open_trace", "Trace", tooltip="The trace (request) of this log", id="search.trace"),
        Binding(
            "C", "open_context", "Context", tooltip="The logs around this one, whatever the search", id="search.context"
        ),
        Binding("f", "filter(False)", "Filter", show=False, tooltip="Filter by a field of the log", id="search.filter"),
        Binding("x", "filter(True)", "Exclude", show=False, tooltip="Exclude a field's value", id="search.exclude"),
        Binding("y", "copy", "Copy", show=False, tooltip="Copy the log as JSON (OSC 52)", id="search.copy"),
        Binding(
            "Y", "copy_link", "Link", show=False, tooltip="Copy a link to this log (hlog-tui open)", id="search.link"
        ),
        Binding(
            "F", "toggle_facets", "Facets", tooltip="Top values of each field among the matches", id="search.facets"
        ),
        Binding(
            "P", "patterns", "Patterns", tooltip="The matches grouped by their message's shape", id="search.patterns"
        ),
        Binding(
            "b",
            "breakdown",
            "Breakdown",
            show=False,
            tooltip="Histogram by the values of a field",
            id="search.breakdown",
        ),
        Binding(
            "B",
            "groups",
            "Groups",
            show=False,
            tooltip="The matches grouped by the breakdown's field (or the highlighted field)",
            id="search.groups",
        ),
        Binding(
            "ctrl+s", "save_view", "Save view", show=False, tooltip="Save this search as a view", id="search.save_view"
        ),
        Binding("v", "views", "Views", show=False, tooltip="The saved views", id="search.views"),
        Binding(
            "V",
            "copy_search_link",
            "Search link",
            show=False,
            tooltip="Copy a link to this search and range (hlog-tui open)",
            id="search.search_link",
        ),
        Binding("ctrl+f", "find", "Find", show=False, tooltip="Find text in the loaded logs", id="search.find"),
        Binding(
            "n", "find_next(1)", "Next found", show=False, tooltip="Next log with the found text", id="search.find_next"
        ),
        Binding("N", "find_next(-1)", "Prev found", show=False, tooltip="Previous one", id="search.find_prev"),
        Binding("m", "mark", "Mark", show=False, tooltip="Mark or unmark the log", id="search.mark"),
        Binding(
            "M",
            "copy_marked",
            "Copy marked",
            show=False,
            tooltip="Copy the marked logs, or write them to a file (JSON lines)",
            id="search.copy_marked",
        ),
        Binding(
            "exclamation_mark",
            "count_anyway",
            "Count anyway",
            show=False,
            tooltip="Count and chart a search that would read very many logs",
            id="search.count_anyway",
        ),
        Binding("L", "live", "Live", tooltip="Follow new logs as they arrive", id="search.live"),
        Binding("r", "pick_range", "Range", tooltip="Choose the time range", id="search.range"),
        Binding("left_square_bracket", "bucket(-1)", "Prev bucket", show=False, id="search.bucket_prev"),
        Binding("right_square_bracket", "bucket(1)", "Next bucket", show=False, id="search.bucket_next"),
        Binding("z", "zoom_in", "Zoom", show=False, tooltip="Zoom into the highlighted bucket", id="search.zoom"),
        Binding("Z", "zoom_out", "Unzoom", show=False, tooltip="Back to the previous range", id="search.unzoom"),
        Binding("c", "pick_columns", "Columns", show=False, tooltip="Choose the columns", id="search.columns"),
        Binding("a", "new_alert", "Alert", tooltip="Create an alert rule from this search", id="search.alert"),
        Binding("A", "alerts", "Alerts", show=False, tooltip="Every alert rule and its state", id="search.alerts"),
        Binding(
            "tab",
            "focus_fields",
            "Fields",
            show=False,
            tooltip="Move between the logs and the fields",
            id="search.fields",
        ),
    ]

    def __init__(self, query: str = "", time_range: Range | None = None) -> None:
        super().__init__()
        self.query_text = query
        self.range = time_range or Range()
        self.range_stack: list[Range] = []
        self.total: int | None = None
        self.count_note = ""  # why no count will come, when one will not
        self._counted = 0  # the generation whose count and histogram may run (under --confirm-rows)
        self.live = False
        self.new_while_paused = 0
        self._generation = 0
        self._live_timer: Timer | None = None
        self._live_histogram_at = 0.0
        self._keys_cache: list[str] | None = None
        self.breakdown: str | None = None  # the key the histogram is broken down by (`b`)

    @property
    def hlog(self) -> HlogApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        suggester = QuerySuggester(self._suggest_keys, self._suggest_values)
        yield SearchBar(self.hlog.history, suggester, value=self.query_text, id="search")
        yield Static(id="query-error")
        yield Static(id="status")
        yield Histogram(id="histogram")
        yield FacetPanel(id="facets")
        yield LogTable(id="logs")
        yield DetailPane(id="detail")
        yield HlogFooter()

    def on_mount(self) -> None:
        from hlog.tui.screens.columns import load_columns

        saved = load_columns(self.hlog.columns_path)  # the columns chosen last time
        if saved:
            self.table.set_columns(saved)
        self.table.focus()
        self.run_search()

    def on_resize(self) -> None:
        self.set_class(self.size.height < SHORT_SCREEN_ROWS, "-short")

    @on(Histogram.Resized)
    def _histogram_resized(self) -> None:
        self._load_histogram(self._generation)  # as many bars as now fit

    @property
    def table(self) -> LogTable:
        return self.query_one("#logs", LogTable)

    @property
    def detail(self) -> DetailPane:
        return self.query_one("#detail", DetailPane)

    # -- searching -------------------------------------------------------------
    def _params(self) -> dict[str, Any]:
        return {"q": self.query_text, **self.range.params(self.hlog.now_ns())}

    def _closed_params(self) -> dict[str, Any]:
        """The search's parameters with an open range ending now, by the app's clock."""
        params = self._params()
        if params["to"] is None:
            params["to"] = format_ns(self.hlog.now_ns(), 9)
        return params

    def run_search(self) -> None:
        """Run the current query: first page, count and histogram, each in its worker."""
        self._generation += 1
        self.total = None
        self.count_note = ""
        self.new_while_paused = 0
        start, end = self.range.bounds(self.hlog.now_ns())
        now = self.hlog.now_ns()
        self.table.with_date = needs_date(start, end or now, now)
        self._load_first_page(self._generation)
        self._load_totals(self._generation)
        if self.has_class("-facets"):
            self._load_facets(self._generation)
        self._update_status()

    @work(exclusive=True, group="page")
    async def _load_first_page(self, generation: int) -> None:
        try:
            page = await self.hlog.api.logs(**self._params(), limit=PAGE_ROWS)
        except ApiError as err:
            self._failed(err)
            return
        except Exception as err:  # network errors: shown, then retried
            self._unreachable(err)
            return
        if generation != self._generation:
            return
        self._show_grouping()
        self.table.set_rows(page["logs"], more_after=page["next_cursor"] is not None)
        self._update_status()

    @work(exclusive=True, group="totals")
    async def _load_totals(self, generation: int, anyway: bool = False) -> None:
        """The count and histogram, once the store's estimate of what they would read is under
        --confirm-rows (or `anyway`); else the estimate, and what to do, in the status line."""
        limit = self.hlog.confirm_rows
        if limit and not anyway:
            try:
                rows = (await self.hlog.api.estimate(**self._closed_params()))["rows"]
            except Exception:  # no estimate (an older backend): count
                rows = 0
            if generation != self._generation:
                return
            if rows > limit:
                self.count_note = f"≈ {rows:,} logs to read to count: ! counts anyway, r narrows the range"
                self.query_one(Histogram).show(None)
                self._update_status()
                return
        self._counted = generation
        self._load_count(generation)
        self._load_histogram(generation)

    def action_count_anyway(self) -> None:
        if self._counted != self._generation:
            self.count_note = ""
            self._update_status()
            self._load_totals(self._generation, anyway=True)

    @work(exclusive=True, group="count")
    async def _load_count(self, generation: int) -> None:
        try:
            total = await self.hlog.api.count(**self._params())
        except Exception as err:  # the page worker reports errors; the status line says no count comes
            if generation == self._generation:
                invalid = isinstance(err, ApiError) and err.payload.get("type") == "query"
                self.count_note = "invalid query: no count" if invalid else "no count (the backend did not answer)"
                self._update_status()
            return
        if generation == self._generation:
            self.total = total
            self._update_status()

    @work(exclusive=True, group="histogram")
    async def _load_histogram(self, generation: int) -> None:
        if self._counted != generation:  # waiting for `!`
            return
        params = self._closed_params()
        histogram = self.query_one(Histogram)
        buckets = histogram.buckets_for(histogram.size.width or self.size.width)
        by = {"by": self.breakdown} if self.breakdown else {}
        try:
            data = await self.hlog.api.histogram(**params, buckets=buckets, **by)
        except Exception:
            return
        if generation == self._generation:
            histogram.show(data)

    @work(exclusive=True, group="more")
    async def _load_more(self, direction: int) -> None:
        table = self.table
        params = self._params()
        generation = self._generation
        try:
            if direction == 1 and table.rows:
                page = await self.hlog.api.logs(**params, limit=PAGE_ROWS, cursor=table.rows[-1]["cursor"])
                if generation == self._generation:
                    table.extend(page["logs"], more_after=page["next_cursor"] is not None)
            elif direction == -1 and table.rows:
                page = await self.hlog.api.logs(**params, limit=PAGE_ROWS, after=table.rows[0]["cursor"])
                if generation == self._generation:
                    table.prepend(list(reversed(page["logs"])), more_before=len(page["logs"]) == PAGE_ROWS)
            elif direction == 2:
                page = await self.hlog.api.logs(**params, limit=PAGE_ROWS, after="0-0")
                if generation == self._generation:
                    rows = list(reversed(page["logs"]))
                    table.set_rows(rows, more_after=False, more_before=len(rows) == PAGE_ROWS)
                    table.cursor = len(rows) - 1
        except Exception as err:
            self._unreachable(err)

    def _show_grouping(self) -> None:
        """Under the bar, how a query that mixes OR with AND or spaces was grouped; else nothing.
        The words and phrases it looks for in the message are marked in the table and detail."""
        line = self.query_one("#query-error", Static)
        try:
            node = parse(self.query_text)
        except QueryError:
            node = None
        self.table.terms = self.detail.terms = message_terms(node) if node is not None else []
        if node is not None and mixes_or_and_and(node):
            line.update(Text(f"read as: {one_line(describe(node))}", style="dim"))
            line.add_class("-shown")
        else:
            line.update("")
            line.remove_class("-shown")

    def _failed(self, err: ApiError) -> None:
        """A query the backend refused: show why under the bar; the previous results stay."""
        error = self.query_one("#query-error", Static)
        if err.payload.get("type") == "query":
            text = Text()
            message = one_line(str(err.payload["message"]))
            text.append(f"✗ {message} (column {err.payload['column']})\n", style="bold red")
            line, caret = str(err.payload["context"]).split("\n", 1)
            text.append("  " + one_line(line) + "\n  " + one_line(caret), style="red")
            error.update(text)
        else:
            error.update(Text(f"✗ {one_line(str(err))}", style="bold red"))
        error.add_class("-shown")

    def _unreachable(self, err: Exception) -> None:
        self.notify(f"backend unreachable: {err}; retrying in {RETRY_SECONDS:.0f}s", severity="error", timeout=4)
        self.set_timer(RETRY_SECONDS, self.run_search)

    def _update_status(self) -> None:
        total = self.count_note or ("counting…" if self.total is None else plural(self.total, "match", "matches"))
        parts = [total, self.range.label(), self.hlog.link_label]
        if self.hlog.api.partial:  # a shard of the store did not answer
            parts.insert(1, "⚠ " + one_line(self.hlog.api.partial))
        if self.live:
            parts.insert(
                0, f"● LIVE · paused · {self.new_while_paused:,} new (g to jump)" if self.new_while_paused else "● LIVE"
            )
        self.query_one("#status", Static).update(Text("  ·  ".join(parts), style="bold" if self.live else ""))

    async def _suggest_keys(self) -> list[str]:
        if self._keys_cache is None:
            try:
                keys = await self.hlog.api.keys(**self.range.params(self.hlog.now_ns()))
            except Exception:
                return []
            self._keys_cache = [k["key"] for k in keys]
        return self._keys_cache

    async def _suggest_values(self, key: str, prefix: str) -> list[str]:
        try:
            found = await self.hlog.api.values(key, prefix=prefix, **self.range.params(self.hlog.now_ns()))
        except Exception:
            return []
        return [v["value"] for v in found]

    # -- events ------------------------------------------------------------------
    @on(Input.Submitted, "#search")
    def _submitted(self, event: Input.Submitted) -> None:
        self.query_text = event.value.strip()
        self.query_one(SearchBar).remember(self.query_text)
        self.table.focus()
        self.run_search()

    @on(LogTable.CursorMoved)
    def _cursor_moved(self, event: LogTable.CursorMoved) -> None:
        if self.has_class("-detail"):
            self.detail.show(event.row)
        if self.live and event.table.cursor == 0 and self.new_while_paused:
            self.new_while_paused = 0
            self._update_status()

    @on(LogTable.Activated)
    def _activated(self) -> None:
        if not self.has_class("-detail"):
            self.action_toggle_detail()

    @on(LogTable.NeedRows)
    def _need_rows(self, event: LogTable.NeedRows) -> None:
        if event.direction == -2:
            self._load_first_page(self._generation)
        else:
            self._load_more(event.direction)

    @work(exclusive=True, group="facets")
    async def _load_facets(self, generation: int) -> None:
        panel = self.query_one(FacetPanel)
        panel.mark_loading()
        try:
            found = await self.hlog.api.facets(**self._params())
        except Exception as err:
            if generation == self._generation:
                panel.border_subtitle = f"✗ {one_line(str(err))}"
            return
        if generation == self._generation and self.has_class("-facets"):
            panel.show_facets(found)

    def action_toggle_facets(self) -> None:
        panel = self.query_one(FacetPanel)
        if self.has_class("-facets"):
            self.remove_class("-facets")
            self.workers.cancel_group(self, "facets")
            self.table.focus()
        else:
            self.add_class("-facets")
            self.call_after_refresh(panel.focus)  # once shown: a hidden widget takes no focus
            self._load_facets(self._generation)

    @on(FacetPanel.Picked)
    @on(DetailPane.FilterRequested)
    def _filter_requested(self, event: DetailPane.FilterRequested | FacetPanel.Picked) -> None:
        self._add_term(format_term(event.key, event.value, event.exclude))

    # -- actions -----------------------------------------------------------------
    def action_focus_search(self) -> None:
        self.query_one(SearchBar).focus()

    def action_leave(self) -> None:
        if self.query_one(FacetPanel).has_focus:
            self.action_toggle_facets()
        elif self.has_class("-detail"):
            self.remove_class("-detail")
            self.table.focus()
        elif self.query_one(SearchBar).has_focus:
            self.table.focus()

    def action_toggle_detail(self) -> None:
        if self.has_class("-detail"):
            self.remove_class("-detail")
            self.table.focus()
            return
        self.add_class("-detail")
        self.detail.show(self.table.selected)

    def action_filter(self, exclude: bool) -> None:
        if not self.has_class("-detail"):
            self.action_toggle_detail()
            self.call_after_refresh(self.detail.focus_fields)  # once shown: a hidden widget takes no focus
            self.notify("Pick a field, then f to filter or x to exclude", timeout=3)
            return
        self.detail.action_filter(exclude)

    def action_breakdown(self) -> None:
        if self.breakdown is not None:  # b again: back to levels
            self.breakdown = None
            self.notify("Histogram by level", timeout=2)
        elif not self.has_class("-detail"):
            self.action_toggle_detail()
            self.call_after_refresh(self.detail.focus_fields)
            self.notify("Pick a field, then b to break the histogram down by it", timeout=3)
            return
        else:
            field = self.detail.highlighted_field()
            if field is None:
                return
            self.breakdown = field[0]
            self.notify(f"Histogram by {one_line(field[0])} (b again: by level)", timeout=3)
        self._load_histogram(self._generation)

    def action_groups(self) -> None:
        key = self.breakdown
        if key is None and self.has_class("-detail"):
            field = self.detail.highlighted_field()
            key = field[0] if field is not None else None
        if key is None:
            self.notify("b on a field of the detail first (or highlight one), then B", timeout=3)
            return
        from hlog.tui.screens.groups import GroupsScreen

        self.app.push_screen(GroupsScreen(key, self.query_text, self._params()), self._add_term)

    def _add_term(self, term: str | None) -> None:
        """Add a term to the query (a filter, or what the patterns or groups screen chose), and search."""
        if term:
            self.query_text = f"{self.query_text} {term}".strip()
            self.query_one(SearchBar).value = self.query_text
            self.table.focus()
            self.run_search()

    def action_focus_fields(self) -> None:
        if self.has_class("-detail"):
            if self.detail.has_focus:
                self.table.focus()
            else:
                self.detail.focus_fields()

    def action_copy(self) -> None:
        log = self.table.selected
        if log is None:
            return
        record = {k: v for k, v in log.items() if k != "cursor"}  # the log, not our paging position
        self.app.copy_to_clipboard(json.dumps(record, ensure_ascii=False))
        self.notify(copied_where("Log"), timeout=6)

    # -- saved views -------------------------------------------------------------
    def view(self, name: str) -> dict[str, Any]:
        """The current search as a saved view named `name`."""
        return {
            "name": name,
            "query": self.query_text,
            "since": self.range.preset or "",
            "from_ns": 0 if self.range.preset else self.range.start_ns or 0,
            "to_ns": 0 if self.range.preset else self.range.end_ns or 0,
            "columns": [column.key for column in self.table.columns],
            "by": self.breakdown or "",
        }

    def apply_view(self, view: dict[str, Any]) -> None:
        """Show a saved view: its search, range, columns and breakdown."""
        from hlog.tui.screens.columns import column_for

        self.query_text = view["query"]
        self.query_one(SearchBar).value = self.query_text
        if view["since"]:
            self.range = Range(view["since"])
        elif view["from_ns"]:
            self.range = Range(None, view["from_ns"], view["to_ns"] or None)
        columns = [c for c in (column_for(key) for key in view["columns"]) if c is not None]
        if columns:
            self.table.set_columns(columns)
        self.breakdown = view["by"] or None
        self.table.focus()
        self.run_search()
        self.notify(f"View {one_line(view['name'])}", timeout=2)

    def action_save_view(self) -> None:
        from hlog.tui.screens.views import SaveViewScreen

        def save(name: str | None) -> None:
            if name:
                self._save_view(name)

        self.app.push_screen(SaveViewScreen(), save)

    @work(group="views")
    async def _save_view(self, name: str) -> None:
        try:
            await self.hlog.api.save_view(self.view(name))
        except Exception as err:
            self.notify(f"cannot save the view: {err}", severity="error")
            return
        self.notify(f"Saved view {one_line(name)}: v lists the views, hlog-tui --view opens one", timeout=4)

    @work(group="views")
    async def action_views(self) -> None:
        from hlog.tui.screens.views import ViewsScreen

        try:
            found = await self.hlog.api.views()
        except Exception as err:
            self.notify(f"cannot list the views: {err}", severity="error")
            return
        chosen = await self.app.push_screen_wait(ViewsScreen(found))
        if chosen is not None:
            self.apply_view(chosen)

    # -- find and marks -------------------------------------------------------------
    def action_find(self) -> None:
        from hlog.tui.screens.find import FindScreen

        def found(text: str | None) -> None:
            if text is None:
                return
            self.table.find = text
            self.table.clear_lines()
            if text and not self.table.find_next(1) and not self.table.find_next(-1):
                self.notify(f"{one_line(text)!r} is in none of the loaded logs", severity="warning", timeout=3)

        self.app.push_screen(FindScreen(self.table.find), found)

    def action_find_next(self, direction: int) -> None:
        if not self.table.find:
            self.notify("ctrl+f first: the text to find", timeout=3)
        elif not self.table.find_next(direction):
            where = "below" if direction > 0 else "above"
            self.notify(f"No more {one_line(self.table.find)!r} {where} in the loaded logs", timeout=3)

    def action_mark(self) -> None:
        self.table.toggle_mark()
        self.table.move(1)

    def action_copy_marked(self) -> None:
        marked = list(self.table.marked.values())
        if not marked:
            self.notify("m marks logs first", timeout=3)
            return
        from hlog.tui.screens.marked import MarkedScreen

        self.app.push_screen(MarkedScreen(marked))

    def action_copy_link(self) -> None:
        copy_log_link(self, self.table.selected)

    def action_copy_search_link(self) -> None:
        from hlog.backend.permalink import search_link

        link = search_link(self.query_text, self.range.preset, self.range.start_ns, self.range.end_ns)
        self.app.copy_to_clipboard(link)
        self.notify(copied_where("Link to this search", "as hlog://search?…"), timeout=6)

    def action_open_session(self) -> None:
        log = self.table.selected
        if log is None or not log["session_id"]:
            self.notify("This log has no session", severity="warning", timeout=3)
            return
        from hlog.tui.screens.session import SessionScreen

        self.app.push_screen(SessionScreen(log["session_id"], focus_cursor=log["cursor"]))

    def action_patterns(self) -> None:
        from hlog.tui.screens.patterns import PatternsScreen

        self.app.push_screen(PatternsScreen(self.query_text, self._params(), self.table.with_date), self._add_term)

    def action_open_context(self) -> None:
        log = self.table.selected
        if log is None:
            self.notify("No log selected", severity="warning", timeout=3)
            return
        from hlog.tui.screens.context import ContextScreen

        self.app.push_screen(ContextScreen(log["log_id"], query=self.query_text))

    def action_open_trace(self) -> None:
        log = self.table.selected
        if log is None or not log["trace_id"]:
            self.notify("This log has no trace id", severity="warning", timeout=3)
            return
        from hlog.tui.screens.trace import TraceScreen

        self.app.push_screen(TraceScreen(log["trace_id"], focus_span=log["span_id"]))

    def action_live(self) -> None:
        if self.live:
            self.live = False
            if self._live_timer is not None:
                self._live_timer.stop()
            self.notify("Live tail stopped", timeout=2)
        else:
            message = "Live tail: new logs appear at the top"
            if not self.range.live_capable:  # the range ends in the past: keep its start, run it to now
                self.range_stack.append(self.range)
                self.range = Range(None, self.range.start_ns, None)
                self.run_search()
                message += f"; the range now runs from {self.range.label()} (Z goes back)"
            self.live = True
            self.new_while_paused = 0
            self._live_timer = self.set_interval(LIVE_POLL_SECONDS, self._poll_live)
            self.notify(message, timeout=4)
        self._update_status()

    @work(exclusive=True, group="live")
    async def _poll_live(self) -> None:
        table = self.table
        generation = self._generation
        params = {"q": self.query_text, "from": self.range.params(self.hlog.now_ns())["from"]}
        if table.rows:
            params["after"] = table.rows[0]["cursor"]
        try:
            page = await self.hlog.api.logs(**params, limit=PAGE_ROWS)
        except Exception:
            return  # the next poll retries
        if generation != self._generation or not self.live or not page["logs"]:
            return
        following = table.cursor == 0
        table.prepend(list(reversed(page["logs"])), more_before=len(page["logs"]) == PAGE_ROWS, follow=following)
        if self.total is not None:
            self.total += len(page["logs"])
        if not following:
            self.new_while_paused += len(page["logs"])
        self._update_status()
        now = time.monotonic()
        if now - self._live_histogram_at >= LIVE_HISTOGRAM_SECONDS:  # the histogram follows too
            self._live_histogram_at = now
            self._load_histogram(generation)

    def action_pick_range(self) -> None:
        from hlog.tui.screens.range import RangeScreen

        def chosen(picked: Range | None) -> None:
            if picked is not None and picked != self.range:
                self.range_stack.append(self.range)
                self.range = picked
                self.run_search()

        self.app.push_screen(RangeScreen(self.range), chosen)

    def action_bucket(self, step: int) -> None:
        histogram = self.query_one(Histogram)
        if histogram.data is None:
            return
        count = len(histogram.data["buckets"])
        histogram.selected = (
            (count - 1 if step < 0 else 0)
            if histogram.selected < 0
            else max(0, min(count - 1, histogram.selected + step))
        )
        histogram.refresh()

    def action_zoom_in(self) -> None:
        histogram = self.query_one(Histogram)
        bounds = histogram.bucket_range(histogram.selected)
        if bounds is None:
            self.notify("Choose a bucket with [ and ] first", timeout=3)
            return
        self.range_stack.append(self.range)
        self.range = Range(None, bounds[0], bounds[1])
        histogram.selected = -1
        self.run_search()

    def action_zoom_out(self) -> None:
        if self.range_stack:
            self.range = self.range_stack.pop()
            self.run_search()

    def action_new_alert(self) -> None:
        from hlog.tui.screens.alert_form import AlertFormScreen

        self.app.push_screen(AlertFormScreen(query=self.query_text))

    def action_alerts(self) -> None:
        from hlog.tui.screens.alerts import AlertsScreen

        self.app.push_screen(AlertsScreen())

    def action_pick_columns(self) -> None:
        from hlog.tui.screens.columns import ColumnsScreen, save_columns

        def chosen(columns: list[Any] | None) -> None:
            if columns is not None:
                self.table.set_columns(columns)
                save_columns(self.hlog.columns_path, columns)

        self.app.push_screen(ColumnsScreen(self.table.columns), chosen)
