"""The store on SQLite and on a real PostgreSQL server: schema, CRUD, refusals, encodings,
events, kiosks, visitors, and passwords kept out of messages."""

import logging
import time
from datetime import timedelta

import cv2
import numpy as np
import pytest
from sqlalchemy import inspect

from fr_utils.faces import NoFaceFound
from fr_utils.preprocess import ImageError
from greeter.library import schema
from greeter.library.enroller import SeveralFaces
from greeter.library.store import LibraryError, Store, StoreUnavailable, utcnow

pytestmark = pytest.mark.shared


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


def test_people_and_photos_crud(store, enroller, photos):
    before = store.change_counter()
    ids = [store.add_photo("Aaron  Peirsol", p, enroller) for p in photos["aaron"][:2]]
    store.add_photo("Abdullah Gul", photos["gul"][0].read_bytes(), enroller, label="gul.jpg")
    assert store.change_counter() == before + 3
    people = store.people()
    assert [(p.name, p.photos) for p in people] == [("Aaron Peirsol", 2), ("Abdullah Gul", 1)]
    # the same file again for the same person is not a second photo
    assert store.add_photo("Aaron Peirsol", photos["aaron"][0], enroller) == ids[0]
    crop = cv2.imdecode(np.frombuffer(store.photo_crop(ids[0]), np.uint8), cv2.IMREAD_COLOR)
    assert crop.shape == (96, 96, 3)
    assert store.photo_original(ids[0]) == photos["aaron"][0].read_bytes()
    names, vectors, photo_ids = store.load_encodings(enroller.model_key)
    assert sorted(names) == ["Aaron Peirsol", "Aaron Peirsol", "Abdullah Gul"]
    assert vectors.shape == (3, 128) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert set(photo_ids) == {p.id for p in store.photos()}

    store.rename_person("Aaron Peirsol", "Aaron P")
    assert [p.name for p in store.people()] == ["Aaron P", "Abdullah Gul"]
    with pytest.raises(LibraryError, match="already exists"):
        store.rename_person("Aaron P", "Abdullah Gul")
    with pytest.raises(LibraryError, match="No person named 'Nobody'"):
        store.remove_person("Nobody")
    store.remove_photo(ids[1])
    assert store.person("Aaron P").photos == 1
    assert store.remove_person("Aaron P") == 1
    assert [p.name for p in store.people()] == ["Abdullah Gul"]
    assert store.load_encodings(enroller.model_key)[1].shape == (1, 128)  # cascade: encodings gone
    for bad in ("", "a/b", ".hidden", "x" * 300):
        with pytest.raises(LibraryError):
            store.add_person(bad)


@pytest.mark.parametrize(
    "which, error, words",
    [
        ("no_face", NoFaceFound, "no face"),
        ("two_faces", SeveralFaces, "2 faces"),
        ("not_image", ImageError, "not a readable image"),
        ("missing", ImageError, "cannot be read"),
    ],
)
def test_refusals_store_nothing_and_name_the_file(store, enroller, photos, tmp_path, which,
                                                  error, words):  # fmt: skip
    paths = dict(photos, not_image=tmp_path / "notes.jpg", missing=tmp_path / "gone.jpg")
    (tmp_path / "notes.jpg").write_text("not a photo")
    before = store.change_counter()
    with pytest.raises(error) as info:
        store.add_photo("Someone New", paths[which], enroller)
    assert str(paths[which]) in str(info.value) and words in str(info.value)
    assert store.people() == [] and store.photos() == []
    assert store.change_counter() == before


def test_add_photos_one_bad_photo_does_not_stop_the_others(store, enroller, photos):
    added, refused = store.add_photos(
        "Abdullah Gul", [photos["gul"][0], photos["no_face"], photos["gul"][1]], enroller
    )
    assert len(added) == 2
    assert list(refused) == [str(photos["no_face"])]


class _OtherKey:
    """The same real pipeline under another model key (as after a weights/aligner change)."""

    def __init__(self, enroller):
        self.inner, self.model_key, self.calls = enroller, enroller.model_key + "-v2", 0

    def enroll(self, image, label):
        self.calls += 1
        return self.inner.enroll(image, label)


def test_ensure_encodings_computes_only_missing(store, enroller, photos):
    for p in photos["aaron"]:
        store.add_photo("Aaron Peirsol", p, enroller)
    assert store.ensure_encodings(enroller) == (0, {})  # all there already
    other = _OtherKey(enroller)
    assert store.missing_encodings(other.model_key) == [p.id for p in store.photos()]
    computed, failed = store.ensure_encodings(other)
    assert (computed, failed, other.calls) == (3, {}, 3)
    assert store.ensure_encodings(other) == (0, {}) and other.calls == 3
    a = store.load_encodings(enroller.model_key)[1]
    b = store.load_encodings(other.model_key)[1]
    np.testing.assert_allclose(a, b, atol=1e-4)  # re-aligned from the stored originals


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
    assert list(store.last_greeted()) == ["Ana"]


def test_kiosk_heartbeat(store):
    store.heartbeat("lobby", fps=9.5, threshold=0.52, weights="w.h5", runtime="keras")
    store.heartbeat("lobby", fps=10.0)
    (kiosk,) = store.kiosks()
    assert (kiosk.name, kiosk.fps, kiosk.threshold, kiosk.runtime) == ("lobby", 10.0, 0.52, "keras")
    with pytest.raises(ValueError, match="Unknown kiosk status"):
        store.heartbeat("lobby", password="x")


def test_visitors_one_per_visit_assign_dismiss_purge(store, enroller, photos):
    crop = np.full((96, 96, 3), 128, np.uint8)
    first = store.keep_visitor("lobby", crop, _unit(1), "visit-1", days=7, model_key="k")
    assert first is not None
    assert store.keep_visitor("lobby", crop, _unit(2), "visit-1", days=7, model_key="k") is None
    second = store.keep_visitor("lobby", crop, _unit(3), "visit-2", days=7, model_key="k")
    old = store.keep_visitor("side", crop, _unit(4), "v", days=1, time=utcnow() - timedelta(days=2))
    assert [v.id for v in store.visitors()] == [second, first, old]  # newest first
    assert store.purge_expired() == 1
    assert store.visitor_crop(first).startswith(b"\x89PNG")
    photo_id = store.assign_visitor(first, "Visitor Ana")
    assert store.photos("Visitor Ana")[0].source == "visitor"
    assert store.photo_original(photo_id) is None
    names, vectors, _ = store.load_encodings("k")
    assert names == ["Visitor Ana"]
    np.testing.assert_allclose(vectors[0], _unit(1), atol=1e-6)
    assert store.dismiss_visitor(second) and not store.dismiss_visitor(second)
    assert store.visitors() == []
    with pytest.raises(LibraryError, match="dismissed or expired"):
        store.assign_visitor(second, "x")


def test_change_counter_seen_by_another_kiosk_within_2s(db_url, enroller, photos):
    from greeter.library.live import LiveLibrary

    with Store(db_url) as admin, Store(db_url) as kiosk_store:
        live = LiveLibrary(kiosk_store, enroller.model_key, kiosk="k2", interval=0.5).start()
        try:
            assert len(live.database) == 0
            start = time.monotonic()
            admin.add_photo("Aaron Peirsol", photos["aaron"][0], enroller)
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


def test_uploaded_bytes_refusals_name_the_upload(store, enroller, photos):
    for data, words in [
        (photos["no_face"].read_bytes(), "no face"),
        (photos["two_faces"].read_bytes(), "2 faces"),
        (b"GIF89a not really", "not a readable image"),
    ]:
        with pytest.raises(ValueError) as info:
            store.add_photo("Uploader", data, enroller, label="upload.jpg")
        assert str(info.value).startswith("upload.jpg: ") and words in str(info.value)
    assert store.people() == []
    photo_id = store.add_photo("Uploader", photos["gul"][0].read_bytes(), enroller, label="u.jpg")
    assert store.photo_original(photo_id) == photos["gul"][0].read_bytes()
