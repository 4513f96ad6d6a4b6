"""Face detectors (the contract, Haar) and the seed's Haar-offset crop kept for comparison."""

import threading
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest

from fr_utils.align import FaceAligner, face_crop_from_photo
from fr_utils.faces import (
    DEFAULT_CROP,
    HAAR_BOX_CROP,
    OPENFACE_HAAR_CROP,
    CropSpec,
    FaceDetector,
    HaarDetector,
    NoFaceFound,
    crop_face,
)
from fr_utils.preprocess import ImageError


@pytest.fixture(scope="module")
def detector():
    return HaarDetector()


@pytest.fixture(scope="module")
def photo(video_dir):
    """A full RGBA reference photo with one face (not a tight crop)."""
    return video_dir / "lin-manuel-miranda.png"


def test_crop_defaults_are_the_weights_crop():
    assert DEFAULT_CROP == OPENFACE_HAAR_CROP == CropSpec(0.855, 0.07, 0.25)
    assert CropSpec(1.0, 0.0, 0.0) == HAAR_BOX_CROP
    with pytest.raises(ValueError, match="scale=0"):
        CropSpec(scale=0)
    with pytest.raises(ValueError, match="scale_factor=1.0"):
        HaarDetector(scale_factor=1.0)


def test_crop_geometry_and_padding():
    image = np.arange(200 * 300 * 3, dtype=np.uint32).reshape(200, 300, 3).astype(np.uint8)
    box = (100, 50, 96, 96)
    np.testing.assert_array_equal(crop_face(image, box, HAAR_BOX_CROP), image[50:146, 100:196])
    # the default crop: side 0.855*96 = 82, from (100 + 6.72, 50 + 24) -> (107, 74)
    expected = cv2.resize(image[74:156, 107:189], (96, 96), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(crop_face(image, box), expected)
    corner = crop_face(image, (-20, -20, 96, 96), HAAR_BOX_CROP)  # leaves the image: zero pad
    assert corner.shape == (96, 96, 3)
    assert not corner[:20, :20].any()
    np.testing.assert_array_equal(corner[20:, 20:], image[:76, :76])


def test_detect_and_crop_photo(photo, detector):
    bgr = cv2.imread(str(photo))
    boxes = detector(bgr)
    assert boxes.ndim == 2 and boxes.shape[1] == 4 and len(boxes) >= 1
    areas = boxes[:, 2] * boxes[:, 3]
    assert list(areas) == sorted(areas, reverse=True)
    np.testing.assert_array_equal(detector(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)), boxes)
    assert isinstance(detector, FaceDetector) and detector.thread_safe
    assert detector.cache_key() != HaarDetector(min_neighbors=3).cache_key()


def test_small_course_faces_must_show_a_detected_face(course_dir, detector):
    """No more 'already a tight crop' rule: a 96x96 photo is enlarged and searched too."""
    face, n = face_crop_from_photo(course_dir / "younes.jpg", detector, FaceAligner())
    assert face.shape == (96, 96, 3) and n == 1
    assert not np.array_equal(face, cv2.imread(str(course_dir / "younes.jpg")))


def test_no_face(tmp_path, detector):
    blank = np.full((300, 400, 3), 128, np.uint8)
    cv2.imwrite(str(tmp_path / "wall.jpg"), blank)
    with pytest.raises(NoFaceFound, match=r"wall\.jpg: no face found \(400x300 image\)"):
        face_crop_from_photo(tmp_path / "wall.jpg", detector)
    with pytest.raises(NoFaceFound, match=r"^no face found"):
        face_crop_from_photo(blank, detector)
    assert issubclass(NoFaceFound, ImageError)


def test_each_thread_gets_its_own_cascade(detector):
    """cv2.CascadeClassifier is not thread-safe: HaarDetector must not share one."""
    barrier = threading.Barrier(2)

    def cascade_id(_):
        barrier.wait()  # both threads alive at once, so they cannot be the same thread
        return id(detector._cascade())

    with ThreadPoolExecutor(2) as pool:
        ids = set(pool.map(cascade_id, range(2)))
    assert len(ids) == 2 and id(detector._cascade()) not in ids


def test_threaded_detection_gives_the_serial_crops(lfw_dir, detector):
    """Two threads on one detector and aligner give byte-identical crops to one thread."""
    people = sorted((lfw_dir / "images").iterdir())[:40]
    paths = [photo for person in people for photo in sorted(person.iterdir())[:4]][:40]
    aligner = FaceAligner()

    def crop(path):
        try:
            return face_crop_from_photo(path, detector, aligner)
        except NoFaceFound:
            return None

    serial = [crop(path) for path in paths]
    with ThreadPoolExecutor(2) as pool:
        threaded = list(pool.map(crop, paths))
    assert sum(s is not None for s in serial) >= 30
    for path, one, many in zip(paths, serial, threaded):
        assert (one is None) == (many is None), path
        if one is not None:
            assert one[1] == many[1] and np.array_equal(one[0], many[0]), path


def test_centre_order_puts_the_most_central_face_first():
    image = np.zeros((300, 300), np.uint8)
    detector = HaarDetector(order="centre")
    boxes = np.array([[0, 0, 120, 120], [110, 110, 80, 80]])  # big corner face, small central one

    class _Cascade:
        def detectMultiScale(self, gray, **kwargs):
            return boxes

    detector._local.cascade = _Cascade()
    assert detector(image)[0].tolist() == [110, 110, 80, 80]
    largest = HaarDetector()
    largest._local.cascade = _Cascade()
    assert largest(image)[0].tolist() == [0, 0, 120, 120]
    with pytest.raises(ValueError, match="order"):
        HaarDetector(order="left")


def test_haar_follows_the_detector_contract():
    detector = HaarDetector()
    assert isinstance(detector, FaceDetector) and detector.thread_safe is True
    keys = {
        HaarDetector().cache_key(),
        HaarDetector(scale_factor=1.2).cache_key(),
        HaarDetector(min_neighbors=3).cache_key(),
        HaarDetector(min_size=30).cache_key(),
        HaarDetector(order="centre").cache_key(),
    }
    assert len(keys) == 5  # every setting that changes the boxes changes the key
    assert detector.cache_key() == HaarDetector().cache_key()
    boxes = detector(np.zeros((120, 160, 3), np.uint8))
    assert boxes.shape == (0, 4) and boxes.dtype.kind == "i"
