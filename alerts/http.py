"""/api/alerts: list, get, create, update, delete, enable/disable, test and history of rules."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hlog.alerts.netpolicy import WebhookRefused
from hlog.alerts.rules import Rule, RuleError, validate
from hlog.alerts.secrets import masked, unmask
from hlog.backend.store import StoreError
from hlog.query import QueryError

if TYPE_CHECKING:
    from hlog.alerts.service import AlertService

MAX_RULE_BYTES = 256 * 1024
READ_ONLY_FIELDS = ("state", "last_fired_ms", "groups")


def _error(status: int, kind: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": {"type": kind, "message": message, **extra}}, status)


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > MAX_RULE_BYTES:
        raise RuleError("rule", f"larger than {MAX_RULE_BYTES} bytes")
    try:
        data = json.loads(raw or b"{}")
    except ValueError as err:
        raise RuleError("rule", f"invalid JSON: {err}") from None
    if not isinstance(data, dict):
        raise RuleError("rule", "expected a JSON object")
    for shown_only in READ_ONLY_FIELDS:  # what GET adds: a GET-modify-PUT round trip works
        data.pop(shown_only, None)
    return data


def routes(service: AlertService) -> list[Route]:
    """The routes of the alert API, bound to a service."""
    rules = service.rules

    async def guarded(handler: Any, request: Request) -> Response:
        try:
            return await handler(request)
        except RuleError as err:
            return JSONResponse({"error": err.to_dict()}, 400)
        except StoreError as err:
            return _error(503, "store", err.public)

    async def found(rule_id: str) -> Rule | JSONResponse:
        rule = await run_in_threadpool(rules.get, rule_id)
        return rule if rule is not None else _error(404, "not_found", f"no alert rule {rule_id}")

    async def list_rules(request: Request) -> Response:
        all_rules = await run_in_threadpool(rules.all)
        states = await run_in_threadpool(rules.states)
        return JSONResponse({"rules": [service.describe(r, states) for r in all_rules]})

    async def checked(data: dict[str, Any], stored: Rule | None) -> Rule:
        """A rule from the request: valid, its masked secrets filled from `stored`, and every
        destination allowed by the webhook policy."""
        rule = unmask(validate(Rule.from_json(data)), stored)
        try:  # the store's engine has the last word on a regex
            await run_in_threadpool(service.evaluator.search.compile, rule.query)
        except QueryError as err:
            raise RuleError("query", err.message, {"column": err.column, "context": err.context}) from None
        for i, destination in enumerate(rule.destinations):
            try:
                await service.policy.check_saved(destination.url)
            except WebhookRefused as err:
                raise RuleError(f"destinations.{i}.url", str(err)) from None
        return rule

    async def create(request: Request) -> Response:
        data = await _body(request)
        data.pop("id", None)
        rule = await checked(data, None)
        await run_in_threadpool(rules.save, rule)
        return JSONResponse(service.describe(rule, {}), 201)

    async def get(request: Request) -> Response:
        rule = await found(request.path_params["rule_id"])
        if isinstance(rule, JSONResponse):
            return rule
        states = await run_in_threadpool(rules.states, rule.id)
        return JSONResponse(service.describe(rule, states))

    async def update(request: Request) -> Response:
        existing = await found(request.path_params["rule_id"])
        if isinstance(existing, JSONResponse):
            return existing
        data = {**masked(existing.to_json()), **await _body(request), "id": existing.id}
        rule = await checked(data, existing)
        await run_in_threadpool(rules.save, rule)
        states = await run_in_threadpool(rules.states, rule.id)
        return JSONResponse(service.describe(rule, states))

    async def delete(request: Request) -> Response:
        if not await run_in_threadpool(rules.delete, request.path_params["rule_id"]):
            return _error(404, "not_found", f"no alert rule {request.path_params['rule_id']}")
        return Response(status_code=204)

    def toggle(enabled: bool) -> Any:
        async def handler(request: Request) -> Response:
            rule = await found(request.path_params["rule_id"])
            if isinstance(rule, JSONResponse):
                return rule
            rule.enabled = enabled
            await run_in_threadpool(rules.save, rule)
            states = await run_in_threadpool(rules.states, rule.id)
            return JSONResponse(service.describe(rule, states))

        return handler

    async def test_saved(request: Request) -> Response:
        rule = await found(request.path_params["rule_id"])
        if isinstance(rule, JSONResponse):
            return rule
        return await _test(rule)

    async def test_unsaved(request: Request) -> Response:
        """A test of a rule being written; with the `id` of a saved rule, its masked secrets are used."""
        data = await _body(request)
        rule_id = str(data.pop("id", "") or "")
        stored = await run_in_threadpool(rules.get, rule_id) if rule_id else None
        data.setdefault("name", "test")
        data.setdefault("threshold", 1)
        return await _test(await checked(data, stored), record=False)

    async def _test(rule: Rule, record: bool = True) -> Response:
        if not rule.destinations:
            raise RuleError("destinations", "add a destination to send a test to")
        if not record:
            rule.id = ""
        deliveries = await service.evaluator.send_test(rule)
        return JSONResponse({"deliveries": [asdict(d) for d in deliveries]})

    async def history(request: Request) -> Response:
        rule = await found(request.path_params["rule_id"])
        if isinstance(rule, JSONResponse):
            return rule
        return JSONResponse({"history": await run_in_threadpool(rules.history, rule.id)})

    def route(path: str, handler: Any, method: str) -> Route:
        async def endpoint(request: Request) -> Response:
            return await guarded(handler, request)

        return Route(path, endpoint, methods=[method])

    return [
        route("/api/alerts", list_rules, "GET"),
        route("/api/alerts", create, "POST"),
        route("/api/alerts/test", test_unsaved, "POST"),
        route("/api/alerts/{rule_id}", get, "GET"),
        route("/api/alerts/{rule_id}", update, "PUT"),
        route("/api/alerts/{rule_id}", delete, "DELETE"),
        route("/api/alerts/{rule_id}/enable", toggle(True), "POST"),
        route("/api/alerts/{rule_id}/disable", toggle(False), "POST"),
        route("/api/alerts/{rule_id}/test", test_saved, "POST"),
        route("/api/alerts/{rule_id}/history", history, "GET"),
    ]
