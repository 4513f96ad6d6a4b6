"""verify / who_is_it: the course's messages and return values, thresholds, distances."""

import re

import numpy as np
import pytest

from fr_utils.database import FaceDatabase, prepare_database
from fr_utils.encoding import encode_faces, img_to_encoding
from fr_utils.matching import VERIFY_THRESHOLD, Verdict, face_distance, verify, who_is_it


@pytest.fixture(scope="module")
def database(course_database_dir, model):
    return prepare_database(course_database_dir, model)


def test_constants():
    assert VERIFY_THRESHOLD == 0.7  # the course's value: its notebook's verdicts depend on it


def test_face_distance():
    known = np.eye(3, 128, dtype=np.float32)
    np.testing.assert_allclose(
        face_distance(known, known[0]), [0.0, np.sqrt(2), np.sqrt(2)], atol=1e-6
    )
    assert face_distance(np.zeros((0, 128)), known[0]).shape == (0,)


def test_verify_accepts(database, model, course_dir, capsys):
    verdict = verify(course_dir / "camera_0.jpg", "younes", database, model)
    assert capsys.readouterr().out == "It's younes, welcome home!\n"
    dist, door_open = verdict
    assert isinstance(verdict, Verdict) and isinstance(verdict, tuple) and len(verdict) == 2
    assert door_open is True and verdict.accepted is True
    assert verdict.threshold == VERIFY_THRESHOLD and verdict.distance == dist
    assert 0 < dist < VERIFY_THRESHOLD


def test_verify_rejects(database, model, course_dir, capsys):
    dist, door_open = verify(course_dir / "camera_2.jpg", "kian", database, model)
    assert capsys.readouterr().out == "It's not kian, please go away\n"
    assert door_open is False and dist > VERIFY_THRESHOLD
    strict = verify(course_dir / "camera_0.jpg", "younes", database, model, threshold=0.3)
    assert strict.threshold == 0.3 and strict[1] is False  # lower is stricter
    with pytest.raises(KeyError, match="nobody"):
        verify(course_dir / "camera_0.jpg", "nobody", database, model)


def test_who_is_it(database, model, course_dir, capsys):
    verdict = who_is_it(course_dir / "camera_0.jpg", database, model)
    dist, identity = verdict
    assert identity == "younes" and verdict.accepted
    out = capsys.readouterr().out
    assert re.fullmatch(r"it's younes, the distance is 0\.\d{6}\n", out)
    assert out == f"it's younes, the distance is {dist:.6f}\n"
    # the distance is to the nearest photo of the nearest person
    nearest = face_distance(database["younes"], _enc(model, course_dir)).min()
    assert dist == pytest.approx(float(nearest), abs=1e-5)


def _enc(model, course_dir):
    return img_to_encoding(course_dir / "camera_0.jpg", model)


def test_who_is_it_not_in_database(database, model, course_dir, capsys):
    dist, identity = verdict = who_is_it(
        course_dir / "camera_0.jpg", database, model, threshold=0.3
    )
    assert capsys.readouterr().out == "Not in the database.\n"
    assert identity == "younes" and dist > 0.3  # as in the course: nearest, even when rejected
    assert verdict.accepted is False and verdict.threshold == 0.3


def test_empty_database(model, course_dir, capsys):
    dist, identity = who_is_it(course_dir / "camera_0.jpg", {}, model)
    assert (dist, identity) == (np.inf, None)
    assert capsys.readouterr().out == "The database is empty.\n"


@pytest.mark.parametrize("threshold", [0, -0.5, np.nan, np.inf])
def test_bad_threshold(database, model, course_dir, threshold):
    with pytest.raises(ValueError, match="threshold"):
        who_is_it(course_dir / "camera_0.jpg", database, model, threshold=threshold)


def test_several_photos_nearest_wins(model, course_dir, capsys):
    far, near = encode_faces([course_dir / "kian.jpg", course_dir / "younes.jpg"], model)
    db = FaceDatabase(["younes", "younes", "kian"], [far, near, far])
    dist, _ok = verify(course_dir / "camera_0.jpg", "younes", db, model)
    query = _enc(model, course_dir)
    assert dist == pytest.approx(float(np.linalg.norm(near - query)), abs=1e-5)
    assert dist < float(np.linalg.norm(far - query))
    capsys.readouterr()
