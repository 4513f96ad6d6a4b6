"""preprocess_image: the course's numbers, every image form, bad input named."""

import cv2
import numpy as np
import pytest

from fr_utils.preprocess import ImageError, load_image, preprocess_image, resize_face


def _course(path):
    """The course's img_to_encoding preprocessing, verbatim."""
    img1 = cv2.imread(str(path), 1)
    img = img1[..., ::-1]
    return np.around(np.transpose(img, (2, 0, 1)) / 255.0, decimals=12)


@pytest.mark.shared
@pytest.mark.parametrize("name", ["camera_0.jpg", "danielle.png"])
def test_course_numbers(course_dir, name):
    expected = _course(course_dir / name)
    got = preprocess_image(course_dir / name)
    assert got.shape == (3, 96, 96) and got.dtype == np.float32
    np.testing.assert_array_equal(got, expected.astype(np.float32))
    np.testing.assert_array_equal(preprocess_image(str(course_dir / name)), got)


@pytest.mark.shared
def test_array_forms(course_dir):
    bgr = cv2.imread(str(course_dir / "camera_0.jpg"))
    expected = preprocess_image(course_dir / "camera_0.jpg")
    np.testing.assert_array_equal(preprocess_image(bgr), expected)
    np.testing.assert_array_equal(preprocess_image(bgr.astype(np.float64)), expected)
    bgra = np.dstack([bgr, np.full(bgr.shape[:2], 77, np.uint8)])
    np.testing.assert_array_equal(preprocess_image(bgra), expected)
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    for form in (gray, gray[:, :, None]):
        out = preprocess_image(form)
        np.testing.assert_array_equal(out[0], out[1])
        np.testing.assert_array_equal(out[0], np.around(gray / 255.0, 12).astype(np.float32))


def test_colour_order_is_rgb():
    bgr = np.zeros((96, 96, 3), np.uint8)
    bgr[..., 0] = 255  # pure blue in OpenCV's BGR
    out = preprocess_image(bgr)
    assert out[2].min() == 1.0 and out[0].max() == 0.0 and out[1].max() == 0.0


@pytest.mark.parametrize("shape", [(200, 150, 3), (40, 60, 3), (96, 120, 3)])
def test_other_sizes_are_resized(shape):
    bgr = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    out = preprocess_image(bgr)
    assert out.shape == (3, 96, 96)
    shrinking = min(shape[:2]) > 96
    resized = cv2.resize(bgr, (96, 96),
                         interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    np.testing.assert_array_equal(resize_face(bgr), resized)
    np.testing.assert_array_equal(out, np.around(resized[..., ::-1].transpose(2, 0, 1) / 255.0,
                                                 12).astype(np.float32))


def test_bad_files_name_the_file(tmp_path):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    for path in (empty, text):
        with pytest.raises(ImageError, match=rf"{path.name}: not a readable image"):
            preprocess_image(path)
    with pytest.raises(ImageError, match=r"missing\.jpg: no such file"):
        load_image(tmp_path / "missing.jpg")
    with pytest.raises(ImageError, match="no such file"):
        load_image(tmp_path)  # a directory is not an image


@pytest.mark.parametrize("array, match", [
    (np.zeros((96, 96, 2), np.uint8), r"shape \(96, 96, 2\)"),
    (np.zeros((4, 96, 96, 3), np.uint8), r"shape \(4, 96, 96, 3\)"),
    (np.zeros(96, np.uint8), r"shape \(96,\)"),
    (np.zeros((0, 96, 3), np.uint8), "empty"),
    (np.full((96, 96, 3), np.nan), "NaN"),
    (np.full((96, 96, 3), 300.0), r"\[300.0, 300.0\]"),
    (np.array([["a"]]), "dtype <U1"),
])
def test_bad_arrays(array, match):
    with pytest.raises(ImageError, match=match):
        preprocess_image(array)
    assert issubclass(ImageError, ValueError)
