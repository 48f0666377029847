"""The `hlog` command: serve, search, ingest."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import socket
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from hlog.backend import __version__
from hlog.backend.access import check_token, default_allowed_hosts, is_loopback_host, load_or_create_token, token_path
from hlog.backend.client import ApiError, default_backend_url
from hlog.backend.connections import MAX_CONNECTIONS
from hlog.backend.facets import EXACT_ROWS
from hlog.backend.limits import DEFAULT_LIMITS
from hlog.backend.otelsource import DEFAULT_LOGS_TABLE, DEFAULT_STATE_DATABASE, DEFAULT_TRACES_TABLE, SOURCES
from hlog.backend.search import CONTEXT_SCOPES
from hlog.backend.store import SCAN_ROWS_LIMIT, StoreError, default_store_dsn, parse_dsn, with_source
from hlog.backend.textsafe import safe
from hlog.backend.timeutil import parse_duration_ns

DEFAULT_LISTEN = "127.0.0.1:4318"
EXIT_USAGE = 2

EPILOG = """\
examples:
  hlog serve                                  receive OTLP on 127.0.0.1:4318, store under ~/.local/share/hlog
  hlog search 'level:error service_name:checkout "card declined"' --since 1h
  hlog search 'duration_ms>500 -env:staging' --format jsonl --limit 1000
  hlog search level:error --follow            print new errors as they arrive
  hlog ingest app.log --service api           load an existing log file (JSON lines or text)

The search language is described in docs/search.md.
"""


def _add_connection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend",
        metavar="URL",
        help=f"a running hlog backend (env HLOG_BACKEND, default {default_backend_url()}); "
        "used when it answers, else the store is opened directly",
    )
    parser.add_argument("--store", metavar="DSN", help="open this store directly instead of asking a backend")
    parser.add_argument(
        "--token", default=os.environ.get("HLOG_TOKEN"), help="bearer token for the backend (env HLOG_TOKEN)"
    )
    add_source_options(parser)


def add_source_options(parser: argparse.ArgumentParser) -> None:
    """--source and its options: read the OpenTelemetry Collector's tables as they are."""
    group = parser.add_argument_group("the OpenTelemetry Collector's tables (docs/otel.md)")
    group.add_argument(
        "--source",
        choices=SOURCES,
        default="hlog",
        help="hlog: hlog's own tables (default); otel: the tables the Collector's ClickHouse exporter writes, "
        "in the --store database, read-only",
    )
    group.add_argument(
        "--logs-table", metavar="NAME", help=f"the Collector's logs table (default {DEFAULT_LOGS_TABLE})"
    )
    group.add_argument(
        "--traces-table", metavar="NAME", help=f"the Collector's traces table (default {DEFAULT_TRACES_TABLE})"
    )
    group.add_argument(
        "--state-database",
        metavar="NAME",
        help=f"where hlog keeps its alert rules, settings and views on the Collector's tables "
        f"(default {DEFAULT_STATE_DATABASE}; never the Collector's database)",
    )


def apply_source_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Fold --source otel and its options into args.store (a DSN's query), or exit with usage."""
    if getattr(args, "source", "hlog") == "hlog":
        given = [o for o in ("logs_table", "traces_table", "state_database") if getattr(args, o, None)]
        if given:
            parser.error(f"--{given[0].replace('_', '-')} needs --source otel")
        return
    if not args.store:
        parser.error("--source otel needs --store: the ClickHouse database the Collector writes to")
    try:
        args.store = with_source(args.store, args.source, args.logs_table, args.traces_table, args.state_database)
        parse_dsn(args.store)
    except StoreError as err:
        parser.error(str(err))


def _add_schema_options(parser: argparse.ArgumentParser) -> None:
    """The options of a command that creates or migrates the store (serve, migrate)."""
    parser.add_argument(
        "--store",
        metavar="DSN",
        help=f"chdb:///path (embedded, default {default_store_dsn()}) or http(s)://user:pass@host:8123/db",
    )
    parser.add_argument(
        "--retention", metavar="DURATION", help="keep logs this long, e.g. 7d, 30d (default 30d, or what the store has)"
    )
    parser.add_argument(
        "--cluster",
        metavar="NAME",
        help="a ClickHouse cluster the server knows (system.clusters): hlog's tables on every node of it, "
        "logs and spans sharded by session (docs/scale.md)",
    )
    parser.add_argument(
        "--replicated",
        action="store_true",
        help="with --cluster: replicated tables (ReplicatedMergeTree, {shard}/{replica} macros; needs Keeper)",
    )
    add_source_options(parser)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `hlog`."""
    parser = argparse.ArgumentParser(
        prog="hlog",
        description="hlog: OpenTelemetry logs into ClickHouse, searched from the terminal.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"hlog {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = sub.add_parser(
        "serve",
        help="run the backend: OTLP/HTTP ingest and the API",
        description="Run the backend: OTLP/HTTP ingest (/v1/logs, /v1/traces) and the API (/api/...).",
    )
    _add_schema_options(serve)
    serve.add_argument(
        "--listen",
        default=DEFAULT_LISTEN,
        metavar="HOST:PORT",
        help=f"address to listen on (default {DEFAULT_LISTEN}; port 0 picks a free one)",
    )
    serve.add_argument(
        "--token",
        default=os.environ.get("HLOG_TOKEN"),
        help="the bearer token the API requires (env HLOG_TOKEN; at least 16 characters). Default: the "
        "token in the user's data directory, created on first use, which hlog and hlog-tui read themselves",
    )
    serve.add_argument(
        "--limit",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="change an ingest limit, e.g. records_per_request=100000 or inflight_bytes=512MiB (repeatable; "
        "the names and defaults are in docs/api.md, Limits)",
    )
    serve.add_argument(
        "--max-connections",
        type=int,
        default=MAX_CONNECTIONS,
        metavar="N",
        help=f"open connections at most (default {MAX_CONNECTIONS}); past it the one that has waited longest "
        "for its request is closed, and a request must arrive within 10 s (its body may pause 30 s)",
    )
    serve.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a host name the API answers to besides loopback, the listen address and this machine's "
        "names (repeatable; against DNS rebinding)",
    )
    serve.add_argument(
        "--allow-webhook-network",
        action="append",
        default=[],
        metavar="CIDR",
        help="let alert webhooks reach this network, e.g. 10.20.0.0/16 for an internal chat server "
        "(repeatable; loopback, link-local and private addresses are refused by default)",
    )
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    serve.add_argument(
        "--alert-delay",
        default="10s",
        metavar="DURATION",
        help="alert windows end this long before now, so late logs still count (default 10s)",
    )
    serve.add_argument(
        "--alert-lease",
        default="15s",
        metavar="DURATION",
        help="several backends on one store: one evaluates the alert rules, holding a lease in the store "
        "that it renews; when it stops, another takes over within this long (default 15s)",
    )
    serve.add_argument(
        "--query-timeout",
        default="60s",
        metavar="DURATION",
        help="the longest a search's reads may run in the store before they are stopped and the answer says so "
        "(default 60s); a search whose client went away is stopped at once",
    )
    serve.add_argument(
        "--max-rows-to-read",
        type=int,
        default=SCAN_ROWS_LIMIT,
        metavar="N",
        help="the most logs a count, histogram, facets or patterns may read before it is stopped and the answer "
        f"says so (default {SCAN_ROWS_LIMIT:,}; 0: no limit); pages of logs read only what they show",
    )
    serve.add_argument(
        "--flush-interval",
        default="5s",
        metavar="DURATION",
        help="acknowledged logs wait in the write-ahead log at most this long before a large insert "
        "into the store (default 5s); searches always see them",
    )

    serve.add_argument(
        "--wal-dir",
        metavar="DIR",
        help="where this backend keeps its write-ahead log (default: by store, in the user's data directory); "
        "several backends on one machine and one ClickHouse database need one each",
    )

    migrate = sub.add_parser(
        "migrate",
        help="create or update the store's schema, then exit",
        description="Create the store's database and tables, or bring them up to this version's schema, "
        "then exit. `hlog serve` does the same when it starts; searches never change the schema, so "
        "they can run as a user that may only SELECT.",
    )
    _add_schema_options(migrate)

    search = sub.add_parser(
        "search",
        help="search logs with the query language",
        description="Search logs. Newest matches first, or in time order with --follow.",
    )
    search.add_argument("query", nargs="?", default="", help="a search, e.g. 'level:error \"card declined\"'")
    _add_range(search)
    search.add_argument("--limit", type=int, default=100, help="at most this many logs (default 100)")
    search.add_argument(
        "--format",
        choices=["table", "jsonl", "csv"],
        default="table",
        help="table (default), jsonl (each log whole: every field of its OpenTelemetry record) or csv",
    )
    search.add_argument("--follow", "-f", action="store_true", help="keep printing new matches, like tail -f")
    search.add_argument("--count", action="store_true", help="print only the number of matches")
    search.add_argument(
        "--by", metavar="KEY", help="with --count: the number of matches of each value of KEY (the --top biggest)"
    )
    search.add_argument("--top", type=int, default=10, help="with --by: how many values (default 10, at most 20)")
    search.add_argument("--sql", action="store_true", help="print the compiled SQL and its parameters, and exit")
    _add_connection(search)

    facets = sub.add_parser(
        "facets",
        help="the top values of each field among a search's matches",
        description="For the matches of a search: the top values, with counts and shares, of the level, "
        "service, environment and version, and of the most common attribute keys (or the --key ones). "
        f"Exact over up to {EXACT_ROWS:,} matches; over more, estimated from an even sample, and said so.",
    )
    facets.add_argument("query", nargs="?", default="", help="a search (default: every log)")
    _add_range(facets, default_since="1h")
    facets.add_argument("--key", "-k", action="append", metavar="KEY", help="an attribute key to show (repeatable)")
    facets.add_argument("--top", type=int, default=10, help="values of each field (default 10, at most 100)")
    facets.add_argument("--format", choices=["table", "jsonl"], default="table")
    _add_connection(facets)

    patterns = sub.add_parser(
        "patterns",
        help="the matches of a search grouped into patterns",
        description="Group the messages of a search's matches into patterns: numbers, ids, hex, UUIDs, "
        "IPs, times, quoted values and dates become <*>, then similar templates are merged (Drain). "
        "Every match in the range is counted, none sampled. Each pattern: its count and share, its "
        "counts over the range, first and last seen, the template. With --compare, the same stretch "
        "of time before the range is counted too: new patterns and how each one's rate changed "
        "(x2 is twice as frequent). --format jsonl adds each pattern's search term (message:/regex/).",
    )
    patterns.add_argument("query", nargs="?", default="", help="a search (default: every log)")
    _add_range(patterns, default_since="1h")
    patterns.add_argument("--compare", metavar="DURATION", help="compare with this long before the range, e.g. 24h")
    patterns.add_argument("--top", type=int, default=50, help="patterns to show (default 50, at most 1000)")
    patterns.add_argument("--format", choices=["table", "jsonl"], default="table")
    _add_connection(patterns)

    views = sub.add_parser(
        "views",
        help="saved views: a search, its range, columns and breakdown under a name",
        description="Saved views are kept in the store: every user, hlog serve and `hlog-tui --view NAME` see them.",
    )
    views_sub = views.add_subparsers(dest="views_command", metavar="ACTION", required=True)
    save = views_sub.add_parser("save", help="save (or replace) a view", description="Save a view, or replace it.")
    save.add_argument("name", metavar="NAME")
    save.add_argument("--query", "-q", default="", help="its search")
    _add_range(save)
    save.add_argument(
        "--column", action="append", metavar="KEY", help="a column (time, level, service_name, attr:KEY…)"
    )
    save.add_argument("--by", default="", metavar="KEY", help="break its histogram down by this key")
    _add_connection(save)
    for action, text in (("list", "every view"), ("show", "one view as JSON"), ("rm", "delete a view")):
        one = views_sub.add_parser(action, help=text, description=text[0].upper() + text[1:] + ".")
        if action != "list":
            one.add_argument("name", metavar="NAME")
        _add_connection(one)

    context = sub.add_parser(
        "context",
        help="show the logs around one log",
        description="The logs just before and after one log, in time order, whatever it was found by: "
        "by default those of the same service (and host, when the log has host.name). A log's id is "
        "in `hlog search --format jsonl` (log_id) and in hlog-tui's detail.",
    )
    context.add_argument("log_id", metavar="LOG_ID", help="the log's id, TIMESTAMP_NS-ROW_ID")
    context.add_argument("--before", type=int, default=20, help="logs before it (default 20, at most 1000)")
    context.add_argument("--after", type=int, default=20, help="logs after it (default 20, at most 1000)")
    context.add_argument(
        "--by",
        choices=CONTEXT_SCOPES,
        default="service",
        help="whose logs: the same service (and host), host, session or trace, or all (default service)",
    )
    context.add_argument("--query", "-q", default="", help="mark the logs that match this search with *")
    context.add_argument("--format", choices=["table", "jsonl", "csv"], default="table")
    _add_connection(context)

    ingest = sub.add_parser(
        "ingest",
        help="load a log file (JSON lines or plain text)",
        description="Load existing logs: JSON lines (common field names for time, level, "
        "message, service) and plain text lines (timestamp and level read when present).",
    )
    ingest.add_argument("file", help="a file, or - for standard input")
    ingest.add_argument("--service", help="service name for lines that carry none (default: the file's name)")
    _add_connection(ingest)

    from hlog.alerts import cli as alerts_cli

    alerts_cli.add_parser(sub, _add_connection)

    demo = sub.add_parser(
        "demo",
        help="run a small shop of real services and play its users",
        description="Start a gateway, checkout, payments and inventory service (ASGI apps "
        "instrumented with the hlog SDK) on loopback ports, send them user traffic with session "
        "headers, and let their logs and spans flow into a running backend.",
    )
    demo.add_argument("--duration", default="60s", help="how long to play traffic: seconds, or 90s, 5m (default 60s)")
    demo.add_argument("--rate", type=float, default=20, help="requests a second (default 20)")
    demo.add_argument("--seed", type=int, default=1, help="same seed, same run")
    demo.add_argument(
        "--backend", metavar="URL", help=f"where the services send OTLP (default {default_backend_url()})"
    )
    return parser


def _add_range(parser: argparse.ArgumentParser, default_since: str | None = None) -> None:
    """--since, or --from and --to."""
    when = parser.add_mutually_exclusive_group()
    default = f" (default {default_since})" if default_since else ""
    when.add_argument(
        "--since",
        metavar="DURATION",
        default=default_since,
        help=f"only logs newer than this, e.g. 15m, 2h, 7d{default}",
    )
    when.add_argument("--from", dest="from_", metavar="TIME", help="start: ISO 8601 or a duration ago (15m, 2h, 7d)")
    parser.add_argument("--to", metavar="TIME", help="end: ISO 8601 or a duration ago")


def _fail(message: str, code: int = 1) -> int:
    print(f"hlog: {safe(message)}", file=sys.stderr)
    return code


def _split_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"--listen {listen!r}: expected HOST:PORT, e.g. 127.0.0.1:4318")
    return host.strip("[]") or "127.0.0.1", int(port)


def _graceful_server_class() -> type:
    import uvicorn

    class GracefulServer(uvicorn.Server):
        """Exits 0 after a graceful shutdown on SIGINT/SIGTERM, so the store is closed
        cleanly; uvicorn would re-raise the signal and skip our cleanup."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            with super().capture_signals():
                yield
                getattr(self, "_captured_signals", []).clear()

    return GracefulServer


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the backend until interrupted."""

    from hlog.alerts.netpolicy import WebhookPolicy
    from hlog.backend.app import Backend
    from hlog.backend.connections import raise_open_file_limit, server_config
    from hlog.backend.store import Store

    try:
        host, port = _split_listen(args.listen)
        retention = parse_duration_ns(args.retention) // 10**9 if args.retention else None
        alert_delay = parse_duration_ns(args.alert_delay) / 1e9
        alert_lease = parse_duration_ns(args.alert_lease) / 1e9
        if alert_lease < 1:
            raise ValueError("--alert-lease must be at least 1s")
        flush_interval = parse_duration_ns(args.flush_interval) / 1e9
        if flush_interval <= 0:
            raise ValueError("--flush-interval must be more than 0s, e.g. 500ms or 5s")
        query_timeout = parse_duration_ns(args.query_timeout) / 1e9
        if query_timeout < 1:
            raise ValueError("--query-timeout must be at least 1s")
        policy = WebhookPolicy.allowing(*args.allow_webhook_network)
        limits = DEFAULT_LIMITS.overridden(args.limit)
        token = check_token(args.token) if args.token else load_or_create_token()
    except ValueError as err:
        return _fail(str(err), EXIT_USAGE)
    if args.max_connections < 1:
        return _fail("--max-connections must be at least 1", EXIT_USAGE)
    if args.max_rows_to_read < 0:
        return _fail("--max-rows-to-read must be 0 (no limit) or more", EXIT_USAGE)
    raise_open_file_limit()  # connections and the store's own files share it
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # the HTTP client logs each request's URL, and a webhook URL's path is a secret (Slack, Discord)
    for chatty in ("httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    try:
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        # accept (queue) connections from now on, while the store opens
        sock.listen(2048)
    except OSError as err:
        return _fail(f"cannot listen on {host}:{port}: {err.strerror}")
    try:
        if args.replicated and not args.cluster:
            raise StoreError("--replicated needs --cluster")
        store = Store(args.store, retention_seconds=retention, cluster=args.cluster, replicated=args.replicated)
    except StoreError as err:
        sock.close()
        return _fail(str(err))
    from hlog.alerts.service import AlertService

    backend = Backend(
        store,
        token=token,
        extensions=[AlertService(store, delay_seconds=alert_delay, policy=policy, lease_seconds=alert_lease)],
        flush_interval=flush_interval,
        ingest_needs_token=not is_loopback_host(host),
        allowed_hosts=[*default_allowed_hosts(host), *args.allowed_host],
        limits=limits,
        wal_dir=Path(args.wal_dir).expanduser() if args.wal_dir else None,
        read_timeout=query_timeout,
        scan_rows_limit=args.max_rows_to_read,
    )
    try:
        backend.committer.open()
    except StoreError as err:
        sock.close()
        store.close()
        return _fail(str(err))
    bound_host, bound_port = sock.getsockname()[:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    days = store.retention_seconds / 86400
    print(
        f"hlog {__version__}: listening on http://{shown}:{bound_port} "
        f"({store.target.describe()}, retention {days:g}d; "
        + ("API token from --token" if args.token else f"API token in {token_path()}")
        + ")",
        file=sys.stderr,
        flush=True,
    )
    config = server_config(
        backend.app,
        args.max_connections,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=10,
    )
    server = _graceful_server_class()(config)
    try:
        server.run(sockets=[sock])
    finally:
        store.close()
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    """Create or update the schema."""
    from hlog.backend.store import Store

    try:
        retention = parse_duration_ns(args.retention) // 10**9 if args.retention else None
    except ValueError as err:
        return _fail(str(err), EXIT_USAGE)
    if args.replicated and not args.cluster:
        return _fail("--replicated needs --cluster", EXIT_USAGE)
    store = Store(args.store, retention_seconds=retention, cluster=args.cluster, replicated=args.replicated)
    try:
        done = ", ".join(f"{m.version} ({m.name})" for m in store.applied) or "none needed"
        print(f"{store.target.describe()}: schema version {store.schema_version()}; migrations applied: {done}")
    finally:
        store.close()
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the demo shop against a running backend."""
    from hlog.backend.client import probe
    from hlog.demo import NEEDS_SDK, has_sdk

    if not has_sdk():
        return _fail(NEEDS_SDK, 1)
    from hlog.demo.run import run_demo

    url = args.backend or default_backend_url()
    try:
        text = args.duration.strip()  # a plain number is seconds
        duration = parse_duration_ns(text + "s" if text.replace(".", "", 1).isdigit() else text) / 1e9
    except ValueError as err:
        return _fail(str(err), EXIT_USAGE)
    if args.rate <= 0:
        return _fail("--rate must be positive", EXIT_USAGE)
    if not asyncio.run(probe(url)):
        return _fail(f"no hlog backend answers at {url}: start `hlog serve` (or hlog-tui) first", 1)
    print(
        f"hlog demo: the shop sends its logs to {url}; playing {args.rate:g} requests/s for {duration:g}s …",
        file=sys.stderr,
    )
    summary = run_demo(url, duration, args.rate, args.seed)
    statuses = ", ".join(f"{code or 'failed'}: {n}" for code, n in sorted(summary.statuses.items()))
    print(
        f"hlog demo: {summary.requests} requests in {summary.sessions} sessions ({statuses}). "
        "Try: hlog-tui -q 'level:error service:payments', then s on a log.",
        file=sys.stderr,
    )
    return 0


def _leading_dash_query(parser: argparse.ArgumentParser, argv: list[str]) -> tuple[list[str], str | None]:
    """`hlog search -level:info`: an argument of `search` (or `facets`) that starts with `-` and is none of its
    options is its query (argparse would call it an unknown option); taken out of `argv`."""
    if not argv or argv[0] not in ("search", "facets", "patterns"):
        return argv, None
    [subcommands] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    search = subcommands.choices[argv[0]]
    options = search._option_string_actions
    i = 1
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            break
        name = arg.split("=", 1)[0]
        if name in options:
            takes_value = options[name].nargs is None and not isinstance(
                options[name], argparse._StoreConstAction | argparse._VersionAction | argparse._HelpAction
            )
            i += 2 if takes_value and "=" not in arg else 1
            continue
        if arg.startswith("-") and len(arg) > 1:
            return argv[:i] + argv[i + 1 :], arg
        i += 1
    return argv, None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `hlog`."""
    os.umask(0o077)  # the store, its log and the token hold private data: owner only
    parser = build_parser()
    argv, query = _leading_dash_query(parser, list(sys.argv[1:] if argv is None else argv))
    args = parser.parse_args(argv)
    if query is not None:
        if args.query:
            parser.error(f"two queries: {query!r} and {args.query!r}; quote the whole query as one argument")
        args.query = query
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    apply_source_options(parser, args)
    try:
        if args.command == "serve":
            return cmd_serve(args)
        from hlog.backend import cli_commands

        if args.command == "search":
            return asyncio.run(cli_commands.search(args))
        if args.command == "context":
            return asyncio.run(cli_commands.context(args))
        if args.command == "facets":
            return asyncio.run(cli_commands.facets(args))
        if args.command == "patterns":
            return asyncio.run(cli_commands.patterns(args))
        if args.command == "views":
            return asyncio.run(cli_commands.views(args))
        if args.command == "demo":
            return cmd_demo(args)
        if args.command == "migrate":
            return cmd_migrate(args)
        if args.command == "alerts":
            from hlog.alerts import cli as alerts_cli

            return asyncio.run(alerts_cli.run(args))
        return asyncio.run(cli_commands.ingest(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # the reader went away (e.g. `| head`); nothing left to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (StoreError, ApiError) as err:
        return _fail(str(err))


if __name__ == "__main__":
    raise SystemExit(main())
