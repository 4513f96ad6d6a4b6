"""Turn an image into the model's input. Everything that encodes a face goes through here.

The model takes what the course gives it: ``cv2.imread`` (BGR) -> RGB -> divided
by 255 -> rounded to 12 decimals -> channels-first ``(3, 96, 96)``.
"""

from pathlib import Path

import cv2
import numpy as np

FACE_SIZE = 96


class ImageError(ValueError):
    """An image could not be read or has an unusable shape or value."""


def load_image(image):
    """Return ``image`` as a BGR ``uint8`` array of shape ``(H, W, 3)``.

    Args:
        image: a path (str or ``Path``) to anything ``cv2.imread`` reads, or an
            array: BGR ``(H, W, 3)``, BGRA ``(H, W, 4)`` (alpha dropped) or
            grayscale ``(H, W)`` / ``(H, W, 1)``; ``uint8``, or float in [0, 255].

    Raises:
        ImageError: naming the file or describing the array, with what to do.
    """
    if isinstance(image, (str, Path)):
        path = Path(image)
        if not path.is_file():
            raise ImageError(f"{path}: no such file. Check the path.")
        data = np.fromfile(path, dtype=np.uint8)  # works for non-ASCII paths too
        array = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
        if array is None:
            raise ImageError(f"{path}: not a readable image (empty or not JPEG/PNG/...). "
                             "Replace or remove the file.")
        return array
    array = np.asarray(image)
    if array.dtype != np.uint8:
        if not np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_:
            raise ImageError(f"Image array has dtype {array.dtype}; expected uint8 BGR.")
        if not np.all(np.isfinite(array)):
            raise ImageError("Image array contains NaN or infinite values.")
        if array.size and (array.min() < 0 or array.max() > 255):
            raise ImageError(f"Image array values span [{array.min()}, {array.max()}]; "
                             "expected uint8 or floats in [0, 255].")
        array = np.round(array).astype(np.uint8)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim == 2:
        array = cv2.cvtColor(array, cv2.COLOR_GRAY2BGR)
    elif array.ndim == 3 and array.shape[2] == 4:
        array = cv2.cvtColor(array, cv2.COLOR_BGRA2BGR)
    elif not (array.ndim == 3 and array.shape[2] == 3):
        raise ImageError(f"Image array has shape {array.shape}; expected (H, W, 3) BGR, "
                         "(H, W, 4) BGRA or (H, W) grayscale.")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ImageError(f"Image array has shape {array.shape}: it is empty.")
    return array


def resize_face(bgr, size=FACE_SIZE):
    """Resize to ``size x size``: INTER_AREA when shrinking, INTER_LINEAR when enlarging."""
    if bgr.shape[:2] == (size, size):
        return bgr
    shrinking = min(bgr.shape[:2]) > size
    return cv2.resize(bgr, (size, size),
                      interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


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
