"""The alert service a backend runs: the evaluator plus the /api/alerts routes."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hlog.alerts import http
from hlog.alerts.evaluator import DEFAULT_DELAY_SECONDS, Evaluator
from hlog.alerts.lease import Lease
from hlog.alerts.netpolicy import WebhookPolicy
from hlog.alerts.notify import Notifier
from hlog.alerts.secrets import masked
from hlog.alerts.storage import GroupState, RuleStore

if TYPE_CHECKING:
    from hlog.alerts.rules import Rule
    from hlog.backend.store import Store

_SEVERITY = {"ALERTING": 4, "SILENCED": 3, "ERROR": 2, "OK": 1}


class AlertService:
    """Plugs into backend.app.Backend as an extension (routes, start, stop)."""

    def __init__(
        self,
        store: Store,
        delay_seconds: float = DEFAULT_DELAY_SECONDS,
        notifier: Notifier | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
        evaluate: bool = True,
        policy: WebhookPolicy | None = None,
        lease_seconds: float | None = None,
    ) -> None:
        self.evaluate = evaluate
        self.policy = policy or (notifier.policy if notifier else WebhookPolicy())
        self.rules = RuleStore(store)
        # with a lease, this backend evaluates only while it holds it (several replicas, one store)
        lease = Lease(store, seconds=lease_seconds) if lease_seconds else None
        self.evaluator = Evaluator(
            store, self.rules, notifier or Notifier(policy=self.policy), delay_seconds, clock_ns, lease
        )
        self.routes = http.routes(self)

    async def start(self) -> None:
        """Start the evaluator (not for a short-lived command that only manages rules)."""
        if self.evaluate:
            await self.evaluator.start()

    async def stop(self) -> None:
        """Stop the evaluator."""
        await self.evaluator.stop()

    def health(self) -> dict[str, Any]:
        """What /healthz says of alerting: whether this backend evaluates the rules now."""
        lease = self.evaluator.lease
        leads = self.evaluate and (lease is None or lease.held)
        return {"alerts": {"evaluates": leads, "evaluations": self.evaluator.rounds}}

    def describe(self, rule: Rule, states: dict[tuple[str, str], GroupState]) -> dict[str, Any]:
        """A rule with its state (the worst of its groups, DISABLED when off), secrets masked."""
        groups = [s for (rid, _), s in states.items() if rid == rule.id]
        if not rule.enabled:
            state = "DISABLED"
        elif groups:
            state = max(groups, key=lambda s: _SEVERITY.get(s.state, 0)).state
        else:
            state = "OK"
        last_fired = max((s.last_fired_ms for s in groups), default=0)
        return {
            **masked(rule.to_json()),
            "state": state,
            "last_fired_ms": last_fired or None,
            "groups": [
                {
                    "group": s.group,
                    "state": s.state,
                    "count": s.last_count,
                    "since_ms": s.since_ms,
                    "last_fired_ms": s.last_fired_ms or None,
                }
                for s in sorted(groups, key=lambda s: s.group)
            ],
        }
