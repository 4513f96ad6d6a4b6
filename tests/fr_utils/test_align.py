"""fr_utils.align on real photos: the crop puts the landmarks where the template says."""

import threading

import cv2
import numpy as np
import pytest

from fr_utils import align
from fr_utils.align import (
    TEMPLATE,
    DlibDetector,
    FaceAligner,
    FaceTooSmall,
    align_faces,
    dlib_like_box,
    face_crop_from_photo,
    mirrored,
)
from fr_utils.faces import HaarDetector, NoFaceFound
from tests.helpers.processes import run_python

LFW_PHOTOS = [
    "Aaron_Eckhart/Aaron_Eckhart_0001.jpg",
    "AJ_Cook/AJ_Cook_0001.jpg",
    "Colin_Powell/Colin_Powell_0001.jpg",
    "Serena_Williams/Serena_Williams_0001.jpg",
    "George_W_Bush/George_W_Bush_0001.jpg",
]


@pytest.fixture(scope="module")
def detector():
    return DlibDetector(order="centre")


@pytest.fixture(scope="module")
def aligner():
    return FaceAligner()


@pytest.fixture(scope="module")
def photos(shared_dir):
    lfw = shared_dir / "data" / "lfw" / "images"
    video = shared_dir / "data" / "video"
    paths = [lfw / p for p in LFW_PHOTOS] + sorted(video.glob("*.png"))
    missing = [p for p in paths if not p.is_file()]
    assert not missing, f"shared photos missing: {missing}"
    return paths


def _redetected_landmarks(crop, aligner, pad=48, factor=4):
    """Landmarks found again on an aligned crop, in crop pixels.

    dlib's detector needs a margin around a face and faces of ~80 px or more: the crop is
    padded with black and enlarged before detection, and the points are mapped back.
    """
    padded = cv2.copyMakeBorder(crop, pad, pad, pad, pad, cv2.BORDER_CONSTANT)
    big = cv2.resize(padded, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)
    boxes = DlibDetector()(big)
    assert len(boxes) >= 1, "no face re-detected in the aligned crop"
    return (aligner.landmarks(big, boxes[0]) + 0.5) / factor - 0.5 - pad


def test_landmarks_land_on_the_template(photos, detector, aligner):
    """dlib's landmarks are whole pixels of the photo (about 1 px of the crop for LFW's
    faces) and the re-detected box frames the face a little differently, so single points
    jitter by about a pixel: each photo's mean error must be under 2 px, every point's
    under 3 px, and the mean over all photos under 1.5 px."""
    target = aligner.size * TEMPLATE
    errors = []
    for path in photos:
        crop, _ = face_crop_from_photo(path, detector, aligner)
        assert crop.shape == (96, 96, 3) and crop.dtype == np.uint8
        points = _redetected_landmarks(crop, aligner)[[36, 45, 33]]
        error = np.linalg.norm(points - target, axis=1)
        assert error.mean() < 2.0 and error.max() < 3.0, (
            f"{path.name}: landmarks 36/45/33 off by {error.round(2)} px"
        )
        errors.append(error)
    assert np.mean(errors) < 1.5, np.round(errors, 2)


def test_landmarks_are_in_the_box(photos, detector, aligner):
    image = cv2.imread(str(photos[0]))
    box = detector(image)[0]
    points = aligner.landmarks(image, box)
    assert points.shape == (68, 2) and points.dtype == np.float64
    x, y, w, h = box
    inside = (points[:, 0] > x - 0.2 * w) & (points[:, 0] < x + 1.2 * w)
    inside &= (points[:, 1] > y - 0.2 * h) & (points[:, 1] < y + 1.2 * h)
    assert inside.all()
    assert points[36, 0] < points[45, 0]  # left eye's outer corner on the image's left


def test_haar_and_dlib_boxes_both_give_crops(photos, aligner):
    image = cv2.imread(str(photos[0]))
    dlib_box = DlibDetector(order="centre")(image)[0]
    haar_box = HaarDetector(order="centre")(image)[0]
    dlib_crop, haar_crop = aligner.align(image, dlib_box), aligner.align(image, haar_box)
    assert dlib_crop.shape == haar_crop.shape == (96, 96, 3)
    # the same face, framed a little differently: close, not identical
    assert np.abs(dlib_crop.astype(int) - haar_crop.astype(int)).mean() < 40
    reframed = dlib_like_box(haar_box)
    assert np.abs(reframed - dlib_box).max() < 0.15 * dlib_box[2]  # close to dlib's framing
    assert aligner.align(image, reframed).shape == (96, 96, 3)


def test_detector_orders_and_clips(photos):
    image = cv2.imread(str(photos[0]))
    padded = cv2.copyMakeBorder(image, 0, 0, 0, 400, cv2.BORDER_CONSTANT)  # face off-centre
    for order in ("largest", "centre"):
        boxes = DlibDetector(order=order)(padded)
        assert boxes.dtype.kind == "i" and boxes.shape == (1, 4)
    edge = image[:, 60:]  # the face cut by the left edge
    for x, y, w, h in DlibDetector(upsample=1)(edge):
        assert x >= 0 and y >= 0 and x + w <= edge.shape[1] and y + h <= edge.shape[0]
    assert DlibDetector()(np.zeros((40, 40, 3), np.uint8)).shape == (0, 4)


def test_big_photo_is_detected_on_a_smaller_copy(photos, aligner):
    image = cv2.imread(str(photos[-1]))
    big = cv2.resize(image, None, fx=4, fy=4, interpolation=cv2.INTER_LINEAR)  # ~2800 px
    small_box = DlibDetector(order="centre")(image)[0]
    big_box = DlibDetector(order="centre", max_side=800)(big)[0]
    assert np.abs(big_box / 4 - small_box).max() < 0.1 * small_box[2]
    crop = aligner.align(big, big_box)  # landmarks on the full-resolution image
    assert crop.shape == (96, 96, 3)


def test_small_photo_is_enlarged_and_must_show_a_face(photos, detector, aligner):
    image = cv2.imread(str(photos[1]))
    small = cv2.resize(image, (90, 90), interpolation=cv2.INTER_AREA)
    crop, n_faces = face_crop_from_photo(small, detector, aligner)
    assert crop.shape == (96, 96, 3) and n_faces == 1
    with pytest.raises(NoFaceFound):
        face_crop_from_photo(small, detector, aligner, upscale_small=False)


@pytest.mark.parametrize("shape", [(1, 1, 3), (16, 16, 3), (20, 300, 3)])
def test_too_small_is_refused(tmp_path, shape, detector, aligner):
    path = tmp_path / f"tiny_{shape[0]}x{shape[1]}.png"
    cv2.imwrite(str(path), np.full(shape, 128, np.uint8))
    with pytest.raises(FaceTooSmall, match=f"{path.name}.*too small to hold a face"):
        face_crop_from_photo(path, detector, aligner)


def test_no_face_names_the_file(tmp_path, detector, aligner):
    rng = np.random.default_rng(0)
    for name, image in [
        ("uniform_grey.png", np.full((96, 96, 3), 128, np.uint8)),
        ("noise.png", rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)),
    ]:
        path = tmp_path / name
        cv2.imwrite(str(path), image)
        with pytest.raises(NoFaceFound, match=f"{name}: no face found") as info:
            face_crop_from_photo(path, detector, aligner)
        assert "photo" in str(info.value)  # says what to do
        assert align_faces(path, detector, aligner) == []


def test_align_faces_returns_boxes_and_crops(photos, detector, aligner):
    faces = align_faces(photos[0], detector, aligner)
    assert len(faces) >= 1
    box, crop = faces[0]
    assert box.shape == (4,) and crop.shape == (96, 96, 3)
    assert np.array_equal(mirrored(crop)[:, ::-1], crop)


def test_sizes_and_bad_arguments(photos, detector):
    image = cv2.imread(str(photos[0]))
    box = detector(image)[0]
    assert FaceAligner(size=160).align(image, box).shape == (160, 160, 3)
    assert FaceAligner(size=160).cache_key() != FaceAligner().cache_key()
    assert DlibDetector(upsample=1).cache_key() != DlibDetector().cache_key()
    with pytest.raises(ValueError, match="size"):
        FaceAligner(size=8)
    with pytest.raises(ValueError, match="order"):
        DlibDetector(order="left")
    with pytest.raises(ValueError, match="upsample"):
        DlibDetector(upsample=-1)
    with pytest.raises(ValueError, match="box"):
        FaceAligner().landmarks(image, (0, 0, 0, 10))
    with pytest.raises(ValueError, match="uint8"):
        detector(image.astype(np.float32))


def test_predictor_loaded_once_and_shared_by_threads(photos, detector):
    image = cv2.imread(str(photos[0]))
    box = detector(image)[0]
    align._PREDICTORS.clear()  # the next use loads it again: all four threads race for it
    aligners = [FaceAligner() for _ in range(4)]
    results, errors = [None] * 4, []

    def work(index):
        try:
            results[index] = (aligners[index].predictor, aligners[index].landmarks(image, box))
        except Exception as err:
            errors.append(err)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len({id(predictor) for predictor, _ in results}) == 1
    assert len(align._PREDICTORS) == 1
    for _, points in results[1:]:
        assert np.array_equal(points, results[0][1])


def test_detector_threads_agree(photos):
    detector = DlibDetector()
    images = [cv2.imread(str(p)) for p in photos[:2]]
    expected = [detector(image) for image in images]
    got = [None] * len(images)

    def work(index):
        got[index] = detector(images[index])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(images))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for a, b in zip(expected, got):
        assert np.array_equal(a, b)


def test_import_does_no_work():
    code = (
        "import sys, fr_utils.align as a; "
        "print('dlib' in sys.modules, 'face_recognition_models' in sys.modules, "
        "len(a._PREDICTORS))"
    )
    done = run_python("-c", code)
    assert done.returncode == 0, done.stderr
    out = done.stdout.split()
    assert out[-3:] == ["False", "False", "0"]


def test_yaw_and_sharpness(photos, detector, aligner):
    from fr_utils.align import ChipAligner, sharpness, yaw_degrees

    image = cv2.imread(str(photos[2]))  # Colin Powell, frontal
    box = detector(image)[0]
    points = aligner.landmarks(image, box)
    assert abs(yaw_degrees(points)) < 45  # a little turned: it votes
    width = points[16, 0] - points[0, 0]
    right, left = points.copy(), points.copy()
    right[30, 0] = points[16, 0] - 0.02 * width  # the nose tip at the face's edge
    left[30, 0] = points[0, 0] + 0.02 * width
    assert yaw_degrees(right) > 60 and yaw_degrees(left) < -60
    sharp = sharpness(image, points)
    blurred = sharpness(cv2.GaussianBlur(image, (0, 0), 3), points)
    assert sharp > 0.02 > blurred >= 0  # the gate's default lies between
    brighter = cv2.convertScaleAbs(image, alpha=0.5, beta=60)
    assert sharpness(brighter, points) == pytest.approx(sharp, rel=0.25)  # contrast-free
    chip = ChipAligner().align_landmarks(image, points)
    assert chip.shape == (150, 150, 3)  # dlib's own face chip, for its ResNet
