"""DetailPane: one log in full - message (JSON pretty-printed), ids, attributes and resource attributes."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from hlog.tui.format import attribute_rows, level_style, one_line, pretty_body, service_label, stamp


class DetailPane(VerticalScroll):
    """Shows the selected log. Its field list drives `f` (filter), `x` (exclude) and `y` (copy)."""

    BINDINGS = [
        Binding("f", "filter(False)", "Filter", tooltip="Add key:value of the highlighted field", id="detail.filter"),
        Binding("x", "filter(True)", "Exclude", tooltip="Add -key:value of the highlighted field", id="detail.exclude"),
    ]

    class FilterRequested(Message):
        """Add `key:value` (or `-key:value`) to the query."""

        def __init__(self, key: str, value: str, exclude: bool) -> None:
            super().__init__()
            self.key, self.value, self.exclude = key, value, exclude

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.current: dict[str, Any] | None = None
        self._fields: list[tuple[str, str]] = []

    def compose(self) -> ComposeResult:
        yield Static(id="detail-header")
        yield Static(id="detail-body")
        yield OptionList(id="detail-fields")

    def show(self, log: dict[str, Any] | None) -> None:
        """Display a log (None clears the pane)."""
        self.current = log
        header = self.query_one("#detail-header", Static)
        body = self.query_one("#detail-body", Static)
        fields = self.query_one("#detail-fields", OptionList)
        fields.clear_options()
        self._fields = []
        if log is None:
            header.update("")
            body.update(Text("no log selected", style="dim"))
            return
        title = Text()
        title.append(stamp(log["timestamp_ns"]) + "  ", style="dim")
        title.append(f"{one_line(log['level']) or '-':<5}", style=level_style(log["level"]))
        sent = log.get("severity_text", log["level"])
        if sent != log["level"]:  # the severity as the sender gave it, when it reads otherwise
            number = log.get("severity_number", 0)
            title.append(
                " (" + ", ".join(x for x in (one_line(sent), str(number) if number else "") if x) + ")", style="dim"
            )
        title.append("  " + service_label(log["service_name"]), style="bold")
        if log.get("event_name"):
            title.append("  " + one_line(log["event_name"]), style="italic")
        header.update(title)
        body.update(pretty_body(log["body"]))
        self._fields = [
            ("level", log["level"]),
            ("service_name", log["service_name"]),
            ("session_id", log["session_id"]),
            ("trace_id", log["trace_id"]),
            ("span_id", log["span_id"]),
            ("environment", log["environment"]),
            ("service_version", log["service_version"]),
        ]
        self._fields = [(k, v) for k, v in self._fields if v]
        self._fields += attribute_rows(log["attributes"])
        resource = attribute_rows({k: v for k, v in log["resource_attributes"].items() if k not in log["attributes"]})
        options: list[Option] = []
        for key, value in self._fields:
            options.append(Option(self._field_text(key, value)))
        self._resource_start = len(self._fields)
        self._fields += resource
        for key, value in resource:
            options.append(Option(self._field_text(key, value, resource=True)))
        # the rest of the OpenTelemetry record: shown, not filterable (the search has no key for them)
        for key, value in _record_fields(log):
            text = Text(f"{one_line(key)} = {one_line(value)}", style="dim")
            options.append(Option(text, disabled=True))
        fields.add_options(options)

    @staticmethod
    def _field_text(key: str, value: str, resource: bool = False) -> Text:
        text = Text()
        text.append(one_line(key), style="cyan" if not resource else "blue")
        text.append(" = ")
        text.append(one_line(value))
        if resource:
            text.append("  (resource)", style="dim")
        return text

    def highlighted_field(self) -> tuple[str, str] | None:
        """The field under the list's highlight (the first one when nothing is highlighted)."""
        fields = self.query_one("#detail-fields", OptionList)
        index = fields.highlighted if fields.highlighted is not None else 0
        return self._fields[index] if 0 <= index < len(self._fields) else None

    def focus_fields(self) -> None:
        """Move the focus to the field list, highlighting the first field."""
        fields = self.query_one("#detail-fields", OptionList)
        if fields.option_count and fields.highlighted is None:
            fields.highlighted = 0
        fields.focus()

    def action_filter(self, exclude: bool) -> None:
        field = self.highlighted_field()
        if field is not None:
            self.post_message(self.FilterRequested(field[0], field[1], exclude))


def _record_fields(log: dict[str, Any]) -> list[tuple[str, str]]:
    """What else OpenTelemetry sent with a log (absent from an older backend's answers)."""
    found = [
        ("scope", " ".join(x for x in (log.get("scope_name", ""), log.get("scope_version", "")) if x)),
        *((f"scope: {k}", v) for k, v in attribute_rows(log.get("scope_attributes", {}))),
        ("event name", log.get("event_name", "")),
        ("observed", stamp(log["observed_timestamp_ns"]) if log.get("observed_timestamp_ns") else ""),
        ("resource schema", log.get("resource_schema_url", "")),
        ("scope schema", log.get("scope_schema_url", "")),
        ("flags", str(log["trace_flags"]) if log.get("trace_flags") else ""),
        ("dropped attributes", str(log["dropped_attributes_count"]) if log.get("dropped_attributes_count") else ""),
    ]
    return [(k, v) for k, v in found if v]
