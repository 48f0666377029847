"""Hostile text in every field never reaches the terminal as commands: checked on the bytes a terminal gets.

Two levels: a property test drives every screen with Pilot over hostile strings that
hypothesis makes and scans the exact bytes each screen renders to; the real hlog-tui in a
pseudo-terminal, against a real `hlog serve`, is driven by keys and every byte it writes
is scanned (tests/tui/pty_terminal.py says what counts as the application's own output).
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from hlog.alerts.rules import Rule
from hlog.alerts.service import AlertService
from hlog.alerts.storage import HistoryEntry, RuleStore
from hlog.backend.app import Backend
from hlog.backend.otlp import Batch, add_spans
from hlog.backend.store import SPAN_COLUMNS, Store
from hlog.query import format_value
from hlog.tui.app import HlogApp
from hlog.tui.link import embed
from hlog.tui.screens.search import SearchScreen
from hlog.tui.timerange import Range
from tests.conftest import Server, auth, drop_database, kv, logs_request
from tests.tui.conftest import NOW_NS, SECOND, ingest, settle
from tests.tui.pty_terminal import PtyProgram, foreign_output

TRACE = "ab" * 16
SPAN = "cd" * 8
SEQUENCES = [
    "\x1b]52;c;Y3VybCBodHRwOi8vZXZpbC5leGFtcGxlL3ggfCBzaA==\x1b\\",  # OSC 52: overwrite the clipboard
    "\x1b]2;PWNED TITLE\x1b\\",  # OSC 2 with ST: the window title
    "\x1b]0;PWNED\x07",  # OSC 0 with BEL
    "\x1b[2J",  # CSI: clear the screen
    "\x1b[38;5;196mRED-MARK",  # SGR
    "\x1b[6n",  # a cursor report request (the terminal would type an answer)
    "\x1bP+q544e\x1b\\",  # DCS
    "\x9b2J",  # 8-bit CSI
    "\x1b\\",  # a lone ST
]
CONTROLS = [chr(c) for c in range(0x20)] + ["\x7f"] + [chr(c) for c in range(0x80, 0xA0)]
FORMAT = list("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
HOSTILE = "X" + "".join(SEQUENCES) + " Y \u202eRTL\u202c \x7f\x08\r end"

hostile_text = st.lists(
    st.one_of(
        st.sampled_from(SEQUENCES),
        st.sampled_from(CONTROLS + FORMAT),
        st.text(alphabet="abc XYZ-:/\"'\\", max_size=4),
    ),
    min_size=1,
    max_size=6,
).map("".join)


def seed(store: Store, text: list[str]) -> None:
    """A log, its session, its trace with an event, an alert rule and its history: hostile everywhere."""
    body, level, service, attr, session = text
    attr = "v" + attr  # a value to suggest (an empty one is not offered)
    record = {
        "body": body,
        "level": level,
        "number": 17,
        "ts": NOW_NS - 60 * SECOND,
        "trace_id": TRACE,
        "span_id": SPAN,
        "attrs": {"clip.attr": attr, "session.id": "s-" + session, f"k\x1b]2;{attr}\x07": attr},
    }
    ingest(store, logs_request([record], {"service.name": service, "host.name": attr}))
    spans = ExportTraceServiceRequest()
    resource_spans = spans.resource_spans.add()
    resource_spans.resource.attributes.append(kv("service.name", service))
    span = resource_spans.scope_spans.add().spans.add()
    span.trace_id, span.span_id = bytes.fromhex(TRACE), bytes.fromhex(SPAN)
    span.name, span.start_time_unix_nano, span.end_time_unix_nano = body, NOW_NS - 61 * SECOND, NOW_NS - 59 * SECOND
    span.status.code, span.status.message = 2, attr
    span.attributes.append(kv("session.id", "s-" + session))
    event = span.events.add()
    event.time_unix_nano, event.name = NOW_NS - 60 * SECOND, level
    event.attributes.append(kv(attr, body))
    batch = Batch(SPAN_COLUMNS)
    add_spans(spans, batch)
    store.insert_columns("spans", SPAN_COLUMNS, batch.data)
    rules = RuleStore(store)
    rule = rules.save(Rule(name=body, query=f"clip.attr:{format_value(attr)}", threshold=1, id="r1"))
    entry = HistoryEntry(NOW_NS // 10**6, rule.id, body, attr, "ALERTING", 1, 1, 300, destination=level, error=service)
    rules.record([entry])


def rendered(app: HlogApp) -> bytes:
    """The bytes a terminal would receive for the whole current screen."""
    update = app.screen._compositor.render_full_update()
    return update.render_segments(app.console).encode()


async def visit_every_screen(app: HlogApp, pilot: Any, hostile: list[str]) -> list[tuple[str, list[bytes]]]:
    """Drive the screens a user reaches with the keyboard; what each one rendered that it should not have."""
    leaks: list[tuple[str, list[bytes]]] = []

    async def check(where: str, *keys: str) -> None:
        await pilot.press(*keys)
        await settle(pilot)
        leaks.append((where, foreign_output(rendered(app), hostile)))

    await check("search table")
    await check("detail", "enter")
    await check("fields", "tab")
    await check("help", "question_mark")
    await check("help closed", "question_mark", "escape")
    search = app.screen
    await check("suggestion while typing a key", "slash", *"clip.attr:")
    await check("suggestion accepted and run", "right", "enter")
    assert isinstance(search, SearchScreen) and search.total == 1, "the accepted suggestion must find the log"
    await check("history recall", "slash", "up", "up")
    await check("history recall (oldest)", "up", "up")
    await check("back to the table", "escape")
    await check("session", "s")
    await check("session closed", "escape")
    await check("trace", "t")
    await check("trace closed", "escape")
    await check("alert form", "a")
    await check("alert form closed", "escape")
    await check("alerts list", "A")
    await check("alerts list closed", "escape")
    return [(where, found) for where, found in leaks if found]


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(text=st.lists(hostile_text, min_size=5, max_size=5), history=st.lists(hostile_text, min_size=1, max_size=3))
async def test_every_screen_renders_hostile_text_inert(
    engine_dir: Path, tmp_path: Path, text: list[str], history: list[str]
) -> None:
    store = Store(f"chdb://{engine_dir}?database=h_{uuid.uuid4().hex[:12]}")
    try:
        seed(store, text)
        history_path = tmp_path / f"history-{uuid.uuid4().hex[:6]}.json"
        history_path.write_text(json.dumps(history))

        async def factory() -> Any:
            return await embed(Backend(store, extensions=[AlertService(store, evaluate=False)]))

        app = HlogApp(factory, "", Range("24h"), clock=lambda: NOW_NS, history_path=history_path)
        async with app.run_test(size=(120, 36)) as pilot:
            await settle(pilot)
            leaks = await visit_every_screen(app, pilot, text + history)
        assert leaks == []
        saved = json.loads(history_path.read_text())
        assert all(entry.isprintable() for entry in saved), "the history file must not keep control characters"
    finally:
        store.close()
        drop_database(store.dsn)


def test_the_real_hlog_tui_writes_no_foreign_escape_sequence(tmp_path: Path) -> None:
    """The real hlog-tui in a pseudo-terminal against a real hlog serve; every byte it writes is scanned."""
    server = Server(tmp_path / "store").start()
    try:
        now = time.time_ns()
        request = logs_request(
            [
                {
                    "body": HOSTILE,
                    "level": HOSTILE,
                    "number": 17,
                    "ts": now - 5 * SECOND,
                    "trace_id": TRACE,
                    "span_id": SPAN,
                    "attrs": {"clip.attr": HOSTILE, "session.id": "s-" + HOSTILE},
                }
            ],
            {"service.name": HOSTILE},
        )
        headers = {"Content-Type": "application/x-protobuf"}
        sent = httpx.post(server.url + "/v1/logs", content=request.SerializeToString(), headers=headers)
        assert sent.status_code == 200, sent.text
        rule = {"name": HOSTILE, "query": f"clip.attr:{format_value(HOSTILE)}", "threshold": 1, "group_by": "clip.attr"}
        created = httpx.post(server.url + "/api/alerts", json=rule, headers=auth())
        assert created.status_code == 201, created.text
        state = tmp_path / "state"
        (state / "hlog").mkdir(parents=True)
        (state / "hlog" / "history.json").write_text(json.dumps([HOSTILE, "level:error"]))
        env = {**os.environ, "TERM": "xterm-256color", "XDG_STATE_HOME": str(state), "HLOG_BACKEND": server.url}
        # it opens on a search that finds nothing, so the search the suggestion builds is seen to run
        tui = PtyProgram([sys.executable, "-m", "hlog.tui.app", "-q", "service_name:nothing"], env)
        try:
            tui.wait_for("0 matches")
            tui.wait_for("0 logs")  # the histogram too: the first screen has finished loading

            def gone(text: str) -> Callable[[str], bool]:
                return lambda screen: text not in screen

            def bar(text: str) -> Callable[[str], bool]:
                return lambda screen: text in screen.splitlines()[0]

            def search_bar_focused(screen: str) -> bool:
                return "/ Search" in screen and "Session" not in screen.splitlines()[-1]

            steps: list[tuple[str, str | Callable[[str], bool]]] = [
                ("/", search_bar_focused),
                ("\x1b[A", bar(" level:error ")),  # history recall
                ("\x1b[A", bar("\\x7f\\x08\\r end")),  # the hostile entry, escaped (its end: the cursor is there)
                ("\x15", bar("search: level:error")),  # ctrl+u: empty again (the placeholder shows)
                ("clip.attr:", bar("clip.attr:/^X")),  # the value suggestion, as an inert regex
                ("\x1b[C\r", "1 match"),  # accept it and run: it finds the log
                ("\x1b", lambda screen: not search_bar_focused(screen)),
                ("\r", "span_id = "),  # the detail, with the attributes
                ("\x1b", gone("span_id = ")),
                ("s", "session s-X"),
                ("\x1b", gone("session s-X")),
                ("A", "Alert rules"),
                ("\x1b", gone("Alert rules")),
                ("a", "New alert rule"),
                ("\x1b", gone("New alert rule")),
                ("?", "Edit the query"),  # the help screen
                ("?", gone("Edit the query")),
            ]
            for keys, shown in steps:
                tui.send(keys)
                tui.wait_until(shown, keys) if callable(shown) else tui.wait_for(shown)
            tui.send("q")
            assert tui.wait_exit(30) == 0
        finally:
            tui.stop()
        assert foreign_output(bytes(tui.raw), [HOSTILE]) == []
        assert b"X\\x1b]52;c;" in tui.raw  # the data was on screen, written out visibly
    finally:
        server.stop()


@pytest.mark.parametrize("fmt", ["table", "jsonl", "csv"])
def test_hlog_search_output_is_inert_on_a_terminal_and_exact_in_a_pipe(tmp_path: Path, fmt: str) -> None:
    from tests.test_end_to_end import hlog

    store = ["--store", f"chdb://{tmp_path / 'store'}"]
    record = {"msg": HOSTILE, "level": "error", "service": HOSTILE, "user": HOSTILE}
    assert hlog("ingest", "-", *store, stdin=json.dumps(record) + "\n").returncode == 0
    command = [sys.executable, "-m", "hlog.backend.cli", "search", "--format", fmt, *store]
    tui = PtyProgram(command, {**os.environ, "TERM": "xterm-256color"})
    try:
        tui.wait_exit(60)
    finally:
        tui.stop()
    assert tui.proc.returncode == 0, bytes(tui.raw)[-2000:]
    # the level colours are the only sequences `hlog search` writes itself
    leaks = foreign_output(bytes(tui.raw), [HOSTILE])
    shown = b"X\\u001b]52;c;" if fmt == "jsonl" else b"X\\x1b]52;c;"  # JSON's escape, or ours
    assert leaks == [] and shown in tui.raw
    piped = hlog("search", "--format", fmt, *store).stdout
    if fmt == "jsonl":
        assert json.loads(piped)["body"] == HOSTILE  # a program reading the pipe gets the data exactly
    if fmt == "csv":
        assert HOSTILE.replace("\r", "\n") in piped  # exact (the text-mode pipe reads \r as a line end)


def test_hlog_alerts_output_is_inert_on_a_terminal(tmp_path: Path) -> None:
    """Rule names, groups from log data and delivery results printed by `hlog alerts list|history|test`."""
    from tests.receiver import start_receiver

    receivers = start_receiver()
    receiver = next(receivers)
    receiver.on("/hook", *[(500, {})] * 50, body=HOSTILE.encode())  # the target's answer is hostile too
    server = Server(tmp_path / "store", "--alert-delay", "0s", "--allow-webhook-network", "127.0.0.1/32").start()
    try:
        request = logs_request([{"body": "boom", "level": "ERROR", "attrs": {"clip.attr": HOSTILE}}])
        headers = {"Content-Type": "application/x-protobuf"}
        assert (
            httpx.post(server.url + "/v1/logs", content=request.SerializeToString(), headers=headers).status_code == 200
        )
        rule = {
            "name": HOSTILE,
            "query": "level:error",
            "threshold": 1,
            "frequency_seconds": 1,
            "group_by": "clip.attr",
            "destinations": [{"kind": "webhook", "url": receiver.url + "/hook"}],
        }
        created = httpx.post(server.url + "/api/alerts", json=rule, headers=auth())
        assert created.status_code == 201, created.text
        rid = created.json()["id"]

        def delivered() -> bool:
            history = httpx.get(f"{server.url}/api/alerts/{rid}/history", headers=auth()).json()["history"]
            return any(entry["destination"] for entry in history)

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not delivered():
            time.sleep(0.2)
        assert delivered(), "the rule never fired"
        env = {**os.environ, "TERM": "xterm-256color", "HLOG_BACKEND": server.url}
        for args in (["list"], ["history", rid], ["test", rid]):
            cli = PtyProgram([sys.executable, "-m", "hlog.backend.cli", "alerts", *args], env)
            try:
                cli.wait_exit(60)
            finally:
                cli.stop()
            assert foreign_output(bytes(cli.raw), [HOSTILE]) == [], args
            assert b"X\\x1b]52;c;" in cli.raw or b"HTTP 500" in cli.raw, bytes(cli.raw)[-500:]
    finally:
        server.stop()
        receivers.close()
