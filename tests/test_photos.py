"""encode_photos: each photo encoded once, changes noticed, bad photos reported not raised."""

import shutil

import cv2
import numpy as np
import pytest

from fr_utils.encoding import encode_faces
from fr_utils.faces import HAAR_BOX_CROP, HaarDetector
from fr_utils.photos import encode_photos, model_key


@pytest.fixture(scope="module")
def detector():
    return HaarDetector()


@pytest.fixture
def folder(course_dir, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("younes.jpg", "kian.jpg", "dan.jpg"):
        shutil.copy(course_dir / name, photos / name)
    cv2.imwrite(str(photos / "wall.jpg"), np.full((300, 400, 3), 90, np.uint8))  # no face
    (photos / "broken.jpg").write_text("not a jpeg")
    return photos


@pytest.mark.shared
def test_encode_cache_and_changes(folder, model, detector, tmp_path, caplog):
    paths = sorted(folder.iterdir())
    cache = tmp_path / "cache"
    first = encode_photos(paths, model, detector, cache_dir=cache, progress=False)
    good = [folder / n for n in ("dan.jpg", "kian.jpg", "younes.jpg")]
    assert sorted(first.encodings) == good and first.encoded == 3
    assert list(first.no_face) == [folder / "wall.jpg"]
    assert list(first.unreadable) == [folder / "broken.jpg"]
    assert "broken.jpg: not a readable image" in caplog.text
    np.testing.assert_allclose(np.stack([first.encodings[p] for p in good]),
                               encode_faces(good, model), atol=1e-5)

    second = encode_photos(paths, model, detector, cache_dir=cache, progress=False)
    assert second.encoded == 0
    assert "cached result" in second.no_face[folder / "wall.jpg"]  # "no face" remembered
    for p in good:
        np.testing.assert_array_equal(second.encodings[p], first.encodings[p])

    dan = folder / "dan.jpg"
    cv2.imwrite(str(dan), cv2.imread(str(dan))[:, ::-1])  # changed content, same path
    third = encode_photos(paths, model, detector, cache_dir=cache, progress=False)
    assert third.encoded == 1
    np.testing.assert_allclose(third.encodings[dan], encode_faces([dan], model)[0], atol=1e-5)
    assert np.linalg.norm(third.encodings[dan] - first.encodings[dan]) > 1e-3
    # the cache is keyed by content: a copy under another name is not encoded again
    shutil.copy(folder / "kian.jpg", folder / "kian_copy.jpg")
    fourth = encode_photos([folder / "kian_copy.jpg"], model, detector, cache_dir=cache,
                           progress=False)
    assert fourth.encoded == 0
    np.testing.assert_array_equal(fourth.encodings[folder / "kian_copy.jpg"],
                                  first.encodings[folder / "kian.jpg"])


@pytest.mark.shared
def test_without_cache_and_missing_file(folder, model, detector, tmp_path):
    result = encode_photos([folder / "younes.jpg", tmp_path / "gone.jpg"], model, detector,
                           progress=False)
    assert result.encoded == 1 and list(result.encodings) == [folder / "younes.jpg"]
    assert "gone.jpg: cannot be read" in result.unreadable[tmp_path / "gone.jpg"]


@pytest.mark.shared
def test_model_key(model, bare_model, detector):
    key = model_key(model, detector)
    assert key == model_key(model, HaarDetector())
    assert key != model_key(model, detector, HAAR_BOX_CROP)
    assert key != model_key(model, HaarDetector(min_neighbors=3))
    assert key != model_key(bare_model, detector)
