"""Secrets in alert rules are write-only: shown masked, and a masked value sent back keeps the secret.

What is secret in a destination: the webhook signing secret, the values of custom headers
(`Authorization: Bearer ...`), the password and query of any URL, and the path of a Slack
or Discord webhook URL (the token is the path). Every way out (API, CLI, TUI, history,
the backend's own log) goes through `masked`; an edit that sends a masked value back (the
form or `GET`-modify-`PUT` round trip) gets the stored value through `unmask`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from hlog.alerts.rules import Destination, Rule, RuleError

MASK = "********"
_SECRET_PATH_KINDS = ("slack", "discord")


def mask_url(kind: str, url: str) -> str:
    """The URL with its secret parts replaced by MASK."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return MASK
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if port:
        netloc += f":{port}"
    if parts.username or parts.password:
        netloc = f"{MASK}@{netloc}"
    path = parts.path
    if kind in _SECRET_PATH_KINDS and path.strip("/"):
        segments = path.strip("/").split("/")  # the first names the API (/services, /api); the rest is the token
        path = f"/{segments[0]}/{MASK}" if len(segments) > 1 else f"/{MASK}"
    query = MASK if parts.query else ""
    return urlunsplit((parts.scheme, netloc, path, query, ""))


def mask_destination(destination: Destination) -> dict[str, Any]:
    """A destination as it may be shown."""
    return {
        "kind": destination.kind,
        "url": mask_url(destination.kind, destination.url),
        "secret": MASK if destination.secret else "",
        "headers": {name: MASK for name in destination.headers},
    }


def masked(rule_json: dict[str, Any]) -> dict[str, Any]:
    """A rule's JSON (Rule.to_json) with every secret masked."""
    destinations = [Destination(**d) for d in rule_json.get("destinations", [])]
    return {**rule_json, "destinations": [mask_destination(d) for d in destinations]}


def unmask(rule: Rule, stored: Rule | None) -> Rule:
    """`rule` (from an edit) with each masked value replaced by the stored one it stands for:
    the URL of the stored destination of the same kind whose masked URL is the URL given, and
    the secret and header values of that one (else of the first stored one of the kind).
    Raises RuleError for a masked value that stands for nothing."""
    destinations = []
    for i, given in enumerate(rule.destinations):
        same_kind = [d for d in (stored.destinations if stored else []) if d.kind == given.kind]
        twin = next((d for d in same_kind if mask_url(d.kind, d.url) == given.url), None)
        source = twin or (same_kind[0] if same_kind else None)
        url = twin.url if twin else given.url
        secret, headers = given.secret, dict(given.headers)
        if secret == MASK:
            secret = source.secret if source else MASK
        for name, value in given.headers.items():
            if value == MASK:
                headers[name] = source.headers.get(name, MASK) if source else MASK
        if MASK in url or secret == MASK or MASK in headers.values():
            raise RuleError(f"destinations.{i}", "a masked value stands for no saved secret: give the value")
        destinations.append(replace(given, url=url, secret=secret, headers=headers))
    rule.destinations = destinations
    return rule
