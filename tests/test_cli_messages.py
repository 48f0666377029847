"""What `hlog` says to a person at a terminal, and keeps out of pipes."""

from __future__ import annotations

import io
import socket

import pytest

from hlog.backend.app import Backend
from hlog.backend.cli import main
from hlog.backend.store import Store
from tests.conftest import api_client, post_logs


class Terminal(io.StringIO):
    """Standard output as a terminal."""

    def isatty(self) -> bool:
        return True


def test_no_match_is_said_on_a_terminal_and_pipes_stay_empty(
    store: Store, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with api_client(Backend(store)) as client:
        post_logs(client, [{"body": "payment declined"}])
    assert main(["search", "nothing-like-this", "--store", store.dsn, "--since", "1h"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""  # a pipe: nothing
    terminal = Terminal()
    monkeypatch.setattr("sys.stdout", terminal)
    assert main(["search", "nothing-like-this", "--store", store.dsn, "--since", "1h"]) == 0
    assert terminal.getvalue() == ""
    assert capsys.readouterr().err == "no logs match 'nothing-like-this' in the last 1h\n"
    assert main(["search", "declined", "--store", store.dsn]) == 0
    assert "payment declined" in terminal.getvalue() and capsys.readouterr().err == ""


def test_demo_takes_a_plain_number_of_seconds(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:  # a port where nothing listens: the demo stops after its options
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    assert main(["demo", "--duration", "20", "--backend", url]) == 1
    assert f"no hlog backend answers at {url}" in capsys.readouterr().err
    assert main(["demo", "--duration", "twenty", "--backend", url]) == 2
    assert "invalid duration 'twenty'" in capsys.readouterr().err
