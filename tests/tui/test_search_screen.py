"""Pilot tests of the search screen: searching, errors, paging, filters, detail, copy, help, range."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest
from textual.widgets import Static

from hlog.backend import attributes as attributes_module
from hlog.backend.limits import DEFAULT_LIMITS
from hlog.backend.store import Store
from hlog.tui.app import HlogApp
from hlog.tui.screens.search import SearchScreen
from hlog.tui.timerange import Range
from hlog.tui.widgets.detail import DetailPane
from hlog.tui.widgets.histogram import Histogram
from hlog.tui.widgets.log_table import MAX_WINDOW_ROWS, LogTable
from hlog.tui.widgets.search_bar import SearchBar
from tests.conftest import logs_request
from tests.tui.conftest import NOW_NS, ingest, settle, until


def bodies(app) -> list[str]:  # type: ignore[no-untyped-def]
    return [r["body"] for r in app.screen.query_one(LogTable).rows]


async def test_opens_on_the_newest_logs_with_count_and_histogram(shop_store: Store, make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(shop_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, SearchScreen)
        assert bodies(app)[:3] == [
            "POST /checkout 502 in 840ms",
            "payment declined: card expired",
            "GET /cart 200 in 12ms",
        ]
        assert app.screen.total == 45
        assert "45 matches" in str(app.screen.query_one("#status").render())
        histogram = app.screen.query_one(Histogram)
        assert histogram.data is not None and histogram.data["total"] == 45


async def test_search_and_syntax_error(shop_store: Store, make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(shop_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("slash")
        assert app.screen.query_one(SearchBar).has_focus
        await pilot.press(*"level:error")
        await pilot.press("enter")
        await settle(pilot)
        assert bodies(app) == ["POST /checkout 502 in 840ms", "payment declined: card expired"]
        assert app.screen.query_one(LogTable).has_focus
        # a broken query: the message and caret under the bar, the previous results stay
        await pilot.press("slash", "ctrl+a")
        app.screen.query_one(SearchBar).value = "level:error AND"
        await pilot.press("enter")
        await settle(pilot)
        error = app.screen.query_one("#query-error")
        assert error.has_class("-shown")
        text = str(error.render())
        assert "dangling operator" in text and "column 16" in text and "^" in text
        assert bodies(app) == ["POST /checkout 502 in 840ms", "payment declined: card expired"]
        status = str(app.screen.query_one("#status").render())  # no count coming: it says so
        assert "counting" not in status and status.startswith("invalid query: no count")
        # history: up brings back the previous query
        bar = app.screen.query_one(SearchBar)
        bar.focus()
        bar.value = ""
        await pilot.press("up")
        assert bar.value == "level:error AND"
        await pilot.press("up")
        assert bar.value == "level:error"


async def test_paging_through_many_matches_keeps_a_bounded_window(store: Store, make_app) -> None:  # type: ignore[no-untyped-def]
    rows = [{"body": f"line {i}", "level": "INFO", "ts": NOW_NS - (i + 1) * 1_000_000} for i in range(2600)]
    for start in range(0, len(rows), 1000):
        ingest(store, logs_request(rows[start : start + 1000]))
    app = make_app(store)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(LogTable)
        assert len(table.rows) == 200 and table.more_after
        seen = set()
        for _ in range(140):
            await pilot.press("pagedown")
            await settle(pilot, 1)
            if table.selected:
                seen.add(table.selected["body"])
        assert table.selected is not None and table.selected["body"] == "line 2599"  # the oldest
        assert not table.more_after
        assert len(table.rows) <= MAX_WINDOW_ROWS and table.more_before
        assert app.screen.total == 2600
        # g goes back to the newest, reloading what the window dropped
        await pilot.press("g")
        await settle(pilot)
        assert table.selected is not None and table.selected["body"] == "line 0"


async def test_bottom_and_top_and_errors(shop_store: Store, make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(shop_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(LogTable)
        await pilot.press("G")
        await settle(pilot)
        assert table.selected["body"] == "heartbeat 39"
        await pilot.press("E")
        assert table.selected["body"] == "payment declined: card expired"
        await pilot.press("E")
        assert table.selected["body"] == "POST /checkout 502 in 840ms"
        await pilot.press("e")
        assert table.selected["body"] == "payment declined: card expired"
        await pilot.press("k", "k")
        assert table.selected["body"] == "POST /checkout 502 in 840ms"


async def test_detail_filter_exclude_and_copy(shop_store: Store, make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(shop_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("j")  # payment declined
        await pilot.press("enter")
        assert app.screen.has_class("-detail")
        detail = app.screen.query_one(DetailPane)
        assert "payment declined: card expired" in detail.plain_rows()
        await pilot.press("tab")
        assert detail.has_focus and detail.highlighted == 0
        card = next(i for i, (key, _) in enumerate(detail.fields) if key == "card")
        await pilot.press(*"j" * card)  # the arrows (or j/k) move between the fields
        assert detail.highlighted_field() == ("card", "visa")
        await pilot.press("f")
        await settle(pilot)
        assert app.screen.query_text == "card:visa"
        assert bodies(app) == ["payment declined: card expired"]
        await pilot.press("enter")  # the detail is open: close it
        await pilot.press("enter")
        await pilot.press("tab")
        detail.highlight(detail.fields.index(("service_name", "payments")))
        await pilot.press("x")
        await settle(pilot)
        assert app.screen.query_text == "card:visa -service_name:payments"
        assert bodies(app) == []
        await pilot.press("escape")
        app.screen.query_one(SearchBar).value = ""
        await pilot.press("slash", "enter")
        await settle(pilot)
        await pilot.press("y")
        copied = json.loads(app.clipboard)
        assert copied["body"] == "POST /checkout 502 in 840ms" and copied["session_id"] == "sess-alice"


async def test_range_zoom_and_help(shop_store: Store, make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(shop_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("r")
        await pilot.pause()
        await pilot.press("up", "up", "enter")  # the list opens on 24h; two up is 1h
        await settle(pilot)
        screen = app.screen
        assert screen.range.preset == "1h"
        assert "last 1h" in str(screen.query_one("#status").render())
        assert screen.total == 45
        await pilot.press("r", "up", "enter")  # 15m
        await settle(pilot)
        assert screen.range.preset == "15m" and screen.total == 4
        # zoom into the last bucket of the histogram, and back out
        await pilot.press("left_square_bracket")
        await pilot.press("z")
        await settle(pilot)
        assert screen.range.preset is None and screen.range.end_ns is not None
        await pilot.press("Z")
        await settle(pilot)
        assert screen.range.preset == "15m"
        await pilot.press("question_mark")
        await pilot.pause()
        assert type(app.screen).__name__ == "HelpScreen"
        await pilot.press("question_mark")
        await pilot.pause()
        assert app.screen is screen


async def test_untrusted_text_never_reaches_the_terminal(shop_store: Store, make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(shop_store, query="evil")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(LogTable)
        assert len(table.rows) == 1
        line = table.render_line(1).text
        assert "\x1b" not in line and "\x07" not in line and "\u202e" not in line
        assert "\\x1b[2J" in line and "\\x1b]0;pwned\\x07" in line and "\\u202e" in line
        await pilot.press("enter")
        await pilot.pause()
        detail = app.screen.query_one(DetailPane)
        rendered = "\n".join(detail.render_line(y).text for y in range(detail.size.height))
        assert "\x1b" not in rendered and "evil\\x1b[31m = red\\x1b[0m" in rendered
        assert "\\x1b[2J" in rendered
        # the whole screen as the terminal would receive it holds no escape from the log
        svg = app.export_screenshot()
        assert "pwned\x07" not in svg and "\x1b[2J" not in svg


async def test_columns_can_be_toggled_and_added(shop_store: Store, make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(shop_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(LogTable)
        await pilot.press("c")
        await pilot.pause()
        choices = app.screen.query_one("SelectionList")
        choices.deselect("session_id")
        await pilot.press("tab", *"user.id", "enter")  # type an attribute; enter adds it and applies
        await pilot.pause()
        assert [c.key for c in table.columns] == ["time", "level", "service_name", "attr:user.id"]
        header = table.render_line(0).text
        assert "session" not in header and "user.id" in header
        assert "alice" in table.render_line(1).text
        # the dialog's title is whole, and each row says whether its column is shown
        await pilot.press("c")
        await pilot.pause()
        assert str(app.screen.query_one(".dialog-title").render()) == "Columns"
        choices = app.screen.query_one("SelectionList")
        rows = {str(choices.get_option_at_index(i).prompt).split()[0]: i for i in range(choices.option_count)}
        assert str(choices.get_option_at_index(rows["session"]).prompt).endswith("hidden")
        choices.select("session_id")
        await pilot.pause()
        assert str(choices.get_option_at_index(rows["session"]).prompt).endswith("shown")
        await pilot.press("escape")
    # the choice is there at the next start (kept beside the search history)
    reopened = Store(shop_store.dsn)  # quitting closed the store
    try:
        app = make_app(reopened)
        async with app.run_test(size=(120, 36)) as pilot:
            await settle(pilot)
            keys = [c.key for c in app.screen.query_one(LogTable).columns]
            assert keys == ["time", "level", "service_name", "attr:user.id"]
    finally:
        reopened.close()


def test_saved_columns_are_untrusted(tmp_path: Path) -> None:
    """Only known columns and valid attribute keys come back from the file; titles come from the keys."""
    from hlog.tui.screens.columns import load_columns

    path = tmp_path / "columns.json"
    path.write_text(json.dumps(["level", "attr:user.id", "attr:\x1b]0;pwned\x07", "nope", 5, "level"]))
    assert [(c.key, c.title) for c in load_columns(path) or []] == [("level", "level"), ("attr:user.id", "user.id")]
    path.write_text("{not json")
    assert load_columns(path) is None


async def test_command_palette_lists_screen_actions(shop_store: Store, make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(shop_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for expected in ("Session", "Trace", "Live", "Range", "Next error", "Quit"):
            assert expected in titles


async def test_mouse_selects_and_opens(shop_store: Store, make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(shop_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(LogTable)
        await pilot.click(LogTable, offset=(30, 3))  # line 0 is the header: line 3 is the third log
        assert table.selected["body"] == "GET /cart 200 in 12ms"
        await pilot.click(LogTable, offset=(30, 3), times=2)
        await pilot.pause()
        assert app.screen.has_class("-detail")


async def test_how_a_query_mixing_or_and_spaces_was_read(shop_store: Store, make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(shop_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"service:payments level:error OR level:warn", "enter")
        await settle(pilot)
        hint = str(app.screen.query_one("#query-error").render())
        assert "read as: service:payments AND (level:error OR level:warn)" in hint
        assert bodies(app) and all(row["service_name"] == "payments" for row in app.screen.table.rows)
        await pilot.press("slash", "ctrl+u", *"level:error", "enter")  # nothing to explain
        await settle(pilot)
        assert "read as" not in str(app.screen.query_one("#query-error").render())


async def test_suggestions_in_any_case_several_to_cycle_and_quoted_to_match(store: Store, make_app) -> None:  # type: ignore[no-untyped-def]
    path = "C:\\temp\\app.log"
    records = [
        {"body": f"wrote {i}", "level": "error", "ts": NOW_NS - (i + 1) * 10**9, "attrs": {"win.path": path}}
        for i in range(3)
    ]
    records.append({"body": "other", "level": "info", "ts": NOW_NS - 10**10, "attrs": {"win.path": "D:\\x"}})
    ingest(store, logs_request(records, {"service.name": "checkout"}))
    for service in ("cart", "catalog"):
        ingest(store, logs_request([{"body": service, "ts": NOW_NS - 10**11}], {"service.name": service}))
    app = make_app(store)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        bar = app.screen.query_one(SearchBar)
        await pilot.press("slash", *"level:e")
        await settle(pilot)
        assert bar._suggestion == "level:ERROR"  # typed in lower case
        await pilot.press("ctrl+u", *"service:c")
        await settle(pilot)
        deadline = time.monotonic() + 20  # the suggester answers in its own time on a busy machine
        while not (bar.suggester.value == bar.value and bar.suggester.candidates) and time.monotonic() < deadline:
            await pilot.pause(0.05)
        seen = {bar._suggestion}
        for _ in range(2):
            await pilot.press("tab")
            seen.add(bar._suggestion)
        assert seen == {"service:checkout", "service:cart", "service:catalog"}
        await pilot.press("shift+tab")
        assert bar.has_focus and bar._suggestion in seen
        # a Windows path is offered quoted, so that accepting it finds its logs
        await pilot.press("ctrl+u", *"win.path:C")
        await settle(pilot)
        assert bar._suggestion == 'win.path:"C:\\\\temp\\\\app.log"'
        await pilot.press("right", "enter")
        await settle(pilot)
        assert sorted(bodies(app)) == ["wrote 0", "wrote 1", "wrote 2"]
        # typed as Highlight users write it, with single backslashes
        await pilot.press("slash", "ctrl+u", *'win.path:"C:\\temp\\app.log"', "enter")
        await settle(pilot)
        assert len(bodies(app)) == 3
        # and built with f from the log's detail
        await pilot.press("slash", "ctrl+u", "enter")
        await settle(pilot)
        await pilot.press("enter", "tab")
        detail = app.screen.query_one(DetailPane)
        detail.highlight(next(i for i, (key, _) in enumerate(detail.fields) if key == "win.path"))
        await pilot.press("f")
        await settle(pilot)
        assert sorted(bodies(app)) == ["wrote 0", "wrote 1", "wrote 2"]


async def test_big_logs_draw_only_the_lines_on_screen(store: Store, make_app) -> None:  # type: ignore[no-untyped-def]
    """A log with 10,000 attributes or a 100 KB message: the detail draws the lines it shows (it
    froze the UI for 0.5-1.7 s at each move when it laid out every field), and all of it can be read."""
    attributes = {f"attr.{k:05d}": f"value {k}" for k in range(10_000)}
    message = "".join(f"word{k:05d} " for k in range(10_000))  # 100,000 characters
    records = [
        {"body": "many attributes", "level": "INFO", "ts": NOW_NS - 3 * 10**9, "attrs": attributes},
        {"body": message, "level": "INFO", "ts": NOW_NS - 2 * 10**9},
        {"body": "small", "level": "INFO", "ts": NOW_NS - 1 * 10**9},  # the newest, selected first
    ]
    attributes_module.apply(DEFAULT_LIMITS.overridden(["attributes=10000"]))  # as hlog serve --limit allows
    try:
        ingest(store, logs_request(records))
    finally:
        attributes_module.apply(DEFAULT_LIMITS)
    app = make_app(store)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        detail = app.screen.query_one(DetailPane)
        drawn: list[int] = []
        render_line = detail.render_line
        detail.render_line = lambda y: drawn.append(y) or render_line(y)  # type: ignore[method-assign]
        for expected in (message, "many attributes"):
            drawn.clear()
            await pilot.press("j")
            await settle(pilot)
            assert detail.current is not None and detail.current["body"] == expected
            assert 0 < len(drawn) <= 3 * detail.size.height  # what is on screen, not every line
        # level, service_name, the attributes, the resource's service.name
        assert len(detail.fields) == 2 + 10_000 + 1 and detail.virtual_size.height > 10_000
        await pilot.press("tab", "end", "k")
        await settle(pilot)
        assert detail.highlighted_field() == ("attr.09999", "value 9999")
        shown = [detail.render_line(y).text for y in range(detail.size.height)]
        assert any(line.strip() == "attr.09999 = value 9999" for line in shown)
        await pilot.press("k", "tab", "k")  # back to the 100 KB message: wrapped at the cell, all there
        await settle(pilot)
        width = detail.size.width
        assert detail.virtual_size.height >= 100_000 // width
        assert "".join(detail.render_line(y).text for y in range(2, 6)) == message[: 4 * width]


async def test_detail_shows_what_opentelemetry_sent(store: Store, make_app) -> None:  # type: ignore[no-untyped-def]
    """The sender's severity, the event name, the scope and its attributes, the schema URLs and the
    observed time are in the detail; they are shown, not offered as filters."""
    request = logs_request([{"body": "order placed", "level": "Information", "number": 9, "ts": NOW_NS - 60 * 10**9}])
    resource_logs = request.resource_logs[0]
    resource_logs.schema_url = "https://opentelemetry.io/schemas/1.26.0"
    scope = resource_logs.scope_logs[0]
    scope.scope.version = "3.1"
    scope.scope.attributes.add(key="library.kind").value.string_value = "orm"
    record = scope.log_records[0]
    record.event_name, record.observed_time_unix_nano = "order.placed", NOW_NS - 59 * 10**9
    ingest(store, request)
    app = make_app(store)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        detail = app.screen.query_one(DetailPane)
        # the page lists the log; the detail reads the rest of its record and shows it in place
        assert "event_name" not in app.screen.table.selected
        await until(pilot, lambda: "event name = order.placed" in detail.plain_rows(), "the log whole")
        header, *shown = detail.plain_rows()
        assert "INFO" in header and "(Information, 9)" in header and "order.placed" in header
        for row in ("scope = tests 3.1", "scope: library.kind = orm", "event name = order.placed"):
            assert row in shown
        assert "resource schema = https://opentelemetry.io/schemas/1.26.0" in shown
        assert any(row.startswith("observed = ") for row in shown)
        # shown, not offered as filters
        assert not {key for key, _ in detail.fields} & {"scope", "event name", "observed", "resource schema"}


async def test_a_named_backend_that_does_not_answer_is_said_and_not_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`hlog-tui --backend URL` with nothing there: the screen names that backend; the app does
    not open the embedded store instead."""
    from hlog.tui import link

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))  # were it to fall back, to a store of its own
    monkeypatch.delenv("HLOG_BACKEND", raising=False)
    with socket.socket() as sock:  # a port where nothing listens
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    app = HlogApp(lambda: link.connect(url, None), "", Range("24h"), history_path=tmp_path / "history.json")
    async with app.run_test() as pilot:
        await settle(pilot)
        text = str(app.query_one("#connecting", Static).render())
        assert f"the backend {url} does not answer" in text and "retrying" in text
        assert app.link is None
    assert not (tmp_path / "hlog" / "store").exists()


async def test_one_of_a_kind_is_singular(store: Store, make_app) -> None:  # type: ignore[no-untyped-def]
    ingest(store, logs_request([{"body": "the only one", "level": "ERROR", "ts": NOW_NS - 60 * 10**9}]))
    app = make_app(store)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        assert str(app.screen.query_one("#status").render()).startswith("1 match  ·")
        axis = "".join(segment.text for segment in app.screen.query_one(Histogram)._axis(120))
        assert " 1 log " in axis


async def test_copy_says_where_it_went_and_copies_the_log_not_the_cursor(  # type: ignore[no-untyped-def]
    shop_store: Store, make_app, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TMUX", "/tmp/tmux-0/default,1,0")
    app = make_app(shop_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        copied = json.loads(app.clipboard)
        assert copied["body"] == "POST /checkout 502 in 840ms" and "cursor" not in copied and copied["id"]
        (message,) = [str(n.message) for n in app._notifications]
        assert "through tmux" in message and "set -g set-clipboard on" in message


async def test_help_lists_every_key_of_the_screen_and_scrolls_at_80x24(shop_store: Store, make_app) -> None:  # type: ignore[no-untyped-def]
    from textual.containers import VerticalScroll

    from hlog.tui.screens.help import HelpScreen

    app = make_app(shop_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        footer = "".join(str(key.render()) for key in app.screen.query("FooterKey"))
        assert footer.index("Help") < footer.index("Quit") < footer.index("Search")  # kept at the left
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        text = str(app.screen.query_one("#help-text").render())
        for description in ("Live", "Range", "Prev bucket", "Next bucket", "Zoom", "Unzoom", "Columns", "Alert",
                            "Alerts", "Copy", "Filter", "Exclude", "Next error", "Prev error", "Top", "Bottom",
                            "Previous query", "Next suggestion", "Help", "Quit"):  # fmt: skip
            assert f"  {description}" in text, description
        assert "Scroll Left" not in text and "super+c" not in text  # Textual's own keys are not ours
        scroll = app.screen.query_one("#help-scroll", VerticalScroll)
        assert scroll.max_scroll_y > 0
        await pilot.press(*["pagedown"] * 6)
        await settle(pilot)
        assert scroll.scroll_y == scroll.max_scroll_y  # the end of the list can be reached
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, SearchScreen)


async def test_histogram_fills_the_width_and_shows_any_error(store: Store, make_app) -> None:  # type: ignore[no-untyped-def]
    records = [{"body": f"fine {i}", "level": "INFO", "ts": NOW_NS - 3600 * 10**9 + i} for i in range(300)]
    records.append({"body": "one failure", "level": "ERROR", "ts": NOW_NS - 3600 * 10**9 + 500})
    ingest(store, logs_request(records))
    app = make_app(store)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        histogram = app.screen.query_one(Histogram)
        # as many buckets as fit, 2 columns each (the widget is the screen's width less its gutter)
        assert histogram.data is not None and len(histogram.data["buckets"]) == histogram.size.width // 2 > 55
        bottom = histogram.size.height - 2  # the lowest row of bars
        strip = histogram.render_line(bottom)
        cells = [(segment.text, segment.style) for segment in strip if segment.text.strip()]
        (bar,) = cells  # one bucket holds every log; 1 error in 301 still shows, in its bottom cell
        assert bar[1] is not None and bar[1].color is not None and bar[1].color.name == "red"
        axis = "".join(segment.text for segment in histogram.render_line(histogram.size.height - 1))
        assert len(axis.rstrip()) == len(histogram.data["buckets"]) * 2  # the time axis ends under the last bar
        await pilot.resize_terminal(80, 24)
        await settle(pilot)
        assert len(histogram.data["buckets"]) == histogram.size.width // 2 < 60


async def test_times_of_another_day_carry_their_date(store: Store, make_app) -> None:  # type: ignore[no-untyped-def]
    """A range under 24 h that crosses midnight (or lies on another day) shows dates."""
    midnight = NOW_NS - NOW_NS % (86400 * 10**9)
    ingest(store, logs_request([{"body": "late", "level": "INFO", "ts": midnight - 60 * 10**9}]))
    app = make_app(store, time_range=Range(None, midnight - 3600 * 10**9, midnight + 3600 * 10**9))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(LogTable)
        assert table.with_date and table.columns[0].value(table.rows[0], table.with_date).count("-") == 1
    from hlog.tui.format import needs_date

    hour = 3600 * 10**9
    assert not needs_date(midnight + hour, midnight + 2 * hour, midnight + 3 * hour)  # today: the time is enough
    assert needs_date(midnight - 14 * hour, midnight - 13 * hour, midnight + 3 * hour)  # an hour yesterday


async def test_the_selected_row_is_readable_on_16_colour_terminals(shop_store: Store, make_app) -> None:  # type: ignore[no-untyped-def]
    """On `TERM=xterm` (16 colours) the selection's grey and grey text (times, DEBUG) are both bright
    black: the text vanished. No cell of the selected row may have its colour equal to its background
    once both are brought down to 16 colours."""
    from rich.color import ColorSystem

    app = make_app(shop_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(LogTable)
        levels = set()
        for row in range(len(table.rows)):
            table.cursor = row
            await pilot.pause()
            levels.add(table.selected["level"])
            for segment in table.render_line(row + 1 - table.scroll_offset.y):
                style = segment.style
                if style is None or style.bgcolor is None or style.color is None or not segment.text.strip():
                    continue
                fg, bg = (c.downgrade(ColorSystem.STANDARD).number for c in (style.color, style.bgcolor))
                assert fg != bg, f"{segment.text!r} of a {table.selected['level']} row: colour {fg} on {bg}"
        assert "DEBUG" in levels


def test_quitting_gives_the_terminal_back_before_stopping(store: Store, tmp_path: Path) -> None:
    """`q` leaves at once: the store, the receiver and the demo shop stop after the app has shut
    down and given the terminal back (they used to stop first, inside it, behind a blank screen)."""
    import inspect

    from hlog.backend.app import Backend
    from hlog.tui.link import embed

    events: list[str] = []

    class Recorded(HlogApp):
        CSS_PATH = str(Path(inspect.getfile(HlogApp)).with_name("hlog.tcss"))

        async def on_unmount(self) -> None:
            await super().on_unmount()
            events.append("app shut down")

    async def factory():  # type: ignore[no-untyped-def]
        link = await embed(Backend(store))
        link.on_close.append(lambda: events.append("link closed"))
        return link

    app = Recorded(factory, history_path=tmp_path / "history.json", close_link_on_unmount=False)

    def quit_once_connected() -> None:
        if app.link is None:
            app.set_timer(0.05, quit_once_connected)
        else:
            app.exit()

    app.call_later(quit_once_connected)
    app.run_then_close(headless=True)
    assert events == ["app shut down", "link closed"]


async def test_a_count_that_would_read_too_much_waits_for_the_user(shop_store: Store, make_app) -> None:  # type: ignore[no-untyped-def]
    from hlog.tui.widgets.histogram import Histogram

    app = make_app(shop_store, confirm_rows=10)  # the shop's 45 logs are "too many"
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        search = app.screen
        table = search.query_one("#logs", LogTable)
        status = search.query_one("#status", Static)
        await until(
            pilot, lambda: "≈ 45 logs to read to count: ! counts anyway" in str(status.render()), "the estimate"
        )
        assert len(table.rows) == 45  # the logs themselves are shown
        assert search.total is None and search.query_one(Histogram).data is None
        await pilot.press("exclamation_mark")
        await until(pilot, lambda: search.total == 45, "the count")
        await until(pilot, lambda: search.query_one(Histogram).data is not None, "the histogram")
        assert "45 matches" in str(status.render())
