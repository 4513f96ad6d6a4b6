"""Find faces (OpenCV Haar cascade) and cut the crop the weights were trained on.

The greeter, the tuning tool and enrollment all crop through :func:`crop_face`,
so a threshold measured with one holds for the others.
"""

import threading
from dataclasses import dataclass

import cv2
import numpy as np

from fr_utils.preprocess import FACE_SIZE, ImageError, load_image, resize_face

CASCADE_FILE = "haarcascade_frontalface_default.xml"


class NoFaceFound(ImageError):
    """No face was detected in an image that needed one."""


@dataclass(frozen=True)
class CropSpec:
    """Where the face crop sits relative to a detector box ``(x, y, w, h)``.

    A square of side ``scale * w`` with its top-left corner at
    ``(x + dx * w, y + dy * w)``; zero-padded where it leaves the image.
    """

    scale: float = 0.855
    dx: float = 0.07
    dy: float = 0.25

    def __post_init__(self):
        if not self.scale > 0:
            raise ValueError(f"CropSpec.scale must be positive. Received: scale={self.scale}")


# The crop the shared nn4.small2.v1 weights were trained on (see their README):
# it approximates OpenFace's outer-eyes-and-nose alignment from a Haar box.
OPENFACE_HAAR_CROP = CropSpec()
# The plain detector box, for weights trained on it.
HAAR_BOX_CROP = CropSpec(scale=1.0, dx=0.0, dy=0.0)
DEFAULT_CROP = OPENFACE_HAAR_CROP


@dataclass(frozen=True)
class HaarDetector:
    """OpenCV's frontal-face Haar cascade.

    Defaults are the ones the shared weights' crop was measured with:
    ``scale_factor=1.1`` (a 10 % step between pyramid scales; 1.3 is faster but
    misses faces between steps), ``min_neighbors=5`` (overlapping hits needed
    to accept a face: fewer gives false faces, more misses real ones) and
    ``min_size=40`` pixels (smaller faces carry too little detail to match).
    ``order`` says which face comes first, the one a photo is taken to show:
    ``"largest"`` (a person's own photo) or ``"centre"`` (nearest the image
    centre: LFW, whose photos are centred on the labelled person).

    Safe to call from several threads at once (each thread uses its own cascade).
    """

    scale_factor: float = 1.1
    min_neighbors: int = 5
    min_size: int = 40
    order: str = "largest"

    def __post_init__(self):
        if not self.scale_factor > 1.0:
            raise ValueError("HaarDetector.scale_factor must be > 1. "
                             f"Received: scale_factor={self.scale_factor}")
        if self.order not in ("largest", "centre"):
            raise ValueError("HaarDetector.order must be 'largest' or 'centre'. "
                             f"Received: order={self.order!r}")
        # cv2.CascadeClassifier keeps scratch buffers per object and gives wrong boxes
        # when two threads share one: each thread gets its own (loaded on first use).
        object.__setattr__(self, "_local", threading.local())
        self._cascade()  # fail now, in the caller's thread, if OpenCV lacks the file

    def _cascade(self):
        cascade = getattr(self._local, "cascade", None)
        if cascade is None:
            path = cv2.data.haarcascades + CASCADE_FILE
            cascade = cv2.CascadeClassifier(path)
            if cascade.empty():
                raise RuntimeError(f"Could not load the Haar cascade {path}; "
                                   "reinstall opencv-python (<5).")
            self._local.cascade = cascade
        return cascade

    def __call__(self, image):
        """Return face boxes ``(K, 4)`` as ``x, y, w, h``, largest (or most central) first."""
        image = np.asarray(image)
        gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        boxes = self._cascade().detectMultiScale(
            gray, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors,
            minSize=(self.min_size, self.min_size))
        boxes = np.asarray(boxes, dtype=int).reshape(-1, 4)
        if self.order == "centre":
            centres = boxes[:, :2] + boxes[:, 2:] / 2
            key = np.hypot(*(centres - np.array(gray.shape[1::-1]) / 2).T)
        else:
            key = -boxes[:, 2] * boxes[:, 3]
        return boxes[np.argsort(key, kind="stable")]


def crop_face(image, box, crop=DEFAULT_CROP, size=FACE_SIZE):
    """Cut the face crop for ``box`` from a BGR image; returns ``uint8 (size, size, 3)``.

    Take it from the unannotated frame: anything drawn on the frame ends up in
    the crop and changes the encoding.
    """
    x, y, w, _ = (int(v) for v in box)
    side = max(1, int(round(crop.scale * w)))
    left, top = int(round(x + crop.dx * w)), int(round(y + crop.dy * w))
    h_img, w_img = image.shape[:2]
    out = np.zeros((side, side) + image.shape[2:], dtype=image.dtype)
    src_x0, src_y0 = max(left, 0), max(top, 0)
    src_x1, src_y1 = min(left + side, w_img), min(top + side, h_img)
    if src_x1 > src_x0 and src_y1 > src_y0:
        out[src_y0 - top:src_y1 - top, src_x0 - left:src_x1 - left] = \
            image[src_y0:src_y1, src_x0:src_x1]
    return resize_face(out, size)


def is_tight_crop(image, max_side=2 * FACE_SIZE, max_aspect=1.25):
    """True for small, near-square images that are already a face crop (like the course's)."""
    h, w = image.shape[:2]
    return max(h, w) <= max_side and max(h, w) / min(h, w) <= max_aspect


def face_from_photo(image, detector, crop=DEFAULT_CROP):
    """Return ``(face_crop, n_faces)`` for an enrollment photo.

    A small near-square image is taken to be an aligned face crop already and is
    used whole (``n_faces`` is then 1). Otherwise the detector's first face (the largest, by default) is
    cropped; raises :class:`NoFaceFound` (naming the file) when there is none.
    """
    bgr = load_image(image)
    if is_tight_crop(bgr):
        return resize_face(bgr), 1
    boxes = detector(bgr)
    if len(boxes) == 0:
        where = f"{image}: " if not isinstance(image, np.ndarray) else ""
        raise NoFaceFound(f"{where}no face found ({bgr.shape[1]}x{bgr.shape[0]} image). "
                          "Use a frontal, well-lit photo, or a tight face crop.")
    return crop_face(bgr, boxes[0], crop), len(boxes)
