"""The groups screen (`B`): the matches grouped by the values of the breakdown's field."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on, work
from textual.binding import Binding
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from hlog.backend.client import ApiError
from hlog.backend.patterns import sparkline
from hlog.backend.search import MAX_BREAKDOWN_GROUPS
from hlog.query import format_term
from hlog.tui.format import one_line, service_label
from hlog.tui.screens import left
from hlog.tui.screens.ranked import RankedScreen

TREND_CELLS = 24


class GroupsScreen(RankedScreen):
    """One row per value of a field: its count, share and counts over the range; Enter
    dismisses with the term that keeps that value, `x` with the one that excludes it."""

    BINDINGS = [
        Binding("enter", "pick(False)", "Filter", tooltip="Keep only this value", id="groups.filter"),
        Binding("x", "pick(True)", "Exclude", tooltip="Exclude this value", id="groups.exclude"),
    ]

    def __init__(self, key: str, query: str, params: dict[str, Any]) -> None:
        super().__init__()
        self.key = key
        self.query_text = query
        self.params = params  # the search's q, from and to
        self.groups: list[str] = []

    def on_mount(self) -> None:  # (RankedScreen's runs too: Textual calls each class's)
        self.summary(Text(f"by {one_line(self.key)}  counting…", style="bold"))
        self.header(f"{'count':>11} {'share':>6}  {'over the range':<{TREND_CELLS}}  value")
        self._load()

    @work(exclusive=True, group="groups")
    async def _load(self) -> None:
        try:
            found = await self.hlog.api.histogram(
                **self.params, by=self.key, top=MAX_BREAKDOWN_GROUPS, buckets=TREND_CELLS
            )
        except ApiError as err:
            if not left(self):
                self.failed(err)
            return
        if not left(self):
            self._show(found)

    def _show(self, found: dict[str, Any]) -> None:
        total = found["total"]
        summary = Text()
        summary.append(f"by {one_line(self.key)}  ", style="bold")
        summary.append(f"{total:,} logs", style="bold cyan")
        summary.append(f" of {one_line(self.query_text) or 'every log'}", style="dim")
        self.summary(summary)
        self.groups = list(found["groups"])
        options = []
        for group in self.groups:
            trend = [bucket["counts"].get(group, 0) for bucket in found["buckets"]]
            shown = service_label(group) if self.key == "service_name" else one_line(group) or '""'
            options.append(Option(self._line(sum(trend), total, trend, shown)))
        other = [bucket["other"] for bucket in found["buckets"]]
        if sum(other):
            options.append(Option(self._line(sum(other), total, other, "(other values)", "dim"), disabled=True))
        if not options:
            options.append(Option(Text("no logs match", style="dim"), disabled=True))
        self.ranked.clear_options()
        self.ranked.add_options(options)
        self.ranked.highlighted = 0 if self.groups else None

    def _line(self, count: int, total: int, trend: list[int], value: str, style: str = "") -> Text:
        text = Text(style=style)
        text.append(f"{count:>11,} ")
        text.append(f"{count / total if total else 0:>6.1%}  ", style="cyan")
        text.append(f"{sparkline(trend)}  ", style="cyan")
        text.append(value)
        return self.fit(text)

    @on(OptionList.OptionSelected, "#ranked")
    def _chosen(self) -> None:
        self.action_pick(False)

    def action_pick(self, exclude: bool) -> None:
        index = self.ranked.highlighted
        if index is not None and index < len(self.groups):
            self.dismiss(format_term(self.key, self.groups[index], exclude))
