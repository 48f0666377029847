"""Small apps instrumented with the SDK, run as real processes by tests/test_sdk.py."""

from __future__ import annotations

import argparse
import atexit
import logging
import sys

import httpx

import hlog_sdk

log = logging.getLogger("app")


def front(peer: str):  # type: ignore[no-untyped-def]
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def handle(request):  # type: ignore[no-untyped-def]
        log.info("front handling %s", request.url.path, extra={"step": "front"})
        async with httpx.AsyncClient() as client:
            answer = await client.get(peer + "/back")
        import asyncio

        import requests

        # requests too, from a worker thread (the request's context goes along)
        await asyncio.to_thread(requests.get, peer + "/back", timeout=5)
        with hlog_sdk.session("sess-background"):
            log.info("background work")
        return JSONResponse({"back": answer.json()})

    return hlog_sdk.ASGIMiddleware(Starlette(routes=[Route("/front", handle)]))


def back(sdk_handle):  # type: ignore[no-untyped-def]
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def handle(request):  # type: ignore[no-untyped-def]
        log.warning("back handling", extra={"step": "back"})
        try:
            raise ValueError("boom")
        except ValueError:
            log.error("back failed", exc_info=True)
        return JSONResponse({"ok": True})

    async def stats(request):  # type: ignore[no-untyped-def]
        s = sdk_handle.stats
        return JSONResponse({"exported_logs": s.exported_logs, "dropped_logs": s.dropped_logs})

    return hlog_sdk.ASGIMiddleware(Starlette(routes=[Route("/back", handle), Route("/sdk-stats", stats)]))


def wsgi():  # type: ignore[no-untyped-def]
    def app(environ, start_response):  # type: ignore[no-untyped-def]
        log.info("wsgi handling %s", environ["PATH_INFO"])
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    return hlog_sdk.WSGIMiddleware(app)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["front", "back", "wsgi"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--peer", default="")
    args = parser.parse_args()
    handle = hlog_sdk.init(
        service_name=f"sdk-{args.kind}", endpoint=args.endpoint, schedule_delay_millis=200, export_timeout_seconds=10
    )

    def report() -> None:
        handle.flush(2)
        s = handle.stats
        print(
            f"sdk-stats exported_logs={s.exported_logs} dropped_logs={s.dropped_logs} "
            f"exported_spans={s.exported_spans} dropped_spans={s.dropped_spans}",
            file=sys.stderr,
            flush=True,
        )

    if args.kind == "wsgi":
        from wsgiref.simple_server import WSGIRequestHandler, make_server

        class Quiet(WSGIRequestHandler):
            def log_message(self, *a):  # type: ignore[no-untyped-def]
                pass

        server = make_server("127.0.0.1", args.port, wsgi(), handler_class=Quiet)
        import signal

        signal.signal(signal.SIGTERM, lambda *a: (report(), sys.exit(0)))
        server.serve_forever()
        return
    from hlog.demo.shop import serve

    atexit.register(report)
    serve(front(args.peer) if args.kind == "front" else back(handle), args.port)


if __name__ == "__main__":
    main()
