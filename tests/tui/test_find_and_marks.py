"""ctrl+f finds text in the loaded logs (highlighted; n / N move), m marks logs, M copies them."""

from __future__ import annotations

import json

from hlog.backend.store import Store
from hlog.tui.screens.find import FindScreen
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
        copied = [json.loads(line) for line in app.clipboard.splitlines()]
        assert sorted(r["body"] for r in copied) == sorted(marked)
        assert copied[0]["timestamp_ns"] <= copied[1]["timestamp_ns"]  # in time order
