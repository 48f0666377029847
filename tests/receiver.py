"""A real HTTP server on 127.0.0.1 that records what it receives: the webhook target in tests."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Answers each path with the scripted statuses in order (then 200), recording every request."""

    server: ThreadingHTTPServer
    received: list[Received] = field(default_factory=list)
    script: dict[str, list[tuple[int, dict[str, str]]]] = field(default_factory=dict)
    bodies: dict[str, bytes] = field(default_factory=dict)
    held: dict[str, threading.Event] = field(default_factory=dict)

    def hold(self, path: str) -> threading.Event:
        """Keep requests to `path` waiting for an answer until the returned event is set."""
        self.held[path] = threading.Event()
        return self.held[path]

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def on(self, path: str, *responses: tuple[int, dict[str, str]], body: bytes = b"ok") -> None:
        """Answer `path` with these (status, headers) in turn, then 200; every answer carries `body`."""
        self.script[path] = list(responses)
        self.bodies[path] = body

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]


def start_receiver() -> Iterator[Receiver]:
    receiver: Receiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            receiver.received.append(Received(self.path, dict(self.headers.items()), body))
            if self.path in receiver.held:
                receiver.held[self.path].wait(60)
            queue = receiver.script.get(self.path) or []
            status, headers = queue.pop(0) if queue else (200, {})
            answer = receiver.bodies.get(self.path, b"ok")
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
            except (BrokenPipeError, ConnectionResetError):
                pass  # a held request's sender gave up meanwhile

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver = Receiver(server)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
