"""A sharded ClickHouse cluster as the store (hlog serve --cluster NAME, docs/scale.md).

Every node of the cluster (as the server names them in system.clusters) gets hlog's tables in a
database of its own, `<db>_local`, and, in `<db>`, a Distributed table over each: the logs and
spans are spread by a key that keeps a session (else a trace) on one shard, so the session and
trace views read one shard's index; hlog's own small tables (rules, states, history, settings,
leases) live on the first shard. Everything else in hlog reads and writes `<db>` as it would on
one server. The statements are sent to each node in turn, so no `ON CLUSTER` (and no Keeper) is
needed; with `replicated`, the local tables are ReplicatedMergeTree for clusters that have Keeper.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlparse, urlunparse

from hlog.backend import schema

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

    from hlog.backend.store import Store

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
SHARDED = ("logs", "spans")
# a session's logs and spans on one shard; without a session, a trace's; else spread evenly
SHARDING_KEY = "cityHash64(if(SessionId != '', SessionId, if(TraceId != '', TraceId, toString(Id))))"
ON_FIRST_SHARD = (
    "alert_rules",
    "alert_state",
    "alert_history",
    "hlog_settings",
    "hlog_leases",
    "hlog_migrations",
    "saved_views",
)


def local_database(db: str) -> str:
    """Where each node keeps its own part of the store."""
    return f"{db}_local"


@dataclass(frozen=True)
class Node:
    """One node of the cluster: where the server's system.clusters says it is, and its HTTP port."""

    shard: int
    replica: int
    host: str
    tcp_port: int
    http_port: int

    def url(self, base: str) -> str:
        """`base` (the store's URL, with its credentials) pointed at this node."""
        parsed = urlparse(base)
        credentials = parsed.netloc.rsplit("@", 1)[0] + "@" if "@" in parsed.netloc else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return urlunparse((parsed.scheme, f"{credentials}{host}:{self.http_port}", "", "", "", ""))

    def describe(self) -> str:
        return f"shard {self.shard} replica {self.replica} ({self.host}:{self.tcp_port})"


def check_name(cluster: str) -> str:
    from hlog.backend.store import StoreError

    if not _IDENTIFIER.match(cluster):
        raise StoreError(f"cluster name {cluster!r} must be a plain identifier")
    return cluster


def nodes(client: Client, cluster: str) -> list[Node]:
    """The nodes of `cluster`, with the HTTP port each one answers on (asked of each node)."""
    from hlog.backend.store import StoreError

    rows = client.query(
        "SELECT shard_num, replica_num, host_address, port FROM system.clusters WHERE cluster = {c:String} "
        "ORDER BY shard_num, replica_num",
        parameters={"c": check_name(cluster)},
    ).result_rows
    if not rows:
        raise StoreError(f"the ClickHouse server knows no cluster {cluster!r} (see system.clusters)")
    http = {
        (int(shard), int(tcp)): int(port)
        for shard, tcp, port in client.query(
            f"SELECT _shard_num, tcpPort(), getServerPort('http_port') FROM clusterAllReplicas('{cluster}', system.one)"
        ).result_rows
    }
    found = []
    for shard, replica, host, tcp in rows:
        port = http.get((int(shard), int(tcp)))
        if port is None:
            raise StoreError(f"cluster {cluster}: shard {shard} replica {replica} ({host}:{tcp}) does not answer")
        found.append(Node(int(shard), int(replica), str(host), int(tcp), port))
    return found


def distributed_statements(db: str, cluster: str) -> list[str]:
    """The Distributed tables of `db` over each node's `<db>_local` (made anew: cheap, and they
    follow the local tables' columns after a migration)."""
    local = local_database(db)
    statements = [f"CREATE DATABASE IF NOT EXISTS {db}"]
    for table in (*SHARDED, *ON_FIRST_SHARD):
        key = SHARDING_KEY if table in SHARDED else "0"
        statements.append(
            f"CREATE OR REPLACE TABLE {db}.{table} AS {local}.{table} "
            f"ENGINE = Distributed('{cluster}', '{local}', '{table}', {key})"
        )
    return statements


def replicated_statement(statement: str) -> str:
    """A local table's CREATE with ReplicatedMergeTree engines, one Keeper path per shard and table."""
    return re.sub(
        r"ENGINE = (Replacing)?MergeTree(\((\w*)\))?",
        lambda m: (
            f"ENGINE = Replicated{m.group(1) or ''}MergeTree("
            + "'/clickhouse/tables/{shard}/{database}/{table}', '{replica}'"
            + (f", {m.group(3)}" if m.group(3) else "")
            + ")"
        ),
        statement,
    )


def migrate_cluster(
    store: Store, cluster: str, retention_seconds: int | None, replicated: bool = False
) -> tuple[list[schema.Migration], int]:
    """Bring every node of `cluster` to the latest schema, then (re)make the Distributed tables."""
    from hlog.backend.store import StoreError, _friendly, migrate_database

    applied: list[schema.Migration] = []
    ttl = 0
    for node in nodes(store.connection(), cluster):
        client = store.connection(node.url(store.target.location))
        try:
            done, ttl = migrate_database(client, local_database(store.db), retention_seconds, replicated)
            applied = applied or done
            existing = {
                str(name): str(engine)
                for name, engine in client.query(
                    "SELECT name, engine FROM system.tables WHERE database = {d:String}", parameters={"d": store.db}
                ).result_rows
            }
            for table in (*SHARDED, *ON_FIRST_SHARD):
                if existing.get(table, "Distributed") != "Distributed":
                    raise StoreError(
                        f"cluster {cluster}: database {store.db} on {node.describe()} already holds a single "
                        f"server's hlog tables ({table}): give the cluster a database of its own"
                    )
            for statement in distributed_statements(store.db, cluster):
                client.command(statement)
        except StoreError:
            raise
        except Exception as err:
            raise StoreError(f"cluster {cluster}, {node.describe()}: {_friendly(err, store.target).public}") from err
        finally:
            client.close()
    return applied, ttl
