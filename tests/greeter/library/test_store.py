"""The store on SQLite and on a real PostgreSQL server: CRUD, encodings per model key, events and
last greetings, kiosks, visitors, passwords kept out of messages; and its faults: concurrent
writers (threads and processes), a writer SIGKILLed mid-run. The store only stores: these tests
give it finished values (no model, no shared data)."""

import logging
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta

import numpy as np
import pytest

from greeter.library.store import (
    LibraryError,
    Store,
    StoreUnavailable,
    event_record,
    utcnow,
)
from greeter.names import InvalidName
from tests.helpers.library import crop_png, new_photo
from tests.helpers.library_writer import synthetic_encoding
from tests.helpers.processes import greeter_env
from tests.helpers.vectors import random_unit


def test_people_and_photos_crud(store):
    before = store.change_counter()
    ids = store.add_photos([new_photo("Aaron  Peirsol", 1), new_photo("Aaron Peirsol", 2)])
    store.add_photo("Abdullah Gul", crop_png=crop_png(), encoding=random_unit(3), model_key="k",
                    original=b"gul.jpg bytes")  # fmt: skip
    assert store.change_counter() == before + 2  # one per transaction
    people = store.people()
    assert [(p.name, p.photos) for p in people] == [("Aaron Peirsol", 2), ("Abdullah Gul", 1)]
    assert people[0].first_photo == ids[0]
    # the same file again for the same person is not a second photo
    assert store.add_photos([new_photo("Aaron Peirsol", 1)]) == [ids[0]]
    assert store.photo_crop(ids[0]).startswith(b"\x89PNG")
    assert store.photo_original(ids[0]) == b"photo 1"
    names, vectors, photo_ids = store.load_encodings("k")
    assert sorted(names) == ["Aaron Peirsol", "Aaron Peirsol", "Abdullah Gul"]
    assert vectors.shape == (3, 128) and vectors.dtype == np.float32
    np.testing.assert_allclose(vectors[photo_ids.index(ids[1])], random_unit(2), atol=1e-7)
    assert set(photo_ids) == {p.id for p in store.photos()}

    store.rename_person("Aaron Peirsol", "Aaron P")
    assert [p.name for p in store.people()] == ["Aaron P", "Abdullah Gul"]
    assert store.person_by_id(people[0].id).name == "Aaron P"
    with pytest.raises(LibraryError, match="already exists"):
        store.rename_person("Aaron P", "Abdullah Gul")
    with pytest.raises(LibraryError, match="No person named 'Nobody'"):
        store.remove_person("Nobody")
    store.remove_photo(ids[1])
    assert store.person("Aaron P").photos == 1
    assert store.remove_person("Aaron P") == 1
    assert [p.name for p in store.people()] == ["Abdullah Gul"]
    assert store.load_encodings("k")[1].shape == (1, 128)  # cascade: encodings gone
    for bad in ("", "a/b", ".hidden", "x" * 300, "Ann\u202eA", "bell\x07", "c1\x9b31m"):
        with pytest.raises(ValueError):
            store.add_person(bad)


def test_a_bad_name_stores_nothing(store):
    before = store.change_counter()
    with pytest.raises(InvalidName):
        store.add_photos([new_photo("Ana", 1), new_photo("a/b", 2)])
    assert store.people() == [] and store.change_counter() == before


def test_replacing_and_removing_photos(store):
    (old,) = store.add_photos([new_photo("Ana", 1, source="folder:/x/Ana.jpg")])
    (new,) = store.add_photos([new_photo("Ana", 2, source="folder:/x/Ana.jpg", replaces=old)])
    assert [p.id for p in store.photos()] == [new]
    assert store.remove_photos([new, 12345]) == 1
    assert store.people() == []  # dropped with their last photo
    assert store.remove_photos([]) == 0


def test_encodings_per_model_key(store):
    ids = store.add_photos([new_photo("Ana", i) for i in range(3)])
    assert store.missing_encodings("k") == []
    assert store.missing_encodings("other") == ids
    assert [i for i, _, _ in store.photo_images(ids)] == ids
    assert store.photo_images([ids[0]])[0][1:] == (b"photo 0", crop_png(0))
    store.remove_photo(ids[2])
    assert store.store_encodings("other", ids, [random_unit(9)] * 3) == 2  # a removed photo skipped
    assert store.missing_encodings("other") == []
    assert len(store.load_encodings("other")[0]) == 2 and len(store.load_encodings("k")[0]) == 2


def test_events_roundtrip_and_filters(store):
    store.write_event("lobby", "greeting", names=["Ana"], distances=[0.31], frame=7, text="Hi")
    store.write_event("side", "unknown", distances=[None], frame=9, faces=1)
    store.write_event("lobby", "error", message="camera lost")
    events = store.events()
    assert [e.kind for e in events] == ["greeting", "unknown", "error"]
    first = events[0].as_dict()
    assert first["kiosk"] == "lobby" and first["names"] == ["Ana"] and first["text"] == "Hi"
    assert first["distances"] == [0.31] and first["frame"] == 7
    assert events[0].time.tzinfo is not None
    assert abs((events[0].time - utcnow()).total_seconds()) < 60
    assert [e.kind for e in store.events(kiosk="lobby")] == ["greeting", "error"]
    assert store.events(since=utcnow() + timedelta(minutes=1)) == []
    assert [e.kind for e in store.events(newest_first=True, limit=1)] == ["error"]
    assert store.last_greeted() == {}  # nobody named Ana is enrolled


def test_last_greeted_is_per_person_and_follows_renames(store):
    store.add_photos([new_photo("Ana", 1), new_photo("Ben", 2)])
    ana_id, ben_id = (p.id for p in store.people())
    t0 = utcnow() - timedelta(hours=2)
    records = [
        event_record("lobby", "greeting", t0, {"names": ["Ana"]}),
        event_record("lobby", "greeting", t0 + timedelta(hours=1), {"names": ["Ana", "Ben"]}),
        event_record("lobby", "unknown", t0 + timedelta(hours=1, minutes=5), {}),
    ]
    store.write_events(records)
    store.write_events(records[:1])  # re-sent: ignored
    later = t0 + timedelta(hours=1)
    assert store.last_greeted() == {ana_id: later, ben_id: later}
    store.rename_person("Ana", "Ana Lima")
    assert store.last_greeted([ana_id]) == {ana_id: later}
    store.remove_person("Ben")
    assert list(store.last_greeted()) == [ana_id]


def test_kiosk_heartbeat(store):
    store.heartbeat("lobby", fps=9.5, threshold=0.52, weights="w.h5", runtime="keras")
    store.heartbeat("lobby", fps=10.0)
    (kiosk,) = store.kiosks()
    assert (kiosk.name, kiosk.fps, kiosk.threshold, kiosk.runtime) == ("lobby", 10.0, 0.52, "keras")
    with pytest.raises(ValueError, match="Unknown kiosk status"):
        store.heartbeat("lobby", password="x")


def test_visitors_one_per_visit_assign_dismiss_purge(store):
    crop = crop_png()
    first = store.keep_visitor("lobby", crop, random_unit(1), "visit-1", days=7, model_key="k")
    assert first is not None
    assert (
        store.keep_visitor("lobby", crop, random_unit(2), "visit-1", days=7, model_key="k") is None
    )
    second = store.keep_visitor("lobby", crop, random_unit(3), "visit-2", days=7, model_key="k")
    old = store.keep_visitor(
        "side", crop, random_unit(4), "v", days=1, time=utcnow() - timedelta(days=2)
    )
    assert old is not None
    assert [v.id for v in store.visitors()] == [second, first]  # newest first; expired: never
    with pytest.raises(LibraryError, match="dismissed or expired"):
        store.visitor(old)  # not served, though not deleted yet
    assert store.purge_expired() == 1
    assert store.visitor_crop(first).startswith(b"\x89PNG")
    photo_id = store.assign_visitor(first, "Visitor Ana", {"k": store.visitor(first).vector})
    assert store.photos("Visitor Ana")[0].source == "visitor"
    assert store.photo_original(photo_id) is None
    names, vectors, _ = store.load_encodings("k")
    assert names == ["Visitor Ana"]
    np.testing.assert_allclose(vectors[0], random_unit(1), atol=1e-6)
    assert store.dismiss_visitor(second) and not store.dismiss_visitor(second)
    assert store.visitors() == []
    with pytest.raises(LibraryError, match="dismissed or expired"):
        store.assign_visitor(second, "x", {})


def test_password_never_in_errors_or_logs(postgres_server, postgres_url, caplog, capsys):
    from greeter.library.cli import main

    secret = "Hunter2-wrong-Pw"
    bad = postgres_url.replace(postgres_server.password, secret)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(StoreUnavailable) as info:
        Store(bad)
    assert "password authentication failed" in str(info.value)
    assert secret not in str(info.value) and "***" in str(info.value)
    unreachable = f"postgresql://ana:{secret}@127.0.0.1:1/lib"
    with pytest.raises(StoreUnavailable) as info:
        Store(unreachable)
    assert secret not in str(info.value)
    assert main(["list", "--db", bad]) == 1
    assert main(["list", "--db", f"mysql://ana:{secret}@db/lib"]) == 2
    out = capsys.readouterr()
    assert secret not in out.out + out.err and out.err.count("greeter-library: error:") == 2
    assert secret not in caplog.text
    good = Store(postgres_url)
    assert postgres_server.password not in repr(good) and postgres_server.password not in good.url
    good.close()


# ---- faults


def _writer(url, tag, rounds):
    """A kiosk-like writer process (tests/helpers/library_writer.py)."""
    return subprocess.Popen(
        [sys.executable, "-m", "tests.helpers.library_writer", url, tag, str(rounds)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=greeter_env(),
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


def test_synthetic_vectors_are_unit():  # guards the writer's encodings used above
    assert np.isclose(np.linalg.norm(synthetic_encoding("x")), 1.0)


# ---- erasure, retention, kiosk identity, folders (issue 19 items 5-7, 9; issue 20 item 4)


def test_remove_person_leaves_tombstones_and_redacts_their_name(store):
    folder = "folder:/srv/images"
    store.add_photos([
        new_photo("Lin-Manuel Miranda", 1, source=f"{folder}/Lin-Manuel_Miranda.jpg"),
        new_photo("Lin-Manuel Miranda", 2, source="upload"),
        new_photo("Ana", 3, source=f"{folder}/Ana.jpg"),
    ])  # fmt: skip
    greeting = {"names": ["Lin-Manuel Miranda", "Ana"], "distances": [0.3, 0.4],
                "text": "Welcome Lin Manuel Miranda and Ana, have a nice day!"}  # fmt: skip
    store.write_events([
        event_record("lobby", "greeting", utcnow(), greeting),
        event_record("lobby", "error", utcnow(), {"message": "Lin-Manuel Miranda: no audio"}),
    ])  # fmt: skip
    crop = crop_png()
    known = store.keep_visitor("lobby", crop, random_unit(5), "v1", days=1, verdict="known",
                               name="Lin-Manuel Miranda", runner_up="Ana")  # fmt: skip
    near = store.keep_visitor("lobby", crop, random_unit(6), "v2", days=1, verdict="known",
                              name="Ana", runner_up="Lin-Manuel Miranda")  # fmt: skip

    assert store.remove_person("Lin-Manuel Miranda") == 2
    (tombstone,) = store.tombstones()
    assert tombstone.source == f"{folder}/Lin-Manuel_Miranda.jpg"
    assert tombstone.name == "Lin-Manuel Miranda" and len(tombstone.sha256) == 64
    assert tombstone.path == "/srv/images/Lin-Manuel_Miranda.jpg"
    assert store.tombstones(name="Ana") == [] and store.tombstones(source_prefix="folder:/x/") == []
    greeted, error = store.events()
    assert greeted.names == ["(removed)", "Ana"] and greeted.distances == [0.3, 0.4]
    assert greeted.extra["text"] == "Welcome (removed) and Ana, have a nice day!"
    assert error.message == "(removed): no audio"
    assert store.events(name="Lin-Manuel Miranda") == []
    assert [v.id for v in store.visitors()] == [near]  # their face is gone with them
    assert store.visitors()[0].runner_up == "(removed)" and known not in store.visitors()
    assert list(store.last_greeted()) == [store.person("Ana").id]  # only she, now

    store.add_photos([new_photo("Lin-Manuel Miranda", 7)])  # added again, explicitly
    assert store.tombstones() == []


@pytest.mark.parametrize("how", ["add_person", "upload", "visitor"])
def test_an_explicit_add_lifts_the_tombstones_a_folder_add_does_not(store, how):
    store.add_photos([new_photo("Ana", 1, source="folder:/a/Ana.jpg")])
    store.remove_person("Ana")
    store.add_photos([new_photo("Ana", 2, source="folder:/b/Ana.jpg")])  # another folder
    assert len(store.tombstones()) == 1
    if how == "add_person":
        store.remove_person("Ana")
        store.add_person("Ana")
    elif how == "upload":
        store.add_photos([new_photo("Ana", 3)])
    else:
        face = store.keep_visitor("door", crop_png(), random_unit(4), "v", days=1)
        store.assign_visitor(face, "Ana", {"k": random_unit(4)})
    assert store.tombstones() == []


def test_removing_one_folder_photo_leaves_a_photo_tombstone(store):
    (a, b) = store.add_photos([new_photo("Ana", 1, source="folder:/a/Ana/1.jpg"),
                               new_photo("Ana", 2, source="upload")])  # fmt: skip
    store.remove_photo(a)
    store.remove_photo(b)
    (tombstone,) = store.tombstones()
    assert (tombstone.source, tombstone.name) == ("folder:/a/Ana/1.jpg", None)


def test_retention_is_a_setting_of_the_library(db_url):
    from greeter.library.store import DEFAULT_RETENTION, Retention

    with Store(db_url) as one, Store(db_url) as other:
        assert one.retention() == DEFAULT_RETENTION == Retention(90, 30, 7)
        changed = one.set_retention(event_days=30, recognition_days=0)
        assert changed == Retention(30, 30, 0)
        assert other.retention(fresh=True) == changed  # the library's, not a process's
        assert one.set_retention(event_days=None).event_days is None  # kept forever
        for bad in ({"event_days": 0}, {"visitor_face_days": -1}, {"recognition_days": "7"}):
            with pytest.raises(ValueError):
                one.set_retention(**bad)
        with pytest.raises(ValueError, match="Unknown retention"):
            one.set_retention(faces=3)
        assert one.retention(fresh=True).event_days is None


def test_expired_events_and_faces_are_never_read_then_deleted(store):
    ana = store.add_photos([new_photo("Ana", 1)])[0] and store.people()[0].id
    now = utcnow()
    old, recent = now - timedelta(days=100), now - timedelta(days=10)
    store.write_events([
        event_record("lobby", "greeting", old, {"names": ["Ana"]}),
        event_record("lobby", "greeting", recent, {"names": ["Ana"]}),
        event_record("lobby", "unknown", old, {}),
    ])  # fmt: skip
    crop = crop_png()
    stranger = store.keep_visitor("lobby", crop, random_unit(1), "s", days=60, time=recent)
    known = store.keep_visitor("lobby", crop, random_unit(2), "k", days=60, time=recent,
                               verdict="known", name="Ana")  # fmt: skip
    fresh = store.keep_visitor("lobby", crop, random_unit(3), "f", days=60, verdict="unsure")
    # read: the 100-day-old events (90-day retention) and the 10-day-old known face (7-day)
    # are left out before anything deletes them
    assert [e.time for e in store.events()] == [recent]
    assert store.events(since=old - timedelta(days=1), kinds=["unknown"]) == []
    assert store.last_greeted() == {ana: recent}
    assert sorted(v.id for v in store.visitors()) == sorted([stranger, fresh])
    with pytest.raises(LibraryError):
        store.visitor(known)
    store.set_retention(visitor_face_days=5)
    assert [v.id for v in store.visitors()] == [fresh]  # lowered: at once, on read
    assert store.enforce_retention() == (2, 2)
    assert store.enforce_retention() == (0, 0)
    store.set_retention(event_days=None, visitor_face_days=30)
    assert [e.time for e in store.events()] == [recent]  # deleted means deleted
    assert sorted(v.id for v in store.visitors()) == [fresh]
    store.set_retention(event_days=1)
    assert store.last_greeted() == {}  # an expired greeting is not "last greeted" either


def test_kept_faces_are_capped_by_the_library(store):
    store.set_retention(visitor_face_days=2, recognition_days=0)
    face = store.keep_visitor("lobby", crop_png(), random_unit(1), "v", days=30)
    (visitor,) = store.visitors()
    assert visitor.id == face and visitor.expires - visitor.time == timedelta(days=2)
    assert store.keep_visitor("lobby", crop_png(), random_unit(2), "w", days=30,
                              verdict="known", name="Ana") is None  # fmt: skip


def test_kiosk_identity_conflict_stop_and_state(store):
    from greeter.library.store import Kiosk

    started_a, started_b = utcnow() - timedelta(minutes=5), utcnow() - timedelta(minutes=1)
    a = {"instance": "aaaa", "started": started_a, "heartbeat_s": 10.0, "status": "ok"}
    b = {"instance": "bbbb", "started": started_b, "heartbeat_s": 10.0}
    assert store.heartbeat("door", **a) is None  # first beat: the row may be a predecessor's
    assert store.heartbeat("door", expect_own=True, **a) is None  # still its own row
    assert store.heartbeat("door", **b) is None  # b's first beat
    conflict = store.heartbeat("door", expect_own=True, **a)  # a finds b's beat in its row
    assert "Two kiosks are running under the name 'door'" in conflict
    assert "aaaa" in conflict and "bbbb" in conflict
    (row,) = store.kiosks()
    assert row.conflict == conflict and row.conflict_at is not None
    assert (row.instance, row.heartbeat_s, row.status, row.state()) == ("aaaa", 10.0, "ok", "up")
    clone = store.heartbeat("door", expect_own=True, instance="aaaa", started=started_b)
    assert "both with instance id aaaa" in clone  # a copied state folder: same id, two runs
    # a restart (same instance, new start) is no conflict: its first beat checks nothing
    assert store.heartbeat("door", instance="aaaa", started=utcnow()) is None
    assert store.heartbeat("door", expect_own=False, status=" much   to\nsay " * 40) is None
    assert len(store.kiosks()[0].status) == 200 and "\n" not in store.kiosks()[0].status

    store.write_events([event_record("door", "stop", utcnow(), {})])
    (row,) = store.kiosks()
    assert row.state() == "stopped" and row.stopped >= row.last_seen
    store.write_events([event_record("door", "stop", utcnow() - timedelta(hours=1), {})])
    assert store.kiosks()[0].stopped == row.stopped  # an older stop (spooled) changes nothing
    store.heartbeat("door", instance="aaaa", started=utcnow())
    assert store.kiosks()[0].state() == "up"  # restarted
    now = utcnow()
    quiet = Kiosk("x", now - timedelta(seconds=29), None, None, None, None, None, None, None,
                  heartbeat_s=10.0)  # fmt: skip
    assert quiet.state(now) == "up"
    late = Kiosk("x", now - timedelta(seconds=32), None, None, None, None, None, None, None,
                 heartbeat_s=10.0)  # fmt: skip
    assert late.state(now) == "down"  # three beats missed


def test_folders_are_claimed_by_a_kiosk_and_released(store):
    store.add_photos([
        new_photo("Ana", 1, source="folder:/srv/a/Ana.jpg"),
        new_photo("Ben", 2, source="folder:/srv/a/Ben/1.jpg"),
        new_photo("Ben", 3, source="upload"),
        new_photo("Cy", 4, source="folder:/srv/ab/Cy.jpg"),  # a folder whose name starts alike
    ])  # fmt: skip
    assert store.claim_folder("/srv/a", "door") == []
    assert store.claim_folder("/srv/ab", None) == []  # greeter-library import: no kiosk
    assert store.claim_folder("/srv/b", "door") == ["/srv/a"]  # door moved to another folder
    assert store.folders() == {"/srv/a": "door", "/srv/ab": None, "/srv/b": "door"}
    before = store.change_counter()
    assert store.release_folder("/srv/a") == (2, ["Ana"])  # Ben keeps his uploaded photo
    assert [(p.name, p.photos) for p in store.people()] == [("Ben", 1), ("Cy", 1)]
    assert store.change_counter() == before + 1 and "/srv/a" not in store.folders()
    assert store.claim_folder("/srv/b", "door") == []


def test_removed_photo_bytes_are_gone_from_the_sqlite_files(tmp_path):
    """secure_delete overwrites deleted rows in the .db file; the store empties the
    write-ahead log after a removal, so the bytes are not left in the -wal file either."""
    path = tmp_path / "library.db"
    secret = bytes(np.random.default_rng(7).integers(0, 256, 20_000, dtype=np.uint8))
    marks = [secret[i : i + 48] for i in (100, 9_000, 19_000)]
    vector = random_unit(99)
    with Store(f"sqlite:///{path}") as store:
        store.add_photos([new_photo("Ana Lima", 1, original=secret)])
        store.add_photo("Ana Lima", crop_png=secret[:5000], encoding=vector, model_key="k",
                        original=b"other", source="folder:/srv/images/Ana_Lima.jpg")  # fmt: skip
        store.add_photos([new_photo("Ben", 2)])

        def found(mark):
            return [f.name for f in tmp_path.iterdir() if mark in f.read_bytes()]

        assert all(found(m) for m in marks)  # the test can see them before
        assert found(vector.astype("<f4").tobytes())
        store.remove_person("Ana Lima")
        assert [found(m) for m in marks] == [[], [], []]
        assert found(vector.astype("<f4").tobytes()) == []
        # what is kept: the tombstone (the folder file, its sha256 and her name), so the
        # folder sync does not enrol her again
        assert [t.name for t in store.tombstones()] == ["Ana Lima"]
        assert (tmp_path / "library.db-wal").stat().st_size == 0
        assert [p.name for p in store.people()] == ["Ben"]


def test_expired_events_go_in_batches(store, monkeypatch):
    from greeter.library import store as store_module

    monkeypatch.setattr(store_module, "DELETE_BATCH", 3)
    store.add_photos([new_photo("Ana", 1)])
    old = utcnow() - timedelta(days=200)
    store.write_events([event_record("lobby", "greeting", old + timedelta(minutes=i),
                                     {"names": ["Ana"]}) for i in range(7)])  # fmt: skip
    store.write_event("lobby", "greeting", names=["Ana"])
    assert store.enforce_retention() == (7, 0)
    assert len(store.events()) == 1 and list(store.last_greeted()) == [store.person("Ana").id]
