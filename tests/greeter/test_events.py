"""One event format for the JSON-lines log (``greeter --log``) and ``greeter-library events
--json``: ``{"time": ISO 8601 local time with offset, "event": kind, ...}``."""

import json
import re
import time
from datetime import UTC, datetime

import pytest

from greeter.events import EVENT_KEY, EventLog, event_time, parse_event_time
from greeter.library.cli import main as library_main
from greeter.library.store import Store

ISO_WITH_OFFSET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")


@pytest.fixture
def berlin(monkeypatch):
    """Local time is Europe/Berlin (UTC+1 or +2): offsets must show, not only 'Z' / +00:00."""
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_event_time_is_iso_8601_local_with_offset(berlin):
    moment = datetime(2026, 5, 9, 12, 3, 7, 250_000, tzinfo=UTC)
    assert event_time(moment) == "2026-05-09T14:03:07+02:00"
    assert event_time(moment.timestamp()) == "2026-05-09T14:03:07+02:00"
    assert parse_event_time("2026-05-09T14:03:07+02:00") == moment.replace(microsecond=0)
    # a line written before this format: basic offset, same instant
    assert parse_event_time("2026-05-09T14:03:07+0200") == moment.replace(microsecond=0)


def test_log_and_library_write_the_same_format(berlin, tmp_path, capsys):
    clock = datetime(2026, 5, 9, 12, 3, 7, tzinfo=UTC).timestamp()
    log = tmp_path / "events.jsonl"
    events = EventLog(log, clock=lambda: clock)
    events.write("greeting", names=["Ana"], distances=[0.31], frame=7)
    events.close()
    logged = json.loads(log.read_text())
    assert list(logged)[:2] == ["time", EVENT_KEY] == ["time", "event"]
    assert logged["event"] == "greeting" and ISO_WITH_OFFSET.match(logged["time"])

    db = f"sqlite:///{tmp_path / 'library.db'}"
    with Store(db) as store:
        store.write_event("lobby", "greeting", names=["Ana"], distances=[0.31], frame=7)
        stored = store.events()[0]
    assert library_main(["events", "--since=-1h", "--json", "--db", db]) == 0
    listed = json.loads(capsys.readouterr().out.splitlines()[0])
    assert listed == stored.as_dict()
    assert list(listed)[:2] == ["time", "event"] and "kind" not in listed
    assert listed["event"] == "greeting" and ISO_WITH_OFFSET.match(listed["time"])
    assert listed["time"] == event_time(stored.time)  # the library's UTC time, shown local
    for key in ("names", "distances", "frame"):
        assert listed[key] == logged[key]
    assert listed["kiosk"] == "lobby" and isinstance(listed["id"], int)
