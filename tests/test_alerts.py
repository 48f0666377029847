"""Alert rules, the evaluator's state machine and notifications, against a real store and a real HTTP receiver."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time

import pytest

from hlog.alerts.evaluator import Evaluator
from hlog.alerts.netpolicy import WebhookPolicy
from hlog.alerts.notify import Notifier
from hlog.alerts.rules import Destination, Rule, RuleError, validate
from hlog.alerts.service import AlertService
from hlog.alerts.storage import RuleStore
from hlog.backend.app import Backend
from hlog.backend.permalink import parse_link
from hlog.backend.store import Store
from hlog.backend.timeutil import format_ns
from tests.conftest import api_client, logs_request
from tests.receiver import Receiver
from tests.tui.conftest import ingest

MINUTE = 60 * 10**9
# the receivers in these tests listen on loopback, which webhooks may not reach by default
LOOPBACK = WebhookPolicy.allowing("127.0.0.0/8")
NOW = time.time_ns()


class Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def errors(store: Store, n: int, at: int, service: str = "checkout") -> None:
    ingest(
        store,
        logs_request(
            [{"body": f"card declined {i}", "level": "ERROR", "ts": at - i * 1000} for i in range(n)],
            {"service.name": service},
        ),
    )


def make(store: Store, clock: Clock) -> tuple[Evaluator, RuleStore]:
    rules = RuleStore(store)
    return Evaluator(store, rules, Notifier(backoff=0.01, policy=LOOPBACK), delay_seconds=10, clock_ns=clock), rules


def rule_for(receiver: Receiver, **kwargs) -> Rule:  # type: ignore[no-untyped-def]
    base = dict(
        name="checkout errors",
        query="level:error service:checkout",
        threshold=20,
        window_seconds=3600,
        frequency_seconds=60,
        cooldown_seconds=1800,
        destinations=[Destination("webhook", receiver.url + "/hook")],
    )
    base.update(kwargs)
    return validate(Rule(**base))


async def test_state_machine_fire_silence_refire_resolve(store: Store, receiver: Receiver) -> None:
    clock = Clock(NOW)
    evaluator, rules = make(store, clock)
    rule = rules.save(rule_for(receiver))
    errors(store, 25, NOW - 5 * MINUTE)
    await evaluator.evaluate(rule, clock())
    assert rules.states(rule.id)[(rule.id, "")].state == "ALERTING"
    (sent,) = receiver.at("/hook")
    payload = sent.json
    assert payload["state"] == "ALERTING" and payload["count"] == 25 and payload["rule"]["threshold"] == 20
    assert len(payload["samples"]) == 5 and payload["samples"][0]["body"] == "card declined 0"
    assert payload["command"].startswith("hlog-tui --query 'level:error service:checkout' --from ")
    link = parse_link(payload["link"])  # the logs that fired it, as hlog-tui open takes them
    assert link.query == "level:error service:checkout"
    assert (format_ns(link.start_ns or 0, 3), format_ns(link.end_ns or 0, 3)) == (payload["start"], payload["end"])
    # still over the threshold inside the cooldown: silenced, no message
    clock.now += MINUTE
    await evaluator.evaluate(rule, clock())
    assert rules.states(rule.id)[(rule.id, "")].state == "SILENCED"
    assert len(receiver.at("/hook")) == 1
    # the cooldown is over and it still holds: a new message
    clock.now += 30 * MINUTE
    await evaluator.evaluate(rule, clock())
    assert rules.states(rule.id)[(rule.id, "")].state == "ALERTING"
    assert len(receiver.at("/hook")) == 2
    # the logs leave the window: resolved
    clock.now += 60 * MINUTE
    await evaluator.evaluate(rule, clock())
    assert rules.states(rule.id)[(rule.id, "")].state == "OK"
    resolved = receiver.at("/hook")[-1].json
    assert resolved["state"] == "OK" and resolved["count"] == 0
    history = rules.history(rule.id)
    states = [h["state"] for h in reversed(history) if not h["destination"]]
    assert states == ["ALERTING", "SILENCED", "ALERTING", "OK"]
    assert sum(1 for h in history if h["destination"] and h["delivered"]) == 3


async def test_resolved_message_can_be_turned_off_and_below_fires_on_silence(store: Store, receiver: Receiver) -> None:
    clock = Clock(NOW)
    evaluator, rules = make(store, clock)
    quiet = rules.save(
        rule_for(
            receiver,
            name="heartbeat stopped",
            query="service:cron",
            condition="below",
            threshold=0,
            notify_resolved=False,
        )
    )
    await evaluator.evaluate(quiet, clock())
    assert rules.states(quiet.id)[(quiet.id, "")].state == "ALERTING"
    ingest(store, logs_request([{"body": "tick", "ts": NOW - MINUTE}], {"service.name": "cron"}))
    clock.now += MINUTE
    await evaluator.evaluate(quiet, clock())
    assert rules.states(quiet.id)[(quiet.id, "")].state == "OK"
    assert [r.json["state"] for r in receiver.at("/hook")] == ["ALERTING"]  # no resolved message


async def test_group_by_keeps_one_state_per_value(store: Store, receiver: Receiver) -> None:
    clock = Clock(NOW)
    evaluator, rules = make(store, clock)
    errors(store, 5, NOW - MINUTE, "checkout")
    errors(store, 2, NOW - MINUTE, "payments")
    rule = rules.save(rule_for(receiver, query="level:error", threshold=3, group_by="service_name"))
    await evaluator.evaluate(rule, clock())
    states = rules.states(rule.id)
    assert states[(rule.id, "checkout")].state == "ALERTING" and states[(rule.id, "payments")].state == "OK"
    (sent,) = receiver.at("/hook")
    assert sent.json["group"] == "checkout" and sent.json["count"] == 5
    assert all(s["service_name"] == "checkout" for s in sent.json["samples"])


async def test_failures_are_recorded_and_never_stop_other_rules(store: Store, receiver: Receiver) -> None:
    clock = Clock(NOW)
    evaluator, rules = make(store, clock)
    errors(store, 25, NOW - MINUTE)
    # a regex Python accepts but ClickHouse's RE2 refuses: the rule fails at run time
    broken = rules.save(rule_for(receiver, name="broken", query="message:/(?<=a)b/"))
    failing = rules.save(rule_for(receiver, name="down", destinations=[Destination("webhook", receiver.url + "/down")]))
    flaky = rules.save(rule_for(receiver, name="flaky", destinations=[Destination("webhook", receiver.url + "/flaky")]))
    receiver.on("/down", (500, {}), (502, {}), (503, {}))
    receiver.on("/flaky", (503, {"Retry-After": "0"}), (429, {"Retry-After": "0"}))
    await evaluator.tick()
    assert rules.states(broken.id)[(broken.id, "")].state == "ERROR"
    assert "query failed" in rules.history(broken.id)[0]["error"]
    down = [h for h in rules.history(failing.id) if h["destination"]]
    assert len(receiver.at("/down")) == 3 and not down[0]["delivered"] and "HTTP 503" in down[0]["error"]
    assert rules.states(failing.id)[(failing.id, "")].state == "ALERTING"
    assert len(receiver.at("/flaky")) == 3
    assert [h["delivered"] for h in rules.history(flaky.id) if h["destination"]] == [True]


async def test_restart_does_not_renotify_within_cooldown(store: Store, receiver: Receiver) -> None:
    clock = Clock(NOW)
    evaluator, rules = make(store, clock)
    rule = rules.save(rule_for(receiver))
    errors(store, 25, NOW - MINUTE)
    await evaluator.evaluate(rule, clock())
    assert len(receiver.at("/hook")) == 1
    restarted, _ = make(store, Clock(NOW + 2 * MINUTE))  # a new process on the same store
    await restarted.tick()
    assert rules.states(rule.id)[(rule.id, "")].state == "SILENCED"
    assert len(receiver.at("/hook")) == 1


async def test_slack_discord_and_signed_webhook_payloads(store: Store, receiver: Receiver) -> None:
    clock = Clock(NOW)
    evaluator, rules = make(store, clock)
    errors(store, 3, NOW - MINUTE)
    rule = rule_for(
        receiver,
        threshold=1,
        destinations=[
            Destination("slack", receiver.url + "/slack"),
            Destination("discord", receiver.url + "/discord"),
            Destination("webhook", receiver.url + "/signed", secret="s3cret", headers={"Authorization": "Bearer t"}),
        ],
    )
    await evaluator.evaluate(rules.save(rule), clock())
    slack = receiver.at("/slack")[0].json
    assert slack["text"].startswith("ALERT: checkout errors: 3 logs")
    assert slack["blocks"][0]["type"] == "header" and "card declined" in json.dumps(slack["blocks"])
    assert "hlog-tui --query" in json.dumps(slack["blocks"])
    discord = receiver.at("/discord")[0].json
    assert discord["content"] == "ALERT: checkout errors"
    fields = {f["name"]: f["value"] for f in discord["embeds"][0]["fields"]}
    assert fields["Count"] == "3" and fields["Condition"] == "count >= 1 in 1h" and "card declined" in fields["Logs"]
    signed = receiver.at("/signed")[0]
    assert signed.headers["Authorization"] == "Bearer t"
    stamp, signature = (part.split("=", 1)[1] for part in signed.headers["X-Hlog-Signature"].split(","))
    delivery = signed.headers["X-Hlog-Delivery"]
    signed_text = f"{stamp}.{delivery}.".encode() + signed.body
    expected = hmac.new(b"s3cret", signed_text, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(signature, expected)


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"name": " "}, "name", "needs a name"),
        ({"query": "level:"}, "query", "missing value"),
        ({"window_seconds": 0}, "window_seconds", "positive"),
        ({"frequency_seconds": -5}, "frequency_seconds", "positive"),
        ({"threshold": -1}, "threshold", "negative"),
        ({"condition": "sideways"}, "condition", "above"),
        ({"destinations": [Destination("webhook", "ftp://x")]}, "destinations.0.url", "http(s)"),
        ({"destinations": [Destination("pager", "https://x")]}, "destinations.0.kind", "unknown kind"),
        ({"group_by": "bad key!"}, "group_by", "not a key"),
    ],
)
def test_validation(change: dict, field: str, message: str) -> None:  # type: ignore[type-arg]
    base = dict(name="r", query="level:error", threshold=1)
    base.update(change)
    with pytest.raises(RuleError) as info:
        validate(Rule(**base))  # type: ignore[arg-type]
    assert info.value.field == field and message in info.value.message


def test_api(store: Store, receiver: Receiver) -> None:
    service = AlertService(store, evaluate=False, notifier=Notifier(backoff=0.01, policy=LOOPBACK))
    with api_client(Backend(store, extensions=[service])) as client:
        body = {
            "name": "errors",
            "query": "level:error",
            "threshold": 5,
            "destinations": [{"kind": "webhook", "url": receiver.url + "/api"}],
        }
        created = client.post("/api/alerts", json=body)
        assert created.status_code == 201, created.text
        rule = created.json()
        assert rule["state"] == "OK" and rule["window_seconds"] == 300 and rule["cooldown_seconds"] == 1800
        rid = rule["id"]
        assert [r["id"] for r in client.get("/api/alerts").json()["rules"]] == [rid]
        updated = client.put(f"/api/alerts/{rid}", json={"threshold": 9, "group_by": "service_name"}).json()
        assert updated["threshold"] == 9 and updated["name"] == "errors"
        assert client.post(f"/api/alerts/{rid}/disable").json()["state"] == "DISABLED"
        assert client.post(f"/api/alerts/{rid}/enable").json()["state"] == "OK"
        test = client.post(f"/api/alerts/{rid}/test").json()
        assert test["deliveries"][0]["delivered"] and receiver.at("/api")[0].json["state"] == "TEST"
        assert client.get(f"/api/alerts/{rid}/history").json()["history"][0]["state"] == "TEST"
        unsaved = client.post(
            "/api/alerts/test",
            json={"query": "x", "destinations": [{"kind": "slack", "url": receiver.url + "/unsaved"}]},
        )
        assert unsaved.status_code == 200 and receiver.at("/unsaved")[0].json["text"].startswith("TEST")
        bad = client.post("/api/alerts", json={**body, "query": "a AND"})
        assert bad.status_code == 400
        assert bad.json()["error"]["field"] == "query" and "^" in bad.json()["error"]["context"]
        assert client.post("/api/alerts", json={**body, "colour": "red"}).json()["error"]["field"] == "colour"
        assert client.delete(f"/api/alerts/{rid}").status_code == 204
        assert client.get(f"/api/alerts/{rid}").status_code == 404
        assert client.get("/api/alerts").json()["rules"] == []


def test_cli(fresh_store: str, receiver: Receiver) -> None:
    from tests.test_end_to_end import hlog

    store = ["--store", fresh_store, "--allow-webhook-network", "127.0.0.0/8"]
    missing = hlog("alerts", "list", *store)  # managing rules never creates the schema
    assert missing.returncode == 1 and "has no hlog schema" in missing.stderr and "hlog migrate" in missing.stderr
    migrated = hlog("migrate", "--store", fresh_store)
    assert migrated.returncode == 0 and "schema version" in migrated.stdout, migrated.stderr
    added = hlog(
        "alerts",
        "add",
        "--name",
        "checkout errors",
        "--query",
        "level:error service:checkout",
        "--above",
        "20",
        "--window",
        "5m",
        "--every",
        "1m",
        "--cooldown",
        "30m",
        "--webhook",
        receiver.url + "/cli",
        "--secret",
        "s",
        "--header",
        "X-Team=pay",
        "--format",
        "json",
        *store,
    )
    assert added.returncode == 0, added.stderr
    rule = json.loads(added.stdout)
    assert (rule["threshold"], rule["window_seconds"], rule["frequency_seconds"]) == (20, 300, 60)
    assert rule["destinations"] == [  # secrets are never shown back
        {"kind": "webhook", "url": receiver.url + "/cli", "secret": "********", "headers": {"X-Team": "********"}}
    ]
    listed = hlog("alerts", "list", *store)
    assert rule["id"] in listed.stdout and "checkout errors" in listed.stdout and "OK" in listed.stdout
    edited = hlog("alerts", "edit", rule["id"], "--below", "1", "--format", "json", *store)
    assert json.loads(edited.stdout)["condition"] == "below"
    assert "DISABLED" in hlog("alerts", "disable", rule["id"], *store).stdout
    tested = hlog("alerts", "test", rule["id"], *store)
    assert tested.returncode == 0 and "delivered" in tested.stdout
    assert receiver.at("/cli")[0].headers["X-Team"] == "pay"
    assert "TEST" in hlog("alerts", "history", rule["id"], *store).stdout
    bad = hlog("alerts", "add", "--name", "x", "--query", "level:", "--above", "1", *store)
    assert bad.returncode == 2 and "missing value" in bad.stderr and "^" in bad.stderr
    assert hlog("alerts", "rm", rule["id"], *store).returncode == 0
    assert "no alert rules" in hlog("alerts", "list", *store).stdout
    assert hlog("alerts", "rm", "nope", *store).returncode == 1


def test_hlog_serve_evaluates_rules_and_notifies(fresh_store: str, receiver: Receiver) -> None:
    """The whole path: a rule added through the CLI, logs sent over OTLP, the webhook arrives."""
    from tests.conftest import Server
    from tests.test_end_to_end import hlog

    server = Server(fresh_store, "--alert-delay", "0s", "--allow-webhook-network", "127.0.0.1/32").start()
    try:
        added = hlog(
            "alerts",
            "add",
            "--name",
            "burst",
            "--query",
            "level:error",
            "--above",
            "3",
            "--window",
            "1m",
            "--every",
            "1s",
            "--webhook",
            receiver.url + "/serve",
            "--backend",
            server.url,
        )
        assert added.returncode == 0, added.stderr
        lines = "".join(json.dumps({"msg": f"boom {i}", "level": "error"}) + "\n" for i in range(5))
        assert hlog("ingest", "-", "--backend", server.url, stdin=lines).returncode == 0
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not receiver.at("/serve"):
            time.sleep(0.2)
        (sent,) = receiver.at("/serve")[:1]
        assert sent.json["state"] == "ALERTING" and sent.json["count"] == 5
        listed = json.loads(hlog("alerts", "list", "--format", "json", "--backend", server.url).stdout)
        assert listed["rules"][0]["state"] in ("ALERTING", "SILENCED") and listed["rules"][0]["last_fired_ms"]
    finally:
        server.stop()


async def test_a_stalled_webhook_delays_no_other_rule(store: Store, receiver: Receiver) -> None:
    evaluator, rules = make(store, time.time_ns)  # type: ignore[arg-type]
    errors(store, 5, time.time_ns() - MINUTE)
    released = receiver.hold("/stalled")
    rules.save(
        rule_for(
            receiver, name="a stalled", threshold=1, destinations=[Destination("webhook", receiver.url + "/stalled")]
        )
    )
    rules.save(
        rule_for(receiver, name="b quick", threshold=1, destinations=[Destination("webhook", receiver.url + "/quick")])
    )
    await evaluator.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (receiver.at("/quick") and receiver.at("/stalled")):
            await asyncio.sleep(0.05)
        # the other rule's message arrived while the stalled destination still had not answered
        assert receiver.at("/quick") and receiver.at("/stalled") and not released.is_set()
    finally:
        released.set()
        await evaluator.stop()


async def test_a_broken_destination_or_query_stops_no_other_rule(store: Store, receiver: Receiver) -> None:
    clock = Clock(NOW)
    evaluator, rules = make(store, clock)
    errors(store, 5, NOW - MINUTE)
    # saved before today's checks: a header value the HTTP client cannot encode
    broken = rule_for(receiver, name="a broken header", threshold=1)
    broken.destinations[0].headers = {"X-Team": "caf\u00e9"}
    rules.save(broken)
    bad_query = rules.save(rule_for(receiver, name="b bad regex", query="message:/(?<=a)b/"))
    rules.save(
        rule_for(receiver, name="c fine", threshold=1, destinations=[Destination("webhook", receiver.url + "/ok")])
    )
    for _ in range(3):
        await evaluator.tick()
        clock.now += 2 * MINUTE
    assert len(receiver.at("/ok")) == 1
    failed = [h for rule in rules.all() for h in rules.history(rule.id) if h["destination"] and not h["delivered"]]
    assert failed and all("internal error" in h["error"] or "refused" in h["error"] for h in failed), failed
    # ERROR is recorded when the rule becomes so, not at every round
    assert [h["state"] for h in rules.history(bad_query.id)] == ["ERROR"]


def test_a_rule_whose_regex_the_engine_refuses_is_refused_at_save(store: Store) -> None:
    service = AlertService(store, evaluate=False)
    with api_client(Backend(store, extensions=[service])) as client:
        refused = client.post("/api/alerts", json={"name": "r", "query": "message:/(?<=a)b/", "threshold": 1})
        assert refused.status_code == 400
        error = refused.json()["error"]
        assert error["field"] == "query" and "invalid perl operator" in error["message"] and "^" in error["context"]


async def test_a_leader_gone_while_it_delivers_leaves_the_alert_to_be_sent_again(
    store: Store, receiver: Receiver
) -> None:
    """At least once, never lost: a backend that stops after its message left and before it kept
    the alert's state leaves the alert to the backend that takes over, which sends it again."""
    clock = Clock(NOW)
    evaluator, rules = make(store, clock)
    rule = rules.save(rule_for(receiver))
    errors(store, 25, NOW - 5 * MINUTE)
    release = receiver.hold("/hook")
    evaluating = asyncio.ensure_future(evaluator.evaluate(rule, clock()))
    deadline = time.monotonic() + 30
    while not receiver.at("/hook"):  # the message has arrived, not yet answered
        assert time.monotonic() < deadline and not evaluating.done(), "no message"
        await asyncio.sleep(0.01)
    evaluating.cancel()  # the leader is gone
    release.set()
    assert (rule.id, "") not in rules.states(rule.id)  # it kept nothing
    successor, _ = make(store, clock)
    clock.now += MINUTE
    await successor.evaluate(rule, clock())
    assert len(receiver.at("/hook")) == 2 and rules.states(rule.id)[(rule.id, "")].state == "ALERTING"
