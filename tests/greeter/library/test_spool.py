"""The event spool: appended before an event is acknowledged, rewritten to what is still
queued, read back after a restart (a line a crash cut short skipped), one greeter per file,
and a failing disk said once."""

import logging
from datetime import UTC, datetime

import pytest

from greeter.library.spool import EventSpool, SpoolBusy, spool_path
from greeter.library.store import event_record


def _records(n, start=0):
    return [event_record("door", "greeting", datetime.now(UTC), {"names": [f"p{i}"]})
            for i in range(start, start + n)]  # fmt: skip


def test_spool_path_is_one_file_per_kiosk(tmp_path):
    assert spool_path(tmp_path, "lobby") == tmp_path / "spool" / "lobby.jsonl"
    odd = spool_path(tmp_path, "Front door / 2")
    assert odd.parent == tmp_path / "spool" and odd.name.startswith("kiosk-")
    assert odd != spool_path(tmp_path, "Front door / 3")


def test_append_rewrite_and_read_back(tmp_path):
    path = spool_path(tmp_path, "door")
    spool = EventSpool(path)
    records = _records(3)
    for record in records:
        assert spool.append(record)
    assert path.read_text().count("\n") == 3  # on disk before anything is acknowledged
    assert spool.rewrite(records[1:])
    spool.close()
    with path.open("a") as f:
        f.write('{"uid": "cut sho')  # a crash mid-line
    again = EventSpool(path)
    loaded = again.load()
    assert [r["uid"] for r in loaded] == [r["uid"] for r in records[1:]]
    assert loaded[0]["time"] == records[1]["time"] and loaded[0]["names"] == records[1]["names"]
    assert again.rewrite([]) and path.read_bytes() == b""
    again.close()


def test_a_second_greeter_on_the_same_spool_is_refused(tmp_path):
    path = spool_path(tmp_path, "door")
    first = EventSpool(path)
    with pytest.raises(SpoolBusy, match="own --kiosk NAME"):
        EventSpool(path)
    first.close()
    EventSpool(path).close()  # free again once the first is gone


def test_only_the_newest_are_kept(tmp_path, caplog):
    spool = EventSpool(spool_path(tmp_path, "door"), limit=3)
    records = _records(5)
    for record in records:
        spool.append(record)
    with caplog.at_level(logging.WARNING):
        assert [r["uid"] for r in spool.load()] == [r["uid"] for r in records[2:]]
    assert "the oldest 2 are dropped" in caplog.text
    spool.close()


def test_a_failing_disk_is_said_once_and_the_next_line_is_whole(tmp_path, caplog, monkeypatch):
    spool = EventSpool(spool_path(tmp_path, "door"))
    real = spool._file.write
    calls = {"n": 0}

    def full(data):  # a full disk: half a line goes out, then ENOSPC
        calls["n"] += 1
        real(bytes(data)[:10])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(spool._file, "write", full, raising=False)
    with caplog.at_level(logging.INFO, logger="greeter.library.spool"):
        records = _records(3)
        assert not spool.append(records[0]) and not spool.append(records[1])
        monkeypatch.setattr(spool._file, "write", real, raising=False)
        assert spool.append(records[2])
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "No space left" in warnings[0].getMessage()
    assert "written again" in caplog.text
    assert [r["uid"] for r in spool.load()] == [records[2]["uid"]]
    spool.close()
