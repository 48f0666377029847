"""Links to a log or a search: made by Y and by alerts, opened by `hlog-tui open LINK`."""

from __future__ import annotations

import pytest

from hlog.backend.permalink import Permalink, log_link, parse_link, search_link
from hlog.backend.timeutil import parse_time_ns
from hlog.tui.app import main

LOG_ID = "1795176000000000000-7533388982936141824"


def test_links_read_back_as_what_they_name() -> None:
    assert log_link(LOG_ID) == f"hlog://log/{LOG_ID}"
    assert parse_link(log_link(LOG_ID)) == Permalink(log_id=LOG_ID)
    query = 'level:error service_name:"check out" -env:staging duration_ms>500 /a&b=c?/'
    assert parse_link(search_link(query, since="1h")) == Permalink(query=query, since="1h")
    start, end = parse_time_ns("2026-12-01T10:00:00Z"), parse_time_ns("2026-12-01T11:00:00.5Z")
    assert parse_link(search_link(query, start_ns=start, end_ns=end)) == Permalink(
        query=query, start_ns=start, end_ns=end
    )
    assert parse_link(search_link("", start_ns=start)) == Permalink(start_ns=start)
    assert parse_link("  hlog://search?q=x  ") == Permalink(query="x")


@pytest.mark.parametrize(
    ("link", "says"),
    [
        ("https://example.com/log/1-2", "not an hlog link"),
        ("javascript:alert(1)", "not an hlog link"),
        ("hlog://log/../../etc/passwd", "the link names no log"),
        ("hlog://log/1-2\x1b[2J", "the link names no log"),
        ("hlog://search?since=forever", "invalid duration"),
        ("hlog://search?from=2026-12-01T11:00:00Z&to=2026-12-01T10:00:00Z", "ends before it starts"),
        ("hlog://admin/x", "opens a log (hlog://log/ID) or a search"),
        ("hlog://search?q=" + "a" * 9000, "longer than 8192"),
    ],
)
def test_a_bad_link_is_refused_saying_why(link: str, says: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_link(link)
    assert says in str(err.value)


def test_hlog_tui_open_refuses_a_bad_link_before_starting(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["open", "hlog://log/nonsense"]) == 2
    assert capsys.readouterr().err == "hlog-tui: the link names no log: hlog://log/TIMESTAMP_NS-ROW_ID\n"
    assert main(["--log", "x\x1b[31m"]) == 2
    assert capsys.readouterr().err == "hlog-tui: x\\x1b[31m is not a log id (TIMESTAMP_NS-ROW_ID)\n"  # shown inert
    with pytest.raises(SystemExit):
        main(["open", log_link(LOG_ID), "--query", "x"])
    assert "open takes its search, range or log from the link" in capsys.readouterr().err
