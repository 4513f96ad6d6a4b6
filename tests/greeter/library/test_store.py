"""The store on SQLite and on a real PostgreSQL server: schema, CRUD, encodings per model key,
events and last greetings, kiosks, visitors, and passwords kept out of messages. The store
only stores: these tests give it finished values (no model, no shared data)."""

import logging
import time
from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import inspect

from greeter.library import schema
from greeter.library.store import (
    LibraryError,
    NewPhoto,
    Store,
    StoreUnavailable,
    event_record,
    utcnow,
)
from greeter.names import InvalidName


def _unit(seed):
    v = np.random.default_rng(seed).normal(size=128).astype(np.float32)
    return v / np.linalg.norm(v)


def test_migrations_from_empty_and_idempotent(db_url):
    with Store(db_url, migrate=False) as bare:
        assert inspect(bare.engine).get_table_names() == []
        assert schema.migrate(bare.engine) == (0, schema.LATEST)
        assert schema.migrate(bare.engine) == (schema.LATEST, schema.LATEST)
        tables = set(inspect(bare.engine).get_table_names())
    assert {"people", "photos", "encodings", "events", "kiosks", "visitors"} <= tables
    with Store(db_url) as again:  # opening re-runs the (no-op) migration
        assert again.change_counter() == 0
        with again.engine.connect() as conn:
            assert schema.schema_version(conn) == schema.LATEST


def test_schema_newer_than_code_is_refused(db_url):
    with Store(db_url) as store, store.engine.begin() as conn:
        conn.execute(schema.schema_versions.insert().values(version=99, applied=utcnow()))
    with pytest.raises(schema.SchemaTooNew, match="version 99"):
        Store(db_url)


def _crop(value=128):
    from greeter.library.enroller import png_bytes

    return png_bytes(np.full((96, 96, 3), value, np.uint8))


def _photo(name, seed, key="k", **kwargs):
    """A finished photo as enrolment makes it (synthetic crop and encoding, no model)."""
    original = kwargs.pop("original", f"photo {seed}".encode())
    return NewPhoto(name, _crop(seed % 256), {key: _unit(seed)}, original=original, **kwargs)


def test_people_and_photos_crud(store):
    before = store.change_counter()
    ids = store.add_photos([_photo("Aaron  Peirsol", 1), _photo("Aaron Peirsol", 2)])
    store.add_photo("Abdullah Gul", crop_png=_crop(), encoding=_unit(3), model_key="k",
                    original=b"gul.jpg bytes")  # fmt: skip
    assert store.change_counter() == before + 2  # one per transaction
    people = store.people()
    assert [(p.name, p.photos) for p in people] == [("Aaron Peirsol", 2), ("Abdullah Gul", 1)]
    assert people[0].first_photo == ids[0]
    # the same file again for the same person is not a second photo
    assert store.add_photos([_photo("Aaron Peirsol", 1)]) == [ids[0]]
    assert store.photo_crop(ids[0]).startswith(b"\x89PNG")
    assert store.photo_original(ids[0]) == b"photo 1"
    names, vectors, photo_ids = store.load_encodings("k")
    assert sorted(names) == ["Aaron Peirsol", "Aaron Peirsol", "Abdullah Gul"]
    assert vectors.shape == (3, 128) and vectors.dtype == np.float32
    np.testing.assert_allclose(vectors[photo_ids.index(ids[1])], _unit(2), atol=1e-7)
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
        store.add_photos([_photo("Ana", 1), _photo("a/b", 2)])
    assert store.people() == [] and store.change_counter() == before


def test_replacing_and_removing_photos(store):
    (old,) = store.add_photos([_photo("Ana", 1, source="folder:/x/Ana.jpg")])
    (new,) = store.add_photos([_photo("Ana", 2, source="folder:/x/Ana.jpg", replaces=old)])
    assert [p.id for p in store.photos()] == [new]
    assert store.remove_photos([new, 12345]) == 1
    assert store.people() == []  # dropped with their last photo
    assert store.remove_photos([]) == 0


def test_encodings_per_model_key(store):
    ids = store.add_photos([_photo("Ana", i) for i in range(3)])
    assert store.missing_encodings("k") == []
    assert store.missing_encodings("other") == ids
    assert [i for i, _, _ in store.photo_images(ids)] == ids
    assert store.photo_images([ids[0]])[0][1:] == (b"photo 0", _crop(0))
    store.remove_photo(ids[2])
    assert store.store_encodings("other", ids, [_unit(9)] * 3) == 2  # a removed photo skipped
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
    store.add_photos([_photo("Ana", 1), _photo("Ben", 2)])
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
    crop = _crop()
    first = store.keep_visitor("lobby", crop, _unit(1), "visit-1", days=7, model_key="k")
    assert first is not None
    assert store.keep_visitor("lobby", crop, _unit(2), "visit-1", days=7, model_key="k") is None
    second = store.keep_visitor("lobby", crop, _unit(3), "visit-2", days=7, model_key="k")
    old = store.keep_visitor("side", crop, _unit(4), "v", days=1, time=utcnow() - timedelta(days=2))
    assert [v.id for v in store.visitors()] == [second, first, old]  # newest first
    assert store.purge_expired() == 1
    assert store.visitor_crop(first).startswith(b"\x89PNG")
    photo_id = store.assign_visitor(first, "Visitor Ana", {"k": store.visitor(first).vector})
    assert store.photos("Visitor Ana")[0].source == "visitor"
    assert store.photo_original(photo_id) is None
    names, vectors, _ = store.load_encodings("k")
    assert names == ["Visitor Ana"]
    np.testing.assert_allclose(vectors[0], _unit(1), atol=1e-6)
    assert store.dismiss_visitor(second) and not store.dismiss_visitor(second)
    assert store.visitors() == []
    with pytest.raises(LibraryError, match="dismissed or expired"):
        store.assign_visitor(second, "x", {})


def test_change_counter_seen_by_another_kiosk_within_2s(db_url):
    from greeter.library.live import LiveLibrary

    with Store(db_url) as admin, Store(db_url) as kiosk_store:
        live = LiveLibrary(kiosk_store, "k", kiosk="k2", interval=0.5).start()
        try:
            assert len(live.database) == 0
            start = time.monotonic()
            admin.add_photos([_photo("Aaron Peirsol", 0)])
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
            assert live.keep_visitor(np.zeros((96, 96, 3), np.uint8), _unit(0), "visit-9")
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
