"""Alert rules: what they are, how they are validated, and the JSON they are stored as."""

from __future__ import annotations

import re
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlparse

from hlog.query import QueryError, compile_query
from hlog.query.fields import reserved, valid_attribute_key

CONDITIONS = ("above", "below")
DESTINATION_KINDS = ("slack", "discord", "webhook")
MAX_GROUPS = 20
DEFAULT_WINDOW_SECONDS = 5 * 60
DEFAULT_FREQUENCY_SECONDS = 60
DEFAULT_COOLDOWN_SECONDS = 30 * 60
MAX_NAME_CHARS = 200
# headers a destination cannot set: the connection's own, and what hlog sets on each delivery
RESERVED_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "content-type",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "upgrade",
        "expect",
        "user-agent",
        "x-hlog-signature",
        "x-hlog-delivery",
    }
)
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}")
_HEADER_VALUE = re.compile(r"[\x20-\x7e]{0,4096}")


class RuleError(ValueError):
    """A rule that cannot be saved; `field` names the part to fix."""

    def __init__(self, field: str, message: str, detail: dict[str, Any] | None = None) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.detail = detail or {}

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form used by the API."""
        return {"type": "rule", "field": self.field, "message": self.message, **self.detail}


@dataclass
class Destination:
    """Where notifications go: a Slack or Discord incoming webhook, or any JSON webhook."""

    kind: str
    url: str
    secret: str = ""
    headers: dict[str, str] = field(default_factory=dict)

    def label(self) -> str:
        """`kind host` without the secret path, for history and lists."""
        parsed = urlparse(self.url)
        return f"{self.kind} {parsed.hostname or '?'}{':' + str(parsed.port) if parsed.port else ''}"


@dataclass
class Rule:
    """Count the logs matching `query` over `window_seconds`, every `frequency_seconds`;
    alert when the count is >= threshold (above) or <= threshold (below)."""

    name: str
    query: str
    threshold: float
    condition: str = "above"
    window_seconds: int = DEFAULT_WINDOW_SECONDS
    frequency_seconds: int = DEFAULT_FREQUENCY_SECONDS
    cooldown_seconds: int = DEFAULT_COOLDOWN_SECONDS
    group_by: str = ""
    destinations: list[Destination] = field(default_factory=list)
    enabled: bool = True
    notify_resolved: bool = True
    id: str = ""

    def holds(self, count: int) -> bool:
        """Whether `count` breaks the rule."""
        return count >= self.threshold if self.condition == "above" else count <= self.threshold

    def describe_condition(self) -> str:
        """`more than or equal to 20 in 5m` style, for messages."""
        word = ">=" if self.condition == "above" else "<="
        return f"count {word} {self.threshold:g} in {span_text(self.window_seconds)}"

    def to_json(self) -> dict[str, Any]:
        """The stored and API form."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Rule:
        """Build a rule from API or stored JSON; raises RuleError for wrong shapes."""
        if not isinstance(data, dict):
            raise RuleError("rule", "expected a JSON object")
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(data) - known)
        if unknown:
            raise RuleError(unknown[0], "unknown field")
        values = dict(data)
        raw_destinations = values.pop("destinations", []) or []
        if not isinstance(raw_destinations, list):
            raise RuleError("destinations", "expected a list")
        destinations = []
        for i, d in enumerate(raw_destinations):
            if not isinstance(d, dict) or set(d) - {"kind", "url", "secret", "headers"}:
                raise RuleError(f"destinations.{i}", "expected {kind, url, secret?, headers?}")
            destinations.append(Destination(**d))
        try:
            return cls(destinations=destinations, **values)
        except TypeError as err:
            raise RuleError("rule", str(err)) from None


def span_text(seconds: int) -> str:
    """A duration in seconds the way people write it: `5m`, `1h`, `90s`."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0 and seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def validate(rule: Rule) -> Rule:
    """Check a rule and fill its id; raises RuleError with the field and a clear message."""
    if not isinstance(rule.name, str) or not rule.name.strip():
        raise RuleError("name", "a rule needs a name")
    if len(rule.name) > MAX_NAME_CHARS:
        raise RuleError("name", f"at most {MAX_NAME_CHARS} characters")
    if not isinstance(rule.query, str):
        raise RuleError("query", "expected a string")
    try:
        compile_query(rule.query)
    except QueryError as err:
        raise RuleError("query", err.message, {"column": err.column, "context": err.context}) from None
    if rule.condition not in CONDITIONS:
        raise RuleError("condition", "use above (count >= threshold) or below (count <= threshold)")
    for name in ("threshold", "window_seconds", "frequency_seconds", "cooldown_seconds"):
        value = getattr(rule, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise RuleError(name, "expected a number")
    if rule.threshold < 0:
        raise RuleError("threshold", "must not be negative")
    if rule.window_seconds <= 0:
        raise RuleError("window_seconds", "the window must be positive")
    if rule.frequency_seconds <= 0:
        raise RuleError("frequency_seconds", "the frequency must be positive")
    if rule.cooldown_seconds < 0:
        raise RuleError("cooldown_seconds", "must not be negative")
    if rule.group_by and reserved(rule.group_by) is None and not valid_attribute_key(rule.group_by):
        raise RuleError("group_by", f"{rule.group_by!r} is not a key")
    for i, destination in enumerate(rule.destinations):
        if destination.kind not in DESTINATION_KINDS:
            kinds = ", ".join(DESTINATION_KINDS)
            raise RuleError(f"destinations.{i}.kind", f"unknown kind {destination.kind!r}: use {kinds}")
        if not isinstance(destination.url, str) or not destination.url.isprintable() or " " in destination.url:
            raise RuleError(f"destinations.{i}.url", "must be an http(s) URL without spaces or control characters")
        if not isinstance(destination.secret, str):
            raise RuleError(f"destinations.{i}.secret", "expected a string")
        try:
            parsed = urlparse(destination.url)
            parsed.port  # noqa: B018 (raises for a port out of range)
        except ValueError:
            raise RuleError(f"destinations.{i}.url", "must be an http(s) URL") from None
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise RuleError(f"destinations.{i}.url", "must be an http(s) URL")
        if not isinstance(destination.headers, dict):
            raise RuleError(f"destinations.{i}.headers", "expected an object of header names and values")
        for name, value in destination.headers.items():
            where = f"destinations.{i}.headers.{name}"
            if not isinstance(name, str) or not isinstance(value, str) or not _TOKEN.fullmatch(name):
                raise RuleError(f"destinations.{i}.headers", "header names must be HTTP tokens and values strings")
            if name.lower() in RESERVED_HEADERS or name.lower().startswith("proxy-"):
                raise RuleError(where, "this header is set by hlog or the connection and cannot be overridden")
            if not _HEADER_VALUE.fullmatch(value):
                raise RuleError(where, "the value must be printable ASCII (no control characters)")
    rule.window_seconds = int(rule.window_seconds)
    rule.frequency_seconds = int(rule.frequency_seconds)
    rule.cooldown_seconds = int(rule.cooldown_seconds)
    rule.id = rule.id or uuid.uuid4().hex[:12]
    return rule
