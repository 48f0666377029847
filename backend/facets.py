"""Facets: the top values of the reserved fields and of the most common attribute keys among a
search's matches, exact when the matches are few enough to read and else over an even sample."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from hlog.backend.search import TimeRange, count_sql, where_sql
from hlog.query.severity import LEVEL_SQL

if TYPE_CHECKING:
    from hlog.backend.search import LogSearch

EXACT_ROWS = 200_000  # matches up to this many are all read; more are sampled down to about this many
DEFAULT_TOP = 10
MAX_TOP = 100
DEFAULT_KEYS = 8  # attribute keys shown when none are asked for
MAX_KEYS = 50
# the reserved fields every facet list starts with, and what they are in a row
RESERVED_FACETS = {
    "level": LEVEL_SQL,
    "service_name": "ServiceName",
    "environment": "Environment",
    "service_version": "ServiceVersion",
}
# attributes that the reserved fields already show
_SHOWN_AS_RESERVED = ("service.name", "service.version", "deployment.environment.name")
_EFFECTIVE = "mapUpdate(ResourceAttributes, LogAttributes)"


def facets(
    search: LogSearch, query: str, time_range: TimeRange, keys: list[str] | None = None, top: int = DEFAULT_TOP
) -> dict[str, Any]:
    """Top values of each facet among the matches. `keys`: the attribute keys to show (else the
    DEFAULT_KEYS most common ones). Counts are exact, or estimated from a sample that says so."""
    compiled = search.compile(query)
    sql, params = count_sql(search.store.tables, compiled, time_range)
    total = int(search.store.query(sql, params, scan=True)[0][0])
    rate = max(1, math.ceil(total / EXACT_ROWS))
    where, params = where_sql(compiled, time_range)
    if rate > 1:  # an even sample: every rate-th log by a hash of its row id
        where += " AND cityHash64(Id) % {rate:UInt32} = 0"
        params["rate"] = rate
    reserved = ", ".join(f"('{name}', {expr})" for name, expr in RESERVED_FACETS.items())
    if keys:
        params["keys"] = keys
        present = f"arrayFilter(k -> mapContains({_EFFECTIVE}, k), {{keys:Array(String)}})"
        attributes = f"arrayMap(k -> (k, {_EFFECTIVE}[k]), {present})"
    else:
        params["shown"] = list(_SHOWN_AS_RESERVED)
        every = f"arrayZip(mapKeys({_EFFECTIVE}), mapValues({_EFFECTIVE}))"
        attributes = f"arrayFilter(kv -> NOT has({{shown:Array(String)}}, kv.1), {every})"
    pairs = f"arrayConcat([{reserved}], {attributes})"
    wanted = len(RESERVED_FACETS) + (len(keys) if keys else DEFAULT_KEYS)
    params["top"], params["rows"] = top, top * wanted
    params["reserved"] = list(RESERVED_FACETS)
    rows = search.store.query(
        "SELECT k, v, n, key_n, distinct_n FROM ("
        "SELECT kv.1 AS k, kv.2 AS v, count() AS n, sum(n) OVER (PARTITION BY k) AS key_n, "
        "count() OVER (PARTITION BY k) AS distinct_n "
        f"FROM {search.store.tables.all('logs')} ARRAY JOIN {pairs} AS kv WHERE {where} GROUP BY k, v"
        ") ORDER BY has({reserved:Array(String)}, k) DESC, key_n DESC, k, n DESC, v "
        "LIMIT {top:UInt32} BY k LIMIT {rows:UInt32}",
        params,
        scan=True,
    )
    return _shaped(rows, total, rate, keys)


def _shaped(rows: Any, total: int, rate: int, keys: list[str] | None) -> dict[str, Any]:
    """The rows of the facets query as the API's answer."""
    found: dict[str, dict[str, Any]] = {}
    for key, value, n, key_n, distinct_n in rows:
        facet = found.setdefault(
            key,
            {
                "key": key,
                "reserved": key in RESERVED_FACETS,
                "count": int(key_n) * rate,
                "distinct": int(distinct_n),
                "values": [],
            },
        )
        facet["values"].append({"value": value, "count": int(n) * rate})
    sampled = found["level"]["count"] // rate if "level" in found else 0  # every log has a level
    whole = total if rate == 1 else sampled * rate  # shares of a sample are shares of the sample
    for facet in found.values():
        for value in facet["values"]:
            value["share"] = round(value["count"] / whole, 4) if whole else 0.0
        facet["other"] = facet["count"] - sum(v["count"] for v in facet["values"])
        facet["other_share"] = round(facet["other"] / whole, 4) if whole else 0.0
    ordered = [found[k] for k in RESERVED_FACETS if k in found]
    ordered += [f for k, f in found.items() if k not in RESERVED_FACETS]
    if keys:  # in the order asked
        ordered.sort(key=lambda f: (not f["reserved"], keys.index(f["key"]) if f["key"] in keys else 0))
    return {
        "total": total,
        "exact": rate == 1,
        "sample_rate": rate,
        "sampled_logs": sampled,
        "facets": ordered,
    }
