"""Notifications: Slack, Discord and generic JSON webhooks, with retries and signatures."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import shlex
import time
import uuid
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import httpx

from hlog.alerts.netpolicy import WebhookPolicy, WebhookRefused
from hlog.alerts.rules import Destination, Rule, span_text
from hlog.backend.permalink import search_link
from hlog.backend.textsafe import safe
from hlog.backend.timeutil import format_ns
from hlog.query import format_term

TIMEOUT_SECONDS = 10.0
MAX_ATTEMPTS = 3
BACKOFF_SECONDS = 1.0
MAX_RETRY_AFTER_SECONDS = 30.0
MAX_SAMPLES = 5
SAMPLE_CHARS = 300
SIGNATURE_HEADER = "X-Hlog-Signature"
DELIVERY_HEADER = "X-Hlog-Delivery"
USER_AGENT = "hlog-alerts"
_COLORS = {"ALERTING": 0xE01E5A, "OK": 0x2EB67D, "TEST": 0x4A90E2}


@dataclass
class Alert:
    """What one notification says."""

    rule: Rule
    state: str  # ALERTING, OK (resolved) or TEST
    count: int
    start_ns: int
    end_ns: int
    group: str = ""
    samples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def command(self) -> str:
        """The hlog-tui command that opens these logs."""
        return (
            f"hlog-tui --query {shlex.quote(self.rule.query)} "
            f"--from {format_ns(self.start_ns, 0)} --to {format_ns(self.end_ns, 0)}"
        )

    @property
    def link(self) -> str:
        """The link to the logs that fired it (`hlog-tui open LINK`), its group's only when grouped."""
        query = self.rule.query
        if self.rule.group_by:
            query = f"{query} {format_term(self.rule.group_by, self.group)}".strip()
        return search_link(query, start_ns=self.start_ns, end_ns=self.end_ns)

    @property
    def title(self) -> str:
        """One line: what happened."""
        group = f" [{self.rule.group_by}={self.group}]" if self.rule.group_by else ""
        verb = {"ALERTING": "ALERT", "OK": "RESOLVED", "TEST": "TEST"}.get(self.state, self.state)
        return f"{verb}: {self.rule.name}{group}"

    @property
    def summary(self) -> str:
        """Count against threshold, window and query."""
        return (
            f"{self.count} logs in the last {span_text(self.rule.window_seconds)} "
            f"(alert when {self.rule.describe_condition()}) for query `{self.rule.query or '*'}`"
        )

    def sample_lines(self) -> list[str]:
        """Up to 5 matching logs, one line each, made safe."""
        lines = []
        for log in self.samples[:MAX_SAMPLES]:
            body = safe(log["body"])
            body = body if len(body) <= SAMPLE_CHARS else body[: SAMPLE_CHARS - 1] + "…"
            stamp = format_ns(log["timestamp_ns"], 3)
            lines.append(f"{stamp} {log['level'] or '-'} {safe(log['service_name'])}: {body}")
        return lines


def slack_escape(text: str) -> str:
    """Slack's escaping of its control characters: `<!channel>` or `<@U123>` from log data
    stays text instead of pinging people."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(alert: Alert) -> dict[str, Any]:
    """A Slack incoming-webhook message: text (for notifications) and blocks. Everything that
    Slack formats is escaped (plain_text headers are never parsed for mentions)."""
    samples = slack_escape("\n".join(alert.sample_lines()))
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": alert.title[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": slack_escape(alert.summary)}},
    ]
    if samples:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"```{samples}```"}})
    opened = f"`{slack_escape(alert.command)}`  or  `hlog-tui open '{slack_escape(alert.link)}'`"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": opened}]})
    return {"text": slack_escape(f"{alert.title}: {alert.summary}"), "blocks": blocks}


def discord_payload(alert: Alert) -> dict[str, Any]:
    """A Discord webhook message: content and one embed."""
    samples = "\n".join(alert.sample_lines())
    fields = [
        {"name": "Count", "value": str(alert.count), "inline": True},
        {"name": "Condition", "value": alert.rule.describe_condition(), "inline": True},
        {"name": "Query", "value": f"`{alert.rule.query or '*'}`"[:1024]},
    ]
    if samples:
        fields.append({"name": "Logs", "value": f"```{samples[:1000]}```"})
    fields.append({"name": "Open in hlog-tui", "value": f"`{alert.command}`"[:1024]})
    fields.append({"name": "Link", "value": f"`hlog-tui open '{alert.link}'`"[:1024]})
    return {
        "allowed_mentions": {"parse": []},  # @everyone, @here, <@id> from log data ping nobody
        "content": alert.title[:2000],
        "embeds": [
            {
                "title": alert.title[:256],
                "description": alert.summary[:4096],
                "color": _COLORS.get(alert.state, 0x999999),
                "fields": fields,
            }
        ],
    }


def webhook_payload(alert: Alert) -> dict[str, Any]:
    """The generic JSON webhook body (documented in docs/alerts.md)."""
    return {
        "event": "hlog.alert",
        "state": alert.state,
        "rule": {
            "id": alert.rule.id,
            "name": alert.rule.name,
            "query": alert.rule.query,
            "condition": alert.rule.condition,
            "threshold": alert.rule.threshold,
            "window_seconds": alert.rule.window_seconds,
            "group_by": alert.rule.group_by,
        },
        "group": alert.group,
        "count": alert.count,
        "start": format_ns(alert.start_ns, 3),
        "end": format_ns(alert.end_ns, 3),
        "samples": [
            {
                "timestamp": format_ns(s["timestamp_ns"], 9),
                "level": s["level"],
                "service_name": s["service_name"],
                "body": s["body"][:SAMPLE_CHARS],
            }
            for s in alert.samples[:MAX_SAMPLES]
        ],
        "command": alert.command,
        "link": alert.link,
    }


def sign(secret: str, timestamp: str, delivery_id: str, body: bytes) -> str:
    """HMAC-SHA256 of `timestamp.delivery_id.body`, hex: the `v1` part of X-Hlog-Signature."""
    message = f"{timestamp}.{delivery_id}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _reason(err: Exception) -> str:
    """A short account of a failed request in our words: an error's text can carry the URL
    (with its secret path) or bytes the target sent."""
    if isinstance(err, WebhookRefused):
        return f"refused: {safe(str(err))}"
    if isinstance(err, httpx.TimeoutException):
        return "timed out"
    if isinstance(err, httpx.ConnectError):
        return "cannot connect"
    if isinstance(err, httpx.HTTPError):
        return f"request failed ({type(err).__name__})"
    return f"internal error ({type(err).__name__})"


def _status_text(status: int) -> str:
    """`HTTP 404 Not Found`, with the standard phrase rather than the one the target sent."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    text = f"HTTP {status} {phrase}".strip()
    return text + " (redirects are not followed)" if 300 <= status < 400 else text


@dataclass
class Delivery:
    """The outcome of sending one notification to one destination."""

    destination: str
    delivered: bool
    attempts: int
    error: str = ""
    status: int | None = None


class Notifier:
    """Sends alerts, only where `policy` allows (checked after DNS resolution, at every attempt,
    and sent to the address checked). Network errors, 429 and 5xx are retried (honouring
    Retry-After), 3 attempts at most. Redirects are not followed."""

    def __init__(
        self,
        timeout: float = TIMEOUT_SECONDS,
        attempts: int = MAX_ATTEMPTS,
        backoff: float = BACKOFF_SECONDS,
        policy: WebhookPolicy | None = None,
    ) -> None:
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff
        self.policy = policy or WebhookPolicy()

    def _request(self, destination: Destination, alert: Alert) -> tuple[bytes, dict[str, str]]:
        payload = {"slack": slack_payload, "discord": discord_payload}.get(destination.kind, webhook_payload)(alert)
        body = json.dumps(payload, ensure_ascii=False).encode()
        delivery_id = uuid.uuid4().hex
        headers = {
            **(destination.headers if destination.kind == "webhook" else {}),
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            DELIVERY_HEADER: delivery_id,
        }
        if destination.kind == "webhook" and destination.secret:
            stamp = str(int(time.time()))
            headers[SIGNATURE_HEADER] = f"t={stamp},v1={sign(destination.secret, stamp, delivery_id, body)}"
        return body, headers

    async def _post(self, http: httpx.AsyncClient, url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        """POST to the address the policy checked, naming the host in Host (and TLS SNI)."""
        host, address = await self.policy.resolve(url)
        target = httpx.URL(url)
        pinned = target.copy_with(host=str(address))
        headers = {**headers, "Host": target.netloc.decode("ascii").rpartition("@")[2]}
        extensions = {"sni_hostname": host} if target.scheme == "https" else {}
        return await http.post(pinned, content=body, headers=headers, extensions=extensions)

    async def send(self, destination: Destination, alert: Alert) -> Delivery:
        """Deliver one alert to one destination; never raises."""
        label = destination.label()
        try:
            body, headers = self._request(destination, alert)
        except Exception as err:  # a rule saved before today's checks: report it, never stop the others
            return Delivery(label, False, 0, _reason(err))
        error, status = "", None
        async with httpx.AsyncClient(timeout=self.timeout, follow_redirects=False, trust_env=False) as http:
            for attempt in range(1, self.attempts + 1):
                wait = self.backoff * 2 ** (attempt - 1)
                try:
                    response = await self._post(http, destination.url, body, headers)
                except WebhookRefused as err:
                    return Delivery(label, False, attempt, _reason(err))
                except Exception as err:
                    error, status = _reason(err), None
                else:
                    status = response.status_code
                    if status < 300:
                        return Delivery(label, True, attempt, "", status)
                    error = _status_text(status)
                    if status != 429 and status < 500:
                        return Delivery(label, False, attempt, error, status)
                    retry_after = response.headers.get("Retry-After", "")
                    if retry_after.replace(".", "", 1).isdigit():
                        wait = min(float(retry_after), MAX_RETRY_AFTER_SECONDS)
                if attempt < self.attempts:
                    await asyncio.sleep(wait)
        return Delivery(label, False, self.attempts, error, status)
