"""AlertsScreen: every rule with its state and when it last fired, and the history of the selected one."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Static

from hlog.alerts.rules import span_text
from hlog.backend.client import ApiError
from hlog.tui.format import one_line, stamp
from hlog.tui.screens import left
from hlog.tui.widgets.footer import HlogFooter

if TYPE_CHECKING:
    from hlog.tui.app import HlogApp

DELETE_CONFIRM_SECONDS = 5.0  # D, then D again within this long, deletes
STATE_STYLES = {
    "ALERTING": "bold red",
    "SILENCED": "yellow",
    "OK": "green",
    "DISABLED": "dim",
    "ERROR": "bold magenta",
    "TEST": "cyan",
}


class AlertsScreen(Screen[None]):
    """The alert rules."""

    BINDINGS = [
        Binding("escape", "back", "Back", id="alerts.back"),
        Binding("n", "new", "New rule", tooltip="Create a rule", id="alerts.new"),
        Binding("enter", "edit", "Edit", tooltip="Edit the selected rule", id="alerts.edit"),
        Binding("space", "toggle_rule", "On/off", tooltip="Enable or disable the selected rule", id="alerts.toggle"),
        Binding("T", "test", "Send test", tooltip="A test message to the rule's destinations", id="alerts.test"),
        Binding("D", "delete", "Delete", show=False, tooltip="Delete the selected rule", id="alerts.delete"),
        Binding("R", "refresh", "Refresh", show=False, id="alerts.refresh"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.rules: list[dict[str, Any]] = []
        self._delete_armed: tuple[str, float] = ("", 0.0)  # the rule D was pressed on, and when

    @property
    def hlog(self) -> HlogApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Static(Text("Alert rules", style="bold"), id="alerts-title")
        table: DataTable[Any] = DataTable(id="rules", cursor_type="row", zebra_stripes=True)
        table.add_columns("state", "name", "condition", "last fired", "query")
        yield table
        yield Static(id="rule-history")
        yield HlogFooter()

    def on_mount(self) -> None:
        self.query_one("#rules", DataTable).focus()
        self.action_refresh()
        self.set_interval(5, self.action_refresh)

    def action_refresh(self) -> None:
        self._load()

    @work(exclusive=True, group="rules")
    async def _load(self) -> None:
        try:
            self.rules = (await self.hlog.api.call("GET", "/api/alerts"))["rules"]
            if left(self):  # the user left this screen while the backend answered
                return
        except Exception as err:
            self.notify(f"cannot load the alert rules: {err}", severity="error")
            return
        table = self.query_one("#rules", DataTable)
        cursor = table.cursor_row
        table.clear()
        for rule in self.rules:
            word = ">=" if rule["condition"] == "above" else "<="
            table.add_row(
                Text(one_line(rule["state"]), style=STATE_STYLES.get(rule["state"], "")),
                one_line(rule["name"]),
                f"{word} {rule['threshold']:g} in {span_text(rule['window_seconds'])}",
                stamp(rule["last_fired_ms"] * 1_000_000)[:19] if rule["last_fired_ms"] else "never",
                one_line(rule["query"]),
                key=rule["id"],
            )
        if self.rules:
            table.move_cursor(row=min(cursor, len(self.rules) - 1))
        else:
            self.query_one("#rule-history", Static).update(
                Text("No alert rules yet: n creates one, or press a on a search.", style="dim")
            )
        self.query_one("#alerts-title", Static).update(Text(f"Alert rules ({len(self.rules)})", style="bold"))

    @property
    def selected(self) -> dict[str, Any] | None:
        table = self.query_one("#rules", DataTable)
        if not self.rules or table.cursor_row >= len(self.rules):
            return None
        return self.rules[table.cursor_row]

    @on(DataTable.RowSelected, "#rules")
    def _selected(self) -> None:
        self.action_edit()

    @on(DataTable.RowHighlighted, "#rules")
    def _highlighted(self) -> None:
        self._load_history()

    @work(exclusive=True, group="history")
    async def _load_history(self) -> None:
        rule = self.selected
        if rule is None:
            return
        try:
            history = (await self.hlog.api.call("GET", f"/api/alerts/{rule['id']}/history"))["history"]
            if left(self):  # the user left this screen while the backend answered
                return
        except Exception as err:
            if not left(self):
                self.query_one("#rule-history", Static).update(Text(f"no history: {one_line(str(err))}", style="red"))
            return
        text = Text(f"history of {one_line(rule['name'])}\n", style="bold")
        # a change of state that was sent is one line, with its deliveries (the store keeps both rows)
        sent = {(e["time_ms"], e["group"], e["state"]) for e in history if e["destination"]}
        history = [e for e in history if e["destination"] or (e["time_ms"], e["group"], e["state"]) not in sent]
        for entry in history[:30]:
            text.append(stamp(entry["time_ms"] * 1_000_000)[:19] + "  ", style="dim")
            text.append(f"{one_line(entry['state']):<9}", style=STATE_STYLES.get(entry["state"], ""))
            if entry["group"]:
                text.append(f"[{one_line(entry['group'])}] ")
            text.append(f"count {entry['count']}  ")
            if entry["destination"]:
                text.append(f"→ {one_line(entry['destination'])} ")
                text.append(
                    "delivered" if entry["delivered"] else f"failed: {one_line(entry['error'])}",
                    style="green" if entry["delivered"] else "red",
                )
            elif entry["error"]:
                text.append(one_line(entry["error"]), style="red")
            text.append("\n")
        if not history:
            text.append("nothing yet", style="dim")
        self.query_one("#rule-history", Static).update(text)

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_new(self) -> None:
        from hlog.tui.screens.alert_form import AlertFormScreen

        self.app.push_screen(AlertFormScreen(), lambda _: self.action_refresh())

    def action_edit(self) -> None:
        from hlog.tui.screens.alert_form import AlertFormScreen

        if self.selected is not None:
            self.app.push_screen(AlertFormScreen(self.selected), lambda _: self.action_refresh())

    @work(group="actions")
    async def action_toggle_rule(self) -> None:
        rule = self.selected
        if rule is None:
            return
        verb = "disable" if rule["enabled"] else "enable"
        await self._call("POST", f"/api/alerts/{rule['id']}/{verb}")
        self.action_refresh()

    @work(group="actions")
    async def action_test(self) -> None:
        rule = self.selected
        if rule is None:
            return
        result = await self._call("POST", f"/api/alerts/{rule['id']}/test")
        if result is not None:
            for d in result["deliveries"]:
                self.notify(
                    f"{d['destination']}: " + ("delivered" if d["delivered"] else f"failed: {d['error']}"),
                    severity="information" if d["delivered"] else "error",
                )
        self._load_history()

    @work(group="actions")
    async def action_delete(self) -> None:
        rule = self.selected
        if rule is None:
            return
        armed, self._delete_armed = self._delete_armed, ("", 0.0)
        if armed[0] != rule["id"] or time.monotonic() - armed[1] > DELETE_CONFIRM_SECONDS:  # asked first
            self._delete_armed = (rule["id"], time.monotonic())
            self.notify(
                f"Delete {rule['name']!r} and its history? Press D again to delete it.", severity="warning", timeout=5
            )
            return
        try:
            await self.hlog.api.call("DELETE", f"/api/alerts/{rule['id']}")
        except Exception as err:
            self.notify(str(err), severity="error")
        else:
            self.notify(f"Deleted {rule['name']!r}", timeout=3)
        self.action_refresh()

    async def _call(self, method: str, path: str) -> Any:
        try:
            return await self.hlog.api.call(method, path)
        except (ApiError, Exception) as err:
            self.notify(str(err), severity="error")
            return None
