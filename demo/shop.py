"""The shop's services: a gateway in front of checkout, payments and inventory (ASGI apps with the SDK).

Run one: `python -m hlog.demo.shop checkout --port 8001 --endpoint http://127.0.0.1:4318 --peers payments=http://…`.
Failures depend only on --seed and the request id, so a seeded run repeats itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import logging
import os
import random
import signal
import threading
import time
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import hlog_sdk

SERVICES = ("gateway", "checkout", "payments", "inventory")
DECLINE_RATE = 0.15
SLOW_RATE = 0.08
SLOW_SECONDS = 1.5
CALL_TIMEOUT_SECONDS = 1.0
GATEWAY_TIMEOUT_SECONDS = 4.0
log = logging.getLogger("shop")


def fate(seed: int, *parts: str) -> float:
    """A number in [0, 1) fixed by the seed and the request: the same run fails the same way."""
    digest = hashlib.sha256(":".join((str(seed), *parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def build(service: str, peers: dict[str, str], seed: int, burst: tuple[float, float] | None = None) -> Starlette:
    """The ASGI app of one service."""
    # the gateway waits longer than checkout waits for inventory, so a slow inventory is handled where it happens
    client = httpx.AsyncClient(timeout=GATEWAY_TIMEOUT_SECONDS if service == "gateway" else CALL_TIMEOUT_SECONDS)

    def request_id() -> str:
        current = hlog_sdk.current()
        return current.request_id if current else ""

    async def call(peer: str, method: str, path: str, **kwargs: object) -> httpx.Response:
        return await client.request(method, peers[peer] + path, **kwargs)  # type: ignore[arg-type]

    async def products(request: Request) -> JSONResponse:
        if burst and burst[0] <= time.time() < burst[1]:
            log.error("GET /products 500: upstream connect error (connection pool exhausted)")
            return JSONResponse({"error": "unavailable"}, 500)
        try:
            stock = (await call("inventory", "GET", "/stock", params={"sku": "sku-42"})).json()
        except httpx.TimeoutException:
            log.warning("inventory call timed out after %.0fms", CALL_TIMEOUT_SECONDS * 1000)
            return JSONResponse({"error": "timeout"}, 504)
        log.info("GET /products 200", extra={"http.route": "/products", "items": stock["available"]})
        return JSONResponse(stock)

    async def cart(request: Request) -> JSONResponse:
        try:
            response = await call("checkout", "POST", "/cart", json=await request.json())
        except httpx.HTTPError as err:
            log.error("POST /cart 504: checkout did not answer (%s)", type(err).__name__)
            return JSONResponse({"error": "checkout unavailable"}, 504)
        log.info("POST /cart %d", response.status_code, extra={"http.route": "/cart"})
        return JSONResponse(response.json(), response.status_code)

    async def checkout(request: Request) -> JSONResponse:
        try:
            response = await call("checkout", "POST", "/checkout", json=await request.json())
        except httpx.HTTPError as err:
            log.error("POST /checkout 504: checkout did not answer (%s)", type(err).__name__)
            return JSONResponse({"error": "checkout unavailable"}, 504)
        if response.status_code >= 400:
            log.error("POST /checkout %d: %s", 502, response.json().get("error"), extra={"http.route": "/checkout"})
            return JSONResponse(response.json(), 502)
        log.info("POST /checkout 200", extra={"http.route": "/checkout"})
        return JSONResponse(response.json())

    async def checkout_cart(request: Request) -> JSONResponse:
        body = await request.json()
        log.info("cart updated: %d items", body.get("items", 1), extra={"user.id": body.get("user", "")})
        return JSONResponse({"ok": True})

    async def checkout_order(request: Request) -> JSONResponse:
        body = await request.json()
        order = body.get("order", 0)
        try:
            await call("inventory", "POST", "/reserve", json=body)
        except httpx.TimeoutException:
            log.warning("inventory reservation timed out for order %s, continuing", order)
        charge = await call("payments", "POST", "/charge", json=body)
        if charge.status_code != 200:
            log.error("checkout failed for order %s: payment declined", order, extra={"order.id": order})
            return JSONResponse({"error": "payment declined"}, 402)
        log.info("order %s placed", order, extra={"order.id": order})
        return JSONResponse({"order": order})

    async def charge(request: Request) -> JSONResponse:
        body = await request.json()
        amount = body.get("amount", 0)
        if fate(seed, "decline", request_id()) < DECLINE_RATE:
            try:
                raise RuntimeError(f"card declined: expired (order {body.get('order')})")
            except RuntimeError:
                log.error(
                    "payment declined: card expired",
                    exc_info=True,
                    extra={"order.id": body.get("order"), "amount": amount},
                )
            return JSONResponse({"error": "card declined"}, 402)
        log.info("charge authorised: %.2f EUR", amount, extra={"order.id": body.get("order")})
        return JSONResponse({"charged": amount})

    async def stock(request: Request) -> JSONResponse:
        if fate(seed, "slow", request_id()) < SLOW_RATE:
            await asyncio.sleep(SLOW_SECONDS)
        available = int(fate(seed, "stock", request_id()) * 40)
        log.debug('{"event": "stock_check", "sku": "sku-42", "available": %d}', available)
        return JSONResponse({"available": available})

    async def reserve(request: Request) -> JSONResponse:
        return await stock(request)

    async def ready(request: Request) -> JSONResponse:
        return JSONResponse({"service": service})

    routes = [Route("/ready", ready)] + {
        "gateway": [
            Route("/products", products),
            Route("/cart", cart, methods=["POST"]),
            Route("/checkout", checkout, methods=["POST"]),
        ],
        "checkout": [
            Route("/cart", checkout_cart, methods=["POST"]),
            Route("/checkout", checkout_order, methods=["POST"]),
        ],
        "payments": [Route("/charge", charge, methods=["POST"])],
        "inventory": [Route("/stock", stock), Route("/reserve", reserve, methods=["POST"])],
    }[service]
    return Starlette(routes=routes)


def main() -> None:
    """Run one service until stopped."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("service", choices=SERVICES)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--endpoint", default="http://127.0.0.1:4318")
    parser.add_argument("--peers", default="", help="name=url,name=url")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--burst", default="", help="start,end epoch seconds of a burst of 500s (gateway)")
    parser.add_argument("--parent", type=int, default=0, help="stop when the process with this id is gone")
    args = parser.parse_args()
    hlog_sdk.init(
        service_name=args.service,
        endpoint=args.endpoint,
        environment="demo",
        service_version="1.0.0",
        level=logging.DEBUG,
        schedule_delay_millis=500,
    )
    for noisy in ("httpcore", "httpx"):  # their request-by-request debug lines are not the shop's story
        logging.getLogger(noisy).setLevel(logging.WARNING)
    peers = dict(item.split("=", 1) for item in args.peers.split(",") if item)
    burst = tuple(float(x) for x in args.burst.split(",")) if args.burst else None
    app = hlog_sdk.ASGIMiddleware(build(args.service, peers, args.seed, burst))  # type: ignore[arg-type]
    random.seed(args.seed)
    if args.parent:
        stop_with_parent(args.parent)
    serve(app, args.port)


def stop_with_parent(parent: int) -> None:
    """Stop as on SIGTERM once `parent`, the process that started this one, is gone (maybe before
    this one got here): a demo that quits without waiting, or is killed, leaves no shop running."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def serve(app: Any, port: int) -> None:
    """Run an ASGI app on 127.0.0.1 until SIGTERM or SIGINT, then return, so the SDK flushes at exit
    (uvicorn would re-raise the signal and skip the exit handlers)."""
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self):  # type: ignore[no-untyped-def]
            with super().capture_signals():
                yield
                getattr(self, "_captured_signals", []).clear()

    Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)).run()


if __name__ == "__main__":
    main()
