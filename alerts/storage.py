"""Rules, their state and their history, kept in the ClickHouse store so every process sees them."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hlog.alerts.rules import Rule

if TYPE_CHECKING:
    from hlog.backend.store import Store

HISTORY_LIMIT = 200
# OK, ALERTING, SILENCED (in cooldown), DISABLED, ERROR (the rule's query failed)
STATES = ("OK", "ALERTING", "SILENCED", "DISABLED", "ERROR")


@dataclass
class GroupState:
    """The state of one rule (or one group of a grouped rule)."""

    rule_id: str
    group: str
    state: str = "OK"
    since_ms: int = 0
    last_fired_ms: int = 0
    last_count: int = 0


@dataclass
class HistoryEntry:
    """A state change or a delivery attempt."""

    time_ms: int
    rule_id: str
    rule_name: str
    group: str
    state: str
    count: int
    threshold: float
    window_seconds: int
    destination: str = ""
    delivered: bool = False
    error: str = ""


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class RuleStore:
    """CRUD for rules and bookkeeping for the evaluator, on the hlog store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.db = store.db

    # -- rules ---------------------------------------------------------------
    def save(self, rule: Rule) -> Rule:
        """Create or replace a rule (already validated)."""
        self.store.insert_rows(
            "alert_rules",
            ("id", "version", "deleted", "body"),
            [[rule.id, time.time_ns(), 0, json.dumps(rule.to_json())]],
        )
        return rule

    def delete(self, rule_id: str) -> bool:
        """Delete a rule; False when there was none."""
        if self.get(rule_id) is None:
            return False
        self.store.insert_rows("alert_rules", ("id", "version", "deleted", "body"), [[rule_id, time.time_ns(), 1, ""]])
        return True

    def all(self) -> list[Rule]:
        """Every rule, by name."""
        rows = self.store.query(
            f"SELECT argMax(body, version), argMax(deleted, version) FROM {self.db}.alert_rules GROUP BY id",
            reads_ingest=False,
        )
        rules = [Rule.from_json(json.loads(body)) for body, deleted in rows if not deleted]
        return sorted(rules, key=lambda r: (r.name.lower(), r.id))

    def get(self, rule_id: str) -> Rule | None:
        """One rule, or None."""
        rows = self.store.query(
            f"SELECT argMax(body, version), argMax(deleted, version) FROM {self.db}.alert_rules "
            "WHERE id = {id:String} GROUP BY id",
            {"id": rule_id},
            reads_ingest=False,
        )
        if not rows or rows[0][1]:
            return None
        return Rule.from_json(json.loads(rows[0][0]))

    # -- state ---------------------------------------------------------------
    def states(self, rule_id: str | None = None) -> dict[tuple[str, str], GroupState]:
        """Current state per (rule, group)."""
        where = "WHERE rule_id = {id:String}" if rule_id else ""
        rows = self.store.query(
            "SELECT rule_id, group_value, argMax(state, updated_ms), argMax(since_ms, updated_ms), "
            "argMax(last_fired_ms, updated_ms), argMax(last_count, updated_ms) "
            f"FROM {self.db}.alert_state {where} GROUP BY rule_id, group_value",
            {"id": rule_id} if rule_id else {},
            reads_ingest=False,
        )
        return {(r[0], r[1]): GroupState(r[0], r[1], r[2], r[3], r[4], int(r[5])) for r in rows}

    def set_state(self, state: GroupState) -> None:
        """Record the state of a rule's group."""
        self.store.insert_rows(
            "alert_state",
            ("rule_id", "group_value", "state", "since_ms", "last_fired_ms", "last_count", "updated_ms"),
            [
                [
                    state.rule_id,
                    state.group,
                    state.state,
                    state.since_ms,
                    state.last_fired_ms,
                    state.last_count,
                    time.time_ns(),
                ]
            ],
        )

    # -- history ---------------------------------------------------------------
    def record(self, entries: list[HistoryEntry]) -> None:
        """Append history entries."""
        if not entries:
            return
        self.store.insert_rows(
            "alert_history",
            (
                "time",
                "rule_id",
                "rule_name",
                "group_value",
                "state",
                "count",
                "threshold",
                "window_seconds",
                "destination",
                "delivered",
                "error",
            ),
            [
                [
                    e.time_ms,
                    e.rule_id,
                    e.rule_name,
                    e.group,
                    e.state,
                    e.count,
                    float(e.threshold),
                    e.window_seconds,
                    e.destination,
                    int(e.delivered),
                    e.error[:2000],
                ]
                for e in entries
            ],
        )

    def history(self, rule_id: str, limit: int = HISTORY_LIMIT) -> list[dict[str, Any]]:
        """The newest history entries of a rule."""
        rows = self.store.query(
            "SELECT toUnixTimestamp64Milli(time), group_value, state, count, threshold, window_seconds, destination, "
            f"delivered, error FROM {self.db}.alert_history WHERE rule_id = {{id:String}} "
            "ORDER BY time DESC LIMIT {lim:UInt32}",
            {"id": rule_id, "lim": limit},
            reads_ingest=False,
        )
        return [
            {
                "time_ms": r[0],
                "group": r[1],
                "state": r[2],
                "count": int(r[3]),
                "threshold": r[4],
                "window_seconds": int(r[5]),
                "destination": r[6],
                "delivered": bool(r[7]),
                "error": r[8],
            }
            for r in rows
        ]
