"""`hlog demo`: start the shop's services on loopback ports and play its users against them."""

from __future__ import annotations

import asyncio
import os
import random
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

from hlog.demo.shop import SERVICES
from hlog_sdk.context import HEADER

READY_TIMEOUT_SECONDS = 30
CLIENT_TIMEOUT_SECONDS = 5


@dataclass
class Summary:
    """What the traffic generator did."""

    requests: int = 0
    sessions: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    session_ids: list[str] = field(default_factory=list)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_services(
    endpoint: str,
    seed: int,
    burst: tuple[float, float] | None = None,
    processes: list[subprocess.Popen[bytes]] | None = None,
) -> tuple[dict[str, str], list[subprocess.Popen[bytes]]]:
    """Start the four services; returns their URLs and processes (also added to `processes` as
    each starts, for whoever must stop them from another thread)."""
    urls = {name: f"http://127.0.0.1:{_free_port()}" for name in SERVICES}
    peers = {
        "gateway": ("checkout", "inventory"),
        "checkout": ("payments", "inventory"),
        "payments": (),
        "inventory": (),
    }
    processes = [] if processes is None else processes
    for name in SERVICES:
        command = [
            sys.executable,
            "-m",
            "hlog.demo.shop",
            name,
            "--port",
            urls[name].rsplit(":", 1)[1],
            "--endpoint",
            endpoint,
            "--seed",
            str(seed),
            "--peers",
            ",".join(f"{p}={urls[p]}" for p in peers[name]),
            "--parent",
            str(os.getpid()),
        ]
        if burst and name == "gateway":
            command += ["--burst", f"{burst[0]},{burst[1]}"]
        # the services talk through their telemetry; their own output would only scribble over a terminal UI
        processes.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    for url in urls.values():
        while True:
            try:
                httpx.get(url + "/ready", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    stop_services(processes)
                    raise RuntimeError(f"a demo service did not start at {url}") from None
                time.sleep(0.1)
    return urls, processes


def stop_services(processes: list[subprocess.Popen[bytes]]) -> None:
    """Stop the services; each flushes its logs and spans on the way out."""
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


async def play(gateway: str, duration_s: float, rate: float, seed: int, stop: threading.Event | None = None) -> Summary:
    """Users browsing, adding to cart and checking out, `rate` requests a second for `duration_s`."""
    rng = random.Random(seed)
    summary = Summary()
    deadline = time.monotonic() + duration_s
    active: list[dict[str, object]] = []
    tasks: set[asyncio.Task[None]] = set()

    async def send(
        client: httpx.AsyncClient, session: dict[str, object], method: str, path: str, body: dict[str, object] | None
    ) -> None:
        request_id = f"{rng.getrandbits(48):012x}"
        headers = {HEADER: f"{session['id']}/{request_id}"}
        try:
            response = await client.request(method, gateway + path, json=body, headers=headers)
            summary.statuses[response.status_code] += 1
        except httpx.HTTPError:
            summary.statuses[0] += 1
        summary.requests += 1

    async with httpx.AsyncClient(timeout=CLIENT_TIMEOUT_SECONDS) as client:
        while time.monotonic() < deadline and not (stop is not None and stop.is_set()):
            if not active or (len(active) < 20 and rng.random() < 0.3):
                sid = f"sess-{rng.getrandbits(48):012x}"
                script = ["products"] * rng.randint(1, 3) + ["cart"] * rng.randint(1, 2)
                if rng.random() < 0.6:
                    script.append("checkout")
                active.append({"id": sid, "user": f"user-{rng.randint(1, 500)}", "script": script})
                summary.sessions += 1
                summary.session_ids.append(sid)
            session = rng.choice(active)
            step = session["script"].pop(0)  # type: ignore[attr-defined]
            if not session["script"]:
                active.remove(session)
            body: dict[str, object] | None = None
            method, path = "GET", "/products"
            if step == "cart":
                method, path, body = "POST", "/cart", {"user": session["user"], "items": rng.randint(1, 5)}
            elif step == "checkout":
                method, path = "POST", "/checkout"
                body = {
                    "user": session["user"],
                    "order": rng.randint(1000, 99999),
                    "amount": round(rng.uniform(5, 400), 2),
                }
            task = asyncio.create_task(send(client, session, method, path, body))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            await asyncio.sleep(1 / rate)
        await asyncio.gather(*tasks)
    return summary


def run_demo(
    endpoint: str,
    duration_s: float,
    rate: float,
    seed: int,
    stop: threading.Event | None = None,
    processes: list[subprocess.Popen[bytes]] | None = None,
) -> Summary:
    """Start the shop, play traffic for `duration_s` (or until `stop`), stop the shop (flushing its
    telemetry). The services' processes are added to `processes` as they start."""
    now = time.time()
    burst = (now + min(duration_s * 0.4, 60), now + min(duration_s * 0.55, 120))
    urls, processes = start_services(endpoint, seed, burst, processes)
    try:
        return asyncio.run(play(urls["gateway"], duration_s, rate, seed, stop))
    finally:
        stop_services(processes)
