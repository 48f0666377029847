"""Pilot tests of the alert form (from a search) and the alerts screen, with a real webhook receiver."""

from __future__ import annotations

import pytest

from hlog.alerts.storage import RuleStore
from hlog.backend.store import Store
from hlog.tui.screens import alerts as alerts_screen
from hlog.tui.screens.alert_form import AlertFormScreen
from hlog.tui.screens.alerts import AlertsScreen
from hlog.tui.screens.search import SearchScreen
from tests.receiver import Receiver
from tests.tui.conftest import NOW_NS, settle, until
from tests.tui.test_hostile_text import rendered


async def test_create_test_and_manage_a_rule(shop_store: Store, make_app, receiver: Receiver) -> None:  # type: ignore[no-untyped-def]
    app = make_app(shop_store, query="level:error service:payments")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("a")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, AlertFormScreen)
        assert form.query_one("#query").value == "level:error service:payments"  # filled from the search
        assert "✓ valid query" in str(form.query_one("#query-status").render())
        await pilot.press(*"payments declines")
        form.query_one("#threshold").value = "1"
        form.query_one("#window").value = "1h"
        form.query_one("#url-webhook").value = receiver.url + "/tui"
        # live validation of the query as it is typed
        form.query_one("#query").value = "level:error AND"
        await settle(pilot)
        assert "dangling operator" in str(form.query_one("#query-status").render())
        form.query_one("#query").value = "level:error service:payments"
        await settle(pilot)
        assert "1 matching log in the last 1h" in str(form.query_one("#query-status").render())
        await pilot.press("ctrl+t")
        await settle(pilot)
        (sent,) = receiver.at("/tui")
        assert sent.json["state"] == "TEST" and sent.json["rule"]["name"] == "payments declines"
        assert "delivered" in str(form.query_one("#form-status").render())
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, SearchScreen)
        (rule,) = RuleStore(shop_store).all()
        assert (rule.name, rule.threshold, rule.window_seconds, rule.cooldown_seconds) == (
            "payments declines",
            1,
            3600,
            1800,
        )
        assert rule.destinations[0].url == receiver.url + "/tui"
        # the alerts screen
        await pilot.press("A")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, AlertsScreen)
        table = screen.query_one("#rules")
        assert table.row_count == 1
        assert [str(c) for c in table.get_row_at(0)][:2] == ["OK", "payments declines"]
        await pilot.press("T")
        await settle(pilot)
        assert len(receiver.at("/tui")) == 2
        assert "TEST" in str(screen.query_one("#rule-history").render())
        await pilot.press("space")
        await settle(pilot)
        assert str(table.get_row_at(0)[0]) == "DISABLED"
        # edit: Enter opens the form with the rule
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, AlertFormScreen)
        assert app.screen.query_one("#name").value == "payments declines"
        app.screen.query_one("#threshold").value = "x"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "threshold: expected a number" in str(app.screen.query_one("#form-status").render())
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, AlertsScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, SearchScreen)


async def test_secrets_are_never_on_screen_and_an_unchanged_form_keeps_them(  # type: ignore[no-untyped-def]
    shop_store: Store, make_app, receiver: Receiver
) -> None:
    secret, header, slack_token = "tui-signing-secret-9", "Bearer tui-header-secret-3", "T1/B2/tuislacktoken"
    app = make_app(shop_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        created = await app.api.call(
            "POST",
            "/api/alerts",
            {
                "name": "with secrets",
                "query": "level:error",
                "threshold": 1,
                "destinations": [
                    {
                        "kind": "webhook",
                        "url": receiver.url + "/s",
                        "secret": secret,
                        "headers": {"Authorization": header},
                    },
                    {"kind": "slack", "url": f"{receiver.url}/services/{slack_token}"},
                ],
            },
        )
        screens = []
        await pilot.press("A")
        await settle(pilot)
        screens.append(rendered(app))
        await pilot.press("enter")  # the form, filled from the rule
        await settle(pilot)
        assert isinstance(app.screen, AlertFormScreen)
        screens.append(rendered(app))
        await pilot.press("ctrl+s")  # saved unchanged: the masked values stand for the stored ones
        await settle(pilot)
        assert isinstance(app.screen, AlertsScreen)
        screens.append(rendered(app))
        (rule,) = RuleStore(shop_store).all()  # (the app's store closes with it)
    for screen in screens:
        for value in (secret, header, slack_token, "tuislacktoken"):
            assert value.encode() not in screen
    assert rule.id == created["id"]
    by_kind = {d.kind: d for d in rule.destinations}
    webhook, slack = by_kind["webhook"], by_kind["slack"]
    assert (webhook.secret, webhook.headers, slack.url) == (
        secret,
        {"Authorization": header},
        f"{receiver.url}/services/{slack_token}",
    )


async def test_inputs_never_hold_control_characters(shop_store: Store, make_app) -> None:  # type: ignore[no-untyped-def]
    from textual import events

    app = make_app(shop_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("slash")
        bar = app.screen.query_one("#search")
        bar.post_message(events.Paste("level:\x1b]52;c;eA==\x07\u202eX\nsecond line"))  # a paste
        await settle(pilot)
        assert bar.value == "level:\\x1b]52;c;eA==\\x07\\u202eX"  # escaped, first line only
        bar.value = "set\x1b[2Jby code"
        assert bar.value == "set\\x1b[2Jby code"
        await pilot.press("escape", "a")
        await settle(pilot)
        name = app.screen.query_one("#name")
        name.insert_text_at_cursor("\x9b2J")
        assert name.value == "\\x9b2J"


async def test_leaving_the_alerts_screen_before_it_loads(shop_store: Store, make_app) -> None:  # type: ignore[no-untyped-def]
    """A fast user opens the alerts screen and leaves it again, over and over, in one burst of keys:
    answers that arrive while the screen is being removed are dropped (one looked for a removed widget)."""
    from hlog.alerts.rules import Rule

    RuleStore(shop_store).save(Rule(name="declines", query="level:error", threshold=1, id="r-declines"))
    app = make_app(shop_store, query="level:error")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        for _ in range(15):
            await pilot.press("A", "escape")
        await pilot.press("A")
        await settle(pilot)
        assert isinstance(app.screen, AlertsScreen)
        assert "history of declines" in str(app.screen.query_one("#rule-history").render())
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, SearchScreen)


async def test_the_form_guards_against_what_users_trip_over(  # type: ignore[no-untyped-def]
    shop_store: Store, make_app, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the two D presses below are seconds apart on a busy machine (a store read between them):
    # the window they must fall in is the app's; what this test checks is that one D only asks
    monkeypatch.setattr(alerts_screen, "DELETE_CONFIRM_SECONDS", 600.0)
    app = make_app(shop_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("a")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, AlertFormScreen)
        # an empty query is no valid-looking rule: said, and saved only when asked twice
        assert str(form.query_one("#query-status").render()).startswith("⚠ no query: the rule would count every log")
        assert form.query_one("#query").value == "" and form.query_one("#query").placeholder.startswith("e.g. ")
        form.query_one("#name").value = "anything at all"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "Ctrl+S again" in str(form.query_one("#form-status").render()) and app.screen is form
        assert RuleStore(shop_store).all() == []
        # a count that answers after the query turned invalid does not say "valid"
        form.query_one("#query").value = "level:error"
        form.query_one("#query").value = "level:error AND ("
        await settle(pilot)
        status = str(form.query_one("#query-status").render())
        assert status.startswith("✗") and "valid" not in status
        # a bad URL is named as the form names it
        form.query_one("#query").value = "level:error"
        form.query_one("#url-discord").value = "ftp://example.com/hook"
        await pilot.press("ctrl+s")
        await settle(pilot)
        error = str(form.query_one("#form-status").render())
        assert error.startswith("✗ Discord webhook URL:") and "destinations.0" not in error
        labels = [str(option[0]) for option in form.query_one("#condition")._options]
        assert labels == ["at least (>=)", "at most (<=)"]
        form.query_one("#url-discord").value = ""
        await pilot.press("ctrl+s")
        await settle(pilot)
        (rule,) = RuleStore(shop_store).all()
        # delete asks first
        await pilot.press("A")
        rules = await until(pilot, lambda: isinstance(app.screen, AlertsScreen) and app.screen, "the rules screen")
        await until(pilot, lambda: rules.selected, "the rule listed")
        await pilot.press("D")
        await settle(pilot)
        assert [r.id for r in RuleStore(shop_store).all()] == [rule.id]
        await pilot.press("D")
        await until(pilot, lambda: RuleStore(shop_store).all() == [], "the rule deleted by the second D")


async def test_one_firing_is_one_line_of_history(shop_store: Store, make_app) -> None:  # type: ignore[no-untyped-def]
    from hlog.alerts.rules import Rule, validate
    from hlog.alerts.storage import HistoryEntry

    rules = RuleStore(shop_store)
    rule = rules.save(validate(Rule(name="declines", query="declined", threshold=1)))
    at = NOW_NS // 10**6
    # what the evaluator records when a rule fires and its message is delivered
    rules.record(
        [
            HistoryEntry(at, rule.id, rule.name, "", "ALERTING", 3, 1, 300),
            HistoryEntry(at, rule.id, rule.name, "", "ALERTING", 3, 1, 300, "webhook https://example.com", True),
            HistoryEntry(at + 60_000, rule.id, rule.name, "", "OK", 0, 1, 300),
        ]
    )
    app = make_app(shop_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("A")
        history = await until(
            pilot,
            lambda: (
                isinstance(app.screen, AlertsScreen)
                and "ALERTING" in (h := str(app.screen.query_one("#rule-history").render()))
                and h
            ),
            "the rule's history shown",
        )
        assert history.count("ALERTING") == 1 and "delivered" in history and history.count("OK") == 1
