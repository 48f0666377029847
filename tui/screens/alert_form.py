"""AlertFormScreen: create or edit an alert rule, with live validation and a count preview."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from hlog.alerts.rules import span_text
from hlog.backend.client import ApiError
from hlog.backend.textsafe import safe, safe_lines
from hlog.backend.timeutil import format_ns, parse_duration_ns
from hlog.query import QueryError, compile_query
from hlog.tui.format import plural
from hlog.tui.screens import left
from hlog.tui.widgets.footer import HlogFooter
from hlog.tui.widgets.safe_input import SafeInput

if TYPE_CHECKING:
    from hlog.tui.app import HlogApp

KINDS = ("slack", "discord", "webhook")
KIND_LABELS = {"slack": "Slack webhook", "discord": "Discord webhook", "webhook": "JSON webhook"}


class AlertFormScreen(Screen[dict[str, Any] | None]):
    """Dismisses with the saved rule, or None when cancelled."""

    BINDINGS = [
        Binding("ctrl+s", "save", "Save", tooltip="Save the rule", id="form.save"),
        Binding("ctrl+t", "send_test", "Send test", tooltip="Send a test message to the destinations", id="form.test"),
        Binding("escape", "cancel", "Cancel", tooltip="Leave without saving", id="form.cancel"),
    ]

    def __init__(self, rule: dict[str, Any] | None = None, query: str = "") -> None:
        super().__init__()
        self.rule = rule or {}
        self.initial_query = self.rule.get("query", query)
        self._save_empty = False  # the user was told the query is empty and saves again

    @property
    def hlog(self) -> HlogApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        rule = self.rule
        by_kind: dict[str, dict[str, Any]] = {
            k: next((d for d in rule.get("destinations", []) if d["kind"] == k), {"url": "", "secret": ""})
            for k in KINDS
        }
        with VerticalScroll(id="alert-form"):
            yield Label("Edit alert rule" if rule else "New alert rule", classes="dialog-title")
            yield Label("Name")
            yield SafeInput(rule.get("name", ""), placeholder="checkout errors", id="name")
            yield Label("Query")
            yield SafeInput(self.initial_query, placeholder="e.g. level:error service_name:checkout", id="query")
            yield Static(id="query-status")
            with Horizontal(classes="form-row"):
                yield Select(
                    [("at least (>=)", "above"), ("at most (<=)", "below")],
                    value=rule.get("condition", "above"),
                    allow_blank=False,
                    id="condition",
                )
                yield SafeInput(f"{rule.get('threshold', 20):g}", placeholder="20", id="threshold")
                yield Label(" in ")
                yield SafeInput(span_text(rule.get("window_seconds", 300)), placeholder="5m", id="window")
            with Horizontal(classes="form-row"):
                yield Label("check every ")
                yield SafeInput(span_text(rule.get("frequency_seconds", 60)), placeholder="1m", id="frequency")
                yield Label(" then stay quiet for ")
                yield SafeInput(span_text(rule.get("cooldown_seconds", 1800)), placeholder="30m", id="cooldown")
            yield Label("Group by (optional key: one alert per value)")
            yield SafeInput(rule.get("group_by", ""), placeholder="service_name", id="group_by")
            for kind in KINDS:
                yield Label(f"{KIND_LABELS[kind]} URL")
                yield SafeInput(by_kind[kind]["url"], placeholder="https://…", id=f"url-{kind}")
            yield Label("Webhook secret (signs the body, HMAC-SHA256)")
            yield SafeInput(by_kind["webhook"]["secret"], password=True, id="secret")
            yield Checkbox("Send a message when the alert resolves", rule.get("notify_resolved", True), id="resolved")
            yield Static(id="form-status")
            with Horizontal(classes="form-row"):
                yield Button("Save (ctrl+s)", variant="primary", id="save")
                yield Button("Send test (ctrl+t)", id="send-test")
                yield Button("Cancel (esc)", id="cancel")
        yield HlogFooter()

    def on_mount(self) -> None:
        self.query_one("#name", Input).focus()
        self._check_query(self.initial_query)

    @on(Input.Changed, "#query")
    def _query_changed(self, event: Input.Changed) -> None:
        self._check_query(event.value)

    @on(Input.Changed, "#window")
    def _window_changed(self) -> None:
        self._check_query(self.query_one("#query", Input).value)

    def _check_query(self, query: str) -> None:
        status = self.query_one("#query-status", Static)
        self._save_empty = False
        try:
            compile_query(query)
        except QueryError as err:
            self.workers.cancel_group(self, "preview")  # a count of an earlier text must not say "valid"
            status.update(
                Text(
                    f"✗ {err.message} (column {err.column})\n  {err.context.replace(chr(10), chr(10) + '  ')}",
                    style="red",
                )
            )
            return
        if not query.strip():
            status.update(Text("⚠ no query: the rule would count every log", style="yellow"))
        else:
            status.update(Text("✓ valid query; counting…", style="green"))
        self._preview(query)

    @work(exclusive=True, group="preview")
    async def _preview(self, query: str) -> None:
        try:
            window_ns = parse_duration_ns(self.query_one("#window", Input).value or "5m")
        except ValueError:
            window_ns = 300 * 10**9
        now = self.hlog.now_ns()
        try:
            count = await self.hlog.api.count(q=query, **{"from": format_ns(now - window_ns, 9)})
            if left(self) or query != self.query_one("#query", Input).value:  # left, or typed on since
                return
        except Exception as err:
            if left(self):
                return
            status = Text(f"✓ valid query; no count: {safe(str(err))}", style="yellow")
            self.query_one("#query-status", Static).update(status)
            return
        counted = f"{plural(count, 'matching log')} in the last {span_text(window_ns // 10**9)}"
        if not query.strip():
            text = Text(f"⚠ no query: the rule would count every log ({counted})", style="yellow")
        else:
            text = Text(f"✓ valid query: {counted}", style="green")
        self.query_one("#query-status", Static).update(text)

    def _body(self) -> dict[str, Any]:
        """The rule as the API takes it; raises ValueError for fields that are not numbers or durations."""
        value = {i.id: i.value.strip() for i in self.query(Input) if i.id}
        try:
            threshold = float(value["threshold"])
        except ValueError:
            raise ValueError("threshold: expected a number") from None
        body: dict[str, Any] = {
            "name": value["name"],
            "query": value["query"],
            "condition": self.query_one("#condition", Select).value,
            "threshold": threshold,
            "group_by": value["group_by"],
            "notify_resolved": self.query_one("#resolved", Checkbox).value,
        }
        for field, key in (
            ("window_seconds", "window"),
            ("frequency_seconds", "frequency"),
            ("cooldown_seconds", "cooldown"),
        ):
            try:
                body[field] = parse_duration_ns(value[key]) // 10**9
            except ValueError as err:
                raise ValueError(f"{key}: {err}") from None
        kept = [d for d in self.rule.get("destinations", [])]
        destinations = []
        for kind in KINDS:
            url = value[f"url-{kind}"]
            others = [d for d in kept if d["kind"] == kind][1:]  # extra ones set through the API stay
            if url:
                first: dict[str, Any] = next((d for d in kept if d["kind"] == kind), {"headers": {}})
                destinations.append(
                    {
                        "kind": kind,
                        "url": url,
                        "secret": value["secret"] if kind == "webhook" else "",
                        "headers": first.get("headers", {}),
                    }
                )
            destinations += others
        body["destinations"] = destinations
        return body

    def _status(self, text: str, style: str) -> None:
        if left(self):  # the user left this screen while the backend answered
            return
        self.query_one("#form-status", Static).update(Text(safe_lines(text), style=style))

    @on(Button.Pressed, "#save")
    def action_save(self) -> None:
        self._save()

    @work(exclusive=True, group="save")
    async def _save(self) -> None:
        try:
            body = self._body()
            if not body["query"] and not self._save_empty:  # asked once, saved on the second Ctrl+S
                self._save_empty = True
                self._status("⚠ no query: the rule counts every log. Ctrl+S again to save it so", "bold yellow")
                return
            if self.rule.get("id"):
                saved = await self.hlog.api.call("PUT", f"/api/alerts/{self.rule['id']}", body)
            else:
                saved = await self.hlog.api.call("POST", "/api/alerts", body)
        except ValueError as err:
            self._status(f"✗ {err}", "bold red")
            return
        except ApiError as err:
            self._status(f"✗ {_field_label(str(err.payload.get('field', '')), body)}: {err}", "bold red")
            return
        self.notify(f"Alert rule {safe(saved['name'])!r} saved", timeout=3)
        if not left(self):
            self.dismiss(saved)

    @on(Button.Pressed, "#send-test")
    def action_send_test(self) -> None:
        self._send_test()

    @work(exclusive=True, group="test")
    async def _send_test(self) -> None:
        self._status("sending a test message…", "yellow")
        try:
            # an edited rule's masked secrets are filled in by the backend from the saved rule
            body = {**self._body(), "id": self.rule.get("id", "")}
            result = await self.hlog.api.call("POST", "/api/alerts/test", body)
            if left(self):  # the user left this screen while the backend answered
                return
        except (ValueError, ApiError) as err:
            self._status(f"✗ {err}", "bold red")
            return
        lines = [
            f"{d['destination']}: " + ("✓ delivered" if d["delivered"] else f"✗ {d['error']}")
            for d in result["deliveries"]
        ]
        ok = all(d["delivered"] for d in result["deliveries"])
        self._status("\n".join(lines), "green" if ok else "bold red")

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


def _field_label(field: str, body: dict[str, Any]) -> str:
    """The API's name of a field (`destinations.0.url`) as the form calls it (`Discord URL`)."""
    parts = field.split(".")
    destinations = body["destinations"]
    if len(parts) == 3 and parts[0] == "destinations" and parts[1].isdigit() and int(parts[1]) < len(destinations):
        kind = destinations[int(parts[1])]["kind"]
        return f"{KIND_LABELS.get(kind, kind)} {'URL' if parts[2] == 'url' else parts[2]}"
    return field
