"""Times in UTC by default, `--tz` and `T` for another zone, kept for the next run."""

from __future__ import annotations

import json

import pytest

from hlog.backend.store import Store
from hlog.tui.app import main
from hlog.tui.format import clock, needs_date, set_zone, stamp, zone_name
from hlog.tui.widgets.log_table import LogTable
from tests.tui.conftest import NOW_NS, settle, until

HOUR = 3600 * 10**9


def test_times_in_a_zone() -> None:
    try:
        set_zone("Asia/Kolkata")  # +05:30 all year
        assert clock(NOW_NS) == "17:30:00.000" and stamp(NOW_NS) == "2026-11-20 17:30:00.000+05:30"
        # 18:00 UTC to 19:00 UTC is one UTC day, but crosses midnight in Kolkata (23:30 to 00:30)
        assert needs_date(NOW_NS + 6 * HOUR, NOW_NS + 7 * HOUR, NOW_NS + 6 * HOUR)
        set_zone("UTC")
        assert clock(NOW_NS) == "12:00:00.000" and stamp(NOW_NS) == "2026-11-20 12:00:00.000Z"
        assert not needs_date(NOW_NS + 6 * HOUR, NOW_NS + 7 * HOUR, NOW_NS + 6 * HOUR)
        with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
            set_zone("Mars/Olympus")
    finally:
        set_zone("UTC")


def test_an_unknown_zone_is_refused_before_starting(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--tz", "Mars/Olympus"]) == 2
    assert "hlog-tui: --tz: unknown time zone 'Mars/Olympus'" in capsys.readouterr().err


async def test_t_switches_zones_and_is_kept(shop_store: Store, make_app, tmp_path) -> None:  # type: ignore[no-untyped-def]
    app = make_app(shop_store, tz="Asia/Kolkata")
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            await settle(pilot)
            table = app.screen.query_one("#logs", LogTable)
            await until(pilot, lambda: table.rows, "the logs")
            first = table.rows[0]["timestamp_ns"]

            def shown() -> str:
                return "".join(segment.text for segment in table.render_line(1))

            assert clock(first) in shown() and zone_name() == "Asia/Kolkata"
            await pilot.press("T")
            await settle(pilot)
            assert zone_name() == "UTC" and clock(first) in shown()
            assert json.loads((tmp_path / "settings.json").read_text()) == {"tz": "UTC"}
            await pilot.press("T")
            assert zone_name() == "Asia/Kolkata"
            assert json.loads((tmp_path / "settings.json").read_text()) == {"tz": "Asia/Kolkata"}
    finally:
        set_zone("UTC")
