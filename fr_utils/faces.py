"""Face detectors: the contract every detector follows, and OpenCV's Haar cascade.

Faces are cut out by 68-landmark alignment (:mod:`fr_utils.align`, which also has
dlib's HOG detector). :func:`crop_face` keeps the older Haar-offset crop, only so the
benches can compare against the seed's pipeline: nothing encodes through it.
"""

import json
import threading
from dataclasses import asdict, dataclass
from typing import ClassVar, Protocol, runtime_checkable

import cv2
import numpy as np

from fr_utils.preprocess import FACE_SIZE, ImageError, resize_face

CASCADE_FILE = "haarcascade_frontalface_default.xml"


class NoFaceFound(ImageError):
    """No face was detected in an image that needed one."""


@runtime_checkable
class FaceDetector(Protocol):
    """What :func:`fr_utils.align.face_crop_from_photo`, :func:`fr_utils.photos.encode_photos`
    and the greeter need from a face detector. A new detector is one class with these three members.

    ``detector(image)``: ``image`` is a BGR ``uint8 (H, W, 3)`` or grayscale ``(H, W)``
    array; returns an ``int`` array ``(K, 4)`` of boxes ``x, y, w, h`` in that image's
    pixels (``(0, 4)`` for no face). The first box is the face the photo is taken to show.

    ``cache_key()``: a string naming every setting that changes the boxes (the encoding
    cache keys on it with the weights and the crop, so changing one re-encodes).

    ``thread_safe``: ``True`` when one instance may be called from several threads at
    once; :func:`fr_utils.photos.encode_photos` then detects in worker threads.
    """

    thread_safe: bool

    def __call__(self, image: np.ndarray) -> np.ndarray: ...

    def cache_key(self) -> str: ...


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


# The seed's crop: a fixed offset of a Haar box, which the older shared weights were
# re-learned on. Landmark alignment replaced it; kept for the benches' comparison.
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

    thread_safe: ClassVar[bool] = True
    scale_factor: float = 1.1
    min_neighbors: int = 5
    min_size: int = 40
    order: str = "largest"

    def __post_init__(self):
        if not self.scale_factor > 1.0:
            raise ValueError(
                f"HaarDetector.scale_factor must be > 1. Received: scale_factor={self.scale_factor}"
            )
        if self.order not in ("largest", "centre"):
            raise ValueError(
                f"HaarDetector.order must be 'largest' or 'centre'. Received: order={self.order!r}"
            )
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
                raise RuntimeError(
                    f"Could not load the Haar cascade {path}; reinstall opencv-python (<5)."
                )
            self._local.cascade = cascade
        return cascade

    def cache_key(self) -> str:
        """The settings that change the boxes, as JSON."""
        return json.dumps({"haar": CASCADE_FILE, **asdict(self)}, sort_keys=True)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """Return face boxes ``(K, 4)`` as ``x, y, w, h``, largest (or most central) first."""
        image = np.asarray(image)
        gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        boxes = self._cascade().detectMultiScale(
            gray,
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            minSize=(self.min_size, self.min_size),
        )
        boxes = np.asarray(boxes, dtype=int).reshape(-1, 4)
        if self.order == "centre":
            centres = boxes[:, :2] + boxes[:, 2:] / 2
            key = np.hypot(*(centres - np.array(gray.shape[1::-1]) / 2).T)
        else:
            key = -boxes[:, 2] * boxes[:, 3]
        return boxes[np.argsort(key, kind="stable")]


def crop_face(
    image: np.ndarray, box, crop: CropSpec = DEFAULT_CROP, size: int = FACE_SIZE
) -> np.ndarray:
    """The seed's Haar-offset crop for ``box`` from a BGR image: ``uint8 (size, size, 3)``.

    For comparisons only (``bench/``): the weights expect landmark-aligned faces
    (:class:`fr_utils.align.FaceAligner`).

    Take it from the unannotated frame: anything drawn on the frame ends up in
    the crop and changes the encoding.
    """
    x, y, w, _ = (int(v) for v in box)
    side = max(1, round(crop.scale * w))
    left, top = round(x + crop.dx * w), round(y + crop.dy * w)
    h_img, w_img = image.shape[:2]
    out = np.zeros((side, side, *image.shape[2:]), dtype=image.dtype)
    src_x0, src_y0 = max(left, 0), max(top, 0)
    src_x1, src_y1 = min(left + side, w_img), min(top + side, h_img)
    if src_x1 > src_x0 and src_y1 > src_y0:
        out[src_y0 - top : src_y1 - top, src_x0 - left : src_x1 - left] = image[
            src_y0:src_y1, src_x0:src_x1
        ]
    return resize_face(out, size)
