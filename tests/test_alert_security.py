"""Alert webhooks reach only where the operator allows, secrets are write-only, messages cannot ping."""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from hlog.alerts.evaluator import Evaluator
from hlog.alerts.netpolicy import WebhookPolicy
from hlog.alerts.notify import Alert, Notifier
from hlog.alerts.rules import Destination, Rule, validate
from hlog.alerts.service import AlertService
from hlog.alerts.storage import RuleStore
from hlog.backend.app import Backend
from hlog.backend.store import Store
from tests.conftest import api_client, logs_request
from tests.receiver import Receiver
from tests.tui.conftest import ingest

HOSTS = Path("/etc/hosts")
LOOPBACK = WebhookPolicy.allowing("127.0.0.0/8")
SECRET = "signing-secret-7f3a9c"
HEADER_SECRET = "Bearer header-secret-41d2"
SLACK_TOKEN = "T0SECRET/B0SECRET/slacktokenXYZ"
REFUSED_LITERALS = [
    "127.0.0.1",
    "127.8.9.10",
    "[::1]",
    "169.254.169.254",
    "10.0.0.1",
    "172.16.0.1",
    "192.168.1.1",
    "100.64.0.1",
    "0.0.0.0",
    "224.0.0.1",
    "[fe80::1]",
    "[fc00::1]",
    "[::ffff:127.0.0.1]",
    "[::]",
    "2130706433",  # 127.0.0.1 written as a decimal number
    "0x7f.1",  # and in hex
]


@pytest.fixture
def hosts_entry() -> Iterator[Callable[[str, str], None]]:
    """Add (or change) `name -> address` in /etc/hosts, the resolver's own file, for this test."""
    names: list[str] = []

    def edit(change: Callable[[list[str]], list[str]]) -> None:
        with HOSTS.open("r+") as f:
            fcntl.flock(f, fcntl.LOCK_EX)  # tests in other workers edit it too
            lines = change(f.read().splitlines())
            f.seek(0)
            f.truncate()
            f.write("\n".join(lines) + "\n")

    def add(name: str, address: str) -> None:
        names.append(name)
        edit(lambda lines: [line for line in lines if not line.endswith(f" {name}")] + [f"{address} {name}"])

    try:
        HOSTS.open("a").close()
    except OSError as err:
        pytest.fail(f"these tests resolve names through {HOSTS}, which must be writable (CI runs as root): {err}")
    yield add
    edit(lambda lines: [line for line in lines if not any(line.endswith(f" {n}") for n in names)])


def service_client(store: Store, policy: WebhookPolicy | None = None) -> TestClient:
    service = AlertService(store, evaluate=False, notifier=Notifier(backoff=0.01, policy=policy or WebhookPolicy()))
    return api_client(Backend(store, extensions=[service]))


def rule_body(url: str, **extra: object) -> dict[str, object]:
    return {
        "name": "r",
        "query": "level:error",
        "threshold": 1,
        "destinations": [{"kind": "webhook", "url": url}],
        **extra,
    }


@pytest.mark.parametrize("host", REFUSED_LITERALS)
def test_internal_addresses_are_refused_at_save(store: Store, host: str) -> None:
    with service_client(store) as client:
        refused = client.post("/api/alerts", json=rule_body(f"http://{host}:8080/hook"))
        assert refused.status_code == 400, refused.text
        error = refused.json()["error"]
        assert error["field"] == "destinations.0.url" and "--allow-webhook-network" in error["message"]
        assert client.get("/api/alerts").json()["rules"] == []


INSIDE_ADDRESSES = [
    "169.254.169.254",
    "10.20.30.40",
    "172.20.0.5",
    "192.168.7.7",
    "100.64.1.1",
    "127.0.0.9",
    "0.0.0.0",
    "224.0.0.251",
    "::1",
    "fe80::1",
    "fd12::1",
]


def test_names_that_resolve_inside_are_refused(store: Store, hosts_entry: Callable[[str, str], None]) -> None:
    names = {address: f"inside-{uuid.uuid4().hex[:8]}.test" for address in INSIDE_ADDRESSES}
    for address, name in names.items():
        hosts_entry(name, address)
    private = names["10.20.30.40"]
    with service_client(store) as client:
        for address, name in names.items():
            refused = client.post("/api/alerts", json=rule_body(f"http://{name}/hook"))
            assert refused.status_code == 400 and address in refused.json()["error"]["message"], refused.text
        refused = client.post("/api/alerts", json=rule_body("http://localhost:8080/hook"))
        assert refused.status_code == 400 and "loopback" in refused.json()["error"]["message"]
    # the operator allows the internal chat server's network: saved
    with service_client(store, WebhookPolicy.allowing("10.20.0.0/16")) as client:
        assert client.post("/api/alerts", json=rule_body(f"http://{private}/hook")).status_code == 201


async def test_delivery_checks_again_after_resolving_so_rebinding_fails(
    store: Store, receiver: Receiver, hosts_entry: Callable[[str, str], None]
) -> None:
    name = f"rebind-{uuid.uuid4().hex[:8]}.test"
    port = receiver.server.server_address[1]
    hosts_entry(name, "127.0.0.1")
    rule = validate(Rule("r", "", 1, destinations=[Destination("webhook", f"http://{name}:{port}/hook")]))
    alert = Alert(rule, "TEST", 1, 0, 1)
    allowed = await Notifier(backoff=0.01, policy=WebhookPolicy.allowing("127.0.0.1/32")).send(
        rule.destinations[0], alert
    )
    assert allowed.delivered and receiver.at("/hook")[0].headers["Host"] == f"{name}:{port}"
    # the name now points at another address: the allowed one is not reached, the new one is refused
    hosts_entry(name, "127.0.0.2")
    refused = await Notifier(backoff=0.01, policy=WebhookPolicy.allowing("127.0.0.1/32")).send(
        rule.destinations[0], alert
    )
    assert not refused.delivered and "127.0.0.2" in refused.error and "refused" in refused.error
    assert len(receiver.at("/hook")) == 1
    # the default policy refuses loopback at send too, whatever was saved
    default = await Notifier(backoff=0.01).send(Destination("webhook", receiver.url + "/hook"), alert)
    assert not default.delivered and default.attempts == 1 and len(receiver.at("/hook")) == 1


def test_redirects_are_not_followed_and_bodies_never_returned(store: Store, receiver: Receiver) -> None:
    receiver.on("/moved", (302, {"Location": receiver.url + "/inside"}))
    receiver.on("/broken", (404, {}), body=b"INTERNAL-PAGE-CONTENT root:x:0:0")
    with service_client(store, LOOPBACK) as client:
        for path, expected in (
            ("/moved", "HTTP 302 Found (redirects are not followed)"),
            ("/broken", "HTTP 404 Not Found"),
        ):
            result = client.post("/api/alerts/test", json=rule_body(receiver.url + path))
            (delivery,) = result.json()["deliveries"]
            assert not delivery["delivered"] and delivery["error"] == expected
            assert "INTERNAL" not in result.text
    assert receiver.at("/inside") == []


@pytest.mark.parametrize(
    ("headers", "field"),
    [
        ({"Host": "internal"}, "destinations.0.headers.Host"),
        ({"content-length": "0"}, "destinations.0.headers.content-length"),
        ({"Transfer-Encoding": "chunked"}, "destinations.0.headers.Transfer-Encoding"),
        ({"Proxy-Authorization": "x"}, "destinations.0.headers.Proxy-Authorization"),
        ({"X-Hlog-Signature": "forged"}, "destinations.0.headers.X-Hlog-Signature"),
        ({"X-Team": "caf\u00e9"}, "destinations.0.headers.X-Team"),
        ({"X-Team": "a\r\nInjected: yes"}, "destinations.0.headers.X-Team"),
        ({"Bad Name": "x"}, "destinations.0.headers"),
    ],
)
def test_unsafe_custom_headers_are_refused_naming_the_field(store: Store, headers: dict[str, str], field: str) -> None:
    with service_client(store, LOOPBACK) as client:
        body = rule_body("http://127.0.0.1:9/hook")
        body["destinations"][0]["headers"] = headers  # type: ignore[index]
        refused = client.post("/api/alerts", json=body)
        assert refused.status_code == 400 and refused.json()["error"]["field"] == field, refused.text


def _secret_rule(receiver: Receiver) -> dict[str, object]:
    return {
        "name": "secrets",
        "query": "level:error",
        "threshold": 1,
        "destinations": [
            {
                "kind": "webhook",
                "url": receiver.url + "/signed",
                "secret": SECRET,
                "headers": {"Authorization": HEADER_SECRET},
            },
            {"kind": "slack", "url": f"{receiver.url}/services/{SLACK_TOKEN}"},
        ],
    }


def _assert_no_secret(text: str) -> None:
    for secret in (SECRET, HEADER_SECRET, "header-secret-41d2", SLACK_TOKEN, "slacktokenXYZ"):
        assert secret not in text


def test_secrets_are_write_only_in_the_api_and_an_edit_keeps_them(store: Store, receiver: Receiver) -> None:
    with service_client(store, LOOPBACK) as client:
        created = client.post("/api/alerts", json=_secret_rule(receiver))
        assert created.status_code == 201, created.text
        rid = created.json()["id"]
        shown = [created.text, client.get("/api/alerts").text, client.get(f"/api/alerts/{rid}").text]
        webhook, slack = client.get(f"/api/alerts/{rid}").json()["destinations"]
        assert webhook["secret"] == "********" and webhook["headers"] == {"Authorization": "********"}
        assert slack["url"] == f"{receiver.url}/services/********"
        # a client that sends the masked rule back (the TUI form, GET-modify-PUT) keeps every secret
        rule = client.get(f"/api/alerts/{rid}").json()
        edited = client.put(f"/api/alerts/{rid}", json={"name": "renamed", "destinations": rule["destinations"]})
        assert edited.status_code == 200, edited.text
        shown.append(edited.text)
        tested = client.post(f"/api/alerts/{rid}/test")
        shown += [tested.text, client.get(f"/api/alerts/{rid}/history").text]
        assert all(d["delivered"] for d in tested.json()["deliveries"])
        # a test of the form's unsaved copy of a saved rule uses the saved secrets too
        unsaved = client.post("/api/alerts/test", json={**rule, "id": rid, "name": "renamed"})
        assert all(d["delivered"] for d in unsaved.json()["deliveries"]), unsaved.text
        # a masked value that stands for nothing is refused
        assert client.post("/api/alerts", json={**rule, "id": ""}).status_code == 400
    for text in shown:
        _assert_no_secret(text)
    signed = receiver.at("/signed")
    assert len(signed) == 2 and all(r.headers["Authorization"] == HEADER_SECRET for r in signed)
    for request in signed:
        parts = dict(p.split("=", 1) for p in request.headers["X-Hlog-Signature"].split(","))
        message = f"{parts['t']}.{request.headers['X-Hlog-Delivery']}.".encode() + request.body
        assert hmac.compare_digest(parts["v1"], hmac.new(SECRET.encode(), message, hashlib.sha256).hexdigest())
    assert len(receiver.at(f"/services/{SLACK_TOKEN}")) == 2
    # every delivery has its own id, so a receiver can refuse a replay
    assert len({r.headers["X-Hlog-Delivery"] for r in receiver.received}) == len(receiver.received)


def test_secrets_never_reach_the_cli_or_the_backends_log(tmp_path: Path, receiver: Receiver) -> None:
    from tests.conftest import Server
    from tests.test_end_to_end import hlog

    # the receiver refuses everything: deliveries fail and the backend logs about them
    receiver.on("/signed", *[(500, {})] * 20)
    server = Server(
        tmp_path / "store", "--alert-delay", "0s", "--allow-webhook-network", "127.0.0.1/32", "--log-level", "debug"
    )
    server.start()
    try:
        add = hlog(
            "alerts", "add", "--name", "s", "--query", "level:error", "--above", "1", "--every", "1s",
            "--webhook", receiver.url + "/signed", "--secret", SECRET, "--header", f"Authorization={HEADER_SECRET}",
            "--slack", f"{receiver.url}/services/{SLACK_TOKEN}", "--format", "json", "--backend", server.url,
        )  # fmt: skip
        assert add.returncode == 0, add.stderr
        rid = json.loads(add.stdout)["id"]
        lines = json.dumps({"msg": "boom", "level": "error"}) + "\n"
        assert hlog("ingest", "-", "--backend", server.url, stdin=lines).returncode == 0
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(receiver.at("/signed")) < 3:
            time.sleep(0.1)
        assert len(receiver.at("/signed")) >= 3
        outputs = [add.stdout, add.stderr]
        for args in (("list",), ("list", "--format", "json"), ("history", rid), ("history", rid, "--format", "json"),
                     ("test", rid), ("test", rid, "--format", "json")):  # fmt: skip
            result = hlog("alerts", *args, "--backend", server.url)
            outputs += [result.stdout, result.stderr]
        assert any("HTTP 500 Internal Server Error" in o for o in outputs)
    finally:
        server.stop()
    assert server.log, "the backend's log was not captured"
    for text in [*outputs, "".join(server.log)]:
        _assert_no_secret(text)


def test_messages_cannot_ping_anyone(store: Store, receiver: Receiver) -> None:
    now = time.time_ns()
    ingest(
        store,
        logs_request([{"body": "<!channel> <@U123> @everyone @here <!here>", "level": "ERROR", "ts": now - 10**9}]),
    )
    rules = RuleStore(store)
    rule = rules.save(
        validate(
            Rule(
                "pings",
                "level:error",
                1,
                window_seconds=3600,
                destinations=[
                    Destination("slack", receiver.url + "/slack"),
                    Destination("discord", receiver.url + "/discord"),
                ],
            )
        )
    )
    evaluator = Evaluator(store, rules, Notifier(backoff=0.01, policy=LOOPBACK), delay_seconds=0, clock_ns=time.time_ns)
    import asyncio

    asyncio.run(evaluator.evaluate(rule, time.time_ns()))
    slack = receiver.at("/slack")[0]
    assert b"<!channel>" not in slack.body and b"<@U123>" not in slack.body and b"<!here>" not in slack.body
    assert "&lt;!channel&gt;" in json.dumps(slack.json["blocks"])
    discord = receiver.at("/discord")[0].json
    assert discord["allowed_mentions"] == {"parse": []}
    assert "@everyone" in json.dumps(discord)  # shown, but pings nobody


def test_store_files_are_private(tmp_path: Path) -> None:
    store_dir = tmp_path / "store"
    lines = json.dumps({"msg": "secret data", "level": "info"}) + "\n"
    result = subprocess.run(
        [sys.executable, "-m", "hlog.backend.cli", "ingest", "-", "--store", f"chdb://{store_dir}"],
        input=lines,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert (store_dir.stat().st_mode & 0o777) == 0o700
    exposed = [p for p in store_dir.rglob("*") if not p.is_symlink() and p.stat().st_mode & 0o077]
    assert exposed == [], exposed[:5]
