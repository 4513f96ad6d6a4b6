"""The live library under a kiosk: library changes seen within 2 s, events, heartbeats and
visitor faces written from a thread, events queued (bounded) while the database is down and
resent once it is back; on SQLite and on a real PostgreSQL server."""

import logging
import time

import numpy as np

from greeter.library.store import Store
from tests.helpers.library import new_photo
from tests.helpers.vectors import random_unit
from tests.helpers.waiting import wait_for


def _wait(condition, timeout=10.0):
    assert wait_for(condition, timeout, every=0.05), f"condition not met within {timeout} s"


def test_postgres_stop_under_live_library_queues_and_resends(postgres_server, postgres_url, caplog):
    from greeter.library.live import LiveLibrary

    caplog.set_level(logging.WARNING, logger="greeter.library")
    with Store(postgres_url) as store:
        store.store_encodings("k", [], [])
        live = LiveLibrary(store, "k", kiosk="lobby", interval=0.2, heartbeat=0.5).start()
        try:
            live.events.write("greeting", names=["before"])
            _wait(lambda: len(store.events()) == 1)
            database = live.database
            postgres_server.stop()
            for i in range(30):
                live.events.write("greeting", names=[f"down-{i}"], frame=i)
                live.poll()  # the frame loop never blocks
            _wait(lambda: not live.online, timeout=15)
            assert live.database is database  # still greeting from memory
            time.sleep(2.0)
            postgres_server.start()
            _wait(lambda: live.online and live.queued == 0, timeout=45)
        finally:
            live.close()
        names = [e.names[0] for e in store.events()]
        assert names == ["before"] + [f"down-{i}" for i in range(30)]  # all, once, in order
    lost = [r for r in caplog.records if "failed while" in r.getMessage()]
    back = [r for r in caplog.records if "is back;" in r.getMessage()]
    assert len(lost) == 1 and len(back) == 1, caplog.text  # logged once each
    assert postgres_server.password not in caplog.text


def test_event_queue_is_bounded_drop_oldest(tmp_path):
    from greeter.library.live import LiveLibrary

    with Store(f"sqlite:///{tmp_path / 'library.db'}") as store:
        live = LiveLibrary(store, "k", kiosk="k", queue_limit=5)  # not started: nothing sent
        for i in range(8):
            live.events.write("greeting", names=[str(i)])
        assert live.queued == 5 and live.dropped == 3
        live.start()
        live.close()
        assert [e.names[0] for e in store.events()] == ["3", "4", "5", "6", "7"]


def test_change_counter_seen_by_another_kiosk_within_2s(db_url):
    from greeter.library.live import LiveLibrary

    with Store(db_url) as admin, Store(db_url) as kiosk_store:
        live = LiveLibrary(kiosk_store, "k", kiosk="k2", interval=0.5).start()
        try:
            assert len(live.database) == 0
            start = time.monotonic()
            admin.add_photos([new_photo("Aaron Peirsol", 0)])
            added_at = time.monotonic()
            while "Aaron Peirsol" not in live.database and time.monotonic() - added_at < 5:
                time.sleep(0.02)
            seen = time.monotonic() - added_at
            assert "Aaron Peirsol" in live.database, "not seen within 5 s"
            assert seen <= 2.0, f"seen after {seen:.2f} s"
            assert live.poll()[0]  # photo ids added
            admin.remove_person("Aaron Peirsol")
            deadline = time.monotonic() + 5
            while "Aaron Peirsol" in live.database and time.monotonic() < deadline:
                time.sleep(0.02)
            assert "Aaron Peirsol" not in live.database
            assert start < added_at
        finally:
            live.close()


def test_live_library_writes_events_heartbeat_and_visitors(db_url):
    from greeter.library.live import EventTee, LiveLibrary

    with Store(db_url) as store:
        live = LiveLibrary(
            store, "k", kiosk="lobby", interval=0.2, heartbeat=0.2, keep_visitor_days=1,
            status={"threshold": 0.52, "weights": "w.h5", "runtime": "keras"},
        ).start()  # fmt: skip
        try:
            for _ in range(5):
                live.poll()
            record = EventTee(live.events).write("greeting", names=["Ana"], distances=[0.3])
            assert record["kind"] == "greeting"
            assert live.keep_visitor(np.zeros((96, 96, 3), np.uint8), random_unit(0), "visit-9")
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and not (store.events() and store.visitors()):
                time.sleep(0.05)
        finally:
            live.close()
        assert [(e.kind, e.kiosk, e.names) for e in store.events()] == [
            ("greeting", "lobby", ["Ana"])
        ]
        assert [v.visit_id for v in store.visitors()] == ["visit-9"]
        (kiosk,) = store.kiosks()
        assert (kiosk.threshold, kiosk.weights, kiosk.model_key) == (0.52, "w.h5", "k")


class _WritesFail:
    """A store whose writes fail while ``down`` (reads still work, as on a full disk)."""

    WRITES = ("write_events", "heartbeat", "keep_visitor", "enforce_retention", "purge_expired")

    def __init__(self, store):
        self.store, self.down = store, False

    def __getattr__(self, name):
        attr = getattr(self.store, name)
        if name not in self.WRITES:
            return attr

        def write(*args, **kwargs):
            if self.down:
                from greeter.library.store import StoreUnavailable

                raise StoreUnavailable(f"Library database {self.store.url} failed while "
                                       "writing: database or disk is full")  # fmt: skip
            return attr(*args, **kwargs)

        return write


def test_a_full_disk_is_not_back_until_a_write_succeeds(tmp_path, caplog):
    """Issue 19 item 10: reads work on a full disk; "is back" is logged only once a write has
    succeeded, and the loss only once."""
    from greeter.library.live import LiveLibrary

    caplog.set_level(logging.INFO, logger="greeter.library")
    with Store(f"sqlite:///{tmp_path / 'library.db'}") as real:
        store = _WritesFail(real)
        live = LiveLibrary(store, "k", kiosk="door", interval=0.05, heartbeat=0.1).start()
        try:
            store.down = True
            _wait(lambda: not live.online)  # the next heartbeat fails
            time.sleep(1.5)  # many polls (reads: fine) and heartbeats (writes: failing)
            assert "is back" not in caplog.text and not live.online
            live.events.write("greeting", names=["Ana"])
            time.sleep(0.5)
            assert "is back" not in caplog.text and live.queued == 1
            store.down = False
            _wait(lambda: live.online and live.queued == 0)
        finally:
            live.close()
        assert [e.names for e in real.events()] == [["Ana"]]
    lost = [r for r in caplog.records if "disk is full" in r.getMessage()]
    back = [r for r in caplog.records if "is back;" in r.getMessage()]
    assert len(lost) == 1 and len(back) == 1, caplog.text


def test_events_queued_while_down_survive_a_restart_stored_once(tmp_path, caplog):
    """Issue 19 item 8 (in one process; tests/greeter/test_e2e_fleet.py does it with a real
    greeter and a real PostgreSQL outage): events queued while the database is away are in
    the spool when the kiosk stops, and sent once at its next start."""
    from greeter.library.live import LiveLibrary
    from greeter.library.spool import EventSpool, spool_path

    path = spool_path(tmp_path / "state", "door")
    with Store(f"sqlite:///{tmp_path / 'library.db'}") as real:
        store = _WritesFail(real)
        live = LiveLibrary(store, "k", kiosk="door", interval=0.05, heartbeat=0.1,
                           spool=EventSpool(path)).start()  # fmt: skip
        live.events.write("greeting", names=["before"])
        _wait(lambda: live.queued == 0)
        assert path.read_bytes() == b""  # trimmed once committed
        store.down = True
        for i in range(5):
            live.events.write("greeting", names=[f"down-{i}"])
        _wait(lambda: not live.online)
        with caplog.at_level(logging.WARNING):
            live.close(timeout=0.5)  # SIGTERM: the kiosk stops, the database still away
        assert "sent at the next start" in caplog.text
        assert len(path.read_text().splitlines()) == 5
        committed = EventSpool(path)  # one of them got in just before the stop, say
        real.write_events(committed.load()[:1])
        committed.close()

        store.down = False
        again = LiveLibrary(real, "k", kiosk="door", interval=0.05, spool=EventSpool(path))
        again.start()
        _wait(lambda: again.queued == 0)
        again.close()
        names = [e.names[0] for e in real.events()]
    assert names == ["before"] + [f"down-{i}" for i in range(5)]  # all, each once, in order
    assert path.read_bytes() == b""


def test_two_kiosks_with_one_name_are_reported_not_merged(db_url, caplog):
    from greeter.library.live import LiveLibrary

    caplog.set_level(logging.WARNING, logger="greeter.library")
    with Store(db_url) as store:
        kiosks = [
            LiveLibrary(store, "k", kiosk="raspberrypi", interval=0.05, heartbeat=0.1,
                        instance=instance).start()
            for instance in ("1111aaaa", "2222bbbb")
        ]  # fmt: skip
        try:
            _wait(lambda: all(k.conflict for k in kiosks))
            _wait(lambda: len(store.events(kinds=["error"])) == 2)
        finally:
            for kiosk in kiosks:
                kiosk.close()
        (row,) = store.kiosks()
        assert "Two kiosks are running under the name 'raspberrypi'" in row.conflict
        assert "1111aaaa" in row.conflict and "2222bbbb" in row.conflict
        errors = store.events(kinds=["error"])
        assert all("Two kiosks" in e.message for e in errors)
    warned = [r for r in caplog.records if "Two kiosks" in r.getMessage()]
    assert len(warned) == 2, caplog.text  # once per kiosk, not at every beat


def test_a_running_kiosk_enforces_the_library_retention(tmp_path):
    import sqlite3
    from datetime import timedelta

    from greeter.library.live import LiveLibrary
    from greeter.library.store import event_record, utcnow

    path = tmp_path / "library.db"

    def rows():  # what the file holds, read past the store (which hides expired events)
        with sqlite3.connect(path) as conn:
            return conn.execute("SELECT count(*) FROM events").fetchone()[0]

    with Store(f"sqlite:///{path}") as store:
        store.set_retention(event_days=30)
        store.write_events([event_record("door", "greeting", utcnow() - timedelta(days=31), {})])
        assert rows() == 1 and store.events() == []  # expired: there, but never read
        live = LiveLibrary(store, "k", kiosk="door", interval=0.05).start()
        try:
            _wait(lambda: rows() == 0)
        finally:
            live.close()
