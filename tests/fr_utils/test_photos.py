"""encode_photos: each photo encoded once, changes noticed, bad photos reported not raised;
the encoding cache: round trip, "no face" remembered, damaged files rebuilt with one warning, an
unwritable cache never fatal, concurrent writers losing nothing, where it lives."""

import hashlib
import os
import shutil

import cv2
import numpy as np
import pytest

from fr_utils import photos
from fr_utils.align import DlibDetector, FaceAligner, face_crop_from_photo
from fr_utils.encoding import as_encoder, encoding_key
from fr_utils.faces import HaarDetector
from fr_utils.photos import EncodingCache, encode_photos
from tests.helpers.vectors import one_hot


@pytest.fixture(scope="module")
def detector():
    return HaarDetector()


@pytest.fixture(scope="module")
def aligner():
    return FaceAligner()


@pytest.fixture(scope="module")
def encoder(model, weights_path):
    return as_encoder(model, weights=weights_path)


def _aligned(paths, detector, aligner):
    return [face_crop_from_photo(p, detector, aligner)[0] for p in paths]


@pytest.fixture
def folder(course_dir, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("younes.jpg", "kian.jpg", "dan.jpg"):
        shutil.copy(course_dir / name, photos / name)
    cv2.imwrite(str(photos / "wall.jpg"), np.full((300, 400, 3), 90, np.uint8))  # no face
    (photos / "broken.jpg").write_text("not a jpeg")
    return photos


def test_encode_cache_and_changes(folder, encoder, detector, aligner, tmp_path, caplog):
    paths = sorted(folder.iterdir())
    cache = tmp_path / "cache"
    first = encode_photos(paths, encoder, detector, cache_dir=cache, progress=False)
    good = [folder / n for n in ("dan.jpg", "kian.jpg", "younes.jpg")]
    assert sorted(first.encodings) == good and first.encoded == 3
    assert list(first.no_face) == [folder / "wall.jpg"]
    assert list(first.unreadable) == [folder / "broken.jpg"]
    assert "broken.jpg: not a readable image" in caplog.text
    np.testing.assert_allclose(  # the one pipeline: detect, align, encode (flip-averaged)
        np.stack([first.encodings[p] for p in good]),
        encoder(_aligned(good, detector, aligner)),
        atol=1e-5,
    )

    second = encode_photos(paths, encoder, detector, cache_dir=cache, progress=False)
    assert second.encoded == 0
    assert "cached result" in second.no_face[folder / "wall.jpg"]  # "no face" remembered
    for p in good:
        np.testing.assert_array_equal(second.encodings[p], first.encodings[p])

    dan = folder / "dan.jpg"
    cv2.imwrite(str(dan), cv2.imread(str(dan))[:, ::-1])  # changed content, same path
    third = encode_photos(paths, encoder, detector, cache_dir=cache, progress=False)
    assert third.encoded == 1
    np.testing.assert_allclose(
        third.encodings[dan], encoder(_aligned([dan], detector, aligner))[0], atol=1e-5
    )
    assert np.linalg.norm(third.encodings[dan] - first.encodings[dan]) > 1e-3
    # the cache is keyed by content: a copy under another name is not encoded again
    shutil.copy(folder / "kian.jpg", folder / "kian_copy.jpg")
    fourth = encode_photos(
        [folder / "kian_copy.jpg"], encoder, detector, cache_dir=cache, progress=False
    )
    assert fourth.encoded == 0
    np.testing.assert_array_equal(
        fourth.encodings[folder / "kian_copy.jpg"], first.encodings[folder / "kian.jpg"]
    )


def test_without_cache_and_missing_file(folder, model, tmp_path):
    result = encode_photos(  # a Keras model is wrapped in a FaceEncoder; dlib detects
        [folder / "younes.jpg", tmp_path / "gone.jpg"], model, progress=False
    )
    assert result.encoded == 1 and list(result.encodings) == [folder / "younes.jpg"]
    assert "gone.jpg: cannot be read" in result.unreadable[tmp_path / "gone.jpg"]


class _Boxes:
    """A detector that is not a dataclass: the contract is cache_key() and thread_safe."""

    thread_safe = True

    def __init__(self, size):
        self.size = size

    def cache_key(self):
        return f"fixed box {self.size}"

    def __call__(self, image):
        return np.array([[0, 0, self.size, self.size]])


def test_encoding_key(model, bare_model, encoder, detector, aligner, weights_path):
    key = encoding_key(encoder, detector, aligner)
    same = as_encoder(model, weights=weights_path)
    assert key == encoding_key(same, HaarDetector(), FaceAligner())
    single = as_encoder(model, flip=False, weights=weights_path)
    assert key != encoding_key(single, detector, aligner)
    assert key != encoding_key(encoder, HaarDetector(min_neighbors=3), aligner)
    assert key != encoding_key(encoder, HaarDetector(order="centre"), aligner)
    assert key != encoding_key(encoder, DlibDetector(), aligner)
    assert key != encoding_key(encoder, detector, FaceAligner(size=112))
    assert key != encoding_key(as_encoder(bare_model), detector, aligner)
    assert encoding_key(encoder, _Boxes(50), aligner) != encoding_key(encoder, _Boxes(60), aligner)
    # keyed by the weights file (no TensorFlow): the model's variables are not read
    assert encoding_key(as_encoder(bare_model, weights=weights_path), detector, aligner) == key
    with pytest.raises(TypeError, match="cache_key"):
        encoding_key(encoder, lambda image: np.zeros((0, 4), int), aligner)


def test_any_detector_following_the_contract(folder, encoder, tmp_path):
    """A non-dataclass detector works end to end and is cached under its own key."""
    paths = [folder / "younes.jpg", folder / "wall.jpg"]
    first = encode_photos(paths, encoder, _Boxes(200), cache_dir=tmp_path, progress=False)
    assert first.encoded == 2 and not first.no_face
    again = encode_photos(paths, encoder, _Boxes(200), cache_dir=tmp_path, progress=False)
    assert again.encoded == 0
    other = encode_photos(paths, encoder, _Boxes(100), cache_dir=tmp_path, progress=False)
    assert other.encoded == 2


def test_threaded_detection_gives_the_serial_result(
    lfw_dir, folder, encoder, detector, monkeypatch
):
    """Detection threads pipelined with encoding: same encodings, same reports, in order."""
    monkeypatch.setattr(photos, "_CHUNK", 8)  # several chunks, detection runs ahead of encoding
    people = sorted((lfw_dir / "images").iterdir())[:8]
    paths = [p for person in people for p in sorted(person.iterdir())[:3]][:20]
    paths += sorted(folder.iterdir())  # a photo with no face and an unreadable one
    serial = encode_photos(paths, encoder, detector, progress=False, workers=1)
    opencv_threads = cv2.getNumThreads()
    threaded = encode_photos(paths, encoder, detector, progress=False, workers=2)
    assert cv2.getNumThreads() == opencv_threads  # set to 1 while the pool ran, then restored
    assert list(threaded.encodings) == list(serial.encodings) and threaded.encoded == serial.encoded
    for path, encoding in serial.encodings.items():
        np.testing.assert_array_equal(threaded.encodings[path], encoding)
    assert threaded.no_face == serial.no_face and threaded.unreadable == serial.unreadable
    assert threaded.several_faces == serial.several_faces
    assert serial.encoded >= 10 and len(serial.no_face) >= 1


def test_workers(detector):
    threads = min(os.cpu_count() or 1, 4)
    assert photos.default_workers(detector) == threads  # Haar: thread_safe
    assert photos.default_workers(_Boxes(10)) == threads  # any thread_safe detector
    _Boxes.thread_safe = False
    try:
        assert photos.default_workers(_Boxes(10)) == 1
    finally:
        _Boxes.thread_safe = True
    assert photos.default_workers(lambda image: np.zeros((0, 4), int)) == 1  # unknown: serial
    with pytest.raises(ValueError, match="workers"):
        encode_photos([], None, detector, workers=0)


# ----------------------------------------------------------------------------- the cache


def _digest(text):
    return hashlib.sha256(text.encode()).hexdigest()  # cache keys are photo sha256s


def test_cache_round_trip(tmp_path):
    cache = EncodingCache(tmp_path, "abc")
    row = np.random.default_rng(0).standard_normal(128).astype(np.float32)
    row /= np.linalg.norm(row)  # encodings are unit vectors
    one, two, three = _digest("photo1"), _digest("photo2"), _digest("photo3")
    cache.put(one, row)
    cache.put(two, None)  # no face
    cache.save()
    assert cache.path.parent == tmp_path and cache.path.is_file()
    assert cache.path.name.startswith("encodings-") and cache.path.suffix == ".npz"
    back = EncodingCache(tmp_path, "abc")
    assert len(back) == 2 and one in back and two in back and three not in back
    np.testing.assert_array_equal(back.get(one), row)
    assert back.get(two) is None
    assert len(EncodingCache(tmp_path, "other-model")) == 0


def test_damaged_cache_is_ignored(tmp_path):
    path = EncodingCache(tmp_path, "abc").path
    path.write_bytes(b"PK\x03\x04 this is not a zip")
    cache = EncodingCache(tmp_path, "abc")
    assert len(cache) == 0
    cache.put(_digest("photo"), np.ones(128) / np.sqrt(128))
    cache.save()  # rebuilt atomically over the damaged file
    assert len(EncodingCache(tmp_path, "abc")) == 1
    assert list(tmp_path.iterdir()) == [path]


def _key(i):
    return f"{i:064x}"  # a photo's sha256: any 64 hex digits


def _write_cache(path, keys, rows, found):
    with path.open("wb") as f:
        np.savez(f, keys=np.asarray(keys, dtype=str), encodings=rows, found=found)


@pytest.mark.parametrize(
    "damage, problem",
    [
        ("width", "encodings have shape (3, 64), expected (3, 128)"),
        ("nan_and_zero", "2 encodings not finite unit vectors, dropped"),
        ("keys", "keys (2,)"),
        ("garbage", "unreadable"),
    ],
)
def test_damaged_cache_is_rebuilt_with_one_warning_naming_it(tmp_path, caplog, damage, problem):
    from fr_utils.photos import EncodingCache

    path = EncodingCache(tmp_path, "abc").path
    keys = [_key(i) for i in range(3)]
    rows = np.stack([one_hot(i) for i in range(3)])
    found = np.ones(3, bool)
    if damage == "width":
        _write_cache(path, keys, rows[:, :64], found)
    elif damage == "nan_and_zero":
        rows[1] = np.nan
        rows[2] = 0.0
        _write_cache(path, keys, rows, found)
    elif damage == "keys":
        _write_cache(path, keys[:2], rows, found)
    else:
        path.write_bytes(b"PK\x03\x04" + os.urandom(200))
    with caplog.at_level("WARNING", logger="fr_utils.photos"):
        cache = EncodingCache(tmp_path, "abc")
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and str(path) in warnings[0] and problem in warnings[0]
    assert "rebuilding" in warnings[0]
    assert len(cache) == (1 if damage == "nan_and_zero" else 0)  # only good rows are trusted
    cache.save()  # rewritten clean even without new entries
    caplog.clear()
    with caplog.at_level("WARNING", logger="fr_utils.photos"):
        again = EncodingCache(tmp_path, "abc")
    assert not caplog.records and len(again) == len(cache)


def test_cache_that_cannot_be_written_degrades_to_no_cache(tmp_path, caplog):
    from fr_utils.photos import EncodingCache

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    cache = EncodingCache(blocker, "abc")
    cache.put(_key(1), one_hot(1))
    with caplog.at_level("WARNING", logger="fr_utils.photos"):
        cache.save()  # never raises
        cache.put(_key(2), one_hot(2))
        cache.save()
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "cannot be written" in warnings[0] and str(blocker) in warnings[0]
    assert cache.disabled and _key(2) in cache  # still serves what it holds in memory


def test_concurrent_cache_writers_lose_nothing(tmp_path):
    import threading

    from fr_utils.photos import EncodingCache

    writers = [EncodingCache(tmp_path, "abc") for _ in range(2)]  # both start from empty
    start = threading.Barrier(2)

    def fill(cache, offset):
        start.wait()
        for i in range(offset, offset + 40):
            cache.put(_key(i), one_hot(i))
            cache.save()

    threads = [threading.Thread(target=fill, args=(c, k * 1000)) for k, c in enumerate(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(EncodingCache(tmp_path, "abc")) == 80
