"""encode_photos: each photo encoded once, changes noticed, bad photos reported not raised."""

import shutil

import cv2
import numpy as np
import pytest

from fr_utils.encoding import encode_faces
from fr_utils.faces import HAAR_BOX_CROP, HaarDetector
from fr_utils import photos
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


@pytest.mark.shared
def test_threaded_detection_gives_the_serial_result(lfw_dir, folder, model, detector, monkeypatch):
    """Detection threads pipelined with encoding: same encodings, same reports, in order."""
    monkeypatch.setattr(photos, "_CHUNK", 8)  # several chunks, detection runs ahead of encoding
    people = sorted((lfw_dir / "images").iterdir())[:8]
    paths = [p for person in people for p in sorted(person.iterdir())[:3]][:20]
    paths += sorted(folder.iterdir())  # a photo with no face and an unreadable one
    serial = encode_photos(paths, model, detector, progress=False, workers=1)
    opencv_threads = cv2.getNumThreads()
    threaded = encode_photos(paths, model, detector, progress=False, workers=2)
    assert cv2.getNumThreads() == opencv_threads  # set to 1 while the pool ran, then restored
    assert list(threaded.encodings) == list(serial.encodings) and threaded.encoded == serial.encoded
    for path, encoding in serial.encodings.items():
        np.testing.assert_array_equal(threaded.encodings[path], encoding)
    assert threaded.no_face == serial.no_face and threaded.unreadable == serial.unreadable
    assert threaded.several_faces == serial.several_faces
    assert serial.encoded >= 10 and len(serial.no_face) >= 1


def test_workers(detector):
    assert photos.default_workers(detector) >= 1
    assert photos.default_workers(lambda image: np.zeros((0, 4), int)) == 1  # unknown: serial
    with pytest.raises(ValueError, match="workers"):
        encode_photos([], None, detector, workers=0)
