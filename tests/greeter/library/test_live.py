"""Fleet faults on SQLite and a real PostgreSQL server: concurrent writers (threads and
processes), a writer SIGKILLed mid-run, and the database stopping under a LiveLibrary."""

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np

from greeter.library.store import Store, event_record, utcnow

WRITER = Path(__file__).with_name("library_writer.py")
REPO = Path(__file__).resolve().parents[2]


def _writer(url, tag, rounds):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen(
        [sys.executable, str(WRITER), url, tag, str(rounds)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip


def _check_consistent(store):
    """Whole transactions only: 20 events per batch, every photo with its person and encoding."""
    per_batch = Counter((e.kiosk, e.extra.get("batch")) for e in store.events())
    assert set(per_batch.values()) <= {20}, per_batch
    people = store.people()
    assert all(p.photos == 1 for p in people), "a person without their photo"
    _names, vectors, ids = store.load_encodings("synthetic")
    assert sorted(ids) == sorted(p.id for p in store.photos())
    assert vectors.shape == (len(people), 128)
    if store.dialect == "sqlite":
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
    return per_batch, people


def test_concurrent_writers_threads_and_processes(db_url):
    with Store(db_url) as store:
        procs = [_writer(db_url, f"proc{i}", 10) for i in range(2)]
        errors = []

        def thread_writer(n):
            try:
                for i in range(15):
                    store.write_events([event_record(f"thread{n}", "unknown", utcnow(),
                                                     {"batch": i})] * 1)  # fmt: skip
                    store.write_event(f"thread{n}", "greeting", names=[f"t{n}"], batch=f"x{i}")
            except Exception as err:
                errors.append(err)

        threads = [threading.Thread(target=thread_writer, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for p in procs:
            _out, err = p.communicate(timeout=120)
            assert p.returncode == 0, err[-2000:]
        assert not errors
        events = store.events()
        by_kiosk = Counter(e.kiosk for e in events)
        assert by_kiosk == {"proc0": 200, "proc1": 200, **{f"thread{n}": 30 for n in range(4)}}
        assert len(store.people()) == 20
        _names, _vectors, ids = store.load_encodings("synthetic")
        assert len(ids) == 20


def test_sigkill_mid_run_leaves_a_consistent_database(db_url):
    with Store(db_url) as store:
        proc = _writer(db_url, "victim", 100_000)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(1.0)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        per_batch, people = _check_consistent(store)
        assert len(per_batch) >= 2 and len(people) >= 2  # it did write for a while
        # the library is still usable: a new writer (a restarted kiosk) carries on
        again = _writer(db_url, "restarted", 3)
        assert again.wait(timeout=120) == 0, again.stderr.read()[-2000:]
        _check_consistent(store)


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


def _wait(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.05)


def test_synthetic_vectors_are_unit():  # guards the writer's encodings used above
    sys.path.insert(0, str(WRITER.parent))
    from library_writer import synthetic_encoding

    assert np.isclose(np.linalg.norm(synthetic_encoding("x")), 1.0)
