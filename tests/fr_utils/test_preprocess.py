"""preprocess_image: the course's numbers, every image form, bad input named."""

import struct
import time

import cv2
import numpy as np
import pytest
from PIL import Image

from fr_utils.preprocess import ImageError, load_image, preprocess_image, resize_face
from tests.helpers.images import PNG_SIGNATURE, decompression_bomb, png_chunk


def _course(path):
    """The course's img_to_encoding preprocessing, verbatim."""
    img1 = cv2.imread(str(path), 1)
    img = img1[..., ::-1]
    return np.around(np.transpose(img, (2, 0, 1)) / 255.0, decimals=12)


@pytest.mark.parametrize("name", ["camera_0.jpg", "danielle.png"])
def test_course_numbers(course_dir, name):
    expected = _course(course_dir / name)
    got = preprocess_image(course_dir / name)
    assert got.shape == (3, 96, 96) and got.dtype == np.float32
    np.testing.assert_array_equal(got, expected.astype(np.float32))
    np.testing.assert_array_equal(preprocess_image(str(course_dir / name)), got)


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
    resized = cv2.resize(
        bgr, (96, 96), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    )
    np.testing.assert_array_equal(resize_face(bgr), resized)
    np.testing.assert_array_equal(
        out, np.around(resized[..., ::-1].transpose(2, 0, 1) / 255.0, 12).astype(np.float32)
    )


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


@pytest.mark.parametrize(
    "array, match",
    [
        (np.zeros((96, 96, 2), np.uint8), r"shape \(96, 96, 2\)"),
        (np.zeros((4, 96, 96, 3), np.uint8), r"shape \(4, 96, 96, 3\)"),
        (np.zeros(96, np.uint8), r"shape \(96,\)"),
        (np.zeros((0, 96, 3), np.uint8), "empty"),
        (np.full((96, 96, 3), np.nan), "NaN"),
        (np.full((96, 96, 3), 300.0), r"\[300.0, 300.0\]"),
        (np.array([["a"]]), "dtype <U1"),
    ],
)
def test_bad_arrays(array, match):
    with pytest.raises(ImageError, match=match):
        preprocess_image(array)
    assert issubclass(ImageError, ValueError)


# --- hostile and unusual files, all generated here: each loads correctly or is refused ---


def _png(path, mode, size, value=0):
    Image.new(mode, size, value).save(path)
    return path


def _face(shared_dir):
    """The real face photo (RGB, about 300x400) as a Pillow image."""
    return Image.open(shared_dir / "data" / "video" / "lin-manuel-miranda.png").convert("RGB")


def test_wider_than_opencv_accepts_is_refused_by_name(tmp_path):
    wide = _png(tmp_path / "wide.png", "L", ((1 << 20) + 16, 1), 128)
    assert wide.stat().st_size < 5_000
    assert cv2.imdecode(np.fromfile(wide, np.uint8), cv2.IMREAD_COLOR) is None  # OpenCV fails
    with pytest.raises(ImageError, match=r"wide\.png: refused, 1048592x1 px"):
        load_image(wide)
    long = load_image(_png(tmp_path / "long.png", "L", (40_000, 10), 128))
    assert long.shape == (10, 40_000, 3) and long.dtype == np.uint8 and (long == 128).all()


def test_decompression_bomb_is_refused_from_the_header(tmp_path):
    bomb = decompression_bomb(tmp_path / "bomb.png")  # 50 MP of zeros in ~50 KB
    assert bomb.stat().st_size < 100_000
    start = time.perf_counter()
    with pytest.raises(
        ImageError,
        match=r"bomb\.png: refused, 10000x5000 px = 50,000,000 pixels "
        r"is over the budget of 40,000,000",
    ):
        load_image(bomb)
    assert time.perf_counter() - start < 0.2  # refused from the header, nothing decoded
    header = struct.pack(">IIBBBBB", 60_000, 60_000, 8, 2, 0, 0, 0)  # 3.6 G pixels, 40 bytes
    giant = tmp_path / "giant.png"
    giant.write_bytes(PNG_SIGNATURE + png_chunk(b"IHDR", header) + png_chunk(b"IEND", b""))
    with pytest.raises(ImageError, match=r"giant\.png: refused"):
        load_image(giant)
    assert load_image(bomb, max_pixels=60_000_000).shape == (5_000, 10_000, 3)  # configurable


@pytest.mark.parametrize("size", [(1, 1), (16, 16), (96, 96)])
def test_tiny_and_uniform_images_load_as_they_are(tmp_path, size):
    image = load_image(_png(tmp_path / "grey.png", "RGB", size, (10, 20, 30)))
    assert image.shape == (size[1], size[0], 3)
    assert (image == [30, 20, 10]).all()  # BGR
    assert preprocess_image(image).shape == (3, 96, 96)


def test_truncated_jpeg_is_refused(shared_dir, tmp_path):
    whole = tmp_path / "whole.jpg"
    _face(shared_dir).save(whole, quality=90)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    assert load_image(whole).shape[2] == 3
    with pytest.raises(ImageError, match=r"cut\.jpg: not a readable image \(.*truncated"):
        load_image(cut)


def test_cmyk_16bit_palette_and_gray_files_become_bgr(shared_dir, tmp_path):
    face = _face(shared_dir)
    rgb = np.asarray(face)
    face.save(tmp_path / "rgb.png")
    bgr = load_image(tmp_path / "rgb.png")
    np.testing.assert_array_equal(bgr, rgb[..., ::-1])
    np.testing.assert_array_equal(bgr, cv2.imread(str(tmp_path / "rgb.png")))

    face.convert("CMYK").save(tmp_path / "cmyk.jpg", quality=95)
    assert Image.open(tmp_path / "cmyk.jpg").mode == "CMYK"
    cmyk = load_image(tmp_path / "cmyk.jpg")
    assert cmyk.shape == bgr.shape and np.abs(cmyk.astype(int) - bgr).mean() < 4

    cv2.imwrite(str(tmp_path / "rgb16.png"), bgr.astype(np.uint16) * 257)
    cv2.imwrite(str(tmp_path / "gray16.png"), bgr[..., 1].astype(np.uint16) * 257)
    np.testing.assert_array_equal(load_image(tmp_path / "rgb16.png"), bgr)
    gray16 = load_image(tmp_path / "gray16.png")
    np.testing.assert_array_equal(gray16, np.dstack([bgr[..., 1]] * 3))
    np.testing.assert_array_equal(gray16, cv2.imread(str(tmp_path / "gray16.png")))

    palette = face.convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    palette.save(tmp_path / "palette.png")
    palette.save(tmp_path / "transparent.png", transparency=0)
    expected = np.asarray(palette.convert("RGB"))[..., ::-1]
    np.testing.assert_array_equal(load_image(tmp_path / "palette.png"), expected)
    np.testing.assert_array_equal(load_image(tmp_path / "transparent.png"), expected)

    face.convert("L").save(tmp_path / "gray.jpg")
    face.convert("RGBA").save(tmp_path / "alpha.png")
    assert load_image(tmp_path / "gray.jpg").shape == bgr.shape
    np.testing.assert_array_equal(load_image(tmp_path / "alpha.png"), bgr)
    np.testing.assert_array_equal(load_image((tmp_path / "rgb.png").read_bytes()), bgr)


def test_exif_orientation_is_applied(shared_dir, tmp_path):
    face = _face(shared_dir)
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    face.save(tmp_path / "rotated.jpg", exif=exif, quality=95)
    face.save(tmp_path / "upright.jpg", quality=95)
    rotated = load_image(tmp_path / "rotated.jpg")
    upright = load_image(tmp_path / "upright.jpg")
    assert rotated.shape == (face.width, face.height, 3)
    np.testing.assert_array_equal(rotated, cv2.rotate(upright, cv2.ROTATE_90_CLOCKWISE))
    np.testing.assert_array_equal(rotated, cv2.imread(str(tmp_path / "rotated.jpg")))


def test_large_jpeg_is_decoded_reduced_to_fit_the_budget(tmp_path):
    Image.new("RGB", (400, 300), (200, 100, 50)).save(tmp_path / "big.jpg")
    assert load_image(tmp_path / "big.jpg").shape == (300, 400, 3)
    small = load_image(tmp_path / "big.jpg", max_pixels=40_000)
    assert small.shape == (150, 200, 3)  # 1/2 scale DCT decode, within 40,000 pixels
    with pytest.raises(ImageError, match="over the budget"):
        load_image(tmp_path / "big.jpg", max_pixels=100)  # 1/8 is still too big


def test_damaged_files_load_or_raise_image_error_only(shared_dir, tmp_path):
    good = tmp_path / "good.jpg"
    _face(shared_dir).resize((64, 80)).save(good)
    data = bytearray(good.read_bytes())
    rng = np.random.default_rng(0)
    outcomes = set()
    for i in range(60):  # flip bytes anywhere, header included
        damaged = bytearray(data)
        for at in rng.integers(0, len(data), size=4):
            damaged[at] = rng.integers(0, 256)
        path = tmp_path / f"damaged{i}.jpg"
        path.write_bytes(bytes(damaged))
        try:
            image = load_image(path)
            assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
            outcomes.add("loaded")
        except ImageError as err:
            assert path.name in str(err)
            outcomes.add("refused")
    assert outcomes == {"loaded", "refused"}
    with pytest.raises(ImageError, match=r"<image bytes>: not a readable image"):
        load_image(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
