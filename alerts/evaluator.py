"""The evaluator: checks each rule at its frequency, moves its state, and sends notifications.

State per rule (and per group): OK -> ALERTING (notify) -> SILENCED while it still holds
inside the cooldown (no message) -> ALERTING again once the cooldown has passed, or OK
when it no longer holds (a "resolved" message unless the rule turns that off).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from hlog.alerts.lease import Lease
from hlog.alerts.notify import Alert, Delivery, Notifier
from hlog.alerts.rules import MAX_GROUPS, Destination, Rule
from hlog.alerts.storage import GroupState, HistoryEntry, RuleStore
from hlog.backend.search import LogSearch, TimeRange
from hlog.query import format_term

if TYPE_CHECKING:
    from hlog.backend.store import Store

log = logging.getLogger(__name__)

DEFAULT_DELAY_SECONDS = 10
TICK_SECONDS = 1.0
SAMPLE_ROWS = 5
# one delivery (every attempt and backoff) ends by then, whatever the destination does
DELIVERY_DEADLINE_SECONDS = 45.0


def transition(previous: GroupState, holds: bool, now_ms: int, cooldown_ms: int) -> tuple[str, str | None]:
    """(new state, what to send: "fire", "resolve" or None)."""
    active = previous.state in ("ALERTING", "SILENCED")
    if holds:
        if active and now_ms - previous.last_fired_ms < cooldown_ms:
            return "SILENCED", None
        return "ALERTING", "fire"
    return "OK", ("resolve" if active else None)


class Evaluator:
    """Runs inside the backend process; one failing rule or destination never stops the others."""

    def __init__(
        self,
        store: Store,
        rules: RuleStore,
        notifier: Notifier | None = None,
        delay_seconds: float = DEFAULT_DELAY_SECONDS,
        clock_ns: Callable[[], int] = time.time_ns,
        lease: Lease | None = None,
    ) -> None:
        self.search = LogSearch(store)
        self.lease = lease  # with several backends on one store, only the lease's holder evaluates
        self.rules = rules
        self.notifier = notifier or Notifier()
        self.delay_ns = int(delay_seconds * 1e9)
        self.clock_ns = clock_ns
        self._next_due: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None
        self._running: dict[str, asyncio.Task[list[HistoryEntry]]] = {}  # rule id -> its evaluation
        self._round_problem = ""  # why the last round failed, said once
        self.rounds = 0  # rounds run (while leading, with a lease)

    async def start(self) -> None:
        """Start checking rules in the background."""
        self._task = asyncio.create_task(self._run(), name="hlog-alerts")

    async def stop(self) -> None:
        """Stop checking rules (evaluations under way are cancelled)."""
        tasks = [t for t in (self._task, *self._running.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._task = None
        self._running.clear()
        if self.lease is not None:
            await asyncio.to_thread(self.lease.release)

    async def _run(self) -> None:
        while True:
            if self.lease is not None and not await asyncio.to_thread(self.lease.keep):
                self._next_due.clear()  # when it leads again, every rule is due at once
                await asyncio.sleep(TICK_SECONDS)
                continue
            try:
                await self._start_due()
                self.rounds += 1
                self._round_problem = ""
            except Exception as err:  # the store may be briefly unavailable; keep the loop alive
                # said once, not every second (the store itself says when it is unreachable)
                if str(err) != self._round_problem and not getattr(err, "unreachable", False):
                    log.error("alerts: evaluation rounds fail: %s", err)
                self._round_problem = str(err)
            await asyncio.sleep(TICK_SECONDS)

    async def tick(self) -> None:
        """Evaluate every enabled rule that is due, and wait for them."""
        await asyncio.gather(*await self._start_due())

    def _done(self, rule_id: str, _: asyncio.Task[list[HistoryEntry]]) -> None:
        self._running.pop(rule_id, None)

    async def _start_due(self) -> list[asyncio.Task[list[HistoryEntry]]]:
        """Start the evaluation of every enabled rule that is due, each a task of its own: a slow
        query or destination of one rule delays no other. A rule still being evaluated waits."""
        now = self.clock_ns()
        started = []
        for rule in await asyncio.to_thread(self.rules.all):
            if not rule.enabled:
                self._next_due.pop(rule.id, None)
                continue
            if rule.id not in self._running and now >= self._next_due.get(rule.id, 0):
                self._next_due[rule.id] = now + rule.frequency_seconds * 10**9
                task = asyncio.create_task(self.evaluate(rule, now), name=f"hlog-alert-{rule.id}")
                self._running[rule.id] = task
                task.add_done_callback(functools.partial(self._done, rule.id))
                started.append(task)
        return started

    def window(self, rule: Rule, now_ns: int) -> TimeRange:
        """The window a check covers: it ends `delay` before now, so late logs still count."""
        end = now_ns - self.delay_ns
        return TimeRange(end - rule.window_seconds * 10**9, end)

    def _counts(self, rule: Rule, window: TimeRange) -> dict[str, int]:
        if rule.group_by:
            return self.search.grouped_count(rule.query, window, rule.group_by, MAX_GROUPS)
        return {"": self.search.count(rule.query, window)}

    def _group_query(self, rule: Rule, group: str) -> str:
        if not rule.group_by:
            return rule.query
        return (
            f"({rule.query}) {format_term(rule.group_by, group)}"
            if rule.query.strip()
            else format_term(rule.group_by, group)
        )

    async def evaluate(self, rule: Rule, now_ns: int) -> list[HistoryEntry]:
        """Check one rule now: update its states, notify, record history. Never raises."""
        window = self.window(rule, now_ns)
        now_ms = now_ns // 1_000_000
        entries: list[HistoryEntry] = []
        try:
            states = await asyncio.to_thread(self.rules.states, rule.id)
            counts = await asyncio.to_thread(self._counts, rule, window)
        except Exception as err:
            return await self._failed(rule, now_ms, err)
        groups = set(counts)
        groups |= {g for (_, g), s in states.items() if s.state in ("ALERTING", "SILENCED")}
        changed: list[GroupState] = []
        for group in sorted(groups):
            count = counts.get(group, 0)
            previous = states.get((rule.id, group), GroupState(rule.id, group))
            state, send = transition(previous, rule.holds(count), now_ms, rule.cooldown_seconds * 1000)
            current = GroupState(
                rule.id,
                group,
                state,
                previous.since_ms if state == previous.state else now_ms,
                now_ms if send == "fire" else previous.last_fired_ms,
                count,
            )
            changed.append(current)
            if state != previous.state:
                entries.append(
                    HistoryEntry(now_ms, rule.id, rule.name, group, state, count, rule.threshold, rule.window_seconds)
                )
            if send == "fire" or (send == "resolve" and rule.notify_resolved):
                alert = Alert(
                    rule, "ALERTING" if send == "fire" else "OK", count, window.start_ns or 0, window.end_ns or 0, group
                )
                if send == "fire":
                    alert.samples = await self._samples(rule, group, window)
                for delivery in await self._deliver(rule.destinations, alert):
                    entries.append(
                        HistoryEntry(
                            now_ms,
                            rule.id,
                            rule.name,
                            group,
                            alert.state,
                            count,
                            rule.threshold,
                            rule.window_seconds,
                            delivery.destination,
                            delivery.delivered,
                            delivery.error,
                        )
                    )
        await asyncio.to_thread(self._save, changed, entries)
        return entries

    async def _failed(self, rule: Rule, now_ms: int, err: Exception) -> list[HistoryEntry]:
        """The rule's query failed: ERROR, recorded in the history when it becomes so, not every round."""
        entry = HistoryEntry(
            now_ms,
            rule.id,
            rule.name,
            "",
            "ERROR",
            0,
            rule.threshold,
            rule.window_seconds,
            error=f"query failed: {err}",
        )
        try:
            previous = (await asyncio.to_thread(self.rules.states, rule.id)).get((rule.id, ""))
            if previous is not None and previous.state == "ERROR":
                state, entries = previous, []
            else:
                state, entries = GroupState(rule.id, "", "ERROR", now_ms), [entry]
            await asyncio.to_thread(self._save, [state], entries)
        except Exception as store_err:  # the store itself is down: nothing can be recorded now
            if not getattr(store_err, "unreachable", False):
                log.warning("alerts: rule %s failed and its state cannot be saved: %s", rule.id, store_err)
            return []
        return entries

    def _save(self, states: list[GroupState], entries: list[HistoryEntry]) -> None:
        for state in states:
            self.rules.set_state(state)
        self.rules.record(entries)

    async def _samples(self, rule: Rule, group: str, window: TimeRange) -> list[dict]:  # type: ignore[type-arg]
        try:
            page = await asyncio.to_thread(self.search.page, self._group_query(rule, group), window, SAMPLE_ROWS)
        except Exception as err:
            log.warning("alerts: cannot fetch sample logs for %s: %s", rule.name, err)
            return []
        return page.logs

    async def _deliver(self, destinations: list[Destination], alert: Alert) -> list[Delivery]:
        async def one(destination: Destination) -> Delivery:
            try:
                return await asyncio.wait_for(self.notifier.send(destination, alert), DELIVERY_DEADLINE_SECONDS)
            except TimeoutError:
                reason = f"no answer within {DELIVERY_DEADLINE_SECONDS:g}s"
                return Delivery(destination.label(), False, self.notifier.attempts, reason)

        return list(await asyncio.gather(*(one(d) for d in destinations)))

    async def send_test(self, rule: Rule) -> list[Delivery]:
        """A test message to each destination of `rule`, with the current count and sample logs."""
        now = self.clock_ns()
        window = self.window(rule, now)
        try:
            count = sum((await asyncio.to_thread(self._counts, rule, window)).values())
        except Exception:
            count = 0
        alert = Alert(rule, "TEST", count, window.start_ns or 0, window.end_ns or 0)
        alert.samples = await self._samples(rule, "", window)
        deliveries = await self._deliver(rule.destinations, alert)
        if rule.id:
            entries = [
                HistoryEntry(
                    now // 1_000_000,
                    rule.id,
                    rule.name,
                    "",
                    "TEST",
                    count,
                    rule.threshold,
                    rule.window_seconds,
                    d.destination,
                    d.delivered,
                    d.error,
                )
                for d in deliveries
            ]
            await asyncio.to_thread(self.rules.record, entries)
        return deliveries
