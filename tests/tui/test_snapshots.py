"""Snapshots of each screen at 120x36 and 80x24, with fixed data and a frozen clock.

Review changes with `pytest tests/tui/test_snapshots.py --snapshot-report` before
accepting them with `--snapshot-update` (never under xdist).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from hlog.backend.store import Store
from tests.tui.conftest import settle

SIZES = [(120, 36), (80, 24)]


@pytest.fixture
def store_kind() -> str:
    """Snapshots are taken on the embedded store only: a snapshot is named after its test, and the
    screens show what the API answers, which the API's own tests check on both stores."""
    return "chdb"


def _before(*keys: str) -> Callable[[Any], Any]:
    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)
        # the alert form's count preview runs after the query field reports its value: wait for it
        for _ in range(100):
            status = pilot.app.screen.query("#query-status")
            if not status or "matching logs" in str(status.first().render()):
                break
            await settle(pilot, 1)
        # a focused input's cursor blinks on a timer: hold it visible so the frame does not depend on timing
        for widget in pilot.app.screen.query("Input, TextArea"):
            widget.cursor_blink = False
        await settle(pilot)

    return run_before


@pytest.mark.parametrize("size", SIZES, ids=["120x36", "80x24"])
@pytest.mark.parametrize(
    ("name", "keys"),
    [
        ("search", ()),
        ("detail", ("j", "enter")),
        ("session", ("j", "s")),
        ("trace", ("j", "t")),
        ("context", ("j", "C")),
        ("facets", ("F",)),
        ("range", ("r",)),
        ("alert_form", ("a",)),
        ("alerts", ("A",)),
        ("patterns", ("P",)),
    ],
)
def test_screen(snap_compare, shop_store: Store, make_app, name: str, keys: tuple[str, ...], size) -> None:  # type: ignore[no-untyped-def]
    app = make_app(shop_store)
    assert snap_compare(app, terminal_size=size, run_before=_before(*keys))


def test_query_error(snap_compare, shop_store: Store, make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(shop_store, query="level:error AND (")
    assert snap_compare(app, terminal_size=(120, 36), run_before=_before())
