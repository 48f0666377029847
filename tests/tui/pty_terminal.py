"""A real program in a pseudo-terminal: every byte it writes is kept, and a VT emulator (pyte) reads the screen."""

from __future__ import annotations

import fcntl
import os
import re
import signal
import struct
import subprocess
import termios
import threading
import time
from collections.abc import Callable, Sequence

import pyte

# Escape sequences as a terminal parses them: CSI, OSC (ended by BEL or ST), DCS/SOS/PM/APC, and two-byte ESC x.
ESCAPE = re.compile(
    rb"\x1b\[[0-?]*[ -/]*[@-~]"
    rb"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"
    rb"|\x1b[P^_X][^\x1b]*\x1b\\"
    rb"|\x1b[ -/]*[0-~]"
)


class PtyProgram:
    """`command` running with a pty as its terminal, `cols` x `rows`."""

    def __init__(self, command: Sequence[str], env: dict[str, str], cols: int = 120, rows: int = 36) -> None:
        self.raw = bytearray()
        self._screen = pyte.Screen(cols, rows)
        self._stream = pyte.ByteStream(self._screen)
        self._lock = threading.Lock()
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.master = master
        # the pty's size is the terminal's: COLUMNS and LINES (pytest-xdist sets 80 and 24) would override it
        env = {k: v for k, v in env.items() if k not in ("COLUMNS", "LINES")}
        self.proc = subprocess.Popen(
            list(command), stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True, close_fds=True
        )
        os.close(slave)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                return
            if not chunk:
                return
            with self._lock:
                self.raw += chunk
                self._stream.feed(chunk)

    def screen(self) -> str:
        """The screen as text, one line per row."""
        with self._lock:
            return "\n".join(self._screen.display)

    def send(self, keys: str | bytes) -> None:
        """Type: bytes exactly as a terminal sends them (`\\r` Enter, `\\x1b[A` Up, `\\x1b` Escape)."""
        os.write(self.master, keys.encode() if isinstance(keys, str) else keys)

    def wait_until(self, shows: Callable[[str], bool], what: str, timeout: float = 60.0) -> str:
        """The screen, once `shows(screen)`; AssertionError naming `what`, with the screen, when it never does."""
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if shows(screen):
                return screen
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"{what} never happened (exit code {self.proc.poll()}); the screen was:\n{screen}")

    def wait_for(self, text: str, timeout: float = 60.0) -> str:
        """The screen, once it shows `text`."""
        return self.wait_until(lambda screen: text in screen, repr(text), timeout)

    def wait_exit(self, timeout: float = 60.0) -> int | None:
        """The exit code, once the program has ended by itself (None if it has not within `timeout`)."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        return self.proc.poll()

    def stop(self) -> None:
        """End the program (it should have quit by itself already)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        os.close(self.master)

    def sequences(self) -> list[bytes]:
        """Every escape sequence written so far."""
        with self._lock:
            return ESCAPE.findall(bytes(self.raw))


# What hlog-tui (Textual) writes itself: cursor moves, colours, terminal modes, the pointer shape (OSC 22).
_OWN_CSI_FINALS = frozenset(b"ABCDGHmhlpu")
_OWN_OSC_PREFIXES = (b"\x1b]22;",)
_RAW_UNSAFE = re.compile(
    rb"[\x00-\x09\x0b-\x1f\x7f]"  # C0 controls (not newline) and DEL outside a sequence
    rb"|\xc2[\x80-\x9f]"  # C1 controls, UTF-8 encoded
    rb"|\xd8\x9c|\xe2\x80[\x8e\x8f\xaa-\xae]|\xe2\x81[\xa6-\xa9]"  # bidi and invisible format characters
)


def foreign_output(raw: bytes, hostile: Sequence[str] = ()) -> list[bytes]:
    """What in `raw` terminal output the application did not mean to write, each with the 30
    bytes before it: escape sequences outside its own vocabulary, raw control or bidi
    characters, and any `hostile` string's escape sequence written out raw (an SGR from log
    data would otherwise look like ours)."""
    found = []
    for match in ESCAPE.finditer(raw):
        seq = match.group()
        if seq.startswith(b"\x1b[") and seq[-1] in _OWN_CSI_FINALS:
            continue
        if seq.startswith(_OWN_OSC_PREFIXES):
            continue
        found.append(raw[max(0, match.start() - 30) : match.end()])
    # a line break reaches the terminal as \r\n (the tty adds the \r)
    text = ESCAPE.sub(b"", raw).replace(b"\r\n", b"\n")
    found += [text[max(0, m.start() - 30) : m.end()] for m in _RAW_UNSAFE.finditer(text)]
    for hostile_text in hostile:
        for fragment in re.findall(r"\x1b[^\x00-\x1f\x7f-\x9f]{2,}", hostile_text):
            if fragment.encode() in raw:
                found.append(fragment.encode())
    return found
