"""hlog-tui: the application shell (global bindings, backend link) and its command line."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.widgets import Static

from hlog import __version__
from hlog.backend.cli import add_source_options, apply_source_options
from hlog.backend.client import ApiClient, default_backend_url
from hlog.backend.permalink import parse_link
from hlog.backend.search import Cursor
from hlog.backend.textsafe import safe, safe_lines
from hlog.backend.timeutil import format_ns, parse_duration_ns, parse_time_ns
from hlog.tui.format import set_zone, zone, zone_name
from hlog.tui.history import History, default_history_path, load_settings, save_setting
from hlog.tui.link import INGEST_PORT, Link
from hlog.tui.timerange import Range

if TYPE_CHECKING:
    from textual.dom import DOMNode
    from textual.notifications import SeverityLevel
    from textual.screen import Screen

LinkFactory = Callable[[], Awaitable[Link]]

# a count or histogram that would read more logs than this waits for the user (`!`, --confirm-rows)
CONFIRM_ROWS = 500_000_000


class HlogApp(App[None]):
    """Holds the link to the backend and the global keys; screens do the rest."""

    CSS_PATH = "hlog.tcss"
    TITLE = "hlog"
    BINDINGS = [
        Binding("q", "quit", "Quit", tooltip="Quit hlog-tui", id="app.quit"),
        Binding("T", "toggle_zone", "Time zone", show=False, tooltip="Times in UTC or your zone", id="app.zone"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True, id="app.quit_ctrl_c"),
        Binding("question_mark", "toggle_help", "Help", tooltip="Every key of this screen", id="app.help"),
    ]

    def __init__(
        self,
        link_factory: LinkFactory,
        query: str = "",
        time_range: Range | None = None,
        clock: Callable[[], int] = time.time_ns,
        history_path: Path | None = None,
        ascii_only: bool = False,
        close_link_on_unmount: bool = True,
        open_log: str | None = None,
        open_view: str | None = None,
        tz: str = "UTC",
        confirm_rows: int = CONFIRM_ROWS,
    ) -> None:
        from hlog.tui.ascii import ascii_driver

        # a terminal that cannot show UTF-8 gets ASCII stand-ins for every line, block and mark
        super().__init__(driver_class=ascii_driver() if ascii_only else None)
        self.ascii_only = ascii_only
        self.confirm_rows = confirm_rows  # a count or histogram that would read more logs waits for `!`
        self.close_link_on_unmount = close_link_on_unmount  # else whoever ran the app closes it (main)
        self.link_factory = link_factory
        self.initial_query = query
        self.initial_range = time_range or Range()
        self.clock = clock
        self.history = History(history_path)
        # the chosen columns are kept beside the history
        self.columns_path = history_path.parent / "columns.json" if history_path else None
        self.link: Link | None = None
        self.open_log = open_log  # a log to show in its context at the start (hlog-tui open LINK, --log)
        self.open_view = open_view  # a saved view to start on (--view)
        set_zone(tz)  # raises ValueError for an unknown zone (main checks it first)
        # T switches between UTC and this zone (the one chosen, else this machine's)
        self.other_zone = tz if tz.upper() != "UTC" else "local"
        self.settings_path = history_path.parent / "settings.json" if history_path else None

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """Every notification is shown as plain, inert text: error messages carry what the network sent."""
        super().notify(safe_lines(message), title=safe(title), severity=severity, timeout=timeout, markup=False)

    def get_key_display(self, binding: Binding) -> str:
        """Keys as Textual shows them; in ASCII, named keys by their name (`Enter`, not `⏎`)."""
        shown = super().get_key_display(binding)
        if self.ascii_only and not shown.isascii():
            return binding.key.replace("_", " ").title()
        return shown

    def action_toggle_zone(self) -> None:
        """Show times in UTC, or in the other zone (kept for the next run)."""
        name = self.other_zone if zone_name() == "UTC" else "UTC"
        set_zone(name)
        save_setting(self.settings_path, "tz", name)
        for table in self.screen.query("LogTable"):
            table.clear_lines()  # type: ignore[attr-defined]
        for widget in self.screen.query("Histogram, DetailPane, #context-summary, #session-summary"):
            widget.refresh()
        for detail in self.screen.query("DetailPane"):
            detail.show(detail.current)  # type: ignore[attr-defined]
        self.notify(f"Times in {name}", timeout=2)

    def now_ns(self) -> int:
        """The current time (frozen in tests)."""
        return self.clock()

    @property
    def api(self) -> ApiClient:
        assert self.link is not None, "not connected yet"
        return self.link.api

    @property
    def link_label(self) -> str:
        """Where the data comes from, for the status line."""
        if self.link is None:
            return ""
        label = self.link.where
        if self.link.ingest_url:
            label += f" (receiving OTLP on {self.link.ingest_url})"
        return label

    def compose(self) -> ComposeResult:
        yield Static("connecting…", id="connecting")

    async def on_mount(self) -> None:
        self._connect()

    def _connect(self) -> None:
        self.run_worker(self._open_link(), exclusive=True, group="connect")

    async def _open_link(self) -> None:
        try:
            self.link = await self.link_factory()
        except Exception as err:  # the store or backend could not be reached: say so, keep trying
            self.query_one("#connecting", Static).update(Text(f"✗ {safe_lines(str(err))}\nretrying every 3 s…"))
            self.set_timer(3, self._connect)
            return
        from hlog.tui.screens.search import SearchScreen

        search = SearchScreen(self.initial_query, self.initial_range)
        await self.push_screen(search)
        if self.open_view:
            try:
                search.apply_view(await self.api.view(self.open_view))
            except Exception as err:
                self.notify(f"cannot open the view: {err}", severity="error", timeout=8)
        if self.open_log:
            from hlog.tui.screens.context import ContextScreen

            await self.push_screen(ContextScreen(self.open_log))

    async def action_quit(self) -> None:
        self.exit()

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """The palette lists the current screen's actions next to Textual's own."""
        yield from super().get_system_commands(screen)
        seen = set()
        for node in (screen.focused, screen):
            if node is None:
                continue
            for binding in node.BINDINGS:
                if not isinstance(binding, Binding) or not binding.description or binding.action in seen:
                    continue
                seen.add(binding.action)
                yield SystemCommand(
                    binding.description,
                    binding.tooltip or binding.description,
                    partial(self._run_from_palette, node, binding.action),
                )

    def _run_from_palette(self, node: DOMNode, action: str) -> None:
        self.call_later(self.run_action, action, node)

    def action_toggle_help(self) -> None:
        from hlog.tui.screens.help import HelpScreen

        if isinstance(self.screen, HelpScreen):
            self.screen.dismiss()
        else:
            self.push_screen(HelpScreen(self.screen))

    async def on_unmount(self) -> None:
        if self.link is not None and self.close_link_on_unmount:
            await self.link.close()

    def run_then_close(self, headless: bool = False) -> None:
        """Run the app; once the terminal is the user's again (q leaves at once), stop what ran
        beside it: the receiver, the embedded store, the demo shop."""
        import asyncio

        async def run() -> None:
            try:
                await self.run_async(headless=headless)
            finally:
                if self.link is not None:
                    try:
                        await self.link.close()
                    except Exception as err:  # the screen is gone: say it on the terminal, once
                        print(f"hlog-tui: while stopping: {safe(str(err))}", file=sys.stderr)

        asyncio.run(run())


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `hlog-tui`."""
    parser = argparse.ArgumentParser(
        prog="hlog-tui",
        description="The hlog terminal log explorer. Uses a running `hlog serve` when one answers, "
        "else opens the store itself (and receives OTLP on 127.0.0.1:4318 when that port is free). "
        "`hlog-tui open LINK` opens a link that Y copied or an alert sent (hlog://log/… or hlog://search?…).",
    )
    parser.add_argument("--version", action="version", version=f"hlog-tui {__version__}")
    parser.add_argument(
        "--backend", metavar="URL", help=f"backend URL (env HLOG_BACKEND, default {default_backend_url()})"
    )
    parser.add_argument("--store", metavar="DSN", help="open this store in this process (chdb:///path or http(s)://…)")
    parser.add_argument("--token", default=os.environ.get("HLOG_TOKEN"), help="bearer token (env HLOG_TOKEN)")
    parser.add_argument("--query", "-q", default="", help="start with this search")
    parser.add_argument("--log", metavar="LOG_ID", help="start on this log, in its context (a log_id)")
    parser.add_argument("--view", metavar="NAME", help="start on this saved view (hlog views list)")
    parser.add_argument(
        "--tz",
        metavar="ZONE",
        help="show times in UTC, local (this machine's zone) or an IANA zone such as Europe/Paris; "
        "T switches between UTC and it (default: the last choice, else UTC)",
    )
    when = parser.add_mutually_exclusive_group()
    when.add_argument("--since", metavar="DURATION", help="time range: the last 15m, 1h, 24h, 7d… (default 24h)")
    when.add_argument("--from", dest="from_", metavar="TIME", help="range start: ISO 8601 or a duration ago")
    parser.add_argument("--to", metavar="TIME", help="range end (default now)")
    parser.add_argument("--theme", help="a Textual theme, e.g. textual-dark, nord, gruvbox, textual-light")
    parser.add_argument(
        "--charset",
        choices=("auto", "utf-8", "ascii"),
        default="auto",
        help="what the terminal can show: auto (the locale: LC_ALL, LC_CTYPE, LANG) uses ASCII "
        "stand-ins for lines and bars unless the locale says UTF-8",
    )
    parser.add_argument(
        "--no-listen", action="store_true", help="with an embedded store, do not receive OTLP on 127.0.0.1:4318"
    )
    parser.add_argument(
        "--ingest-port",
        type=int,
        default=INGEST_PORT,
        metavar="PORT",
        help=f"with an embedded store, receive OTLP on 127.0.0.1:PORT (default {INGEST_PORT}; 0 picks a free one)",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="open a separate demo store: a day of realistic shop traffic (made once a day, in a few "
        "seconds), and the shop's services sending live",
    )
    parser.add_argument("--reseed", action="store_true", help="with --demo: make the demo's day of traffic anew")
    parser.add_argument(
        "--confirm-rows",
        type=int,
        default=CONFIRM_ROWS,
        metavar="N",
        help="when counting a search's matches would read more logs than this (the store's own estimate, "
        f"before reading), show the estimate and wait for ! instead (default {CONFIRM_ROWS:,}; 0: never ask)",
    )
    add_source_options(parser)
    return parser


def _range(args: argparse.Namespace) -> Range:
    if args.from_:
        return Range(None, parse_time_ns(args.from_), parse_time_ns(args.to) if args.to else None)
    if args.since:
        parse_duration_ns(args.since)
        return Range(args.since)
    if args.to:
        raise ValueError("--to needs --from")
    return Range()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `hlog-tui`."""
    os.umask(0o077)  # an embedded store, the history and the token hold private data: owner only
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    link = None
    if argv[:1] == ["open"]:  # hlog-tui open LINK [options]
        if len(argv) < 2:
            parser.error("open needs a link: hlog-tui open 'hlog://log/…' (or hlog://search?…)")
        try:
            link = parse_link(argv[1])
        except ValueError as err:
            print(f"hlog-tui: {err}", file=sys.stderr)
            return 2
        argv = argv[2:]
    args = parser.parse_args(argv)
    apply_source_options(parser, args)
    if link is not None:
        if args.query or args.since or args.from_ or args.log:
            parser.error("open takes its search, range or log from the link")
        args.query, args.log = link.query, link.log_id
        args.since = link.since
        args.from_ = format_ns(link.start_ns, 9) if link.start_ns is not None else None
        args.to = format_ns(link.end_ns, 9) if link.end_ns is not None else None
    tz = args.tz or load_settings(default_history_path().parent / "settings.json").get("tz", "UTC")
    try:
        zone(tz)
    except ValueError as err:
        if args.tz:
            print(f"hlog-tui: --tz: {err}", file=sys.stderr)
            return 2
        tz = "UTC"  # a settings file that names no zone: not the user's error now
    if args.log:
        try:
            Cursor.decode(args.log)
        except ValueError:
            print(f"hlog-tui: {safe(args.log)} is not a log id (TIMESTAMP_NS-ROW_ID)", file=sys.stderr)
            return 2
    if args.reseed and not args.demo:
        parser.error("--reseed goes with --demo")
    try:
        time_range = _range(args)
    except ValueError as err:
        print(f"hlog-tui: {err}", file=sys.stderr)
        return 2

    async def factory() -> Link:
        from hlog.tui import link

        if args.demo:
            return await _demo_link(reseed=args.reseed)
        return await link.connect(
            args.backend, args.store, args.token, serve_ingest=not args.no_listen, ingest_port=args.ingest_port
        )

    from hlog.tui.ascii import locale_is_utf8

    ascii_only = args.charset == "ascii" or (args.charset == "auto" and not locale_is_utf8())
    app = HlogApp(
        factory,
        args.query,
        time_range,
        history_path=default_history_path(),
        ascii_only=ascii_only,
        close_link_on_unmount=False,
        open_log=args.log,
        open_view=args.view,
        tz=tz,
        confirm_rows=args.confirm_rows,
    )
    if args.theme:
        if args.theme not in app.available_themes:
            print(
                f"hlog-tui: unknown theme {args.theme!r}; try: {', '.join(sorted(app.available_themes))}",
                file=sys.stderr,
            )
            return 2
        app.theme = args.theme
    # multiprocessing's resource tracker (used by the ingest workers of an embedded backend) cannot
    # start once Textual has replaced stderr: start it now
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()
    app.run_then_close()
    return 0


DEMO_LIVE_SECONDS = 3600
DEMO_LIVE_RATE = 4.0


async def _demo_link(reseed: bool = False) -> Link:
    """A demo store: a day of generated shop traffic (kept for a day), plus the real shop services
    sending live traffic through the SDK while the app is open."""
    import asyncio
    import threading

    from hlog.backend.demo import open_demo_store
    from hlog.backend.store import default_store_path
    from hlog.demo import has_sdk
    from hlog.tui.link import embed, with_alerts

    dsn = f"chdb://{default_store_path().parent / 'demo'}"
    store, _ = await asyncio.to_thread(open_demo_store, dsn, reseed)
    link = await embed(with_alerts(store), serve_ingest=True, ingest_port=0)
    link.where = "demo store"
    if not has_sdk():
        link.where = "demo store (no live traffic: pip install hlog-sdk)"
    elif link.ingest_url:
        from hlog.demo.run import run_demo

        stop = threading.Event()
        services: list[Any] = []
        shop = threading.Thread(
            target=run_demo,
            args=(link.ingest_url, DEMO_LIVE_SECONDS, DEMO_LIVE_RATE, 1, stop, services),
            name="hlog-demo-shop",
            daemon=True,
        )
        shop.start()

        def stop_shop() -> None:
            """Quitting does not wait for the shop: its services flush and exit on their own (and
            would if this process died: they watch their parent)."""
            stop.set()
            for service in list(services):
                service.terminate()

        link.on_close.append(stop_shop)
        link.where = "demo store (live shop traffic)"
    return link


if __name__ == "__main__":
    raise SystemExit(main())
