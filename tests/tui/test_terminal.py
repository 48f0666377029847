"""The real hlog-tui in a pseudo-terminal (tmux): type a query, read the screen, quit."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from tests.test_end_to_end import hlog

TMUX = shutil.which("tmux")


def tmux(socket: str, *args: str) -> str:
    return subprocess.run([TMUX or "tmux", "-L", socket, *args], capture_output=True, text=True, timeout=30).stdout


def wait_for(socket: str, text: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = tmux(socket, "capture-pane", "-p", "-t", "tui")
        if text in screen:
            return screen
        time.sleep(0.2)
    raise AssertionError(f"{text!r} never appeared; the screen was:\n{screen}")


@pytest.mark.skipif(TMUX is None, reason="tmux is not installed")  # it is on our machines and CI
def test_type_a_query_in_a_real_terminal(tmp_path: Path) -> None:
    store = f"chdb://{tmp_path / 'store'}"
    now = time.time()
    lines = [
        {"ts": now - 30, "level": "error", "msg": "payment declined for order 7", "service": "payments"},
        {"ts": now - 20, "level": "info", "msg": "cart updated", "service": "checkout"},
        {"ts": now - 10, "level": "info", "msg": "evil \x1b[2J bytes", "service": "checkout"},
    ]
    ingest = hlog("ingest", "-", "--store", store, stdin="".join(json.dumps(x) + "\n" for x in lines))
    assert ingest.returncode == 0, ingest.stderr
    socket = "hlog-test-" + uuid.uuid4().hex[:8]
    command = f"{sys.executable} -m hlog.tui.app --store {store} --no-listen"
    env = {**os.environ, "TERM": "xterm-256color", "XDG_STATE_HOME": str(tmp_path / "state")}
    subprocess.run(
        [TMUX or "tmux", "-L", socket, "new-session", "-d", "-s", "tui", "-x", "100", "-y", "30", command],
        check=True,
        env=env,
        timeout=30,
    )
    try:
        screen = wait_for(socket, "cart updated")
        assert "3 matches" in wait_for(socket, "3 matches")
        assert "evil \\x1b[2J bytes" in screen  # shown escaped, not obeyed
        tmux(socket, "send-keys", "-t", "tui", "/")
        # typed only once the query bar has the focus (the footer then offers only its own keys)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "Session" in tmux(socket, "capture-pane", "-p", "-t", "tui"):
            time.sleep(0.1)
        tmux(socket, "send-keys", "-t", "tui", "-l", "level:error")
        tmux(socket, "send-keys", "-t", "tui", "Enter")
        screen = wait_for(socket, "1 match ")
        assert "payment declined for order 7" in screen and "cart updated" not in screen
        tmux(socket, "send-keys", "-t", "tui", "q")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and "tui" in tmux(socket, "list-sessions"):
            time.sleep(0.2)
        assert "tui" not in tmux(socket, "list-sessions")
    finally:
        tmux(socket, "kill-server")


def test_the_tui_receives_otlp_while_open(tmp_path: Path) -> None:
    """hlog-tui on its own store receives what the OpenTelemetry SDK sends (its receiver answered 500
    when the ingest workers started after Textual had taken stderr) and shows it live."""
    import logging
    import re

    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
    from opentelemetry.sdk.resources import Resource

    from tests.tui.pty_terminal import PtyProgram

    # a short path: the status line must hold the receiver's address
    short = Path(tempfile.mkdtemp(prefix="hlog-"))
    store = f"chdb://{short / 'store'}"
    env = {**os.environ, "TERM": "xterm-256color", "XDG_STATE_HOME": str(tmp_path / "state")}
    tui = PtyProgram([sys.executable, "-m", "hlog.tui.app", "--store", store, "--ingest-port", "0"], env, cols=250)
    try:
        screen = tui.wait_for("receiving OTLP on")
        match = re.search(r"receiving OTLP on (http://[\d.]+:\d+)", screen)
        assert match, screen
        provider = LoggerProvider(resource=Resource.create({"service.name": "otel-into-tui"}))
        provider.add_log_record_processor(
            SimpleLogRecordProcessor(OTLPLogExporter(endpoint=match.group(1) + "/v1/logs"))
        )
        log = logging.getLogger("otel-into-tui-" + uuid.uuid4().hex[:6])
        log.propagate = False
        log.addHandler(LoggingHandler(logger_provider=provider))
        tui.send("L")  # live tail
        tui.wait_for("Live")
        for i in range(3):
            log.warning("sent through the sdk %d", i)
        assert provider.force_flush(10_000)
        provider.shutdown()
        screen = tui.wait_for("sent through the sdk 2")
        assert "sent through the sdk 0" in screen and "otel-into-tui" in screen
        tui.send("q")
        assert tui.wait_exit(30) == 0
    finally:
        tui.stop()
    # and in the store, for every later run
    found = subprocess.run(
        [sys.executable, "-m", "hlog.backend.cli", "search", '"sent through the sdk"', "--count", "--store", store],
        capture_output=True,
        text=True,
        timeout=120,
    )
    shutil.rmtree(short, ignore_errors=True)
    assert found.stdout.strip() == "3", found.stderr


def test_the_demo_shop_traffic_keeps_arriving(tmp_path: Path) -> None:
    """`hlog-tui --demo` runs the real shop services, which send through the SDK to the TUI's own
    receiver: live tail shows logs stamped after it started, and still later ones ten seconds on."""
    import re
    from datetime import UTC, datetime

    from tests.tui.pty_terminal import PtyProgram

    env = {**os.environ, "TERM": "xterm-256color", "XDG_DATA_HOME": str(tmp_path / "data")}
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    tui = PtyProgram([sys.executable, "-m", "hlog.tui.app", "--demo"], env, cols=160, rows=40)

    def shows_a_log_after(screen: str, moment: float) -> bool:
        """Whether a HH:MM:SS.mmm on the screen is later than `moment` (seconds of the UTC day), by
        less than an hour (the generated history is older; midnight wraps)."""
        clocks = re.findall(r"\b(\d\d):(\d\d):(\d\d\.\d\d\d)\b", screen)
        return any(0 < (int(h) * 3600 + int(m) * 60 + float(s) - moment) % 86_400 < 3600 for h, m, s in clocks)

    def seconds_of_today() -> float:
        now = datetime.now(UTC)
        return now.hour * 3600 + now.minute * 60 + now.second + now.microsecond / 1e6

    try:
        tui.wait_for("live shop traffic", timeout=120)
        tui.send("L")
        started = seconds_of_today() + 2
        tui.wait_until(lambda s: shows_a_log_after(s, started), "a shop log stamped after live tail began", 90)
        later = seconds_of_today() + 10
        tui.wait_until(lambda s: shows_a_log_after(s, later), "shop logs ten seconds later still", 90)
        shop = shop_services(tui.proc.pid)
        assert len(shop) == 4
        tui.send("q")
        assert tui.wait_exit(60) == 0
        wait_gone(shop, "the shop's services after q")
    finally:
        tui.stop()
    # killed at a bad moment, the demo leaves no shop running either (its services watch their parent)
    tui = PtyProgram([sys.executable, "-m", "hlog.tui.app", "--demo"], env, cols=160, rows=40)
    try:
        tui.wait_for("live shop traffic", timeout=120)
        shop = shop_services(tui.proc.pid)
        assert len(shop) == 4
        os.kill(tui.proc.pid, signal.SIGKILL)
        wait_gone(shop, "the shop's services after kill -9")
    finally:
        tui.stop()


def shop_services(parent: int) -> list[int]:
    """The demo shop's service processes that `parent` started (once all four are up)."""
    deadline = time.monotonic() + 60
    while True:
        found = []
        for proc in Path("/proc").iterdir():
            with contextlib.suppress(OSError):
                status = (proc / "status").read_text()
                if f"\nPPid:\t{parent}\n" in status and b"hlog.demo.shop" in (proc / "cmdline").read_bytes():
                    found.append(int(proc.name))
        if len(found) >= 4 or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def wait_gone(pids: list[int], what: str, timeout: float = 60) -> None:
    """Wait until none of `pids` runs (a zombie has ended)."""

    def running(pid: int) -> bool:
        try:
            return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return False

    deadline = time.monotonic() + timeout
    while any(running(pid) for pid in pids):
        assert time.monotonic() < deadline, f"{what} still run: {[pid for pid in pids if running(pid)]}"
        time.sleep(0.1)


def test_editing_keys_typed_in_a_burst_apply_in_order(tmp_path: Path) -> None:
    """Ctrl+U, Backspace and Enter in the same burst as the characters around them (fast typing,
    a paste, SSH): each applies where it was typed. The bindings used to run after the characters
    behind them, so the text was lost or garbled and an empty query could run."""
    from tests.tui.pty_terminal import PtyProgram

    store = f"chdb://{tmp_path / 'store'}"
    now = time.time()
    lines = [{"ts": now - 60 + i, "level": "error" if i < 3 else "info", "msg": f"line {i}"} for i in range(8)]
    ingest = hlog("ingest", "-", "--store", store, stdin="".join(json.dumps(x) + "\n" for x in lines))
    assert ingest.returncode == 0, ingest.stderr
    env = {**os.environ, "TERM": "xterm-256color", "XDG_STATE_HOME": str(tmp_path / "state")}
    tui = PtyProgram([sys.executable, "-m", "hlog.tui.app", "--store", store, "--no-listen"], env)
    bursts = [
        (b"service:zzz\x15level:error\r", "3 matches"),  # Ctrl+U clears what came before it only
        (b"level:infoxx\x7f\x7f\r", "5 matches"),  # two Backspaces take the two x
        (b"level:error OR level:info\x17\x17\x17\x7f\r", "3 matches"),  # Ctrl+W: back to level:error
        (b"\x15-level:error\r", "5 matches"),
    ]
    try:
        tui.wait_for("8 matches")
        for burst, expected in bursts * 2:
            tui.wait_until(lambda s: "Next suggestion" not in s, "the table taking the focus back")
            tui.send("/")
            tui.wait_for("Next suggestion")  # the query bar has the focus
            tui.send(b"\x15" + burst)  # one write: the keys arrive together
            screen = tui.wait_for(expected)  # the answer to the query as typed
            assert "8 matches" not in screen, screen
        tui.send("q")
        assert tui.wait_exit(30) == 0
    finally:
        tui.stop()


@pytest.mark.parametrize("lang", ["C", "en_US.UTF-8"])
def test_a_terminal_without_utf8_gets_ascii(tmp_path: Path, lang: str) -> None:
    """Under `LANG=C` every byte hlog-tui writes is ASCII (boxes, bars, marks and a log's own text
    have stand-ins); a UTF-8 locale keeps the real characters."""
    from tests.tui.pty_terminal import PtyProgram

    store = f"chdb://{tmp_path / 'store'}"
    line = {"ts": time.time() - 60, "level": "info", "msg": "café → 東京 …"}
    ingest = hlog("ingest", "-", "--store", store, stdin=json.dumps(line) + "\n")
    assert ingest.returncode == 0, ingest.stderr
    env = {k: v for k, v in os.environ.items() if k not in ("LC_ALL", "LC_CTYPE", "LANG")}
    env.update(TERM="xterm-256color", LANG=lang, XDG_STATE_HOME=str(tmp_path / "state"))
    tui = PtyProgram([sys.executable, "-m", "hlog.tui.app", "--store", store, "--no-listen"], env, cols=80, rows=24)
    try:
        tui.wait_for("1 match")
        tui.send("c")  # a dialog with borders and ticks
        tui.wait_for("Columns")
        tui.send("\x1b")
        tui.wait_until(lambda screen: "Columns" not in screen, "the dialog closed")
        tui.send("q")
        assert tui.wait_exit(30) == 0
    finally:
        tui.stop()
    written = bytes(tui.raw)
    if lang == "C":
        assert written.isascii(), sorted({chr(b) for b in written if b > 127})[:10]
        assert b"caf? > ???? ." in written  # the log's text, cell for cell
    else:
        assert "東京".encode() in written and "▁".encode() in written


def test_ascii_stand_ins_keep_the_width() -> None:
    from rich.cells import cell_len

    from hlog.tui.ascii import locale_is_utf8, to_ascii

    for text in ("┌─┐│└┘", "▁▂▃▄▅▆▇█▔▊▎░", "東京 café ✗ ⚠ … ⏎", "e\u0301"):
        assert to_ascii(text).isascii() and cell_len(to_ascii(text)) == cell_len(text), text
    assert not locale_is_utf8({"LANG": "C"}) and not locale_is_utf8({})
    assert not locale_is_utf8({"LANG": "C", "LC_CTYPE": "C.UTF-8"})  # Python's own coercion (PEP 538)
    assert locale_is_utf8({"LANG": "en_US.UTF-8"}) and locale_is_utf8({"LANG": "C", "LC_ALL": "C.utf8"})
    assert not locale_is_utf8({"LANG": "en_US.UTF-8", "LC_ALL": "C"})
