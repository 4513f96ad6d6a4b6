"""Turn an image into the model's input. Everything that encodes a face goes through here.

The model takes what the course gives it: ``cv2.imread`` (BGR) -> RGB -> divided
by 255 -> rounded to 12 decimals -> channels-first ``(3, 96, 96)``.

:func:`load_image` is the one place an image file is decoded. Photos come from whoever
drops them in a folder, so it reads the size from the header before decoding anything
(a pixel budget refuses decompression bombs), refuses truncated files, applies the EXIF
orientation, and turns every decoder failure into an :class:`ImageError` naming the file.
Pillow decodes (for JPEG and PNG its pixels equal ``cv2.imread``'s, so the course's
numbers are unchanged).
"""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps

FACE_SIZE = 96
# The photo files every tool looks for (the folder sync, facenet-align, LiteRT calibration,
# prepare_database): the formats load_image decodes that cameras, phones and editors write.
PHOTO_SUFFIXES = (
    ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".avif", ".bmp", ".gif",
    ".tif", ".tiff", ".jp2", ".pgm", ".ppm", ".pnm",
)  # fmt: skip
MAX_PIXELS = 40_000_000  # default pixel budget per image (a 48 MP photo is decoded reduced)
MAX_SIDE = 65_535  # longest side accepted (JPEG's own limit; OpenCV refuses far wider PNGs)
_FIX = "Replace or remove the file."


class ImageError(ValueError):
    """An image could not be read or has an unusable shape or value."""


def is_photo_file(path: str | Path) -> bool:
    """True for a file (not a folder) whose suffix is one of :data:`PHOTO_SUFFIXES` and
    whose name does not start with ``.`` (hidden files, editors' temporary files)."""
    path = Path(path)
    return (
        path.suffix.lower() in PHOTO_SUFFIXES and not path.name.startswith(".") and path.is_file()
    )


def load_image(
    image: str | Path | bytes | np.ndarray, *, max_pixels: int = MAX_PIXELS
) -> np.ndarray:
    """Return ``image`` as a BGR ``uint8`` array of shape ``(H, W, 3)``.

    Args:
        image: a path (str or ``Path``) or the bytes of an image file (JPEG, PNG, BMP,
            TIFF, WebP, GIF...: anything Pillow reads), or an array: BGR ``(H, W, 3)``,
            BGRA ``(H, W, 4)`` (alpha dropped) or grayscale ``(H, W)`` / ``(H, W, 1)``;
            ``uint8``, or float in [0, 255].
        max_pixels: pixel budget for a file, checked from its header before decoding.
            A larger JPEG is decoded at 1/2, 1/4 or 1/8 scale to fit; any other larger
            image is refused.

    Files: the EXIF orientation is applied; 16-bit images keep their top 8 bits (as
    OpenCV does); palette, gray, CMYK and alpha images become BGR (alpha dropped).

    Raises:
        ImageError: naming the file (or describing the array), with what to do.
    """
    if isinstance(image, (str, Path)):
        path = Path(image)
        if not path.is_file():
            raise ImageError(f"{path}: no such file. Check the path.")
        return _decode(path, str(path), max_pixels)
    if isinstance(image, (bytes, bytearray, memoryview)):
        return _decode(io.BytesIO(bytes(image)), "<image bytes>", max_pixels)
    return _from_array(np.asarray(image))


def _decode(source, name: str, max_pixels: int) -> np.ndarray:
    try:
        with Image.open(source) as im:  # reads the header only
            _check_size(im, name, max_pixels)
            im.load()  # decodes; raises on a truncated or damaged file
            im = ImageOps.exif_transpose(im)
            array = _to_rgb(im)
    except ImageError:
        raise
    except Image.DecompressionBombError as err:
        raise ImageError(
            f"{name}: refused, too many pixels to decode safely ({err}). {_FIX}"
        ) from err
    except Exception as err:
        if isinstance(source, Path) and source.stat().st_size == 0:
            reason = "the file is empty"
        else:
            reason = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
        raise ImageError(f"{name}: not a readable image ({reason}). {_FIX}") from err
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ImageError(
            f"{name}: the image is empty ({array.shape[1]}x{array.shape[0]} px). {_FIX}"
        )
    return np.ascontiguousarray(array[..., ::-1])  # RGB -> BGR


def _check_size(im: Image.Image, name: str, max_pixels: int) -> None:
    """Refuse (or, for JPEG, plan a reduced decode of) an image over the budget."""
    width, height = im.size
    if max(width, height) > MAX_SIDE:
        raise ImageError(
            f"{name}: refused, {width}x{height} px is wider or taller than "
            f"{MAX_SIDE} px (a damaged file or a decompression bomb). {_FIX}"
        )
    if width * height > max_pixels and im.format == "JPEG":
        # Decode at the largest DCT scale (1/2, 1/4, 1/8) that fits, as cv2's IMREAD_REDUCED_*.
        for d in (2, 4, 8):
            if -(-width // d) * -(-height // d) <= max_pixels or d == 8:
                im.draft("RGB", (-(-width // d), -(-height // d)))
                break
        width, height = im.size
    if width * height > max_pixels:
        raise ImageError(
            f"{name}: refused, {width}x{height} px = {width * height:,} pixels "
            f"is over the budget of {max_pixels:,} (a decompression bomb or a "
            f"huge scan). Downscale it, e.g. to 4000 px wide, or raise max_pixels."
        )


def _to_rgb(im: Image.Image) -> np.ndarray:
    """Any Pillow mode -> ``uint8`` RGB ``(H, W, 3)``."""
    if im.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):  # 16-bit gray: keep the top byte
        gray = np.asarray(im).astype(np.int64)
        gray = (np.clip(gray, 0, 65535) >> 8).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if im.mode == "F":
        gray = np.round(np.clip(np.nan_to_num(np.asarray(im)), 0, 255)).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")  # avoids Pillow's palette-transparency warning
    if im.mode != "RGB":
        im = im.convert("RGB")  # L, 1, P, LA, RGBA, CMYK (Adobe-inverted too), YCbCr, LAB...
    return np.asarray(im)


def _from_array(array: np.ndarray) -> np.ndarray:
    if array.dtype != np.uint8:
        if not np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_:
            raise ImageError(f"Image array has dtype {array.dtype}; expected uint8 BGR.")
        if not np.all(np.isfinite(array)):
            raise ImageError("Image array contains NaN or infinite values.")
        if array.size and (array.min() < 0 or array.max() > 255):
            raise ImageError(
                f"Image array values span [{array.min()}, {array.max()}]; "
                "expected uint8 or floats in [0, 255]."
            )
        array = np.round(array).astype(np.uint8)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim == 2:
        array = cv2.cvtColor(array, cv2.COLOR_GRAY2BGR)
    elif array.ndim == 3 and array.shape[2] == 4:
        array = cv2.cvtColor(array, cv2.COLOR_BGRA2BGR)
    elif not (array.ndim == 3 and array.shape[2] == 3):
        raise ImageError(
            f"Image array has shape {array.shape}; expected (H, W, 3) BGR, "
            "(H, W, 4) BGRA or (H, W) grayscale."
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ImageError(f"Image array has shape {array.shape}: it is empty.")
    return array


def resize_face(bgr, size=FACE_SIZE):
    """Resize to ``size x size``: INTER_AREA when shrinking, INTER_LINEAR when enlarging."""
    if bgr.shape[:2] == (size, size):
        return bgr
    shrinking = min(bgr.shape[:2]) > size
    return cv2.resize(
        bgr, (size, size), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    )


def preprocess_image(image):
    """Return the model input for one face image: ``float32 (3, 96, 96)``.

    Colour order RGB, values in [0, 1] (``pixel / 255`` rounded to 12 decimals,
    exactly as the course), channels-first. Input that is not 96x96 is resized
    (no cropping: pass a face crop, e.g. from :func:`fr_utils.faces.crop_face`).

    Args:
        image: a path or an array, as accepted by :func:`load_image` (BGR order
            for colour arrays, as OpenCV delivers them).
    """
    bgr = resize_face(load_image(image))
    rgb = bgr[..., ::-1]
    return np.around(np.transpose(rgb, (2, 0, 1)) / 255.0, decimals=12).astype(np.float32)
