"""ctrl+f finds text in the loaded logs (highlighted; n / N move), m marks logs, M copies them
or writes them to a file."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from hlog.backend.store import Store
from hlog.tui.screens.find import FindScreen
from hlog.tui.screens.marked import MarkedScreen
from hlog.tui.widgets.detail import DetailPane
from hlog.tui.widgets.log_table import FOUND, LogTable
from tests.tui.conftest import settle, until


async def test_find_then_mark_and_copy(shop_store: Store, make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(shop_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#logs", LogTable)
        await until(pilot, lambda: len(table.rows) == 45, "the logs")
        await pilot.press("ctrl+f")
        await until(pilot, lambda: isinstance(app.screen, FindScreen), "the find prompt")
        await pilot.press(*"HEARTBEAT 1", "enter")  # any case
        await settle(pilot)
        found = [i for i, r in enumerate(table.rows) if "heartbeat 1" in r["body"]]
        assert len(found) == 11 and table.cursor == found[0]  # heartbeat 1 and 10-19
        line = table.render_line(table.cursor - table.scroll_offset.y + 1)
        assert [s.text for s in line if s.style and s.style.bgcolor == FOUND.bgcolor] == ["heartbeat 1"]
        await pilot.press("n", "n")
        assert table.cursor == found[2]
        await pilot.press("N")
        assert table.cursor == found[1]
        await pilot.press("m", "m")  # marks this one and the next (m moves down)
        marked = [table.rows[found[1]]["body"], table.rows[found[1] + 1]["body"]]
        await pilot.press("M")
        await until(pilot, lambda: isinstance(app.screen, MarkedScreen), "the copy-or-write prompt")
        await pilot.press("enter")  # no file: copied
        await until(pilot, lambda: not isinstance(app.screen, MarkedScreen), "the search again")
        copied = [json.loads(line) for line in app.clipboard.splitlines()]
        assert sorted(r["body"] for r in copied) == sorted(marked)
        assert copied[0]["timestamp_ns"] <= copied[1]["timestamp_ns"]  # in time order


async def test_M_writes_the_marked_logs_to_a_new_file(shop_store: Store, make_app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    app = make_app(shop_store, query="level:error")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#logs", LogTable)
        await until(pilot, lambda: len(table.rows) == 2, "the two errors")
        await pilot.press("m", "m", "M")
        await until(pilot, lambda: isinstance(app.screen, MarkedScreen), "the copy-or-write prompt")
        target = tmp_path / "incident.jsonl"
        target.write_text("kept\n")
        await pilot.press(*str(target), "enter")  # exists: refused, said, kept
        await settle(pilot)
        assert isinstance(app.screen, MarkedScreen) and "exists" in str(app.screen.query_one("#marked-error").render())
        assert target.read_text() == "kept\n"
        await pilot.press(*["backspace"] * len("incident.jsonl"), *"errors.jsonl", "enter")
        await until(pilot, lambda: not isinstance(app.screen, MarkedScreen), "the search again")
        written = tmp_path / "errors.jsonl"
        logs = [json.loads(line) for line in written.read_text().splitlines()]
        assert [log["body"] for log in logs] == ["payment declined: card expired", "POST /checkout 502 in 840ms"]
        assert stat.S_IMODE(written.stat().st_mode) == 0o600


async def test_the_search_terms_are_marked_in_the_messages(shop_store: Store, make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(shop_store, query='CARD OR "post /checkout" -heartbeat')
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#logs", LogTable)
        await until(pilot, lambda: len(table.rows) == 2, "the two matches")

        def marked(y: int) -> list[str]:
            return [s.text for s in table.render_line(y) if s.style and s.style.underline]

        assert marked(2) == ["card"] and marked(1) == ["POST /checkout"]  # (line 0: the header)
        await pilot.press("j", "enter")
        detail = app.screen.query_one("#detail", DetailPane)
        await settle(pilot)
        lines = [[s.text for s in detail.render_line(y) if s.style and s.style.underline] for y in range(4)]
        assert ["card"] in lines
