"""`b`: the histogram broken down by the values of a field, with a legend; `b` again: by level."""

from __future__ import annotations

from hlog.backend.store import Store
from hlog.tui.widgets.detail import DetailPane
from hlog.tui.widgets.histogram import OTHER, Histogram
from tests.tui.conftest import settle, until


async def test_breakdown_by_a_field_and_back(shop_store: Store, make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(shop_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        histogram = app.screen.query_one(Histogram)
        await until(pilot, lambda: histogram.data is not None, "the histogram")
        await pilot.press("b")  # asks for a field first: the detail opens on its fields
        await settle(pilot)
        detail = app.screen.query_one(DetailPane)
        assert detail.has_focus
        while detail.highlighted_field()[0] != "service_name":
            await pilot.press("j")
        await pilot.press("b")
        await until(pilot, lambda: histogram.data and histogram.data.get("by") == "service_name", "the breakdown")
        data = histogram.data
        assert data["groups"] == ["worker", "gateway", "payments"]  # biggest first
        totals: dict[str, int] = {}
        for bucket in data["buckets"]:
            for group, n in bucket["counts"].items():
                totals[group] = totals.get(group, 0) + n
        assert totals == {"worker": 41, "gateway": 2, "payments": 2} and OTHER not in totals
        axis = "".join(segment.text for segment in histogram.render_line(histogram.size.height - 1))
        assert "by service_name: ■ worker ■ gateway ■ payments" in axis
        top_cells = [histogram.render_line(histogram.size.height - 2)]  # the base row: every non-empty bucket
        colours = {
            segment.style.color.name
            for strip in top_cells
            for segment in strip
            if segment.text.strip() and segment.style and segment.style.color
        }
        assert colours <= {"cyan", "magenta", "yellow"} and "cyan" in colours
        await pilot.press("b")  # back to levels
        await until(pilot, lambda: histogram.data and "by" not in histogram.data, "the histogram by level")
        assert "ERROR" in {level for b in histogram.data["buckets"] for level in b["counts"]}
