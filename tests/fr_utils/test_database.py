"""FaceDatabase and prepare_database: the course's 12 people, matching in one op, files."""

import logging
import shutil

import numpy as np
import pytest

from fr_utils.database import FaceDatabase, list_photos, prepare_database
from fr_utils.encoding import img_to_encoding
from tests.helpers.vectors import random_units


@pytest.fixture(scope="module")
def database(course_database_dir, model):
    return prepare_database(course_database_dir, model)


def test_course_database(database):
    assert sorted(database) == [
        "andrew",
        "arnaud",
        "benoit",
        "bertrand",
        "dan",
        "danielle",
        "felix",
        "kevin",
        "kian",
        "sebastiano",
        "tian",
        "younes",
    ]
    assert len(database) == 12 and database["younes"].shape == (1, 128)
    np.testing.assert_allclose(np.linalg.norm(database.encodings, axis=1), 1.0, atol=1e-5)


def test_nearest_many_equals_brute_force():
    rng = np.random.default_rng(0)
    names = [f"p{i % 300}" for i in range(1000)]  # several rows per name
    db = FaceDatabase(names, random_units(rng, 1000))
    queries = random_units(rng, 50)
    got_names, got_dists = db.nearest_many(queries)
    for q, name, dist in zip(queries, got_names, got_dists):
        brute = np.array([np.linalg.norm(q - row) for row in db.encodings])
        assert name == names[int(np.argmin(brute))]
        assert dist == pytest.approx(brute.min(), abs=1e-6)
    np.testing.assert_allclose(
        db.distances(queries),
        np.linalg.norm(queries[:, None] - db.encodings[None], axis=2),
        atol=1e-5,
    )
    assert db.nearest(queries[3]) == (got_names[3], pytest.approx(got_dists[3]))


def test_several_rows_per_name():
    rng = np.random.default_rng(1)
    rows = random_units(rng, 3)
    db = FaceDatabase(["ann", "bob", "ann"], rows)
    assert len(db) == 2 and list(db) == ["ann", "bob"]
    np.testing.assert_array_equal(db["ann"], rows[[0, 2]])
    query = rows[2] + 0.01
    assert db.nearest(query)[0] == "ann"
    assert db.nearest(query)[1] == pytest.approx(float(np.linalg.norm(query - rows[2])), abs=1e-6)
    with pytest.raises(KeyError):
        db["carl"]


def test_from_dict_and_empty():
    rng = np.random.default_rng(2)
    enc = random_units(rng, 3)
    db = FaceDatabase.from_dict({"a": enc[:1], "b": enc[1:]})  # (1,128) and (2,128)
    assert db.names == ["a", "b", "b"]
    empty = FaceDatabase()
    names, dists = empty.nearest_many(enc)
    assert names == [None] * 3 and np.all(np.isinf(dists))
    assert empty.nearest(enc[0]) == (None, np.inf)
    assert FaceDatabase.from_dict({}).nearest(enc[0]) == (None, np.inf)


def test_list_photos(tmp_path):
    for name in ("ann.jpg", "bob.PNG", "carl.jpeg", ".hidden.jpg", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "dora").mkdir()
    for name in ("1.jpg", "2.png", "3.webp", "x.mp4"):
        (tmp_path / "dora" / name).write_bytes(b"")
    got = [(name, path.relative_to(tmp_path).as_posix()) for name, path in list_photos(tmp_path)]
    assert got == [
        ("ann", "ann.jpg"),
        ("bob", "bob.PNG"),
        ("carl", "carl.jpeg"),
        ("dora", "dora/1.jpg"),
        ("dora", "dora/2.png"),
        ("dora", "dora/3.webp"),
    ]


def test_missing_directory(tmp_path):
    with pytest.raises(ValueError, match=r"nowhere: not a folder of photos"):
        list_photos(tmp_path / "nowhere")


def test_bad_photo_is_reported_and_skipped(course_dir, model, tmp_path, caplog):
    for name in ("younes.jpg", "kian.jpg"):
        shutil.copy(course_dir / name, tmp_path / name)
    (tmp_path / "broken.jpg").write_text("not a jpeg")
    with caplog.at_level(logging.WARNING, logger="fr_utils.database"):
        db = prepare_database(tmp_path, model)
    assert sorted(db) == ["kian", "younes"]
    assert "broken.jpg: not a readable image" in caplog.text
    # The course path: each photo fed whole, exactly as img_to_encoding feeds it.
    np.testing.assert_allclose(
        db["younes"], img_to_encoding(course_dir / "younes.jpg", model), atol=1e-5
    )
