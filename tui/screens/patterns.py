"""The patterns screen (`P`): the search's matches grouped by the shape of their message."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on, work
from textual.binding import Binding
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from hlog.backend.client import ApiError
from hlog.backend.patterns import sparkline
from hlog.tui.format import clock, one_line, plural
from hlog.tui.screens import left
from hlog.tui.screens.ranked import RankedScreen

TREND_CELLS = 16  # counts over the range, one cell each
TOP = 200
COMPARE = "24h"


WIDE = 110  # narrower screens leave out first and last seen


def header(with_date: bool, wide: bool) -> str:
    cells = 14 if with_date else 8
    seen = f"{'first':<{cells}} {'last':<{cells}}  " if wide else ""
    return f"{'count':>9} {'share':>6} {'change':>6}  {'over the range':<{TREND_CELLS}}  {seen}template"


def growth_text(growth: float) -> str:
    """How many times as frequent as before, in at most 6 cells: x0.5, x2.3, x45, x1,700, x25k."""
    if growth < 100:
        return f"x{growth:.2g}"
    return f"x{growth:,.0f}" if growth < 10_000 else f"x{growth / 1000:,.0f}k"


class PatternsScreen(RankedScreen):
    """Every match counted under its pattern; Enter dismisses with the term that finds a pattern's logs."""

    BINDINGS = [
        Binding("enter", "select", "Filter", tooltip="Search the logs of this pattern", id="patterns.filter"),
        Binding(
            "c", "compare", "Compare", tooltip=f"Compare with the {COMPARE} before the range", id="patterns.compare"
        ),
    ]

    def __init__(self, query: str, params: dict[str, Any], with_date: bool = False) -> None:
        super().__init__()
        self.query_text = query
        self.params = params  # the search's q, from and to
        self.with_date = with_date
        self.compare = False
        self.found: dict[str, Any] | None = None

    def on_mount(self) -> None:  # (RankedScreen's runs too: Textual calls each class's)
        self.summary(Text("patterns  counting every match…", style="bold"))
        self._load()

    @work(exclusive=True, group="patterns")
    async def _load(self) -> None:
        compare = {"compare": COMPARE} if self.compare else {}
        try:
            found = await self.hlog.api.patterns(**self.params, **compare, top=TOP, buckets=TREND_CELLS)
        except ApiError as err:
            if not left(self):
                self.failed(err)
            return
        if left(self):
            return
        self.found = found
        self._show(found)

    def _show(self, found: dict[str, Any]) -> None:
        wide = self.size.width >= WIDE
        self.header(header(self.with_date, wide))
        text = Text()
        text.append("patterns  ", style="bold")
        text.append(f"{found['total']:,} logs", style="bold cyan")
        text.append(f" of {one_line(self.query_text) or 'every log'}", style="dim")
        shapes = plural(found["shapes"], "shape")
        text.append(f"  {plural(found['pattern_count'], 'pattern')} from {shapes}, every match counted")
        if found["compare"]:
            text.append(f"  compared with the {COMPARE} before ({found['compare']['total']:,} logs)", style="yellow")
        self.summary(text)
        options = [Option(self._line(p, bool(found["compare"])), id=str(i)) for i, p in enumerate(found["patterns"])]
        if not options:
            options = [Option(Text("no logs match", style="dim"), disabled=True)]
        if found["other"]:
            rare = f"{found['other']:,} logs in rarer shapes than the {found['merged_shapes']:,} most common"
            options.append(Option(Text(rare, style="dim"), disabled=True))
        patterns = self.ranked
        patterns.clear_options()
        patterns.add_options(options)
        patterns.highlighted = 0 if found["patterns"] else None

    def _line(self, pattern: dict[str, Any], compared: bool) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f"{pattern['count']:>9,} ")
        text.append(f"{pattern['share']:>6.1%} ", style="cyan")
        if not compared:
            text.append(f"{'':>6}")
        elif pattern["new"]:
            text.append(f"{'new':>6}", style="bold yellow")
        else:
            growth = pattern["growth"]
            text.append(f"{growth_text(growth):>6}", style="yellow" if growth >= 2 else "dim")
        text.append(f"  {sparkline(pattern['buckets'])}  ", style="cyan")
        if self.size.width >= WIDE:
            cells = 14 if self.with_date else 8
            first, last = clock(pattern["first_ns"], self.with_date), clock(pattern["last_ns"], self.with_date)
            text.append(f"{first[:cells]} {last[:cells]}  ", style="dim")
        text.append(one_line(pattern["template"]))
        return self.fit(text)

    def on_resize(self) -> None:
        if self.found is not None:  # lines fit the width
            highlighted = self.ranked.highlighted
            self._show(self.found)
            self.ranked.highlighted = highlighted

    def selected(self) -> dict[str, Any] | None:
        """The highlighted pattern."""
        index = self.ranked.highlighted
        if self.found is None or index is None or index >= len(self.found["patterns"]):
            return None
        return dict(self.found["patterns"][index])

    @on(OptionList.OptionSelected, "#ranked")
    def _chosen(self) -> None:
        self.action_select()

    def action_select(self) -> None:
        pattern = self.selected()
        if pattern is not None:
            self.dismiss(pattern["query"])

    def action_compare(self) -> None:
        self.compare = not self.compare
        self.summary(Text("patterns  counting every match…", style="bold"))
        self._load()
