"""`hlog alerts list|add|edit|rm|enable|disable|test|history`: manage alert rules from the shell."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from hlog.alerts.netpolicy import WebhookPolicy
from hlog.alerts.rules import DEFAULT_COOLDOWN_SECONDS, DEFAULT_FREQUENCY_SECONDS, DEFAULT_WINDOW_SECONDS, span_text
from hlog.backend.client import ApiError, connect
from hlog.backend.textsafe import safe, safe_lines
from hlog.backend.timeutil import format_ns, parse_duration_ns

if TYPE_CHECKING:
    from hlog.backend.store import Store

EXIT_USAGE = 2


def add_parser(sub: Any, connection: Any) -> None:
    """Add `alerts` and its commands to the `hlog` parser."""
    alerts = sub.add_parser(
        "alerts",
        help="manage alert rules (Slack, Discord, webhooks)",
        description="Alert rules count the logs matching a query over a window and notify "
        "Slack, Discord or a webhook when the count crosses a threshold.",
    )
    commands = alerts.add_subparsers(dest="alerts_command", metavar="COMMAND", required=True)
    listing = commands.add_parser("list", help="every rule with its state")
    listing.add_argument("--format", choices=["table", "json"], default="table")
    add = commands.add_parser("add", help="create a rule")
    _rule_options(add, creating=True)
    edit = commands.add_parser("edit", help="change a rule (only the options given)")
    edit.add_argument("rule_id")
    _rule_options(edit, creating=False)
    for name, text in (
        ("rm", "delete a rule"),
        ("enable", "turn a rule on"),
        ("disable", "turn a rule off"),
        ("test", "send a test message to the rule's destinations"),
    ):
        command = commands.add_parser(name, help=text)
        command.add_argument("rule_id")
        command.add_argument("--format", choices=["table", "json"], default="table")
    history = commands.add_parser("history", help="state changes and deliveries of a rule")
    history.add_argument("rule_id")
    history.add_argument("--format", choices=["table", "json"], default="table")
    for parser in (listing, add, edit, history, *[commands.choices[n] for n in ("rm", "enable", "disable", "test")]):
        connection(parser)
        parser.add_argument(
            "--allow-webhook-network",
            action="append",
            default=[],
            metavar="CIDR",
            help="with --store: let webhooks reach this network (as hlog serve's option of the same name)",
        )


def _rule_options(parser: argparse.ArgumentParser, creating: bool) -> None:
    parser.add_argument("--name", required=creating)
    parser.add_argument("--query", required=creating, help="a search, e.g. 'level:error service:checkout'")
    condition = parser.add_mutually_exclusive_group(required=creating)
    condition.add_argument("--above", type=float, metavar="N", help="alert when the count is >= N")
    condition.add_argument("--below", type=float, metavar="N", help="alert when the count is <= N (logs stopped)")
    parser.add_argument(
        "--window", metavar="DURATION", help=f"count over this window (default {DEFAULT_WINDOW_SECONDS // 60}m)"
    )
    parser.add_argument(
        "--every", metavar="DURATION", help=f"check this often (default {DEFAULT_FREQUENCY_SECONDS // 60}m)"
    )
    parser.add_argument(
        "--cooldown",
        metavar="DURATION",
        help=f"stay quiet this long after firing (default {DEFAULT_COOLDOWN_SECONDS // 60}m)",
    )
    parser.add_argument("--group-by", metavar="KEY", help="one alert per value of this key (top 20)")
    parser.add_argument("--slack", action="append", default=[], metavar="URL", help="Slack incoming webhook")
    parser.add_argument("--discord", action="append", default=[], metavar="URL", help="Discord webhook")
    parser.add_argument("--webhook", action="append", default=[], metavar="URL", help="JSON webhook")
    parser.add_argument("--secret", default="", help="sign webhook bodies with this secret (HMAC-SHA256)")
    parser.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra header for webhooks, e.g. Authorization=Bearer x",
    )
    parser.add_argument("--no-resolved", action="store_true", help="no message when the alert resolves")
    parser.add_argument("--disabled", action="store_true", help="create the rule turned off")
    parser.add_argument("--format", choices=["table", "json"], default="table")


def _seconds(text: str) -> int:
    return max(0, parse_duration_ns(text) // 10**9)


def _rule_body(args: argparse.Namespace, creating: bool) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for key, value in (("name", args.name), ("query", args.query), ("group_by", args.group_by)):
        if value is not None:
            body[key] = value
    if args.above is not None:
        body.update(condition="above", threshold=args.above)
    if args.below is not None:
        body.update(condition="below", threshold=args.below)
    for key, value in (
        ("window_seconds", args.window),
        ("frequency_seconds", args.every),
        ("cooldown_seconds", args.cooldown),
    ):
        if value is not None:
            body[key] = _seconds(value)
    headers = {}
    for item in args.header:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ValueError(f"--header {item!r}: expected NAME=VALUE")
        headers[name] = value
    destinations = [{"kind": "slack", "url": u} for u in args.slack]
    destinations += [{"kind": "discord", "url": u} for u in args.discord]
    destinations += [{"kind": "webhook", "url": u, "secret": args.secret, "headers": headers} for u in args.webhook]
    if destinations or creating:
        body["destinations"] = destinations
    if args.no_resolved:
        body["notify_resolved"] = False
    if creating:
        body["enabled"] = not args.disabled
    elif args.disabled:
        body["enabled"] = False
    return body


def _when(ms: int | None) -> str:
    return format_ns(ms * 1_000_000, 0) if ms else "never"


def _print_rules(rules: list[dict[str, Any]]) -> None:
    if not rules:
        print("no alert rules (create one with: hlog alerts add --name … --query … --above N --slack URL)")
        return
    print(f"{'ID':<13} {'STATE':<9} {'NAME':<24} {'CONDITION':<26} {'LAST FIRED':<21} QUERY")
    for r in rules:
        word = ">=" if r["condition"] == "above" else "<="
        condition = (
            f"{word} {r['threshold']:g} in {span_text(r['window_seconds'])}, every {span_text(r['frequency_seconds'])}"
        )
        print(
            f"{r['id']:<13} {r['state']:<9} {safe(r['name'])[:24]:<24} {condition:<26} "
            f"{_when(r['last_fired_ms']):<21} {safe(r['query'])}"
        )


async def run(args: argparse.Namespace) -> int:
    """Run an `hlog alerts` command."""
    from hlog.alerts.service import AlertService

    command = args.alerts_command
    try:
        policy = WebhookPolicy.allowing(*args.allow_webhook_network)
        body = _rule_body(args, command == "add") if command in ("add", "edit") else None
    except ValueError as err:
        print(f"hlog: {err}", file=sys.stderr)
        return EXIT_USAGE

    def extensions(store: Store) -> list[AlertService]:
        return [AlertService(store, evaluate=False, policy=policy)]

    async with connect(args.backend, args.store, args.token, extensions) as api:
        try:
            result = await _call(api, command, args, body)
        except ApiError as err:
            field = err.payload.get("field")
            where = f" ({field})" if field else ""
            context = err.payload.get("context")
            print(safe(f"hlog: {err}{where}") + (f"\n{safe_lines(context)}" if context else ""), file=sys.stderr)
            return EXIT_USAGE if err.status == 400 else 1
    if args.format == "json":
        print(json.dumps(result, indent=2))
        return 0
    if command == "list":
        _print_rules(result["rules"])
    elif command in ("add", "edit", "enable", "disable"):
        _print_rules([result])
    elif command == "rm":
        print(f"deleted {args.rule_id}")
    elif command == "test":
        failed = [d for d in result["deliveries"] if not d["delivered"]]
        for d in result["deliveries"]:
            print(
                f"{safe(d['destination'])}: "
                + ("delivered" if d["delivered"] else f"FAILED after {d['attempts']} attempts: {safe(d['error'])}")
            )
        return 1 if failed else 0
    elif command == "history":
        for h in result["history"]:
            what = (
                f"→ {safe(h['destination'])}: " + ("delivered" if h["delivered"] else f"failed: {safe(h['error'])}")
                if h["destination"]
                else safe(h["error"] or "")
            )
            group = f" [{safe(h['group'])}]" if h["group"] else ""
            print(
                f"{_when(h['time_ms'])}  {h['state']:<9}{group} count {h['count']} "
                f"(threshold {h['threshold']:g})  {what}"
            )
        if not result["history"]:
            print("no history yet")
    return 0


async def _call(api: Any, command: str, args: argparse.Namespace, body: Any) -> Any:
    path = f"/api/alerts/{getattr(args, 'rule_id', '')}"
    if command == "list":
        return await api.call("GET", "/api/alerts")
    if command == "add":
        return await api.call("POST", "/api/alerts", body)
    if command == "edit":
        return await api.call("PUT", path, body)
    if command == "rm":
        await api.call("DELETE", path)
        return {"deleted": args.rule_id}
    if command in ("enable", "disable", "test"):
        return await api.call("POST", f"{path}/{command}")
    return await api.call("GET", f"{path}/history")
